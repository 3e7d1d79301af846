"""Benchmark: features, scoring and training from 100k to 5M leads (issue 16 item 4).

Usage::

    .venv/bin/python benchmarks/scale.py [--sizes 100000,1000000,5000000] [--json PATH]
        [--events-per-lead 20] [--train-max 1000000] [--in-memory-max 1000000]
        [--parts features,score,train] [--work DIR] [--threads 2]
    .venv/bin/python benchmarks/scale.py --merge A.json B.json [--json ALL.json]

For each size ``n`` (leads), after an unmeasured preparation (the data files, a model):

* **features**: ``n`` leads and ``n * --events-per-lead`` activity events (Parquet) ->
  one feature row per lead at its as-of (``created_at`` + ``labels.observation_days``)
  with mqlml's feature code (the activity summary read out of core by DuckDB under
  ``--duckdb-memory-gb``, :mod:`mqlml.features.activity`); seconds and peak memory, and
  beside it a **hand-written
  DuckDB query** (:func:`duckdb_features_sql`, in this file) computing the same counts
  and recencies from the same files: seconds, peak memory, and the ratio mqlml / DuckDB;
* **scoring from raw leads + activities**: ``mqlml``'s batch scoring
  (:func:`mqlml.scoring.batch.score_files`: read, check, features, model, calibration,
  grades, 3 positive and 2 negative reasons, write) of the same files; seconds and peak
  memory, beside **today's feature-row figure**: ``benchmarks/score.py``'s scoring stage
  (:func:`score.score_batch`) on the same leads' prebuilt feature rows and the same
  booster (its linear base, if any, left out as ``score.py`` does);
* **training**: a synthetic CRM history of ``n`` leads
  (:func:`mqlml.synthetic.generate.generate_history`, about 15 events per lead, with
  outcomes), read and checked (:func:`mqlml.data.contract.load_crm`) then trained and
  saved as ``mqlml train`` does (:func:`mqlml.workflow.train_and_save`, tracking off):
  seconds per stage. Sizes above ``--train-max`` are skipped and said so.

Above ``--in-memory-max`` leads the scoring measurements are skipped (batch scoring reads
and checks every event in memory, and ``score.py``'s feature rows are built that way); the
features and the DuckDB query read the activities out of core and run at every size. The
output says what was skipped.

Every measurement runs in its own child process; its peak memory is the child's maximum
resident set (``ru_maxrss``) read when it ends (``os.wait4`` gives that one child's
figure; ``RUSAGE_CHILDREN`` would be the largest of all children so far). Seconds are
wall seconds inside the child (Python start and imports excluded). The machine may be
shared: each figure is one run. Growth is each figure at a size divided by the figure at
the smallest size, beside the ratio of sizes (near-linear: about equal).

The data: :func:`write_data` writes ``leads.parquet`` and ``activities.parquet``. It uses
``benchmarks/scale_data.py`` (``write_scale_data``) when that module is present, else a
minimal generator of its own (:func:`_write_data_minimal`); the output says which.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    # score.py (today's feature-row figure) and scale_data.py sit beside this file.
    sys.path.insert(0, str(HERE))

#: Goals of issue 16, printed beside the figures.
GOALS = {
    "features_seconds_1m": 60.0,
    "features_peak_gb_1m": 4.0,
    "features_vs_duckdb": 1.5,
    "score_raw_vs_rows": 2.0,
    "train_seconds_1m": 300.0,
}
#: Leads of the history the scoring model is trained on (its size is not a figure).
MODEL_HISTORY = 30_000
#: The figures of one size, in the JSON and the table: (key, label, unit).
FIGURES = (
    ("features_seconds", "features (mqlml)", "s"),
    ("features_peak_gb", "features (mqlml) peak", "GB"),
    ("duckdb_seconds", "features (hand DuckDB)", "s"),
    ("duckdb_peak_gb", "features (hand DuckDB) peak", "GB"),
    ("features_vs_duckdb", "features mqlml / DuckDB", "x"),
    ("score_raw_seconds", "score raw + 3 reasons", "s"),
    ("score_raw_peak_gb", "score raw peak", "GB"),
    ("score_rows_seconds", "score feature rows (score.py)", "s"),
    ("score_rows_peak_gb", "score feature rows peak", "GB"),
    ("score_raw_vs_rows", "score raw / feature rows", "x"),
    ("train_seconds", "train (read to saved bundle)", "s"),
    ("train_peak_gb", "train peak", "GB"),
    # CPU seconds of each child process (imports included): less stretched by other load.
    ("features_process_cpu_seconds", "CPU: features (mqlml)", "s"),
    ("duckdb_process_cpu_seconds", "CPU: features (hand DuckDB)", "s"),
    ("score_raw_process_cpu_seconds", "CPU: score raw", "s"),
    ("score_rows_process_cpu_seconds", "CPU: score feature rows", "s"),
    ("train_process_cpu_seconds", "CPU: train", "s"),
)


def _now() -> float:
    return time.perf_counter()


# --- data ---------------------------------------------------------------------------------


def write_data(out_dir: Path, n_leads: int, events_per_lead: int = 20, seed: int = 0) -> str:
    """Write ``leads.parquet`` and ``activities.parquet`` of ``n_leads`` into ``out_dir``.

    The one place the benchmark's data comes from: ``benchmarks/scale_data.py``
    (``write_scale_data``) when present, else :func:`_write_data_minimal`.

    Returns
    -------
    str
        Which generator wrote the data.
    """
    try:
        from scale_data import write_scale_data
    except ImportError:
        _write_data_minimal(out_dir, n_leads, events_per_lead, seed)
        return "benchmarks/scale.py minimal generator"
    write_scale_data(out_dir, n_leads, events_per_lead=events_per_lead, seed=seed)
    _complete_leads(out_dir / "leads.parquet")
    return "benchmarks/scale_data.py"


def _complete_leads(path: Path) -> None:
    """Add what the benchmark reads to scale_data's leads: each lead's ``as_of``
    (``created_at`` + ``labels.observation_days``) and an empty ``email`` column (the
    scoring model, trained on the synthetic generator's leads, reads it; empty is allowed
    and scores as a missing email)."""
    from mqlml.config import DEFAULT_OBSERVATION_DAYS

    leads = pd.read_parquet(path)
    if "as_of" not in leads:
        leads["as_of"] = leads["created_at"] + pd.Timedelta(days=DEFAULT_OBSERVATION_DAYS)
    if "email" not in leads:
        leads["email"] = pd.array([None] * len(leads), dtype="str")
    tmp = path.with_suffix(".tmp")
    leads.to_parquet(tmp, index=False)
    os.replace(tmp, path)


#: Leads written per Parquet row group by the minimal generator (bounds its memory).
_CHUNK_LEADS = 250_000


def _write_data_minimal(out_dir: Path, n_leads: int, events_per_lead: int, seed: int) -> None:
    """Leads resampled from a small synthetic history; ``events_per_lead`` events each on
    average (Poisson), typed like the history's, mostly after creation and decaying.

    Every lead carries an ``as_of`` column: ``created_at`` + ``labels.observation_days``,
    the moment training features it at, and the scoring moment of the scoring benchmark.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mqlml.config import DEFAULT_OBSERVATION_DAYS
    from mqlml.synthetic.generate import generate_history

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sample = generate_history(min(n_leads, 20_000), seed=seed)
    src, acts = sample.leads, sample.activities
    types = acts["activity_type"].value_counts(normalize=True)
    details = acts["detail"].dropna().unique()
    start = src["created_at"].min().value // 1000  # microseconds
    span = src["created_at"].max().value // 1000 - start
    day_us = 86_400 * 10**6
    lead_writer = act_writer = None
    try:
        for lo in range(0, n_leads, _CHUNK_LEADS):
            m = min(_CHUNK_LEADS, n_leads - lo)
            pick = rng.integers(0, len(src), m)
            leads = src.iloc[pick].reset_index(drop=True)
            ids = np.array([f"S{i:08d}" for i in range(lo, lo + m)], dtype=object)
            created_us = np.sort(start + rng.integers(0, span, m))
            leads["lead_id"] = pd.array(ids, dtype="str")
            leads["created_at"] = pd.to_datetime(created_us, unit="us", utc=True)
            leads["as_of"] = leads["created_at"] + pd.Timedelta(days=DEFAULT_OBSERVATION_DAYS)
            k = rng.poisson(events_per_lead, m)
            lead_of = np.repeat(np.arange(m), k)
            # Most events follow creation and thin out; 5% come before it (stitched visits).
            offset = rng.exponential(12 * day_us, len(lead_of)).astype(np.int64)
            offset[rng.random(len(lead_of)) < 0.05] *= -1
            events = pd.DataFrame(
                {
                    "lead_id": pd.array(ids[lead_of], dtype="str"),
                    "occurred_at": pd.to_datetime(created_us[lead_of] + offset, unit="us",
                                                  utc=True),
                    "activity_type": pd.array(
                        rng.choice(types.index.to_numpy(), len(lead_of), p=types.to_numpy()),
                        dtype="str",
                    ),
                    "detail": pd.array(rng.choice(details, len(lead_of)), dtype="str"),
                }
            )
            lt = pa.Table.from_pandas(leads, preserve_index=False)
            at = pa.Table.from_pandas(events, preserve_index=False)
            if lead_writer is None:
                lead_writer = pq.ParquetWriter(out_dir / "leads.parquet", lt.schema)
                act_writer = pq.ParquetWriter(out_dir / "activities.parquet", at.schema)
            lead_writer.write_table(lt)
            act_writer.write_table(at)
    finally:
        for w in (lead_writer, act_writer):
            if w is not None:
                w.close()


