"""How close does mqlml get to the best possible model?

Trains on one generated 50k-lead history, then scores the leads of a second history
(another seed) at their as-of time and compares with the generator's true probabilities:

* ranking: ROC AUC of the model vs ROC AUC of the true probabilities, on the same leads
  and realised outcomes (goal: ratio >= 0.97);
* calibration: mean |calibrated probability - true probability| (goal: <= 0.03).

Run: ``.venv/bin/python benchmarks/synthetic_truth.py [--leads 50000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from mqlml.columns import LABEL, LEAD_ID, TRUE_P_SQL
from mqlml.config import load_config
from mqlml.data.contract import snapshot_time, validate_crm
from mqlml.features.build import build_features
from mqlml.labels.labelling import ELIGIBLE, STATUS, make_labels, training_as_of
from mqlml.model.metrics import expected_calibration_error
from mqlml.scoring.score import score_features
from mqlml.synthetic.generate import generate_history
from mqlml.workflow import fit_history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=50_000)
    ap.add_argument("--train-seed", type=int, default=1)
    ap.add_argument("--eval-seed", type=int, default=2)
    args = ap.parse_args()

    cfg = load_config(None, {"tracking": {"enabled": False}})
    t0 = time.perf_counter()
    train_h = generate_history(args.leads, args.train_seed)
    crm = validate_crm(train_h.leads, train_h.activities, train_h.outcomes, cfg.data)
    model, artifacts = fit_history(crm, cfg)
    train_s = time.perf_counter() - t0

    # The model's own test slice (latest leads of the training history)
    test = artifacts["test_predictions"].merge(train_h.truth[[LEAD_ID, TRUE_P_SQL]], on=LEAD_ID)

    # A second history: every mature lead, featurised at its as-of time
    eval_h = generate_history(args.leads, args.eval_seed)
    ecrm = validate_crm(eval_h.leads, eval_h.activities, eval_h.outcomes, cfg.data)
    as_of = training_as_of(ecrm.leads, cfg.features.observation_days)
    labels = make_labels(
        ecrm.leads, ecrm.outcomes, as_of, "sql", cfg.labels.horizon, snapshot_time(ecrm, cfg.data)
    )
    keep = (labels.frame[STATUS] == ELIGIBLE).to_numpy()
    leads = ecrm.leads[keep]
    features = build_features(leads, ecrm.activities, as_of[keep], model.spec)
    scored = score_features(model, features)
    truth = leads[[LEAD_ID]].merge(eval_h.truth, on=LEAD_ID, how="left")
    y = labels.frame.loc[keep, LABEL].to_numpy()

    rows = []
    for name, yy, p, t in (
        (
            "test slice of training history",
            test[LABEL].to_numpy(),
            test["probability"].to_numpy(),
            test[TRUE_P_SQL].to_numpy(),
        ),
        (
            "second history (other seed)",
            y,
            scored["probability"].to_numpy(),
            truth[TRUE_P_SQL].to_numpy(),
        ),
    ):
        auc_m, auc_t = roc_auc_score(yy, p), roc_auc_score(yy, t)
        rows.append(
            (
                name,
                len(yy),
                auc_m,
                auc_t,
                auc_m / auc_t,
                float(np.mean(np.abs(p - t))),
                expected_calibration_error(yy, p),
            )
        )

    print(
        f"trained on {args.leads:,} leads (seed {args.train_seed}) in {train_s:.1f}s; "
        f"calibration: {model.summary.calibration.method}; "
        f"trees: {model.summary.model.best_iteration}"
    )
    print(
        f"{'evaluation set':<32} {'leads':>7} {'AUC model':>9} {'AUC truth':>9} "
        f"{'ratio':>6} {'mean|p-true|':>12} {'ECE':>6}"
    )
    for name, n, am, at, r, mae, ece in rows:
        print(f"{name:<32} {n:>7,} {am:>9.4f} {at:>9.4f} {r:>6.3f} {mae:>12.4f} {ece:>6.4f}")
    ok = rows[1][4] >= 0.97 and rows[1][5] <= 0.03
    print(
        f"goal (ratio >= 0.97 and mean|p-true| <= 0.03 on the second history): "
        f"{'met' if ok else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
