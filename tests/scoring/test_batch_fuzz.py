"""Generated bad batches through the real scoring path: each ends in a clear error or in a
complete output plus rejects file that together hold every input row, never anything else.

Batches are small (0-8 leads) so that 500 of them run in well under a minute. They mix:
missing and renamed columns, extra columns, wrong types (text in numbers, numbers in
dates, typed Parquet columns), NaN / inf, empty files and header-only files, duplicated
ids, bad and future dates, unseen categories, a per-lead ``as_of`` column, a bad
``--as-of`` and broken activities.
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mqlml.data.files import FORMULA_STARTS, read_table
from mqlml.data.validate import normalise_ids
from mqlml.errors import MqlmlError
from mqlml.scoring.batch import output_paths, required_lead_columns, score_files
from mqlml.synthetic.generate import generate_history

NOW = pd.Timestamp("2030-01-01", tz="UTC")
_NA = {"nan": "", "None": "", "NaT": ""}

_h = generate_history(300, seed=31)
POOL = _h.leads.head(40).copy()
POOL["employees"] = np.random.default_rng(3).integers(1, 5_000, len(POOL))
POOL = POOL.astype(str).replace(_NA)
ACTS = _h.activities[_h.activities["lead_id"].isin(POOL["lead_id"])]
ACTS = ACTS.groupby("lead_id").head(3).astype(str).replace(_NA)
COLUMNS = list(POOL.columns)

DATES = st.sampled_from(
    [
        "",
        " ",
        "not a date",
        "2025-13-45",
        "2025-02-30",
        "yesterday",
        "now",
        "1700000000",
        "0",
        "NaT",
        "2099-01-01",
        "1900-01-01",
        "2024-03-05T10:00:00+02:00",
        "03/05/2024",
        "9999-12-31",
        "10000-01-01",
        "-1",
        "2024-03-05 25:00",
    ]
) | st.text(max_size=12)
NUMBERS = st.sampled_from(
    ["", "NaN", "nan", "inf", "-inf", "Infinity", "1,200", "n/a", "-5", "0", "007", "1e400",
     "1e-400", "12.5", " 42 ", "9" * 20, "+3", ".5"]
) | st.text(max_size=6)
IDS = st.sampled_from(["", " ", "L0000001", "1.0", "007", "nan"]) | st.text(max_size=8)
TEXT = st.sampled_from(["", "Software", "UK", "Space Mining", "é"]) | st.text(max_size=10)


def _values_for(column: str):
    if column in ("created_at", "as_of", "occurred_at"):
        return DATES
    if column == "employees":
        return NUMBERS
    if column == "lead_id":
        return IDS
    return TEXT


@st.composite
def batches(draw):
    """(leads frame or raw file text, activities frame or None, file format, as_of)."""
    fmt = draw(st.sampled_from(["csv", "parquet"]))
    kind = draw(st.sampled_from(["table"] * 18 + ["empty file", "header only"]))
    if kind == "empty file":
        return "", None, "csv", None
    n = 0 if kind == "header only" else draw(st.integers(1, 8))
    picks = draw(st.lists(st.integers(0, len(POOL) - 1), min_size=n, max_size=n, unique=True))
    if n > 1 and draw(st.integers(0, 9)) == 0:  # the same lead twice
        picks[-1] = picks[0]
    table = {c: [POOL[c].iloc[i] for i in picks] for c in COLUMNS}
    if n and draw(st.booleans()):
        table["as_of"] = [draw(DATES) for _ in range(n)]
    for _ in range(draw(st.integers(0, 6)) if n else 0):  # bad cells
        column = draw(st.sampled_from(list(table)))
        table[column][draw(st.integers(0, n - 1))] = draw(_values_for(column))
    ops = st.sampled_from(["extra"] * 4 + ["drop", "rename", "upper"])
    for op in draw(st.lists(ops, max_size=2)):
        column = draw(st.sampled_from(list(table)))
        if op == "drop":
            del table[column]
        elif op == "rename":
            table[draw(st.sampled_from(["Lead ID", "created", column + "_x"]))] = table.pop(column)
        elif op == "upper":
            table[column.upper()] = table.pop(column)
        else:
            table[draw(st.sampled_from(["owner", "notes", "score"]))] = [draw(TEXT) for _ in picks]
        if not table:
            break
    leads = pd.DataFrame({c: pd.Series(v, dtype="str") for c, v in table.items()})
    if fmt == "parquet":  # typed columns, as a warehouse export would have them
        if "employees" in leads and draw(st.booleans()):
            num = pd.to_numeric(leads["employees"], errors="coerce").astype("float64")
            if n and draw(st.booleans()):
                num.iloc[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.inf, -np.inf]))
            leads["employees"] = num
        if "created_at" in leads:
            how = draw(st.sampled_from(["text", "datetime", "datetime", "naive", "int"]))
            if how == "int":
                leads["created_at"] = np.arange(n, dtype="int64") * 86_400 + 1_700_000_000
            elif how != "text":
                parsed = pd.to_datetime(
                    leads["created_at"], utc=True, errors="coerce", format="ISO8601"
                )
                leads["created_at"] = parsed.dt.tz_localize(None) if how == "naive" else parsed
        if "lead_id" in leads and draw(st.booleans()):
            leads["lead_id"] = np.arange(n, dtype="int64") + draw(st.sampled_from([0, 1]))
    activities = None
    acts_kind = draw(st.sampled_from(["none", "good", "bad"]))
    if acts_kind != "none":
        ids = {POOL["lead_id"].iloc[i] for i in picks}
        acts = {c: list(v) for c, v in ACTS[ACTS["lead_id"].isin(ids)].items()}
        m = len(acts["lead_id"])
        if acts_kind == "bad":
            for _ in range(draw(st.integers(1, 4)) if m else 0):
                column = draw(st.sampled_from(["lead_id", "occurred_at", "activity_type"]))
                acts[column][draw(st.integers(0, m - 1))] = draw(_values_for(column))
            if draw(st.integers(0, 9)) == 0:
                del acts[draw(st.sampled_from(["occurred_at", "activity_type"]))]
        activities = pd.DataFrame({c: pd.Series(v, dtype="str") for c, v in acts.items()})
    as_of = draw(st.sampled_from([None] * 4 + ["2026-01-01", "2025-06-01T12:00:00Z", "soon"]))
    return leads, activities, fmt, as_of


def _write(leads, activities, fmt, tmp: Path):
    path = tmp / f"leads.{fmt}"
    if isinstance(leads, str):
        path.write_text(leads)
    elif fmt == "csv":
        leads.to_csv(path, index=False)
    else:
        leads.to_parquet(path, index=False)
    acts = None
    if activities is not None:
        acts = tmp / "activities.csv"
        activities.to_csv(acts, index=False)
    return path, acts


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"lead_id": str}, keep_default_na=False, na_values=[""])
    return pd.read_parquet(path)


@pytest.mark.slow
@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(
    batch=batches(),
    out_fmt=st.sampled_from(["csv", "parquet"]),
    chunk=st.sampled_from([3, 1000]),
)
def test_a_bad_batch_ends_in_a_clear_error_or_every_row_accounted_for(
    scoring_model, batch, out_fmt, chunk
):
    model = scoring_model[0]
    leads, activities, fmt, as_of = batch
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path, acts_path = _write(leads, activities, fmt, tmp)
        out = tmp / f"scored.{out_fmt}"
        rejects_path, report_path = output_paths(out)
        try:
            run = score_files(model, path, out, acts_path, as_of, chunk_rows=chunk, now=NOW)
        except MqlmlError as exc:
            event("clear error")
            message = str(exc)
            # names the file (or the --as-of value) it is about
            assert str(path) in message or str(acts_path) in message or "as_of:" in message
            assert "Traceback" not in message
            written = {p.name for p in tmp.iterdir()} - {path.name, "activities.csv"}
            assert written == set(), "an error must leave no output"
            return
        raw = read_table(path)  # the input rows, as the reader sees them
        event("scored, with rejects" if len(run.result.rejects) else "scored, no rejects")
        scored, rejects = _read(out), _read(rejects_path)
        assert report_path.is_file()
        assert len(scored) + len(rejects) == len(raw)
        rows = rejects["row"].tolist()
        assert len(set(rows)) == len(rows) and all(1 <= r <= len(raw) for r in rows)
        assert rejects["reason"].notna().all() and rejects["column"].notna().all()
        kept = [r for r in range(1, len(raw) + 1) if r not in set(rows)]
        ids = normalise_ids(raw[[c for c in raw.columns if str(c) == "lead_id"][0]])
        if out_fmt == "csv":  # spreadsheet-safe CSV: a formula-like id gets a leading '
            ids = ids.map(lambda v: "'" + v if str(v).startswith(FORMULA_STARTS) else v)
        assert scored["lead_id"].astype(str).tolist() == [ids.iloc[r - 1] for r in kept]
        assert scored["score"].between(1, 99).all()
        assert set(required_lead_columns(model)) <= {str(c) for c in raw.columns}
        assert run.result.report["rows"]["input"] == len(raw)