# --- the hand-written DuckDB query ----------------------------------------------------------


def duckdb_features_sql(leads: str, activities: str, spec, observation_days: int) -> str:
    """One DuckDB query computing mqlml's activity features from Parquet files.

    The same counts and recencies as :func:`mqlml.features.build.build_features`: per
    activity type of ``spec`` (others pooled as ``other``) and window the events in the
    last ``w`` days before as-of, ``n_all`` per window, days since the last event of each
    type, since the last and the first event, active days in the longest window and the
    7-day trend; only events strictly before as-of (``created_at`` +
    ``observation_days``). One row per lead, leads without events included.
    """
    from mqlml.features.build import OTHER_ACTIVITY

    types = list(spec.activity_types)
    windows = list(spec.windows_days)
    w_max = windows[-1]
    in_list = ", ".join("'" + t.replace("'", "''") + "'" for t in types) or "NULL"
    cols, outer = [], []
    for t in (*types, OTHER_ACTIVITY):
        q = "'" + t.replace("'", "''") + "'"
        for w in windows:
            cols.append(f'count(*) FILTER (WHERE kind = {q} AND age <= {w}) AS "n_{t}_{w}d"')
            outer.append(f'coalesce(a."n_{t}_{w}d", 0)::DOUBLE AS "n_{t}_{w}d"')
        cols.append(f'min(age) FILTER (WHERE kind = {q}) AS "days_since_last_{t}"')
        outer.append(f'a."days_since_last_{t}"')
    for w in windows:
        cols.append(f'count(*) FILTER (WHERE age <= {w}) AS "n_all_{w}d"')
        outer.append(f'coalesce(a."n_all_{w}d", 0)::DOUBLE AS "n_all_{w}d"')
    cols += [
        f"count(DISTINCT floor(age)::BIGINT) FILTER (WHERE age <= {w_max}) "
        f'AS "active_days_{w_max}d"',
        "count(*) FILTER (WHERE age <= 7) - count(*) FILTER (WHERE age > 7 AND age <= 14) "
        'AS "trend_7d"',
        'min(age) AS "days_since_last_activity"',
        'max(age) AS "days_since_first_activity"',
    ]
    outer += [
        f'coalesce(a."active_days_{w_max}d", 0)::DOUBLE AS "active_days_{w_max}d"',
        'coalesce(a."trend_7d", 0)::DOUBLE AS "trend_7d"',
        'a."days_since_last_activity"',
        'a."days_since_first_activity"',
    ]
    return f"""
WITH l AS (
    SELECT lead_id, created_at + INTERVAL {int(observation_days)} DAY AS as_of
    FROM read_parquet('{leads}')
),
e AS (
    SELECT x.lead_id,
           CASE WHEN x.activity_type IN ({in_list}) THEN x.activity_type
                ELSE '{OTHER_ACTIVITY}' END AS kind,
           (epoch_us(l.as_of) - epoch_us(x.occurred_at)) / 86400e6 AS age
    FROM read_parquet('{activities}') x JOIN l USING (lead_id)
    WHERE x.occurred_at < l.as_of
),
a AS (
    SELECT lead_id, {", ".join(cols)}
    FROM e GROUP BY lead_id
)
SELECT l.lead_id, {", ".join(outer)}
FROM l LEFT JOIN a USING (lead_id)
"""


