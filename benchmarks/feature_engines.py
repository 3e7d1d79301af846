"""Benchmark: the activity summary by each candidate engine, each in its own process.

Usage::

    .venv/bin/python benchmarks/feature_engines.py DATA_DIR [--engines duckdb,numpy,...]

``DATA_DIR`` holds ``leads.parquet`` and ``activities*.parquet``
(``benchmarks/scale_data.py DATA_DIR --leads 1000000`` writes 1M leads / 20M events).
Every lead is featurised at ``created_at`` + 30 days with windows 7/30/90 and nine own
activity types. Prints, per engine, the seconds from reading to the model's columns and the
peak resident memory of its process (``ru_maxrss``):

- ``duckdb``: the shipped engine reading the Parquet files (out of core, 3 GB cap);
- ``duckdb-frame``: the shipped engine on activities already in pandas;
- ``numpy``: the same measures by numpy, activities in pandas (the small-batch path);
- ``polars``: the same summary as a Polars streaming query, a column per type (dev only).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WINDOWS = (7, 30, 90)
TYPES = ("content_download", "demo_request", "email_click", "email_open", "form_fill",
         "page_view", "pricing_page_view", "webinar_attended", "webinar_signup")
ENGINES = ("duckdb", "duckdb-frame", "numpy", "polars")


def _leads(data: Path):
    import pandas as pd

    leads = pd.read_parquet(data / "leads.parquet", columns=["lead_id", "created_at"])
    leads["as_of"] = leads["created_at"] + pd.Timedelta(days=30)
    return leads


def run(engine: str, data: Path) -> dict:
    """Featurise with one engine in this process; seconds and peak RSS."""
    import pandas as pd

    from mqlml.features import activity as A

    t0 = time.perf_counter()
    if engine == "duckdb":
        leads = _leads(data)
        with tempfile.TemporaryDirectory() as spill:
            table = A.duckdb_summary(leads, str(data / "activities*.parquet"), WINDOWS,
                                     by_position=True, memory_limit="3GB", temp_directory=spill)
        types, values = A._arrays(table)
        out = A.features_from_summary(table.column("key").to_numpy(), types, values,
                                      len(leads), TYPES, WINDOWS)
    elif engine in ("duckdb-frame", "numpy"):
        leads = _leads(data)
        acts = pd.concat([pd.read_parquet(p) for p in sorted(data.glob("activities*.parquet"))])
        as_of_us = leads["as_of"].dt.as_unit("us").astype("int64").to_numpy()
        out = A.activity_features(leads, acts, as_of_us, TYPES, WINDOWS,
                                  engine="duckdb" if engine == "duckdb-frame" else "numpy")
    elif engine == "polars":
        out = _polars(data)
    else:
        raise SystemExit(f"unknown engine {engine!r}; expected one of {ENGINES}")
    seconds = time.perf_counter() - t0
    rows = len(next(iter(out.values()))) if isinstance(out, dict) else out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": engine, "rows": rows, "seconds": round(seconds, 1), "peak_mb": round(peak)}


def _polars(data: Path) -> int:
    import polars as pl

    day = 86_400_000_000
    leads = pl.scan_parquet(data / "leads.parquet").select(
        "lead_id", (pl.col("created_at") + pl.duration(days=30)).alias("as_of"))
    acts = pl.scan_parquet(str(data / "activities*.parquet"))
    types = sorted(acts.select(pl.col("activity_type").unique()).collect()["activity_type"])
    age, kind = pl.col("age"), pl.col("activity_type")
    events = acts.join(leads, on="lead_id").with_columns(
        age=pl.col("as_of").dt.epoch("us") - pl.col("occurred_at").dt.epoch("us")
    ).filter(age > 0)
    aggs = [(age <= w * day).sum().alias(f"n_all_{w}d") for w in WINDOWS]
    aggs += [
        (age // day).filter(age <= 90 * day).n_unique().alias("active_days_90d"),
        ((age <= 7 * day).sum().cast(pl.Int64)
         - ((age > 7 * day) & (age <= 14 * day)).sum().cast(pl.Int64)).alias("trend_7d"),
        (age.min() / day).alias("days_since_last_activity"),
        (age.max() / day).alias("days_since_first_activity"),
    ]
    for t in types:
        aggs += [((kind == t) & (age <= w * day)).sum().alias(f"n_{t}_{w}d") for w in WINDOWS]
        aggs.append((age.filter(kind == t).min() / day).alias(f"days_since_last_{t}"))
    summary = leads.join(events.group_by("lead_id").agg(aggs), on="lead_id", how="left")
    return summary.collect(engine="streaming").height


def main() -> None:
    """Each engine in a fresh process (peak memory is per process); a table, and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child, args.data)))
        return
    results = []
    for engine in args.engines.split(","):
        done = subprocess.run([sys.executable, __file__, str(args.data), "--child", engine],
                              capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{engine:<13} {r['rows']:>10,} leads  {r['seconds']:7.1f} s  "
              f"peak {r['peak_mb']:>6,} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
