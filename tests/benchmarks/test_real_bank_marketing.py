"""benchmarks/real_bank_marketing.py: tables, checks and JSON on a tiny synthetic export.

AutoGluon is never trained here: a stub package named ``autogluon.tabular`` (a linear
model behind AutoGluon's ``TabularPredictor`` calls) is put on the path of the
interpreter the benchmark runs as its peer, so the subprocess, the files it exchanges and
the tables are the real ones.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from script_loader import load_script

bench = load_script("benchmarks/real_bank_marketing.py")

STUB = '''
import numpy as np
import pandas as pd

__version__ = "0.0-stub"


class TabularPredictor:
    """A linear probability model on the numeric columns (numpy only: starts fast), which
    checks it is asked for what the issue says."""

    def __init__(self, label, problem_type=None, eval_metric=None, path=None, verbosity=2):
        assert problem_type == "binary" and eval_metric == "roc_auc", (problem_type, eval_metric)
        self.label = label
        self.model_best = "StubLinear"

    def fit(self, train_data, time_limit=None, presets=None):
        assert presets == "medium_quality", presets
        assert time_limit is not None and time_limit > 0, time_limit
        assert "duration" not in train_data.columns
        X = train_data.drop(columns=[self.label]).select_dtypes("number")
        self.columns = list(X.columns)
        A = np.column_stack([np.ones(len(X)), X.to_numpy(dtype=float)])
        self.w = np.linalg.lstsq(A, train_data[self.label].to_numpy(dtype=float), rcond=None)[0]
        return self

    def model_names(self):
        return ["StubLinear"]

    def predict_proba(self, data):
        X = data[self.columns].to_numpy(dtype=float)
        p = np.clip(self.w[0] + X @ self.w[1:], 0.01, 0.99)
        return pd.DataFrame({0: 1 - p, 1: p})
'''


def _bank_like(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Rows in time order, the last fifth converting more often, like the real export:
    a few categorical and numeric columns, ``duration`` (dropped) and ``y`` yes/no."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / n
    job = rng.choice(["admin.", "services", "retired", "student"], n)
    age = rng.integers(18, 80, n)
    euribor = 4.9 - 3.5 * t + rng.normal(0, 0.1, n)
    logit = -1.0 + 1.2 * (job == "retired") + 0.8 * (job == "student") - 0.4 * euribor + t
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "age": age,
        "job": job,
        "contact": rng.choice(["cellular", "telephone", "unknown"], n),
        "euribor3m": euribor.round(3),
        "duration": rng.integers(0, 900, n),
        "y": np.where(y, "yes", "no"),
    })


@pytest.fixture
def export_csv(tmp_path) -> Path:
    path = tmp_path / "bank.csv"
    _bank_like().to_csv(path, sep=";", index=False)
    return path


@pytest.fixture
def stub_python(tmp_path, monkeypatch) -> Path:
    """This interpreter, with the stub ``autogluon.tabular`` first on its path."""
    pkg = tmp_path / "stub" / "autogluon" / "tabular"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(textwrap.dedent(STUB))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "stub"))
    return Path(sys.executable)


# 2,000 rows (about 15% converting, 45% in the last fifth) over a year: fewer rows a
# week than the real export, and fewer conversions to calibrate on.
OVERRIDES = json.dumps({"flat": {"rows_per_week": 38}, "split": {"calibration_positives": 20}})


def test_json_has_every_model_protocol_and_check(export_csv, stub_python, tmp_path, capsys):
    out = tmp_path / "bank.json"
    bench.main([
        "--data", str(export_csv), "--overrides", OVERRIDES, "--json", str(out),
        "--prior-shift", "--folds", "2", "--peers-python", str(stub_python),
        "--peer-time-limit", "7", "--peer-rolling-time-limit", "3",
    ])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))  # strict JSON: no NaN
    models = {"mqlml", "logistic_regression", "lightgbm_default", "autogluon"}
    assert set(result["models"]) == models
    for table in ("fixed_holdout", "rolling_pooled", "rolling_prior_shift_pooled"):
        assert {r["model"] for r in result[table]} == models, table
    assert {(r["fold"], r["model"]) for r in result["rolling_folds"]} == {
        (f, m) for f in ("1", "2") for m in models
    }
    assert {(r["protocol"], r["model"]) for r in result["fixed_prior_shift"]} == {
        (p, m) for p in ("fixed holdout", "constructed shift") for m in models
    }
    assert {(r["fold"], r["model"]) for r in result["rolling_prior_shift_folds"]} == {
        (f, m) for f in ("1", "2") for m in models
    }
    fixed = {r["model"]: r for r in result["fixed_holdout"]}
    assert fixed["autogluon"]["n"] == 400 and 0.5 < fixed["autogluon"]["roc_auc"] <= 1
    # What ran: the stub's version, the time limits asked for, one fit per test set.
    peer = result["peers"]["autogluon"]
    assert peer["status"] == "ran" and peer["version"] == "0.0-stub"
    assert [(f["protocol"], f["time_limit"]) for f in peer["fits"]] == [
        ("fixed holdout", 7.0), ("constructed shift", 3.0), ("rolling origin", 3.0),
        ("rolling origin", 3.0),
    ]
    assert peer["fits"][0]["rows"] == 1600 and peer["fits"][0]["best_model"] == "StubLinear"
    checks = {c["protocol"]: c for c in result["checks"]}
    assert set(checks) == {"fixed holdout", "rolling origin (pooled)"}
    for c in checks.values():
        assert set(c["roc_auc_margins"]) == models - {"mqlml"}
        assert f"CHECK {c['protocol']}: {'PASS' if c['passed'] else 'FAIL'}" in printed
    margin = checks["fixed holdout"]["roc_auc_margins"]["autogluon"]
    assert margin == pytest.approx(fixed["mqlml"]["roc_auc"] - fixed["autogluon"]["roc_auc"])


def test_without_autogluon_the_output_says_skipped_and_how_to_add(export_csv, tmp_path,
                                                                   capsys):
    out = tmp_path / "bank.json"
    bench.main([
        "--data", str(export_csv), "--overrides", OVERRIDES, "--json", str(out),
        "--fixed-only", "--peers-python", sys.executable,  # no autogluon on its path
    ])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["models"] == ["mqlml", "logistic_regression", "lightgbm_default"]
    peer = result["peers"]["autogluon"]
    assert peer["status"] == "skipped" and "make bench-peers" in peer["how_to_add"]
    assert "import autogluon.tabular failed" in peer["tried"][0]
    assert "AutoGluon: skipped" in printed and "make bench-peers" in printed
    assert "checks cover logistic_regression, lightgbm_default only" in printed
    assert [c["protocol"] for c in result["checks"]] == ["fixed holdout"]


def _row(model, auc, ece):
    return {"model": model, "roc_auc": auc, "ece": ece}


def test_check_passes_only_when_mqlml_ranks_best_and_is_best_calibrated():
    ok = bench.check_protocol(
        [_row("mqlml", 0.75, 0.04), _row("logistic_regression", 0.75, 0.05),
         _row("autogluon", 0.70, 0.09)], "fixed holdout")
    assert ok["passed"] and ok["roc_auc_margins"]["logistic_regression"] == 0
    assert ok["ece_margins"]["autogluon"] == pytest.approx(0.05)
    line = bench.check_line(ok)
    assert line.startswith("CHECK fixed holdout: PASS")
    assert "autogluon +0.050" in line

    worse = bench.check_protocol(
        [_row("mqlml", 0.724, 0.159), _row("logistic_regression", 0.748, 0.094),
         _row("lightgbm_default", 0.658, 0.194)], "fixed holdout")
    assert not worse["passed"] and not worse["roc_auc_ok"] and not worse["ece_ok"]
    assert worse["roc_auc_margins"]["logistic_regression"] == pytest.approx(-0.024)
    assert worse["roc_auc_margins"]["lightgbm_default"] == pytest.approx(0.066)
    assert "logistic_regression -0.024" in bench.check_line(worse)

    # An ECE tie is not "the lowest"; a metric that is NaN fails rather than passes.
    assert not bench.check_protocol(
        [_row("mqlml", 0.8, 0.05), _row("lightgbm_default", 0.7, 0.05)], "x")["ece_ok"]
    assert not bench.check_protocol(
        [_row("mqlml", float("nan"), 0.01), _row("lightgbm_default", 0.7, 0.05)], "x")["passed"]


def test_json_writes_nan_as_null_through_a_renamed_file(tmp_path):
    path = tmp_path / "out.json"
    bench.write_json({"a": [float("nan"), np.float64(0.5)], "b": {"c": np.int64(3)}}, path)
    assert json.loads(path.read_text()) == {"a": [None, 0.5], "b": {"c": 3}}
    assert not path.with_name("out.json.tmp").exists()