# --- the measurements (each in its own process) -------------------------------------------


def _model_files(work: Path) -> tuple:
    from mqlml.features.build import FeatureSpec
    from mqlml.model.bundle import load_bundle

    model = load_bundle(work / "model" / "bundle")
    return model, FeatureSpec.from_dict(model.spec.to_dict())


def _read_with_as_of(data: Path):
    """Leads and activities as mqlml reads them, and each lead's as-of."""
    from mqlml.data.files import read_table

    leads = read_table(data / "leads.parquet")
    acts = read_table(data / "activities.parquet")
    return leads, acts, pd.to_datetime(leads["as_of"], utc=True)


def child_prepare_model(p: dict) -> dict:
    """Train the scoring model on a small history; save its bundle and score.py's files."""
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.model.bundle import load_bundle, save_bundle
    from mqlml.synthetic.generate import generate_history
    from mqlml.workflow import fit_history

    work = Path(p["work"])
    if p.get("model"):
        model = load_bundle(p["model"])
    else:
        cfg = load_config(None, {"tracking": {"enabled": False}, "backtest": {"folds": 0}})
        h = generate_history(p["model_history"], seed=p["seed"])
        crm = validate_crm(h.leads, h.activities, h.outcomes, cfg.data)
        model, _ = fit_history(crm, cfg)
    folder = save_bundle(model, work / "model", "bundle")
    # benchmarks/score.py's scoring stage reads a LightGBM model file and pickled parts.
    model.booster.save_model(str(work / "model" / "model.txt"))
    with open(work / "model" / "post.pkl", "wb") as fh:
        post = {"calibrator": model.calibrator, "grades": model.grades,
                "spec": model.spec.to_dict()}
        pickle.dump(post, fh)
    return {"bundle": str(folder), "features": len(model.spec.columns)}


