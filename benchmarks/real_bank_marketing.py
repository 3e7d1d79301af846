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


def _mqlml(export: pd.DataFrame, base_config, start: int, end: int) -> tuple[np.ndarray, dict]:
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
    return p, model.summary


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    m = classification_metrics(y, p)
    m["ece"] = expected_calibration_error(y, p, n_bins=15)
    return {k: m[k] for k in ("n", "base_rate", "mean_probability", *METRICS)}


def _predict_all(export, X, y, cfg, start, end):
    train, test = np.arange(start), np.arange(start, end)
    p_mqlml, summary = _mqlml(export, cfg, start, end)
    return {
        "mqlml": p_mqlml,
        "logistic_regression": _logistic(X, y, train, test),
        "lightgbm_default": _lightgbm(X, y, train, test),
    }, summary


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
    preds, summary = _predict_all(export, X, y, cfg, cut, n)
    fixed = [{"protocol": "fixed holdout", "model": m, **_metrics(y[cut:], preds[m])}
             for m in MODELS]
    drifting = [r["column"] for r in summary.drift_audit or [] if r["out_of_range"] > 0.1]
    # Like for like: the baseline fit only on the rows mqlml's model learns from (mqlml
    # keeps the newest pre-test rows for its calibrator and thresholds).
    n_model = summary.periods[0].n_leads
    lr_model_rows = _metrics(y[cut:], _logistic(X, y, np.arange(n_model), np.arange(cut, n)))

    half = n // 2
    edges = [half + (n - half) * i // N_FOLDS for i in range(N_FOLDS + 1)]
    folds, pooled = [], {m: [] for m in MODELS}
    for i in range(N_FOLDS):
        start, end = edges[i], edges[i + 1]
        p, _ = _predict_all(export, X, y, cfg, start, end)
        for m in MODELS:
            pooled[m].append(p[m])
            folds.append({"fold": str(i + 1), "model": m, **_metrics(y[start:end], p[m])})
    y_roll = y[half:]
    rolling = [
        {"fold": "pooled", "model": m, **_metrics(y_roll, np.concatenate(pooled[m]))}
        for m in MODELS
    ]
    print("## Fixed holdout (first 80% of rows -> last 20%)\n")
    print(_table(fixed, "protocol"))
    print(f"\nmqlml's drift audit (train vs test rows): out of range in >10% of test rows: "
          f"{', '.join(drifting) or 'none'}")
    print(
        f"\nlogistic regression fit on only the {n_model:,} rows mqlml's model learns from "
        f"(not its {cut - n_model:,} calibration rows): ROC AUC {lr_model_rows['roc_auc']:.3f}, "
        f"ECE {lr_model_rows['ece']:.3f}"
    )
    print(f"\n## Rolling origin ({N_FOLDS} folds over the last half; each fit on rows before it)\n")
    print(_table(rolling, "fold"))
    print("\nper fold:\n")
    print(_table(folds, "fold"))
    print(f"\n({time.perf_counter() - started:.0f}s)")
    result = {
        "fixed_holdout": fixed,
        "rolling_pooled": rolling,
        "rolling_folds": folds,
        "fixed_logistic_on_model_rows": {"rows": n_model, **lr_model_rows},
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
