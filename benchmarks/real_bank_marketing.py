"""Real data under a moving base rate: UCI Bank Marketing, mqlml and its peers, two protocols.

    python benchmarks/real_bank_marketing.py [--data PATH] [--config configs/bank-marketing.yaml]
        [--json PATH] [--prior-shift] [--fixed-only] [--folds 10]
        [--peers-python PATH] [--peer-time-limit 300] [--peer-rolling-time-limit S] [--no-peers]

Rows are in time order (May 2008 - Nov 2010) and the last ones are a regime change: the
conversion rate is about 6% in the first 80% of rows and 31% in the last 20%, and the
macro-economic columns leave the range they had before. Every model sees the same rows:

* **fixed holdout**: fit (model and calibration) on the first 80% of rows, test on the
  last 20%;
* **rolling origin** (Moro et al., 2014): the last half of the rows in 10 consecutive
  folds; each fold is tested by models fit only on the rows before it; metrics per fold
  and pooled over the folds.

With ``--prior-shift``, each model's probabilities are also moved to the conversion rate
its test rows imply from their own scores (EM of Saerens, Latinne and Decaestecker, 2002,
:mod:`mqlml.model.prior_shift`; what ``mqlml score --adjust-prior`` does), from the rate it
was calibrated to (mqlml: its calibration rows; the baselines: their training rows), and
the estimate and the metrics before and after are printed beside the true rate;
``--fixed-only`` skips the rolling origin.

Models: mqlml (through the same code as ``mqlml train --config configs/bank-marketing.yaml``:
flat mode, audits, LightGBM, calibration on the latest pre-test rows), plain logistic
regression (one-hot + scaling) and default LightGBM; and AutoGluon (``TabularPredictor``,
``presets="medium_quality"``, ``time_limit`` 300 s, ROC AUC as its metric) when an
interpreter can import ``autogluon.tabular``: this one, ``--peers-python``, or
``.venv-peers/bin/python``, which ``make bench-peers`` creates (AutoGluon 1.6 pins
pandas < 2.4 and pyarrow < 25, below mqlml's lock, so it runs in its own venv through
``benchmarks/peer_autogluon.py``, given the same pre-test rows as a table). Otherwise the
output says it was skipped and how to add it. ``--peer-rolling-time-limit`` shortens
AutoGluon's fits in the rolling origin (10 folds x 300 s is 50 minutes).

``duration`` is dropped for all of them: it is known only after the call. Metrics: ROC
AUC, PR AUC, Brier, ECE (15 equal-width bins), lift in the top decile and the seconds
each fit took. Each protocol ends with the issue's check: does mqlml rank at least as
well as every other model (ROC AUC) and have the lowest ECE, with the margins.
``--json PATH`` writes every table, the checks and what ran or was skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mqlml.config import load_config
from mqlml.data.files import read_table
from mqlml.data.flat import flat_export
from mqlml.labels.flat import label_flat
from mqlml.model.metrics import classification_metrics, expected_calibration_error
from mqlml.model.prior_shift import adjust_probabilities, estimate_prior
from mqlml.workflow import fit_labelled

ROOT = Path(__file__).resolve().parents[1]
# $BANK_MARKETING_CSV, as the notebook reads it, or shared/ beside the project.
DATA = Path(
    os.environ.get("BANK_MARKETING_CSV")
    or ROOT.parent / "shared" / "data" / "uci-bank-marketing" / "bank-additional-full.csv"
)
CONFIG = ROOT / "configs" / "bank-marketing.yaml"
METRICS = ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile")
MODELS = ("mqlml", "logistic_regression", "lightgbm_default")
PEER = "autogluon"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEER_RUNNER = Path(__file__).resolve().with_name("peer_autogluon.py")
PEER_PRESETS = "medium_quality"
HOW_TO_ADD_PEERS = (
    "`make bench-peers` creates .venv-peers with the `peers` extra of pyproject.toml "
    "(autogluon.tabular; it pins pandas < 2.4, so not in mqlml's venv) and runs this "
    "benchmark with it; or pass --peers-python PATH of an interpreter that imports it"
)
N_FOLDS = 10


@dataclass(frozen=True)
class Peer:
    """AutoGluon as run here: the interpreter that imports it and its time limit per fit."""

    python: Path
    version: str
    time_limit: float
    presets: str = PEER_PRESETS


def find_peer(explicit: Path | None, *, time_limit: float) -> tuple[Peer | None, dict]:
    """The interpreter that can import ``autogluon.tabular``, or why there is none.

    Tried in order: ``explicit`` alone when given; else this interpreter, then
    ``.venv-peers/bin/python``. Returns the peer (None when skipped) and what to report.
    """
    candidates = [explicit] if explicit is not None else [Path(sys.executable), PEERS_PYTHON]
    tried = []
    for python in candidates:
        # Absolute but not resolved: a venv's python is a symlink out of the venv.
        python = Path(python).absolute()
        if not python.exists():
            tried.append(f"{python}: does not exist")
            continue
        probe = subprocess.run(
            [str(python), "-c", "import autogluon.tabular as t; print(t.__version__)"],
            capture_output=True, text=True, timeout=300,
        )
        if probe.returncode == 0:
            version = probe.stdout.strip().splitlines()[-1]
            return Peer(python, version, time_limit), {
                "status": "ran", "python": str(python), "version": version,
                "presets": PEER_PRESETS,
            }
        last = (probe.stderr.strip().splitlines() or ["failed"])[-1]
        tried.append(f"{python}: import autogluon.tabular failed ({last})")
    return None, {"status": "skipped", "tried": tried, "how_to_add": HOW_TO_ADD_PEERS}


def _label_name(X: pd.DataFrame) -> str:
    name = "converted"
    while name in X.columns:
        name = "_" + name
    return name


def _autogluon(X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray,
               peer: Peer) -> tuple[np.ndarray, dict]:
    """AutoGluon fit on rows ``train`` and its probabilities for rows ``test``, through
    ``benchmarks/peer_autogluon.py`` run by ``peer.python`` on parquet copies of the rows
    (in a temporary folder, removed after)."""
    label = _label_name(X)
    with tempfile.TemporaryDirectory(prefix="mqlml-peer-") as tmp:
        d = Path(tmp)
        X.iloc[train].assign(**{label: y[train].astype(int)}).to_parquet(d / "train.parquet")
        X.iloc[test].to_parquet(d / "test.parquet")
        cmd = [str(peer.python), str(PEER_RUNNER), "--train", str(d / "train.parquet"),
               "--test", str(d / "test.parquet"), "--label", label,
               "--out", str(d / "proba.parquet"), "--workdir", str(d / "models"),
               "--time-limit", str(peer.time_limit), "--presets", peer.presets]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-15:])
            raise RuntimeError(
                f"AutoGluon ({peer.python}) failed on {len(train):,} training rows with exit "
                f"code {run.returncode}:\n{tail}"
            )
        p = pd.read_parquet(d / "proba.parquet")["probability"].to_numpy(dtype=float)
        info = json.loads(run.stdout.strip().splitlines()[-1])
    if len(p) != len(test):
        raise RuntimeError(f"AutoGluon returned {len(p)} probabilities for {len(test)} rows")
    return p, info


def _numeric_frame(export: pd.DataFrame, drop: list[str]) -> pd.DataFrame:
    X = export.drop(columns=drop)
    for c in X.columns:
        num = pd.to_numeric(X[c], errors="coerce")
        if num.notna().all():
            X[c] = num
    return X


def _logistic(X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    nums = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    cats = [c for c in X.columns if c not in nums]
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), nums),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
                    ]
                ),
            ),
            ("lr", LogisticRegression(max_iter=2000)),
        ]
    )
    model.fit(X.iloc[train], y[train])
    return model.predict_proba(X.iloc[test])[:, 1]


def _lightgbm(X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    Xc = X.copy()
    for c in Xc.columns:
        if not pd.api.types.is_numeric_dtype(Xc[c]):
            Xc[c] = Xc[c].astype("category")
    model = lgb.LGBMClassifier(verbose=-1, random_state=0)
    model.fit(Xc.iloc[train], y[train])
    return model.predict_proba(Xc.iloc[test])[:, 1]


def _mqlml(export: pd.DataFrame, base_config, start: int, end: int):
    """mqlml trained on rows [0, start) (train, then calibration on the latest of them),
    tested on rows [start, end): the CLI's flat-mode training on the export's first rows."""
    split = base_config.split
    cal_share = split.calibration / (split.train + split.calibration)
    test = (end - start) / end
    calibration = cal_share * start / end
    cfg = base_config.model_copy(
        update={
            "split": base_config.split.model_copy(
                update={"train": 1 - test - calibration, "calibration": calibration, "test": test}
            )
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # audit messages are in the summary
        labelled = label_flat(flat_export(export.iloc[:end], cfg, source="bank"), cfg)
        model, artifacts = fit_labelled(labelled, cfg)
    pred = artifacts["test_predictions"]
    rows = pred["lead_id"].astype(int).to_numpy() - 1  # lead_id is the 1-based row number
    if len(rows) != end - start or rows.min() != start:
        raise RuntimeError(f"mqlml tested rows {rows.min()}..{rows.max()}, not {start}..{end - 1}")
    p = np.empty(end - start)
    p[rows - start] = pred["probability"].to_numpy()
    return p, model


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    m = classification_metrics(y, p)
    m["ece"] = expected_calibration_error(y, p, n_bins=15)
    return {k: m[k] for k in ("n", "base_rate", "mean_probability", *METRICS)}


def _predict_all(export, X, y, cfg, start, end, peer: Peer | None = None):
    """Each model's test probabilities, mqlml's summary, the rate each model's
    probabilities are calibrated to (mqlml: its calibration rows; the others: all rows),
    the seconds each fit took and what AutoGluon ran (empty without ``peer``)."""
    train, test = np.arange(start), np.arange(start, end)
    seconds, preds = {}, {}
    t0 = time.perf_counter()
    preds["mqlml"], model = _mqlml(export, cfg, start, end)
    seconds["mqlml"] = time.perf_counter() - t0
    for name, fit in (("logistic_regression", _logistic), ("lightgbm_default", _lightgbm)):
        t0 = time.perf_counter()
        preds[name] = fit(X, y, train, test)
        seconds[name] = time.perf_counter() - t0
    peer_info = {}
    if peer is not None:
        t0 = time.perf_counter()
        preds[PEER], peer_info = _autogluon(X, y, train, test, peer)
        seconds[PEER] = time.perf_counter() - t0
        peer_info = {"rows": start, "time_limit": peer.time_limit, **peer_info}
    rates = {m: float(y[:start].mean()) for m in preds}
    rates["mqlml"] = float(model.calibrator.base_rate_)
    return preds, model.summary, rates, seconds, peer_info


def _prior_shift_rows(y: np.ndarray, preds: dict, rates: dict, first: str) -> list[dict]:
    """Per model: the training rate, the EM estimate of the test rows' rate beside the
    true one, and ROC AUC, ECE and Brier before and after moving the probabilities to it."""
    rows = []
    for m in preds:
        est = estimate_prior(preds[m], rates[m])
        adjusted = adjust_probabilities(preds[m], rates[m], est.estimated_rate)
        before, after = _metrics(y, preds[m]), _metrics(y, adjusted)
        rows.append({
            first: "", "model": m, "true_rate": float(y.mean()), "training_rate": rates[m],
            "estimated_rate": est.estimated_rate, "iterations": est.iterations,
            "edge": est.boundary or "no",
            **{f"{k}_before": before[k] for k in ("roc_auc", "ece", "brier")},
            **{f"{k}_after": after[k] for k in ("roc_auc", "ece", "brier")},
            "adjusted": adjusted,
        })
    return rows


def _controlled_shift(export, X, y, cfg, cut: int, rate: float,
                      peer: Peer | None = None, peer_report: dict | None = None) -> list[dict]:
    """Prior shift by construction, where the method's assumption holds: the first 80% of
    rows in a seeded random order (so time plays no part), every model fit on the first
    75% of them, and the batch: of the other 25%, every converter and a seeded sample of
    non-converters making its rate ``rate``. Behaviour given the outcome is then the same
    in training and batch."""
    rng = np.random.default_rng(0)
    perm = rng.permutation(cut)
    export_p, X_p, y_p = (export.iloc[perm].reset_index(drop=True),
                          X.iloc[perm].reset_index(drop=True), y[perm])
    start = int(round(cut * 0.75))
    preds, _, rates, _, info = _predict_all(export_p, X_p, y_p, cfg, start, cut, peer)
    if info and peer_report is not None:
        peer_report["fits"].append({"protocol": "constructed shift", **info})
    yb = y_p[start:cut]
    pos, neg = np.flatnonzero(yb == 1), np.flatnonzero(yb == 0)
    k = min(len(neg), int(round(len(pos) * (1 - rate) / rate)))
    keep = np.sort(np.concatenate([pos, rng.choice(neg, k, replace=False)]))
    rows = _prior_shift_rows(yb[keep], {m: p[keep] for m, p in preds.items()}, rates, "protocol")
    for r in rows:
        r["protocol"] = "constructed shift"
    return rows


_SHIFT_COLS = ("true_rate", "training_rate", "estimated_rate", "edge", "roc_auc_before",
               "roc_auc_after", "ece_before", "ece_after", "brier_before", "brier_after")


def _shift_table(rows: list[dict], first: str) -> str:
    cols = [first, "model", *_SHIFT_COLS]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _table(rows: list[dict], first: str) -> str:
    cols = [first, "model", "n", "base_rate", "mean_probability", *METRICS]
    if any("seconds" in r for r in rows):
        cols.append("seconds")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if c in ("n", "seconds") and isinstance(v, float):
                cells.append(f"{v:,.0f}")
            else:
                cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_protocol(rows: list[dict], protocol: str) -> dict:
    """The issue's done-when for one protocol: mqlml's ROC AUC at least every other
    model's and its ECE the lowest, with the margins (positive: mqlml ahead).

    ``rows`` are one table's rows, one per model (``model``, ``roc_auc``, ``ece``). A
    margin that cannot be computed (a metric is NaN) fails the check.
    """
    by = {r["model"]: r for r in rows}
    if "mqlml" not in by:
        raise ValueError(f"{protocol}: no mqlml row among models {sorted(by)}")
    ours = by["mqlml"]
    others = [m for m in by if m != "mqlml"]
    auc = {m: ours["roc_auc"] - by[m]["roc_auc"] for m in others}
    ece = {m: by[m]["ece"] - ours["ece"] for m in others}
    auc_ok = all(v >= 0 for v in auc.values())  # NaN compares False: fails
    ece_ok = all(v > 0 for v in ece.values())
    return {
        "protocol": protocol, "models": others, "passed": auc_ok and ece_ok,
        "roc_auc_ok": auc_ok, "ece_ok": ece_ok,
        "mqlml_roc_auc": ours["roc_auc"], "mqlml_ece": ours["ece"],
        "roc_auc_margins": auc, "ece_margins": ece,
    }


def check_line(check: dict) -> str:
    """One printed line: the check's verdict and its margins per model."""
    def margins(d: dict) -> str:
        return ", ".join(f"{m} {v:+.3f}" for m, v in d.items())

    return (
        f"CHECK {check['protocol']}: {'PASS' if check['passed'] else 'FAIL'} | "
        f"ROC AUC >= every other model: {'yes' if check['roc_auc_ok'] else 'no'} "
        f"(mqlml {check['mqlml_roc_auc']:.3f}; margins {margins(check['roc_auc_margins'])}) | "
        f"lowest ECE: {'yes' if check['ece_ok'] else 'no'} "
        f"(mqlml {check['mqlml_ece']:.3f}; margins {margins(check['ece_margins'])})"
    )