def child_data(p: dict) -> dict:
    """Write the data of one size, and (unmeasured) its prebuilt feature rows."""
    from mqlml.data.files import write_table
    from mqlml.features.build import build_features

    data = Path(p["data"])
    t = _now()
    source = write_data(data, p["n"], p["events_per_lead"], p["seed"])
    seconds = _now() - t
    import pyarrow.parquet as pq

    n_events = pq.ParquetFile(data / "activities.parquet").metadata.num_rows
    if not p["rows"]:
        return {"source": source, "seconds": seconds, "events": n_events}
    model, spec = _model_files(Path(p["work"]))
    leads, acts, as_of = _read_with_as_of(data)
    feats = build_features(leads, acts, as_of, spec)
    del acts
    for c in spec.categorical_columns:
        feats[c] = pd.array(feats[c].astype(object), dtype="str")
    feats.insert(0, "lead_id", leads["lead_id"].to_numpy())
    write_table(feats, data / "leads_features.parquet")
    return {"source": source, "seconds": seconds, "events": n_events}


def child_features(p: dict) -> dict:
    """mqlml's features of the leads at their as-of, the activities read out of core.

    The shipped engine (:mod:`mqlml.features.activity`): DuckDB's activity summary
    straight from the Parquet file under a memory cap, then the spec's columns; the lead
    attributes by :func:`mqlml.features.build.build_features` (given no activities).
    """
    from mqlml.columns import ACTIVITY_TYPE, AS_OF, LEAD_ID, OCCURRED_AT
    from mqlml.data.files import read_table
    from mqlml.features import activity as A
    from mqlml.features.build import build_features

    model, spec = _model_files(Path(p["work"]))
    data = Path(p["data"])
    t = _now()
    leads = read_table(data / "leads.parquet")
    as_of = pd.to_datetime(leads["as_of"], utc=True)
    frame = pd.DataFrame({LEAD_ID: leads[LEAD_ID], AS_OF: as_of})
    table = A.duckdb_summary(frame, str(data / "activities.parquet"), spec.windows_days,
                             by_position=True, memory_limit=f"{p['duckdb_memory_gb']}GB",
                             temp_directory=data / "duckdb-spill")
    types, values = A._arrays(table)
    activity = A.features_from_summary(table.column("key").to_numpy(), types, values,
                                       len(leads), spec.activity_types, spec.windows_days)
    none = pd.DataFrame({LEAD_ID: pd.array([], dtype="str"),
                         OCCURRED_AT: pd.to_datetime([], utc=True),
                         ACTIVITY_TYPE: pd.array([], dtype="str")})
    feats = build_features(leads, none, as_of, spec)
    for c, v in activity.items():
        feats[c] = v
    return {"seconds": _now() - t, "rows": len(feats), "columns": feats.shape[1]}


