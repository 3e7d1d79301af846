"""Raw leads + activities (+ outcomes) as Parquet at benchmark scale, fast.

Usage::

    .venv/bin/python benchmarks/scale_data.py OUT_DIR --leads 1000000 [--events-per-lead 20]

``mqlml generate`` simulates each lead's journey and takes minutes at a million leads; the
benchmarks need the *shape* of a CRM export at scale (the data contract's columns, types
and skew), not its story. :func:`write_scale_data` draws it with vectorised numpy in
chunks, so memory stays bounded by one chunk of events whatever ``n_leads``:

- ``leads.parquet``: ``lead_id``, ``created_at`` (UTC, over two years), ``job_title``,
  ``company_size``, ``industry``, ``country``, ``lead_source`` (no personal data);
- ``activities.parquet``: ``lead_id``, ``occurred_at``, ``activity_type``; a skewed number
  of events per lead (mean ``events_per_lead``), ten activity types of realistic shares,
  each event after its lead's creation, written in row groups of one chunk;
- ``outcomes.parquet``: ``lead_id``, ``sql_at``, ``won_at``, ``deal_value``; the odds of
  an SQL rise with the lead's high-intent events and seniority, so a model has a signal.

Imported by the other benchmarks (``from scale_data import write_scale_data``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Activity types and their shares of all events (close to the synthetic generator's).
ACTIVITY_TYPES = (
    ("email_open", 0.41),
    ("page_view", 0.29),
    ("email_click", 0.09),
    ("content_download", 0.055),
    ("pricing_page_view", 0.05),
    ("form_fill", 0.025),
    ("webinar_signup", 0.02),
    ("webinar_attended", 0.012),
    ("demo_request", 0.0065),
    ("free_trial_request", 0.0025),
)
_HIGH_INTENT = ("pricing_page_view", "demo_request", "free_trial_request")
_TITLES = ("CEO", "VP Marketing", "Director of Sales", "Marketing Manager", "Software Engineer",
           "Data Analyst", "Student", "Head of Growth", "CFO", "Consultant")
_SENIOR = np.array([1, 1, 1, 0, 0, 0, 0, 1, 1, 0], dtype=float)
_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
_INDUSTRIES = ("Software", "Retail", "Finance", "Healthcare", "Manufacturing", "Education",
               "Professional services", "Media")
_COUNTRIES = ("US", "UK", "DE", "FR", "AU", "CA", "NL", "IN", "BR", "ES")
_SOURCES = ("organic_search", "paid_search", "webinar", "content_syndication", "referral",
            "events", "social")

#: Leads drawn per chunk: about ``events_per_lead`` times as many events held at once.
CHUNK_LEADS = 250_000
_START = pd.Timestamp("2024-01-01", tz="UTC").value // 1000  # microseconds
_SPAN_US = 730 * 86_400_000_000
_US_PER_DAY = 86_400_000_000


def _choice(rng: np.random.Generator, values: tuple[str, ...], n: int) -> pa.Array:
    codes = rng.integers(0, len(values), n, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values)).cast(pa.string())


def _lead_ids(start: int, n: int) -> pa.Array:
    ids = np.char.add("L", np.char.zfill(np.arange(start + 1, start + n + 1).astype(str), 9))
    return pa.array(ids.astype(object), type=pa.string())


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us, type=pa.timestamp("us", tz="UTC"))


def write_scale_data(
    out_dir: str | Path, n_leads: int, events_per_lead: int = 20, seed: int = 0
) -> dict[str, Path]:
    """Write ``leads.parquet``, ``activities.parquet`` and ``outcomes.parquet`` to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created when missing); the files in it are replaced.
    n_leads : int
        Number of leads.
    events_per_lead : int
        Mean number of activity events per lead (the total is about
        ``n_leads * events_per_lead``; per lead it is skewed: many leads do little).
    seed : int
        The same seed writes the same files.

    Returns
    -------
    dict
        ``{"leads": path, "activities": path, "outcomes": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"{k}.parquet" for k in ("leads", "activities", "outcomes")}
    rng = np.random.default_rng(seed)
    names = np.array([t for t, _ in ACTIVITY_TYPES], dtype=object)
    shares = np.array([s for _, s in ACTIVITY_TYPES])
    shares /= shares.sum()
    high = np.isin(names, _HIGH_INTENT)
    lead_schema = pa.schema([
        ("lead_id", pa.string()), ("created_at", pa.timestamp("us", tz="UTC")),
        ("job_title", pa.string()), ("company_size", pa.string()), ("industry", pa.string()),
        ("country", pa.string()), ("lead_source", pa.string()),
    ])
    act_schema = pa.schema([
        ("lead_id", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("activity_type", pa.string()),
    ])
    out_schema = pa.schema([
        ("lead_id", pa.string()), ("sql_at", pa.timestamp("us", tz="UTC")),
        ("won_at", pa.timestamp("us", tz="UTC")), ("deal_value", pa.float64()),
    ])
    with (
        pq.ParquetWriter(paths["leads"], lead_schema) as lw,
        pq.ParquetWriter(paths["activities"], act_schema) as aw,
        pq.ParquetWriter(paths["outcomes"], out_schema) as ow,
    ):
        for start in range(0, n_leads, CHUNK_LEADS):
            n = min(CHUNK_LEADS, n_leads - start)
            ids = _lead_ids(start, n)
            # Leads arrive in time order over two years, as a CRM export lists them.
            created = _START + np.sort(rng.integers(0, _SPAN_US, n))
            title = rng.integers(0, len(_TITLES), n)
            lw.write_table(pa.table({
                "lead_id": ids,
                "created_at": _timestamps(created),
                "job_title": pa.array(np.array(_TITLES, dtype=object)[title], type=pa.string()),
                "company_size": _choice(rng, _SIZES, n),
                "industry": _choice(rng, _INDUSTRIES, n),
                "country": _choice(rng, _COUNTRIES, n),
                "lead_source": _choice(rng, _SOURCES, n),
            }, schema=lead_schema))
            # Skewed activity: a gamma-mixed Poisson, mean events_per_lead.
            k = rng.poisson(rng.gamma(0.7, events_per_lead / 0.7, n))
            owner = np.repeat(np.arange(n), k)
            m = len(owner)
            # Most events in the first weeks after creation, a tail over a year.
            age_us = (rng.exponential(30.0, m) * _US_PER_DAY).astype(np.int64)
            age_us = np.minimum(age_us, 400 * _US_PER_DAY)
            kind = rng.choice(len(names), m, p=shares)
            aw.write_table(pa.table({
                "lead_id": ids.take(pa.array(owner)),
                "occurred_at": _timestamps(created[owner] + age_us),
                "activity_type": pa.DictionaryArray.from_arrays(
                    pa.array(kind.astype(np.int32)), pa.array(names, type=pa.string())
                ).cast(pa.string()),
            }, schema=act_schema))
            # Outcomes: an SQL more likely with high-intent events and a senior title.
            intent = np.bincount(owner[high[kind]], minlength=n)
            logit = -3.0 + 0.6 * np.log1p(intent) + 0.8 * _SENIOR[title]
            is_sql = rng.random(n) < 1 / (1 + np.exp(-logit))
            sql_at = created + (rng.exponential(40.0, n) * _US_PER_DAY).astype(np.int64)
            is_won = is_sql & (rng.random(n) < 0.2)
            won_at = sql_at + (rng.exponential(60.0, n) * _US_PER_DAY).astype(np.int64)
            rows = np.flatnonzero(is_sql)
            ow.write_table(pa.table({
                "lead_id": ids.take(pa.array(rows)),
                "sql_at": _timestamps(sql_at[rows]),
                "won_at": pa.array(
                    np.where(is_won[rows], won_at[rows], 0), type=pa.timestamp("us", tz="UTC"),
                    mask=~is_won[rows],
                ),
                "deal_value": pa.array(
                    np.where(is_won[rows], np.round(rng.lognormal(9.5, 0.8, len(rows))), np.nan),
                    mask=~is_won[rows],
                ),
            }, schema=out_schema))
    return paths


def main() -> None:
    """Command line: write the files and print their row counts and the time taken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    paths = write_scale_data(args.out, args.leads, args.events_per_lead, args.seed)
    took = time.perf_counter() - t0
    for name, path in paths.items():
        print(f"{name:<11} {pq.ParquetFile(path).metadata.num_rows:>12,} rows  {path}")
    print(f"written in {took:.1f}s")


if __name__ == "__main__":
    main()