def _json_safe(value):
    """NaN and infinities as null (JSON has neither); numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(result: dict, path: Path) -> None:
    """``result`` as JSON at ``path``, through a temporary file renamed into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_json_safe(result), indent=2, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--overrides", default="{}", help="JSON merged over the config")
    parser.add_argument("--json", type=Path, help="also write every table and check here")
    parser.add_argument("--prior-shift", action="store_true",
                        help="also estimate each test period's rate (EM) and adjust to it")
    parser.add_argument("--fixed-only", action="store_true", help="skip the rolling origin")
    parser.add_argument("--folds", type=int, default=N_FOLDS,
                        help=f"rolling-origin folds over the last half (default {N_FOLDS})")
    parser.add_argument("--peers-python", type=Path,
                        help="interpreter that imports autogluon.tabular (default: this one "
                             "if it does, else .venv-peers/bin/python)")
    parser.add_argument("--peer-time-limit", type=float, default=300.0,
                        help="AutoGluon's time_limit in seconds per fit (default 300)")
    parser.add_argument("--peer-rolling-time-limit", type=float,
                        help="AutoGluon's time_limit per rolling-origin fold and for the "
                             "constructed prior shift (default: --peer-time-limit)")
    parser.add_argument("--no-peers", action="store_true", help="leave AutoGluon out")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if not args.data.is_file():
        raise SystemExit(f"--data {args.data}: no such file (UCI Bank Marketing's "
                         "bank-additional-full.csv; or set $BANK_MARKETING_CSV)")
    if args.folds < 1:
        raise SystemExit(f"--folds must be at least 1, got {args.folds}")
    overrides = {"tracking": {"enabled": False}, **json.loads(args.overrides)}
    cfg = load_config(args.config, overrides)
    export = read_table(args.data)
    y = export[cfg.flat.target_column].str.strip().isin(cfg.flat.positive_values)
    y = y.to_numpy(dtype=float)
    X = _numeric_frame(export, [cfg.flat.target_column, *cfg.flat.exclude_columns])
    n = len(export)

    if args.no_peers:
        peer, peer_report = None, {"status": "skipped", "tried": ["--no-peers"],
                                   "how_to_add": HOW_TO_ADD_PEERS}
    else:
        peer, peer_report = find_peer(args.peers_python, time_limit=args.peer_time_limit)
    rolling_limit = args.peer_rolling_time_limit or args.peer_time_limit
    rolling_peer = None if peer is None else Peer(peer.python, peer.version, rolling_limit)
    if peer is None:
        print(f"AutoGluon: skipped ({'; '.join(peer_report['tried'])}). To add it: "
              f"{HOW_TO_ADD_PEERS}.\n")
    else:
        peer_report.update(time_limit_fixed=args.peer_time_limit,
                           time_limit_rolling=rolling_limit, fits=[])
        print(f"AutoGluon {peer.version} ({peer.python}): presets={peer.presets}, "
              f"time_limit {args.peer_time_limit:.0f} s on the fixed holdout, "
              f"{rolling_limit:.0f} s per rolling-origin fold.\n")

    cut = int(round(n * 0.8))
    preds, summary, rates, seconds, info = _predict_all(export, X, y, cfg, cut, n, peer)
    if info:
        peer_report["fits"].append({"protocol": "fixed holdout", **info})
    fixed = [{"protocol": "fixed holdout", "model": m, **_metrics(y[cut:], preds[m]),
              "seconds": seconds[m]} for m in preds]
    drifting = [r["column"] for r in summary.drift_audit or [] if r["out_of_range"] > 0.1]
    # Like for like when mqlml's model did not learn from every pre-test row (no refit:
    # it keeps the newest of them for its calibrator and thresholds). The model measured
    # is the one before any refit on the test rows (``model.refit_on_all_history``).
    before_test = {"train", "calibration"} if summary.model.cross_fit_periods else {"train"}
    n_model = sum(p.n_leads for p in summary.periods if p.name in before_test)
    lr_model_rows = (
        _metrics(y[cut:], _logistic(X, y, np.arange(n_model), np.arange(cut, n)))
        if n_model < cut
        else None
    )

    print("## Fixed holdout (first 80% of rows -> last 20%)\n")
    print(_table(fixed, "protocol"))
    print(f"\nmqlml's drift audit (train vs test rows): out of range in >10% of test rows: "
          f"{', '.join(drifting) or 'none'}")
    if lr_model_rows is None:
        print(
            f"\nmqlml's model learned from all {cut:,} pre-test rows, like the others: refit "
            f"after its calibrator was fit on out-of-time scores of the newest "
            f"{summary.periods[1].n_leads:,} ({summary.model.cross_fit_periods} periods)"
        )
    else:
        print(
            f"\nlogistic regression fit on only the {n_model:,} rows mqlml's model learns "
            f"from (not its {cut - n_model:,} calibration rows): ROC AUC "
            f"{lr_model_rows['roc_auc']:.3f}, ECE {lr_model_rows['ece']:.3f}"
        )
    checks = [check_protocol(fixed, "fixed holdout")]
    print("\n" + check_line(checks[0]))
    result = {
        "data": str(args.data), "rows": n, "config": str(args.config),
        "models": list(preds), "peers": {PEER: peer_report},
        "fixed_holdout": fixed,
        "fixed_logistic_on_model_rows": (
            {"rows": n_model, **lr_model_rows} if lr_model_rows is not None else None
        ),
    }
    if args.prior_shift:
        shift = _prior_shift_rows(y[cut:], preds, rates, "protocol")
        for r in shift:
            r["protocol"] = "fixed holdout"
        print("\n### Prior shift: each model's probabilities moved to the rate the test rows "
              "imply (EM)\n")
        print(_shift_table(shift, "protocol"))
        constructed = _controlled_shift(export, X, y, cfg, cut, float(y[cut:].mean()),
                                        rolling_peer, peer_report)
        print("\nConstructed prior shift (the first 80% of rows shuffled: fit on 75% of them; "
              "the batch: of the other 25%, every converter and a sample of the others, at "
              "the holdout's rate):\n")
        print(_shift_table(constructed, "protocol"))
        result["fixed_prior_shift"] = [
            {k: v for k, v in r.items() if k != "adjusted"} for r in shift + constructed
        ]

    if not args.fixed_only:
        rolling = _rolling(export, X, y, cfg, n, args.prior_shift, args.folds, rolling_peer,
                           peer_report)
        checks.append(check_protocol(rolling["rolling_pooled"], "rolling origin (pooled)"))
        print("\n" + check_line(checks[-1]))
        result.update(rolling)
    if peer is None:
        print(f"\n(AutoGluon not run: the checks cover {', '.join(checks[0]['models'])} only.)")
    result["checks"] = checks
    result["seconds"] = time.perf_counter() - started
    print(f"\n({result['seconds']:.0f}s)")
    if args.json:
        write_json(result, args.json)
    return result