def child_duckdb(p: dict) -> dict:
    """The hand-written DuckDB query, its result fetched as a pandas frame."""
    import duckdb

    from mqlml.config import DEFAULT_OBSERVATION_DAYS

    model, spec = _model_files(Path(p["work"]))
    data = Path(p["data"])
    sql = duckdb_features_sql(str(data / "leads.parquet"), str(data / "activities.parquet"),
                              spec, DEFAULT_OBSERVATION_DAYS)
    t = _now()
    con = duckdb.connect()
    con.execute(f"SET threads TO {int(p['threads'])}")
    # DuckDB spills to disk beyond its limit; the default (80% of RAM) is the machine's.
    con.execute(f"SET memory_limit = '{float(p['duckdb_memory_gb'])}GB'")
    # Its spill files go to the benchmark's folder, not to .tmp in the working directory.
    spill = str(data / "duckdb-spill").replace("'", "''")
    con.execute(f"SET temp_directory = '{spill}'")
    frame = con.execute(sql).df()
    return {"seconds": _now() - t, "rows": len(frame), "columns": frame.shape[1] - 1}


def child_score_raw(p: dict) -> dict:
    """``mqlml score``'s batch path on the raw leads and activities (each lead's as_of)."""
    from mqlml.scoring.batch import score_files

    model, _ = _model_files(Path(p["work"]))
    data = Path(p["data"])
    t = _now()
    run = score_files(model, data / "leads.parquet", data / "scored.parquet",
                      data / "activities.parquet")
    return {"seconds": _now() - t, "rows": len(run.result.scored),
            "rejects": len(run.result.rejects)}


def child_score_rows(p: dict) -> dict:
    """benchmarks/score.py's scoring stage on prebuilt feature rows."""
    import shutil

    import score

    work, data = Path(p["work"]), Path(p["data"])
    stage = data / "rows"
    stage.mkdir(exist_ok=True)
    for name in ("model.txt", "post.pkl"):
        shutil.copy(work / "model" / name, stage / name)
    os.replace(data / "leads_features.parquet", stage / "leads_features.parquet")
    try:
        res = score.score_batch(stage, argparse.Namespace(threads=p["threads"]))
    finally:
        os.replace(stage / "leads_features.parquet", data / "leads_features.parquet")
    return {"seconds": sum(res["times"].values()), "rows": res["rows"], "stages": res["times"]}


def child_train_data(p: dict) -> dict:
    """Write a synthetic CRM history of n leads (with outcomes) for the training run."""
    from mqlml.synthetic.generate import generate_history, write_history

    t = _now()
    h = generate_history(p["n"], seed=p["seed"])
    write_history(h, Path(p["data"]), fmt="parquet")
    return {"seconds": _now() - t, "events": len(h.activities)}


