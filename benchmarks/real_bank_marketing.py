"""Real data under a moving base rate: UCI Bank Marketing, three models, two protocols.

    python benchmarks/real_bank_marketing.py [--data PATH] [--config configs/bank-marketing.yaml]

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
regression (one-hot + scaling) and default LightGBM. ``duration`` is dropped for all of
them: it is known only after the call. Metrics: ROC AUC, PR AUC, Brier, ECE (15
equal-width bins) and lift in the top decile.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
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
DATA = ROOT.parent / "shared" / "data" / "uci-bank-marketing" / "bank-additional-full.csv"
CONFIG = ROOT / "configs" / "bank-marketing.yaml"
METRICS = ("roc_auc", "pr_auc", "brier", "ece", "lift_top_decile")
MODELS = ("mqlml", "logistic_regression", "lightgbm_default")
N_FOLDS = 10


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


def _predict_all(export, X, y, cfg, start, end):
    """Each model's test probabilities, mqlml's summary, and the rate each model's
    probabilities are calibrated to (mqlml: its calibration rows; baselines: all rows)."""
    train, test = np.arange(start), np.arange(start, end)
    p_mqlml, model = _mqlml(export, cfg, start, end)
    preds = {
        "mqlml": p_mqlml,
        "logistic_regression": _logistic(X, y, train, test),
        "lightgbm_default": _lightgbm(X, y, train, test),
    }
    rates = {m: float(y[:start].mean()) for m in MODELS}
    rates["mqlml"] = float(model.calibrator.base_rate_)
    return preds, model.summary, rates


def _prior_shift_rows(y: np.ndarray, preds: dict, rates: dict, first: str) -> list[dict]:
    """Per model: the training rate, the EM estimate of the test rows' rate beside the
    true one, and ROC AUC, ECE and Brier before and after moving the probabilities to it."""
    rows = []
    for m in MODELS:
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


def _controlled_shift(export, X, y, cfg, cut: int, rate: float) -> list[dict]:
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
    preds, _, rates = _predict_all(export_p, X_p, y_p, cfg, start, cut)
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
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:,.0f}" if c == "n" else (f"{v:.3f}" if isinstance(v, float) else v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--overrides", default="{}", help="JSON merged over the config")
    parser.add_argument("--json", type=Path, help="also write all figures here")
    parser.add_argument("--prior-shift", action="store_true",
                        help="also estimate each test period's rate (EM) and adjust to it")
    parser.add_argument("--fixed-only", action="store_true", help="skip the rolling origin")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    overrides = {"tracking": {"enabled": False}, **json.loads(args.overrides)}
    cfg = load_config(args.config, overrides)
    export = read_table(args.data)
    y = export[cfg.flat.target_column].str.strip().isin(cfg.flat.positive_values)
    y = y.to_numpy(dtype=float)
    X = _numeric_frame(export, [cfg.flat.target_column, *cfg.flat.exclude_columns])
    n = len(export)

    cut = int(round(n * 0.8))
    preds, summary, rates = _predict_all(export, X, y, cfg, cut, n)
    fixed = [{"protocol": "fixed holdout", "model": m, **_metrics(y[cut:], preds[m])}
             for m in MODELS]
    drifting = [r["column"] for r in summary.drift_audit or [] if r["out_of_range"] > 0.1]
    # Like for like: the baseline fit only on the rows mqlml's model learns from (mqlml
    # keeps the newest pre-test rows for its calibrator and thresholds).
    n_model = summary.periods[0].n_leads
    lr_model_rows = _metrics(y[cut:], _logistic(X, y, np.arange(n_model), np.arange(cut, n)))

    print("## Fixed holdout (first 80% of rows -> last 20%)\n")
    print(_table(fixed, "protocol"))
    print(f"\nmqlml's drift audit (train vs test rows): out of range in >10% of test rows: "
          f"{', '.join(drifting) or 'none'}")
    print(
        f"\nlogistic regression fit on only the {n_model:,} rows mqlml's model learns from "
        f"(not its {cut - n_model:,} calibration rows): ROC AUC {lr_model_rows['roc_auc']:.3f}, "
        f"ECE {lr_model_rows['ece']:.3f}"
    )
    result = {"fixed_holdout": fixed, "fixed_logistic_on_model_rows": {"rows": n_model,
                                                                       **lr_model_rows}}
    if args.prior_shift:
        shift = _prior_shift_rows(y[cut:], preds, rates, "protocol")
        for r in shift:
            r["protocol"] = "fixed holdout"
        print("\n### Prior shift: each model's probabilities moved to the rate the test rows "
              "imply (EM)\n")
        print(_shift_table(shift, "protocol"))
        constructed = _controlled_shift(export, X, y, cfg, cut, float(y[cut:].mean()))
        print("\nConstructed prior shift (the first 80% of rows shuffled: fit on 75% of them; "
              "the batch: of the other 25%, every converter and a sample of the others, at "
              "the holdout's rate):\n")
        print(_shift_table(constructed, "protocol"))
        result["fixed_prior_shift"] = [
            {k: v for k, v in r.items() if k != "adjusted"} for r in shift + constructed
        ]

    if not args.fixed_only:
        result.update(_rolling(export, X, y, cfg, n, args.prior_shift))
    print(f"\n({time.perf_counter() - started:.0f}s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _rolling(export, X, y, cfg, n: int, prior_shift: bool) -> dict:
    """The rolling origin: folds, pooled metrics and, with ``prior_shift``, each fold's
    probabilities moved to the rate that fold implies (pooled after)."""
    half = n // 2
    edges = [half + (n - half) * i // N_FOLDS for i in range(N_FOLDS + 1)]
    folds, pooled, shifted = [], {m: [] for m in MODELS}, []
    for i in range(N_FOLDS):
        start, end = edges[i], edges[i + 1]
        p, _, rates = _predict_all(export, X, y, cfg, start, end)
        for m in MODELS:
            pooled[m].append(p[m])
            folds.append({"fold": str(i + 1), "model": m, **_metrics(y[start:end], p[m])})
        if prior_shift:
            for r in _prior_shift_rows(y[start:end], p, rates, "fold"):
                r["fold"] = str(i + 1)
                shifted.append(r)
    y_roll = y[half:]
    rolling = [
        {"fold": "pooled", "model": m, **_metrics(y_roll, np.concatenate(pooled[m]))}
        for m in MODELS
    ]
    print(f"\n## Rolling origin ({N_FOLDS} folds over the last half; each fit on rows before it)\n")
    print(_table(rolling, "fold"))
    print("\nper fold:\n")
    print(_table(folds, "fold"))
    out = {"rolling_pooled": rolling, "rolling_folds": folds}
    if prior_shift:
        adjusted_pooled = [
            {"fold": "pooled, adjusted per fold", "model": m,
             **_metrics(y_roll, np.concatenate([r["adjusted"] for r in shifted
                                                if r["model"] == m]))}
            for m in MODELS
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