def _rolling(export, X, y, cfg, n: int, prior_shift: bool, n_folds: int = N_FOLDS,
             peer: Peer | None = None, peer_report: dict | None = None) -> dict:
    """The rolling origin: folds, pooled metrics and, with ``prior_shift``, each fold's
    probabilities moved to the rate that fold implies (pooled after)."""
    half = n // 2
    edges = [half + (n - half) * i // n_folds for i in range(n_folds + 1)]
    folds, pooled, shifted, fold_seconds = [], {}, [], {}
    for i in range(n_folds):
        start, end = edges[i], edges[i + 1]
        p, _, rates, seconds, info = _predict_all(export, X, y, cfg, start, end, peer)
        if info and peer_report is not None:
            peer_report["fits"].append({"protocol": "rolling origin", "fold": i + 1, **info})
        for m in p:
            pooled.setdefault(m, []).append(p[m])
            fold_seconds[m] = fold_seconds.get(m, 0.0) + seconds[m]
            folds.append({"fold": str(i + 1), "model": m, **_metrics(y[start:end], p[m]),
                          "seconds": seconds[m]})
        if prior_shift:
            for r in _prior_shift_rows(y[start:end], p, rates, "fold"):
                r["fold"] = str(i + 1)
                shifted.append(r)
    y_roll = y[half:]
    rolling = [
        {"fold": "pooled", "model": m, **_metrics(y_roll, np.concatenate(pooled[m])),
         "seconds": fold_seconds[m]}
        for m in pooled
    ]
    print(f"\n## Rolling origin ({n_folds} folds over the last half; each fit on rows before it)\n")
    print(_table(rolling, "fold"))
    print("\nper fold:\n")
    print(_table(folds, "fold"))
    out = {"rolling_pooled": rolling, "rolling_folds": folds}
    if prior_shift:
        adjusted_pooled = [
            {"fold": "pooled, adjusted per fold", "model": m,
             **_metrics(y_roll, np.concatenate([r["adjusted"] for r in shifted
                                                if r["model"] == m]))}
            for m in pooled
        ]
        print("\n### Prior shift: each fold's probabilities moved to the rate it implies (EM)\n")
        print(_table(adjusted_pooled, "fold"))
        print("\nper fold:\n")
        print(_shift_table(shifted, "fold"))
        out["rolling_prior_shift_pooled"] = adjusted_pooled
        out["rolling_prior_shift_folds"] = [
            {k: v for k, v in r.items() if k != "adjusted"} for r in shifted
        ]
    return out


if __name__ == "__main__":
    main()