def child_train(p: dict) -> dict:
    """Read, check and train as ``mqlml train`` does; seconds per stage."""
    from mqlml.config import load_config
    from mqlml.data.contract import load_crm
    from mqlml.workflow import train_and_save

    stages: dict[str, float] = {}

    def progress(stage: str, seconds: float) -> None:
        stages[stage] = stages.get(stage, 0.0) + seconds
        print(f"    train {p['n']:,}: {stage} {seconds:.1f} s", file=sys.stderr, flush=True)

    cfg = load_config(None, {"tracking": {"enabled": False}, "models_dir": p["models"]})
    t = _now()
    crm = load_crm(p["data"], cfg.data)
    progress("read and check data", _now() - t)
    train_and_save(crm, cfg, progress=progress)
    return {"seconds": _now() - t, "stages": stages}


CHILDREN = {
    "prepare_model": child_prepare_model,
    "data": child_data,
    "features": child_features,
    "duckdb": child_duckdb,
    "score_raw": child_score_raw,
    "score_rows": child_score_rows,
    "train_data": child_train_data,
    "train": child_train,
}


def measure(kind: str, params: dict, work: Path) -> dict:
    """Run ``CHILDREN[kind](params)`` in a fresh process; its result and peak memory.

    The result gains ``peak_gb``: the child's ``ru_maxrss`` (kilobytes on Linux), read
    with ``os.wait4`` for this child alone.
    """
    if params.get("in_process"):
        return _measure_here(kind, params)
    out = work / f"result-{kind}-{params.get('n', 0)}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind,
           "--params", json.dumps(params), "--result", str(out)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {kind} (n={params.get('n')}) failed with exit "
                           f"code {proc.returncode}; its error is printed above")
    res = json.loads(out.read_text())
    res["peak_gb"] = usage.ru_maxrss / 1e6
    # CPU seconds of the whole child (imports included): a shared machine stretches wall
    # seconds, much less these.
    res["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return res


def _measure_here(kind: str, params: dict) -> dict:
    """``CHILDREN[kind](params)`` in this process (``--in-process``, for the quick test):
    the imports are paid once, but the peak memory is this process's so far, not the
    measurement's own."""
    import resource
    import warnings

    cpu = time.process_time()
    with warnings.catch_warnings(record=True):  # the data's warnings are not the point
        res = CHILDREN[kind](params)
    res["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    res["process_cpu_seconds"] = time.process_time() - cpu
    return res


# --- the run --------------------------------------------------------------------------------


def run(args) -> dict:
    """Every measurement at every size; the JSON document."""
    sizes = sorted(args.sizes)
    doc: dict = {
        "sizes": sizes, "events_per_lead": args.events_per_lead, "threads": args.threads,
        "train_max": args.train_max, "in_memory_max": args.in_memory_max,
        "in_process": args.in_process, "goals": GOALS,
        "results": {},
    }
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    base = {"work": str(work), "seed": args.seed, "threads": args.threads,
            "events_per_lead": args.events_per_lead, "model_history": args.model_history,
            "duckdb_memory_gb": args.duckdb_memory_gb, "in_process": args.in_process,
            "model": str(args.model) if args.model else None}
    if args.parts & {"features", "score"}:
        prep = measure("prepare_model", base, work)
        where = (f"the bundle {args.model}" if args.model
                 else f"trained on {args.model_history:,} synthetic leads")
        print(f"model for the feature spec and scoring: {where}, {prep['features']} "
              "features (not a figure)", flush=True)
    for n in sizes:
        data = work / f"data-{n}"
        in_memory = args.in_memory_max is None or n <= args.in_memory_max
        p = {**base, "n": n, "data": str(data), "rows": "score" in args.parts and in_memory}
        r: dict = {"n": n}
        if "train" in args.parts:
            _train(args, p, r, work)
        if "features" not in args.parts and "score" not in args.parts:
            doc["results"][str(n)] = r
            continue
        d = measure("data", p, work)
        r["events"] = d["events"]
        doc["data_source"] = d["source"]
        print(f"\n{n:,} leads: {d['events']:,} events written by {d['source']} "
              f"({d['seconds']:.0f} s, not a figure)", flush=True)
        kinds = [k for k in ("features", "duckdb") if "features" in args.parts]
        kinds += [k for k in ("score_raw", "score_rows") if "score" in args.parts]
        if not in_memory:
            # Scoring reads and checks every event in memory (pandas), and the feature rows
            # of score.py are built that way: above --in-memory-max only the features run
            # (both read the activities out of core).
            skipped = [k for k in kinds if k not in ("features", "duckdb")]
            kinds = [k for k in kinds if k in ("features", "duckdb")]
            r["skipped"] = {k: f"above --in-memory-max {args.in_memory_max:,}" for k in skipped}
        if not in_memory and skipped:
            print(f"    skipped above --in-memory-max {args.in_memory_max:,} leads: "
                  f"{', '.join(skipped)} (they read every event into memory)", flush=True)
        for kind in kinds:
            key = kind
            m = measure(kind, p, work)
            r[f"{key}_seconds"], r[f"{key}_peak_gb"] = m["seconds"], m["peak_gb"]
            r[f"{key}_process_cpu_seconds"] = m["process_cpu_seconds"]
            if "stages" in m:
                r[f"{key}_stages"] = m["stages"]
            print(f"    {kind:10s} {m['seconds']:8.1f} s   peak {m['peak_gb']:5.2f} GB   "
                  f"{m['rows']:,} rows   (process CPU {m['process_cpu_seconds']:.1f} s)",
                  flush=True)
        if "features_seconds" in r:
            r["features_vs_duckdb"] = r["features_seconds"] / r["duckdb_seconds"]
        if "score_raw_seconds" in r:
            r["score_raw_vs_rows"] = r["score_raw_seconds"] / r["score_rows_seconds"]
        doc["results"][str(n)] = r
        if not args.keep_data:
            import shutil

            shutil.rmtree(data, ignore_errors=True)
    doc["growth"] = growth(doc)
    return doc


def _train(args, p: dict, r: dict, work: Path) -> None:
    """The training measurement of one size into ``r`` (or why it was skipped)."""
    n = p["n"]
    if n > args.train_max:
        r["train_skipped"] = f"above --train-max {args.train_max:,}"
        print(f"\n{n:,} leads: train skipped, above --train-max {args.train_max:,} "
              "(memory/time of a shared 2-core machine)", flush=True)
        return
    tdata = work / f"train-{n}"
    g = measure("train_data", {**p, "data": str(tdata)}, work)
    print(f"\n{n:,} leads: training history of {g['events']:,} events generated "
          f"({g['seconds']:.0f} s, not a figure)", flush=True)
    m = measure("train", {**p, "data": str(tdata), "models": str(work / "models")}, work)
    r["train_events"] = g["events"]
    r["train_seconds"], r["train_peak_gb"] = m["seconds"], m["peak_gb"]
    r["train_process_cpu_seconds"] = m["process_cpu_seconds"]
    r["train_stages"] = m["stages"]
    print(f"    train      {m['seconds']:8.1f} s   peak {m['peak_gb']:5.2f} GB   "
          f"(process CPU {m['process_cpu_seconds']:.1f} s)", flush=True)
    if not args.keep_data:
        import shutil

        shutil.rmtree(tdata, ignore_errors=True)


def growth(doc: dict) -> dict:
    """Each figure at each size divided by the figure at the smallest size measured
    (the smallest size of all, unless that figure was skipped there)."""
    sizes = doc["sizes"]
    res = doc["results"]
    out = {}
    for key, _, unit in FIGURES:
        have = [n for n in sizes if res[str(n)].get(key)]
        if unit != "s" or not have:
            continue
        out[key] = {str(n): res[str(n)][key] / res[str(have[0])][key] for n in have}
    out["size"] = {str(n): n / sizes[0] for n in sizes}
    return out


def print_table(doc: dict) -> None:
    """The figures by size, the goals beside them, then growth and training stages."""
    sizes = doc["sizes"]
    res = doc["results"]
    head = "".join(f"{n:>13,}" for n in sizes)
    print(f"\n{'figure (leads ->)':34s}{head}   goal (at 1M)")
    goals = {
        "features_seconds": f"<= {GOALS['features_seconds_1m']:.0f} s",
        "features_peak_gb": f"<= {GOALS['features_peak_gb_1m']:.0f} GB",
        "features_vs_duckdb": f"<= {GOALS['features_vs_duckdb']}x",
        "score_raw_vs_rows": f"<= {GOALS['score_raw_vs_rows']}x",
        "train_seconds": f"<= {GOALS['train_seconds_1m']:.0f} s",
    }
    for key, label, unit in FIGURES:
        cells = ""
        for n in sizes:
            v = res[str(n)].get(key)
            if v is None:
                kind = key.removesuffix("_process_cpu_seconds").removesuffix(
                    "_seconds").removesuffix("_peak_gb")
                skipped = res[str(n)].get("skipped", {})
                gap = "skipped" if (kind == "train" and res[str(n)].get("train_skipped")) or (
                    kind in skipped or (kind.endswith("_vs_duckdb") and "features" in skipped)
                    or (kind.endswith("_vs_rows") and "score_raw" in skipped)) else "-"
                cells += f"{gap:>13s}"
            else:
                cells += f"{v:>10.2f} {unit:<2s}"
        print(f"{label:34s}{cells}   {goals.get(key, '')}")
    for key in ("events", "train_events"):
        print(f"{key.replace('_', ' '):34s}"
              + "".join(f"{res[str(n)].get(key, 0):>13,}" for n in sizes))
    print("\ngrowth (figure / figure at the smallest size; near-linear = the size ratio):")
    for key, row in doc["growth"].items():
        print(f"    {key:32s}" + "".join(
            f"{row[str(n)]:>9.1f}x" if str(n) in row else f"{'-':>10s}" for n in sizes))
    for n in sizes:
        st = res[str(n)].get("train_stages")
        if st:
            print(f"\ntraining stages at {n:,} leads (seconds):")
            for stage, sec in st.items():
                print(f"    {stage:34s}{sec:8.1f}")


def merge(paths: list[Path]) -> dict:
    """One document from the JSON of several runs (e.g. the big sizes run apart): the
    figures of each size merged, later files winning, and the growth recomputed."""
    doc: dict = {}
    for path in paths:
        part = json.loads(Path(path).read_text())
        results = {**doc.get("results", {})}
        for n, r in part["results"].items():
            results[n] = {**results.get(n, {}), **r}
        doc = {**doc, **part, "results": results, "merged_from": [str(p) for p in paths]}
    doc["sizes"] = sorted(int(n) for n in doc["results"])
    doc["growth"] = growth(doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000",
                        help="comma-separated lead counts")
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--train-max", type=int, default=1_000_000,
                        help="train only at sizes up to this (5M does not fit a shared "
                             "2-core machine's time)")
    parser.add_argument("--model-history", type=int, default=MODEL_HISTORY,
                        help="leads of the history the scoring model is trained on")
    parser.add_argument("--in-memory-max", type=int, default=1_000_000,
                        help="run mqlml's features and scoring only at sizes up to this "
                             "(they hold every event in memory); 0: no limit")
    parser.add_argument("--duckdb-memory-gb", type=float, default=6.0,
                        help="DuckDB's memory limit (it spills to disk beyond it)")
    parser.add_argument("--model", type=Path,
                        help="a model bundle for the feature spec and scoring, instead of "
                             "training one on --model-history leads")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", default="features,score,train",
                        help="comma-separated: which of features, score, train to measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work", type=Path, help="working folder (default: temporary)")
    parser.add_argument("--keep-data", action="store_true", help="keep each size's files")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="measure nothing: merge these runs' JSON, print the table "
                             "(and write --json)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every measurement in this process (quick check; peak "
                             "memory is then not per measurement)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        res = CHILDREN[args.child](json.loads(args.params))
        tmp = args.result.with_suffix(".tmp")
        tmp.write_text(json.dumps(res))
        os.replace(tmp, args.result)
        return 0
    if args.merge:
        doc = merge(args.merge)
        print_table(doc)
        _write_json(doc, args.json)
        return 0
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    args.in_memory_max = args.in_memory_max or None
    unknown = args.parts - {"features", "score", "train"}
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}; expected features, score, train")
    with tempfile.TemporaryDirectory(prefix="mqlml-scale-bench-") as tmp:
        if args.work is None:
            args.work = Path(tmp)
        doc = run(args)
    print_table(doc)
    _write_json(doc, args.json)
    return 0


def _write_json(doc: dict, path: Path | None) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)
    print(f"\nfigures written to {path}")


if __name__ == "__main__":
    sys.exit(main())
