"""benchmarks/scale.py: runs end to end at a tiny size; its DuckDB query is mqlml's features."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlml.config import DEFAULT_OBSERVATION_DAYS
from mqlml.data.files import read_table
from mqlml.features.build import build_features, fit_feature_spec

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import scale  # noqa: E402  (benchmarks/ is not a package)


def test_hand_written_duckdb_query_computes_mqlmls_activity_features(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    scale._write_data_minimal(tmp_path, 400, events_per_lead=12, seed=3)
    leads = read_table(tmp_path / "leads.parquet")
    acts = read_table(tmp_path / "activities.parquet")
    # A rare type is pooled as "other" by the spec: the query must pool it too.
    acts.loc[acts.index[:5], "activity_type"] = "rare_type"
    acts.to_parquet(tmp_path / "activities.parquet")
    spec = fit_feature_spec(leads, acts)
    assert "rare_type" not in spec.activity_types
    ours = build_features(leads, acts, pd.to_datetime(leads["as_of"], utc=True), spec)
    sql = scale.duckdb_features_sql(str(tmp_path / "leads.parquet"),
                                    str(tmp_path / "activities.parquet"), spec,
                                    DEFAULT_OBSERVATION_DAYS)
    theirs = duckdb.connect().execute(sql).df().set_index("lead_id").loc[leads["lead_id"]]
    activity_cols = [c for c in theirs.columns]
    assert set(activity_cols) < set(ours.columns)
    assert "n_all_30d" in activity_cols and "days_since_last_other" in activity_cols
    np.testing.assert_allclose(
        theirs[activity_cols].to_numpy(dtype=float),
        ours[activity_cols].to_numpy(dtype=float),
        rtol=1e-9, atol=1e-6,
    )
    # Not trivially equal: leads with and without recent events, recencies present.
    assert ours["n_all_7d"].gt(0).any() and ours["n_all_7d"].eq(0).any()
    assert ours["days_since_last_activity"].notna().any()


def test_benchmark_runs_end_to_end_and_writes_every_figure(tmp_path, capsys, trained):
    from mqlml.model.bundle import save_bundle

    # The session's trained model scores; one process: no Python start per measurement.
    bundle = save_bundle(trained[0], tmp_path / "models", "given")
    out = tmp_path / "scale.json"
    code = scale.main([
        "--sizes", "2500", "--train-max", "2500", "--model", str(bundle),
        "--events-per-lead", "5", "--json", str(out), "--work", str(tmp_path / "work"),
        "--in-process",
    ])
    assert code == 0
    doc = json.loads(out.read_text())
    res = doc["results"]["2500"]
    for key, _, _ in scale.FIGURES:
        assert isinstance(res[key], float) and res[key] > 0, key
    assert res["events"] > 2500 * 3
    assert "model search" in res["train_stages"] and "report" in res["train_stages"]
    assert doc["growth"]["features_seconds"]["2500"] == 1.0
    printed = capsys.readouterr().out
    assert "features mqlml / DuckDB" in printed and "<= 60 s" in printed


def test_merge_joins_runs_made_apart_and_recomputes_growth(tmp_path, capsys):
    small = {"sizes": [10], "results": {"10": {"n": 10, "events": 200, "duckdb_seconds": 2.0,
                                               "train_seconds": 5.0}}}
    big = {"sizes": [40], "results": {"40": {"n": 40, "events": 800, "duckdb_seconds": 6.0,
                                             "train_skipped": "above --train-max 10"}}}
    paths = []
    for name, doc in (("a", small), ("b", big)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))
    out = tmp_path / "all.json"
    assert scale.main(["--merge", *map(str, paths), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["sizes"] == [10, 40]
    assert doc["growth"]["duckdb_seconds"] == {"10": 1.0, "40": 3.0}
    assert doc["growth"]["size"] == {"10": 1.0, "40": 4.0}
    assert doc["growth"]["train_seconds"] == {"10": 1.0}
    printed = capsys.readouterr().out
    assert "skipped" in printed.split("train (read to saved bundle)")[1].splitlines()[0]
