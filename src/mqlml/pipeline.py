"""Training end to end: labels -> time split -> features -> model -> calibration -> thresholds.

Time is kept honest at every step: features use only events before each lead's as-of;
labels only exist for leads whose horizon has passed by the snapshot; the model learns
from the earliest leads, calibration and thresholds from later ones, and the test slice
is the latest of all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mqlml.bundle import TrainedModel, library_versions
from mqlml.calibrate import ProbabilityCalibrator, probability_to_score
from mqlml.columns import ACTIVITY_TYPE, CREATED_AT, LABEL, LEAD_ID, OCCURRED_AT
from mqlml.config import Config
from mqlml.data import CrmData, snapshot_time
from mqlml.errors import InsufficientDataError
from mqlml.explain import field_matrix
from mqlml.features import build_features, field_label, fit_feature_spec, to_matrix
from mqlml.labels import ELIGIBLE, STATUS, make_labels, training_as_of
from mqlml.metrics import classification_metrics, expected_calibration_error
from mqlml.scoring_report import reference_sample
from mqlml.split import time_split
from mqlml.thresholds import GRADES, CapacityThreshold, GradeThresholds
from mqlml.train import fit_baseline, fit_lightgbm, predict_baseline, predict_raw

#: Fewest converted (and unconverted) leads each slice needs for honest fitting and testing.
MIN_CLASS_PER_SLICE = 10


def _check_slices(split, y: np.ndarray) -> None:
    problems = []
    for period, idx in zip(
        split.periods, (split.train, split.calibration, split.test), strict=True
    ):
        pos = int(y[idx].sum())
        neg = len(idx) - pos
        if pos < MIN_CLASS_PER_SLICE or neg < MIN_CLASS_PER_SLICE:
            problems.append(
                f"{period.name} slice has {pos} converted and {neg} unconverted leads; "
                f"at least {MIN_CLASS_PER_SLICE} of each are needed"
            )
    if problems:
        raise InsufficientDataError(
            "not enough labelled leads to train and test honestly: "
            + "; ".join(problems)
            + ". Provide more history, a longer time span, or a shorter horizon_days."
        )


def _mql_report(is_mql, y, weeks: float) -> dict:
    is_mql = np.asarray(is_mql, dtype=bool)
    n_mql = int(is_mql.sum())
    return {
        "mqls": n_mql,
        "mqls_per_week": n_mql / weeks if weeks > 0 else float("nan"),
        "mql_conversion_rate": float(y[is_mql].mean()) if n_mql else float("nan"),
        "share_of_conversions_captured": float(y[is_mql].sum() / y.sum())
        if y.sum()
        else float("nan"),
    }


def _weeks(created: pd.Series) -> float:
    span = (created.max() - created.min()) / pd.Timedelta(days=1)
    span += span / max(len(created) - 1, 1)
    return max(span / 7.0, 1 / 7)


@dataclass(frozen=True)
class LabelledLeads:
    """Leads with a mature label, ready to split and fit: the hand-off between stages.

    Attributes
    ----------
    leads : DataFrame
        Eligible leads (``lead_id``, ``created_at`` and attributes), in time order, with a
        fresh ``RangeIndex``.
    as_of : Series
        Each lead's as-of time (features only see events strictly before it).
    y : ndarray of float
        0/1 labels aligned with ``leads``.
    activities : DataFrame
        Activities of any leads (filtered by lead and as-of where used).
    label_counts : dict
        Accounting of every lead (eligible, immature, converted before as-of, positives).
    snapshot : Timestamp
        End of the data.
    notes : tuple of str
        Data notes for the report.
    """

    leads: pd.DataFrame
    as_of: pd.Series
    y: np.ndarray
    activities: pd.DataFrame
    label_counts: dict
    snapshot: pd.Timestamp
    notes: tuple[str, ...] = ()


def label_history(crm: CrmData, config: Config) -> LabelledLeads:
    """Label every lead of a CRM history and keep those with a mature label.

    Raises
    ------
    InsufficientDataError
        When fewer than 3 leads have a mature label.
    """
    snapshot = snapshot_time(crm, config.data)
    leads = crm.leads.sort_values([CREATED_AT, LEAD_ID], kind="stable").reset_index(drop=True)
    as_of = training_as_of(leads, config.features.observation_days)
    labels = make_labels(
        leads, crm.outcomes, as_of, config.labels.target, config.labels.horizon, snapshot
    )
    eligible = (labels.frame[STATUS] == ELIGIBLE).to_numpy()
    if eligible.sum() < 3:
        raise InsufficientDataError(
            f"only {int(eligible.sum())} of {len(leads)} leads have a mature label "
            f"({labels.counts}); the data ends {snapshot:%Y-%m-%d} and a lead needs "
            f"{config.features.observation_days} + {config.labels.horizon} days after creation"
        )
    return LabelledLeads(
        leads=leads[eligible].reset_index(drop=True),
        as_of=as_of[eligible].reset_index(drop=True),
        y=labels.frame.loc[eligible, LABEL].to_numpy(dtype=float),
        activities=crm.activities,
        label_counts=labels.counts,
        snapshot=snapshot,
        notes=tuple(crm.notes),
    )


def run_training(crm: CrmData, config: Config) -> tuple[TrainedModel, dict]:
    """Train, calibrate and set thresholds from a CRM history.

    :func:`label_history` followed by :func:`train_labelled`.

    Parameters
    ----------
    crm : CrmData
        Validated tables.
    config : Config
        The whole configuration.

    Returns
    -------
    model : TrainedModel
        Ready to save and to score with.
    artifacts : dict
        Frames for reports: ``test_predictions`` (lead_id, created_at, label, probability,
        score, grade, is_mql, baseline_probability), ``importance`` per business field and
        ``slices`` (lead_id -> train / calibration / test).
    """
    return train_labelled(label_history(crm, config), config)


def train_labelled(labelled: LabelledLeads, config: Config) -> tuple[TrainedModel, dict]:
    """Split labelled leads by time, then fit features, model, calibration and thresholds.

    Returns the same as :func:`run_training`.
    """
    lab, lab_as_of, y = labelled.leads, labelled.as_of, labelled.y
    snapshot = labelled.snapshot
    split = time_split(lab, y, config.split_fractions)
    _check_slices(split, y)

    train_leads = lab.iloc[split.train]
    acts = labelled.activities
    known = acts[LEAD_ID].map(pd.Series(lab_as_of.to_numpy(), index=lab[LEAD_ID]))
    train_acts = acts[acts[LEAD_ID].isin(train_leads[LEAD_ID]) & (acts[OCCURRED_AT] < known)]
    spec = fit_feature_spec(
        train_leads,
        train_acts[[LEAD_ID, ACTIVITY_TYPE]],
        config.features.windows_days,
        config.features.min_leads_per_activity_type,
    )
    features = build_features(lab, acts, lab_as_of, spec)
    X = to_matrix(features, spec)

    fit = fit_lightgbm(X[split.train], y[split.train], spec, config.model)
    baseline = fit_baseline(features.iloc[split.train], y[split.train], spec)

    raw = predict_raw(fit.booster, X)
    calibrator = ProbabilityCalibrator(config.calibration.method).fit(
        raw[split.calibration], y[split.calibration]
    )
    probability = calibrator.predict(raw)
    score = probability_to_score(probability)

    cal_created = lab[CREATED_AT].iloc[split.calibration]
    mql = CapacityThreshold(config.thresholds.capacity_per_week).fit(
        score[split.calibration], cal_created
    )
    grades = GradeThresholds(config.thresholds.grade_shares).fit(score[split.calibration])

    test = split.test
    y_test = y[test]
    base_p = predict_baseline(baseline, features.iloc[test], spec)
    uncal = 1 / (1 + np.exp(-raw[test]))
    metrics = {
        "model": classification_metrics(y_test, probability[test]),
        "model_uncalibrated": classification_metrics(y_test, uncal),
        "baseline_logistic": classification_metrics(y_test, base_p),
    }
    for name, p in (
        ("model", probability[test]),
        ("model_uncalibrated", uncal),
        ("baseline_logistic", base_p),
    ):
        metrics[name]["ece"] = expected_calibration_error(y_test, p)

    grade_test = grades.predict(score[test])
    grade_table = []
    for g in GRADES:
        m = grade_test == g
        grade_table.append(
            {
                "grade": g,
                "min_score": grades.cutoffs_.get(g, 1),
                "leads": int(m.sum()),
                "share": float(m.mean()),
                "conversion_rate": float(y_test[m].mean()) if m.any() else float("nan"),
            }
        )
    test_created = lab[CREATED_AT].iloc[test]
    mql_stats = {
        "policy": "capacity",
        "capacity_per_week": config.thresholds.capacity_per_week,
        "cutoff": mql.cutoff_,
        "calibration": {
            "expected_mqls_per_week": mql.expected_mqls_per_week_,
            "leads_per_week": mql.leads_per_week_,
        },
        "test": _mql_report(mql.predict(score[test]), y_test, _weeks(test_created)),
    }

    gain = fit.booster.feature_importance(importance_type="gain")
    m, fields = field_matrix(spec)
    per_field = gain @ m
    total = per_field.sum() or 1.0
    importance = (
        pd.DataFrame(
            {
                "field": fields,
                "label": [field_label(f) for f in fields],
                "group": [spec.groups[f] for f in fields],
                "gain_share": per_field / total,
            }
        )
        .sort_values("gain_share", ascending=False)
        .reset_index(drop=True)
    )

    summary = {
        "name": config.name,
        "target": config.labels.target,
        "horizon_days": config.labels.horizon,
        "observation_days": config.features.observation_days,
        "snapshot_at": snapshot.isoformat(),
        "label_counts": labelled.label_counts,
        "periods": [p.to_dict() for p in split.periods],
        "metrics_test": metrics,
        "calibration": {
            "method": calibrator.method_,
            "selection_log_loss": calibrator.selection_log_loss_,
        },
        "model": {
            "best_iteration": fit.best_iteration,
            "early_stopping_rows": fit.n_early_stopping_rows,
            "early_stopping_log_loss": fit.early_stopping_log_loss,
            "n_features": len(spec.columns),
        },
        "mql_threshold": mql_stats,
        "grades": {"cutoffs": grades.cutoffs_, "test": grade_table},
        "importance": importance.to_dict(orient="records"),
        "excluded_columns": spec.excluded,
        "data_notes": list(labelled.notes),
        "versions": library_versions(),
    }
    model = TrainedModel(fit.booster, calibrator, mql, grades, spec, config, summary)
    test_frame = pd.DataFrame(
        {
            LEAD_ID: lab[LEAD_ID].iloc[test].to_numpy(),
            CREATED_AT: test_created.to_numpy(),
            LABEL: y_test,
            "probability": probability[test],
            "score": score[test],
            "grade": grade_test,
            "is_mql": mql.predict(score[test]),
            "baseline_probability": base_p,
        }
    )
    slices = pd.Series("", index=lab.index, dtype="str")
    for name, idx in (("train", split.train), ("calibration", split.calibration), ("test", test)):
        slices.iloc[idx] = name
    slice_frame = pd.DataFrame({LEAD_ID: lab[LEAD_ID], "slice": slices})
    # The booster never fit on these leads: their scores are the reference for drift.
    held_out = np.concatenate([split.calibration, split.test])
    model = replace(
        model, reference=reference_sample(features, score, held_out, config.model.seed)
    )
    return model, {"test_predictions": test_frame, "importance": importance, "slices": slice_frame}
