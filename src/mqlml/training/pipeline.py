"""Training end to end: labels -> time split -> features -> model -> calibration -> thresholds.

Time is kept honest at every step: features use only events before each lead's as-of;
labels only exist for leads whose horizon has passed by the snapshot; the model learns
from the earliest leads, calibration and thresholds from later ones, and the test slice
is the latest of all.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from mqlml.columns import (
    ACTIVITY_TYPE,
    CREATED_AT,
    DEAL_VALUE,
    LABEL,
    LEAD_ID,
    OCCURRED_AT,
    TIER,
    TIERS,
)
from mqlml.config import DEFAULT_HORIZON_DAYS, Config, SegmentConfig
from mqlml.data.contract import CrmData
from mqlml.errors import ConfigError, InsufficientDataError
from mqlml.explain.insights import training_insights
from mqlml.features.build import build_features, field_label, fit_feature_spec, to_matrix
from mqlml.features.fields import field_matrix
from mqlml.labels.labelled import LabelledLeads, label_history
from mqlml.labels.split import Period, TimeSplit, time_split
from mqlml.model.bundle import TrainedModel, library_versions, load_grade_cutoffs
from mqlml.model.calibrate import ProbabilityCalibrator, probability_to_score
from mqlml.model.metrics import classification_metrics, expected_calibration_error
from mqlml.model.segments import segment_values
from mqlml.model.thresholds import (
    GRADES,
    POLICIES,
    GradeThresholds,
    TierThresholds,
    fit_policy,
    funnel_table,
    make_policy,
    policy_report,
    policy_target,
    slice_weeks,
)
from mqlml.model.trees import (
    fit_baseline,
    fit_lightgbm,
    predict_baseline,
    predict_raw,
    recency_weights,
)
from mqlml.scoring.scoring_report import reference_sample
from mqlml.training.audit import audit_training, monotone_for_drifting
from mqlml.training.backtest import rolling_origin_backtest
from mqlml.training.funnel import fit_funnel, funnel_outcomes
from mqlml.training.gate import check_gate, gate_counts
from mqlml.training.rules import compare_at_equal_volume, load_rules, rule_points

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


def _stage_arrays(labelled: LabelledLeads, config: Config):
    """Funnel stages, and the SQL / won / deal-value arrays the threshold figures use.

    The model's own label is used for its target stage, the funnel outcome for the other
    one (NaN where not known yet). Returns ``(stages, sql_horizon, sql, won, deal,
    ev_won)``; ``ev_won`` is what the expected-value policy needs (None when the target
    already is won).
    """
    y = labelled.y
    nan = np.full(len(y), np.nan)
    stages, sql_h = None, None
    if labelled.outcomes is not None:
        sql_h = config.funnel.sql_horizon_days or (
            config.labels.horizon if config.labels.target == "sql" else DEFAULT_HORIZON_DAYS["sql"]
        )
        stages = funnel_outcomes(
            labelled.leads,
            labelled.outcomes,
            labelled.as_of,
            labelled.snapshot,
            sql_h,
            config.funnel.won_horizon_days,
        )
    if config.labels.target == "sql":
        sql_y, won_y = y, (stages["won"].to_numpy(float) if stages is not None else nan)
    else:
        sql_y, won_y = (stages["sql"].to_numpy(float) if stages is not None else nan), y
    deal = stages[DEAL_VALUE].to_numpy(float) if stages is not None else nan
    ev_won = won_y if config.labels.target == "sql" else None
    return stages, sql_h, sql_y, won_y, deal, ev_won


def _fit_policies(thr, scores, y, created, won, deal) -> tuple[dict, dict]:
    """Every threshold policy fit on one slice; those that cannot be fit give the reason."""
    params = thr.model_dump()
    policies, errors = {}, {}
    for name in POLICIES:
        try:
            policies[name] = fit_policy(make_policy(name, params), scores, y, created, won, deal)
        except ValueError as exc:
            errors[name] = str(exc)
    return policies, errors


def _policy_rows(policies, errors, thr, cal_inputs, test_inputs, cal_weeks) -> list[dict]:
    rows = []
    for name in POLICIES:
        if name not in policies:
            rows.append({"policy": name, "in_use": False, "error": errors[name]})
            continue
        t = policies[name]
        rows.append(
            {
                "policy": name,
                "in_use": name == thr.policy,
                "target": policy_target(t),
                "target_met": bool(getattr(t, "target_met_", True)),
                "calibration_mqls_per_week": float(
                    t.predict(cal_inputs["scores"]).sum() / cal_weeks
                ),
                **policy_report(
                    t, cal_inputs, test_inputs, thr.bootstrap_samples, thr.bootstrap_seed,
                    thr.interval_level,
                ),
            }
        )
    return rows


def _tier_summary(tiers, tier_test, y_test, max_share) -> dict:
    rows = []
    for name in TIERS:
        m = tier_test == name
        rows.append(
            {
                TIER: name,
                "leads": int(m.sum()),
                "share": float(m.mean()),
                "conversion_rate": float(y_test[m].mean()) if m.any() else float("nan"),
                "share_of_conversions": float(y_test[m].sum() / y_test.sum()),
            }
        )
    return {
        "mql_min_score": tiers.mql_cutoff_,
        "nurture_min_score": tiers.nurture_cutoff_,
        "disqualify_max_share": max_share,
        "calibration_lost_share": tiers.lost_share_,
        "test": rows,
    }


def _equal_volume(sheet, leads, as_of, acts, rankings, n_default, sql, won) -> list[dict]:
    """Model and baselines at the current rules' MQL volume (else the model's own)."""
    fixed, n_equal = None, n_default
    if sheet is not None:
        points = rule_points(sheet, leads, acts, as_of)
        fixed = {"current_rules": points >= sheet.mql_threshold}
        n_equal = int(fixed["current_rules"].sum())
    return compare_at_equal_volume(rankings, n_equal, sql, won, fixed)


def _segment_rows(
    counts, segments, split, thr, mql, score, probability, y, sql_y, ev_won, deal, created,
    test_weeks,
) -> list[dict]:
    """Per-segment test metrics and the policy in use refit on each segment's leads."""
    cal, test = split.calibration, split.test
    params = thr.model_dump()
    rows = []
    for c in counts:
        seg = c["segment"]
        s_cal = cal[segments[cal] == seg]
        s_test = test[segments[test] == seg]
        # Capacity is shared: each segment gets its share of the weekly capacity.
        seg_params = {**params, "capacity_per_week": thr.capacity_per_week * len(s_cal) / len(cal)}
        row = {
            "segment": seg,
            "leads": c["test_leads"],
            "positives": c["test_positives"],
            "train_positives": c["train_positives"],
            "roc_auc": classification_metrics(y[s_test], probability[s_test])["roc_auc"]
            if len(s_test)
            else float("nan"),
            "base_rate": float(y[s_test].mean()) if len(s_test) else float("nan"),
        }
        try:
            seg_t = fit_policy(
                make_policy(thr.policy, seg_params),
                score[s_cal],
                y[s_cal],
                created.iloc[s_cal],
                ev_won[s_cal] if ev_won is not None else None,
                deal[s_cal],
            )
            is_seg = seg_t.predict(score[s_test])
            row.update(
                cutoff=int(seg_t.cutoff_),
                mqls_per_week=float(is_seg.sum() / test_weeks),
                mql_sql_rate=float(np.nanmean(sql_y[s_test][is_seg]))
                if is_seg.any()
                else float("nan"),
            )
        except ValueError as exc:
            row["error"] = str(exc)
        at_global = mql.predict(score[s_test])
        row["global_cutoff_mql_sql_rate"] = (
            float(np.nanmean(sql_y[s_test][at_global])) if at_global.any() else float("nan")
        )
        rows.append(row)
    return rows


def _segment_labelled(
    labelled: LabelledLeads, split: TimeSplit, mask: np.ndarray, drop: list[str]
) -> LabelledLeads:
    """The leads where ``mask`` holds, with the global split's slices restricted to them.

    Keeping the global membership means a segment model learns, is calibrated and is
    tested on exactly the global model's leads of that segment, in the same periods.
    """
    idx = np.flatnonzero(mask)
    leads = labelled.leads.iloc[idx].drop(columns=drop).reset_index(drop=True)
    y = labelled.y[idx]
    created = leads[CREATED_AT]
    parts, periods = [], []
    for period, old in zip(
        split.periods, (split.train, split.calibration, split.test), strict=True
    ):
        new = np.searchsorted(idx, old[mask[old]])
        parts.append(new)
        periods.append(
            Period(period.name, created.iloc[new].min(), created.iloc[new].max(), len(new),
                   int(np.nansum(y[new])))
        )
    ids = leads[LEAD_ID]
    acts = labelled.activities
    outcomes = labelled.outcomes
    return replace(
        labelled,
        leads=leads,
        as_of=labelled.as_of.iloc[idx].reset_index(drop=True),
        y=y,
        activities=acts[acts[LEAD_ID].isin(ids)].reset_index(drop=True),
        label_counts={"eligible": len(idx), "positive": int(np.nansum(y))},
        outcomes=outcomes[outcomes[LEAD_ID].isin(ids)] if outcomes is not None else None,
        split=TimeSplit(*parts, periods=tuple(periods)),
        outcome_at=labelled.outcome_at.iloc[idx].reset_index(drop=True)
        if labelled.outcome_at is not None
        else None,
    )


#: Share of a segment's calibration slice, at its end, that judges segment vs global model.
SEGMENT_SELECTION_FRACTION = 0.5
#: A segment model is used only when its log loss is lower in at least this share of paired
#: bootstrap resamples of the judging leads: a gap within the noise keeps the global model.
SEGMENT_WIN_CONFIDENCE = 0.9
SEGMENT_BOOTSTRAP_SAMPLES = 1000


def _raw_scores(model: TrainedModel, lab: LabelledLeads, idx: np.ndarray) -> np.ndarray:
    """Raw log-odds of ``model`` for the leads of ``lab`` at positions ``idx``."""
    leads = lab.leads.iloc[idx]
    features = build_features(leads, lab.activities, lab.as_of.iloc[idx], model.spec)
    return model.predict_raw(to_matrix(features, model.spec))


def _selection_losses(raw: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """Per-lead log loss on the later part of a (time-ordered) calibration slice, with
    ``method`` calibrated on the earlier part: no calibrator is judged on its own leads."""
    cut = int(len(y) * (1 - SEGMENT_SELECTION_FRACTION))
    p = ProbabilityCalibrator(method).fit(raw[:cut], y[:cut]).predict(raw[cut:])
    return -(y[cut:] * np.log(p) + (1 - y[cut:]) * np.log(1 - p))


def _win_share(diff: np.ndarray, seed: int) -> float:
    """Share of paired bootstrap resamples in which ``diff`` (segment - global) is negative."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(SEGMENT_BOOTSTRAP_SAMPLES, len(diff)))
    return float((diff[idx].mean(axis=1) < 0).mean())


def _fit_segment_models(
    labelled: LabelledLeads,
    config: Config,
    split: TimeSplit,
    segments: np.ndarray,
    names: list[str],
    excluded: list[str],
    raw: np.ndarray,
    probability: np.ndarray,
    method: str,
) -> tuple[dict[str, TrainedModel], list[dict]]:
    """One model per segment, each used only where it beats the global model.

    Each segment's model is :func:`train_labelled` on that segment's leads with the global
    split's membership, the columns the global audit excluded left out, and no segments,
    backtest, funnel or rules (the global training reports those). The capacity policy
    gets the segment's share of capacity. The choice is made on the segment's
    calibration slice, before the test slice is looked at: each model's raw scores are
    calibrated (with the method its own calibrator uses, ``method`` for the global one)
    on its earlier part and their log loss compared on its later part
    (:data:`SEGMENT_SELECTION_FRACTION`), so no calibrator is judged on leads it was fit
    on. The segment model is used when it is better in at least
    :data:`SEGMENT_WIN_CONFIDENCE` of paired bootstrap resamples of those leads. The test
    slice only reports the choice.

    Returns
    -------
    models : dict
        Segment -> model, only the segments that use their own model.
    rows : list of dict
        ``(all)`` (the routed scores vs the global model on the whole test slice), then one
        row per segment: test leads, positives, ROC AUC and ECE of both models,
        selection log loss of both, which model is used and why.
    """
    thr = config.thresholds
    cal, test = split.calibration, split.test
    y = labelled.y
    routed = probability.copy()
    models, rows = {}, []
    for seg in names:
        mask = segments == seg
        s_cal, s_test = cal[mask[cal]], test[mask[test]]
        share = len(s_cal) / len(cal)
        sub_config = config.model_copy(
            update={
                "segments": SegmentConfig(),
                "backtest": config.backtest.model_copy(update={"folds": 0}),
                "funnel": config.funnel.model_copy(update={"enabled": False}),
                # The global audit already ran: its exclusions are dropped below.
                "audit": config.audit.model_copy(update={"enabled": False, "allow_columns": ()}),
                "baselines": config.baselines.model_copy(update={"rules_path": None}),
                "thresholds": thr.model_copy(
                    update={"capacity_per_week": thr.capacity_per_week * share,
                            "keep_grades_from": None}
                ),
            }
        )
        y_test, y_cal = y[s_test], y[s_cal]
        glob = classification_metrics(y_test, probability[s_test]) if len(s_test) else {}
        row = {
            "segment": seg,
            "leads": len(s_test),
            "positives": int(np.nansum(y_test)),
            "roc_auc_segment": float("nan"),
            "roc_auc_global": glob.get("roc_auc", float("nan")),
            "ece_segment": float("nan"),
            "ece_global": expected_calibration_error(y_test, probability[s_test]),
            "calibration_leads": len(s_cal),
            "selection_log_loss_segment": float("nan"),
            "selection_log_loss_global": float("nan"),
        }
        drop = list(dict.fromkeys([config.segments.column, *excluded]))
        sub_lab = _segment_labelled(labelled, split, mask, drop)
        try:
            sub, sub_art = train_labelled(sub_lab, sub_config)
        except (InsufficientDataError, ConfigError) as exc:
            rows.append({**row, "used": "global", "reason": f"no segment model: {exc}"})
            continue
        seg_test = sub_art["test_predictions"]["probability"].to_numpy()
        row.update(
            roc_auc_segment=classification_metrics(y_test, seg_test)["roc_auc"],
            ece_segment=expected_calibration_error(y_test, seg_test),
            cutoff_segment=int(sub.mql.cutoff_),
        )
        try:
            seg_losses = _selection_losses(
                _raw_scores(sub, sub_lab, sub_lab.split.calibration),
                y_cal,
                sub.calibrator.method_,
            )
            glob_losses = _selection_losses(raw[s_cal], y_cal, method)
        except ValueError as exc:  # a part of the slice without both outcomes
            rows.append({**row, "used": "global", "reason": f"cannot compare: {exc}"})
            continue
        seg_loss, glob_loss = float(seg_losses.mean()), float(glob_losses.mean())
        win_share = _win_share(seg_losses - glob_losses, thr.bootstrap_seed)
        better = seg_loss < glob_loss and win_share >= SEGMENT_WIN_CONFIDENCE
        judged = (
            f"log loss on the later {SEGMENT_SELECTION_FRACTION:.0%} of the calibration "
            f"slice: segment model {seg_loss:.4f}, global {glob_loss:.4f}; the segment "
            f"model is better in {win_share:.0%} of bootstrap resamples"
        )
        row.update(
            selection_log_loss_segment=seg_loss,
            selection_log_loss_global=glob_loss,
            selection_win_share=win_share,
            used="segment" if better else "global",
            reason=judged
            + (
                f" (>= {SEGMENT_WIN_CONFIDENCE:.0%})"
                if better
                else f" (needs {SEGMENT_WIN_CONFIDENCE:.0%})"
            ),
        )
        rows.append(row)
        if better:
            models[seg] = sub
            routed[s_test] = seg_test
    y_all = y[test]
    rows.insert(
        0,
        {
            "segment": "(all)",
            "leads": len(test),
            "positives": int(np.nansum(y_all)),
            "roc_auc_segment": classification_metrics(y_all, routed[test])["roc_auc"],
            "roc_auc_global": classification_metrics(y_all, probability[test])["roc_auc"],
            "ece_segment": expected_calibration_error(y_all, routed[test]),
            "ece_global": expected_calibration_error(y_all, probability[test]),
            "used": f"segment models in {len(models)} of {len(names)} segments",
            "reason": "scores as routed (each segment's model in use) vs the global model",
        },
    )
    return models, rows


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
        score, grade, is_mql, baseline_probability, tier, and with the funnel p_won and
        expected_value), ``importance`` per business field, ``slices`` (lead_id -> train /
        calibration / test) and, with a backtest, ``backtest_membership``.
    """
    return train_labelled(label_history(crm, config), config)


def _fit_model(X, y, spec, cfg, monotone, drifting=frozenset()):
    """LightGBM, choosing tree size and recency weighting by early-stopping log loss.

    With ``cfg.linear_drifting``, the ``drifting`` columns are left to the linear base.
    Returns the fit and the chosen ``(num_leaves, recency_half_life)``.
    """
    fits = []
    linear_options = {"off": (None,), "on": (cfg.linear_base_c,)}.get(
        cfg.linear_base, (None, cfg.linear_base_c)
    )
    for leaves in cfg.num_leaves_search or (cfg.num_leaves,):
        for half_life in cfg.recency_half_life_search:
            for linear_c in linear_options:
                fit = fit_lightgbm(
                    X,
                    y,
                    spec,
                    cfg.model_copy(update={"num_leaves": leaves}),
                    monotone,
                    recency_weights(len(y), half_life),
                    linear_c,
                    drifting if cfg.linear_drifting else frozenset(),
                )
                fits.append((fit.early_stopping_log_loss, leaves, half_life, fit))
    loss, leaves, half_life, fit = min(fits, key=lambda t: t[0])
    return fit, (leaves, half_life)


def train_labelled(labelled: LabelledLeads, config: Config) -> tuple[TrainedModel, dict]:
    """Split labelled leads by time, then fit features, model, calibration and thresholds.

    Returns the same as :func:`run_training`.
    """
    lab, lab_as_of, y = labelled.leads, labelled.as_of, labelled.y
    snapshot = labelled.snapshot
    # Files named in the config are read first, so a wrong path fails before any fitting.
    sheet = load_rules(config.baselines.rules_path) if config.baselines.rules_path else None
    keep = (
        load_grade_cutoffs(config.thresholds.keep_grades_from)
        if config.thresholds.keep_grades_from is not None
        else None
    )
    split = labelled.split or time_split(
        lab, y, config.split_fractions, config.split.calibration_positives
    )
    _check_slices(split, y)
    audit = audit_training(
        lab, y, split, config.audit, labelled.outcome_at, labelled.split is None
    )
    seg_col = config.segments.column
    segments = None
    if seg_col is not None:
        if seg_col not in lab.columns:
            raise ConfigError(
                f"segments.column is {seg_col!r}, which is not a column of the leads "
                f"(columns: {list(lab.columns)})"
            )
        segments = segment_values(lab[seg_col])
    gate_rows = gate_counts(
        y[split.train],
        y[split.test],
        segments[split.train] if segments is not None else None,
        segments[split.test] if segments is not None else None,
    )
    check_gate(gate_rows, config.gate.min_train_positives, config.gate.min_test_positives, seg_col)

    train_leads = lab.iloc[split.train].drop(columns=list(audit.excluded))
    acts = labelled.activities
    known = acts[LEAD_ID].map(pd.Series(lab_as_of.to_numpy(), index=lab[LEAD_ID]))
    train_acts = acts[acts[LEAD_ID].isin(train_leads[LEAD_ID]) & (acts[OCCURRED_AT] < known)]
    spec = fit_feature_spec(
        train_leads,
        train_acts[[LEAD_ID, ACTIVITY_TYPE]],
        config.features.windows_days,
        config.features.min_leads_per_activity_type,
    )
    spec = replace(spec, excluded={**spec.excluded, **audit.excluded})
    features = build_features(lab, acts, lab_as_of, spec)
    X = to_matrix(features, spec)

    drifting = (
        monotone_for_drifting(features, y, split, spec, config.audit)
        if config.model.monotone_drifting or config.model.linear_drifting
        else {}
    )
    monotone = drifting if config.model.monotone_drifting else None
    fit, (num_leaves, half_life) = _fit_model(
        X[split.train], y[split.train], spec, config.model, monotone, frozenset(drifting)
    )
    baseline = fit_baseline(features.iloc[split.train], y[split.train], spec)

    raw = predict_raw(fit.booster, X, fit.linear)
    calibrator = ProbabilityCalibrator(config.calibration.method).fit(
        raw[split.calibration], y[split.calibration]
    )
    probability = calibrator.predict(raw)
    score = probability_to_score(probability)

    cal = split.calibration
    cal_created = lab[CREATED_AT].iloc[cal]
    stages, sql_h, sql_y, won_y, deal, ev_won = _stage_arrays(labelled, config)
    policies, policy_errors = _fit_policies(
        config.thresholds,
        score[cal],
        y[cal],
        cal_created,
        ev_won[cal] if ev_won is not None else None,
        deal[cal],
    )
    if config.thresholds.policy not in policies:
        raise ConfigError(
            f"thresholds.policy is {config.thresholds.policy!r} but it cannot be learned from "
            f"the calibration slice: {policy_errors[config.thresholds.policy]}"
        )
    mql = policies[config.thresholds.policy]
    grades = GradeThresholds(config.thresholds.grade_shares, keep).fit(score[cal])
    tiers = TierThresholds(mql.cutoff_, config.thresholds.disqualify_max_share).fit(
        score[cal], y[cal]
    )

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
    cal_weeks = slice_weeks(cal_created)
    mql_stats = {
        "policy": config.thresholds.policy,
        "capacity_per_week": config.thresholds.capacity_per_week,
        "target": policy_target(mql),
        "cutoff": mql.cutoff_,
        "calibration": {
            "expected_mqls_per_week": float(mql.predict(score[cal]).sum() / cal_weeks),
            "leads_per_week": float(len(cal) / cal_weeks),
        },
        "test": _mql_report(mql.predict(score[test]), y_test, _weeks(test_created)),
    }
    thr = config.thresholds
    test_weeks = slice_weeks(test_created)
    table = funnel_table(
        score[test],
        sql_y[test],
        won_y[test],
        test_weeks,
        thr.bootstrap_samples,
        thr.bootstrap_seed,
        thr.interval_level,
    )
    cal_inputs = {
        "scores": score[cal],
        "y": y[cal],
        "created_at": cal_created,
        "won": ev_won[cal] if ev_won is not None else None,
        "deal_value": deal[cal],
    }
    test_inputs = {"scores": score[test], "sql": sql_y[test], "won": won_y[test],
                   "weeks": test_weeks}
    policy_rows = _policy_rows(policies, policy_errors, thr, cal_inputs, test_inputs, cal_weeks)
    tier_test = tiers.predict(score[test])
    tier_info = _tier_summary(tiers, tier_test, y_test, thr.disqualify_max_share)

    funnel_summary, funnel_pred = None, None
    if config.funnel.enabled and stages is not None:
        # The main model already is P(SQL | lead) when its label is the funnel's SQL stage.
        same_stage = config.labels.target == "sql" and sql_h == config.labels.horizon
        known = {"sql": probability} if same_stage else None
        funnel_fit = fit_funnel(
            X,
            stages,
            split,
            spec,
            config.model,
            config.calibration,
            (sql_h, config.funnel.won_horizon_days),
            known=known,
        )
        funnel_summary, funnel_pred = funnel_fit.summary, funnel_fit.predictions

    rules_info = None
    if sheet is not None:
        rules_info = {
            "name": sheet.name,
            "path": str(config.baselines.rules_path),
            "mql_threshold": sheet.mql_threshold,
        }
    equal_volume = _equal_volume(
        sheet,
        lab.iloc[test],
        lab_as_of.iloc[test],
        acts,
        {"model": probability[test], "logistic_baseline": base_p},
        int(mql.predict(score[test]).sum()),
        sql_y[test],
        won_y[test],
    )

    segment_rows = None
    if segments is not None:
        segment_rows = _segment_rows(
            gate_rows[1:],
            segments,
            split,
            thr,
            mql,
            score,
            probability,
            y,
            sql_y,
            ev_won,
            deal,
            lab[CREATED_AT],
            test_weeks,
        )

    segment_models, segment_model_rows = {}, None
    if segments is not None and config.segments.models:
        segment_models, segment_model_rows = _fit_segment_models(
            labelled,
            config,
            split,
            segments,
            [r["segment"] for r in gate_rows[1:]],
            list(audit.excluded),
            raw,
            probability,
            calibrator.method_,
        )

    backtest = None
    if config.backtest.folds:
        backtest = rolling_origin_backtest(lab, lab_as_of, y, acts, config, stages, keep)

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
            "num_leaves": num_leaves,
            "recency_half_life": half_life,
            "monotone": monotone or {},
            "linear_base": fit.linear is not None,
            "linear_only": sorted(drifting)
            if fit.linear is not None and config.model.linear_drifting
            else [],
        },
        "mql_threshold": mql_stats,
        "grades": {
            "cutoffs": grades.cutoffs_,
            "test": grade_table,
            "kept_from": str(config.thresholds.keep_grades_from)
            if config.thresholds.keep_grades_from is not None
            else None,
            "tiers": tier_info,
        },
        "threshold_policies": policy_rows,
        "threshold_table": table,
        "baselines_equal_volume": equal_volume,
        "gate": {
            "min_train_positives": config.gate.min_train_positives,
            "min_test_positives": config.gate.min_test_positives,
            "counts": gate_rows,
        },
        "importance": importance.to_dict(orient="records"),
        "excluded_columns": spec.excluded,
        "data_notes": list(labelled.notes),
        "versions": library_versions(),
        "leakage_audit": audit.leakage,
        "drift_audit": audit.drift,
    }
    summary.update(
        training_insights(
            fit.booster,
            calibrator,
            spec,
            lab,
            features,
            y,
            {"train": split.train, "calibration": split.calibration, "test": test},
            score,
            mql.cutoff_,
            base_p,
            config.segments.column,
            fit.linear,
        )
    )
    if rules_info is not None:
        summary["rules"] = rules_info
    if funnel_summary is not None:
        summary["funnel"] = funnel_summary
    if segment_rows is not None:
        summary["segments"] = segment_rows
    if segment_model_rows is not None:
        summary["segment_models"] = segment_model_rows
    if backtest is not None:
        summary["backtest"] = backtest.summary
    model = TrainedModel(
        fit.booster, calibrator, mql, grades, spec, config, summary, tiers=tiers,
        policies=policies, linear=fit.linear,
    )
    if segment_models:
        model = replace(model, segment_models=segment_models, segment_column=seg_col)
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
            TIER: tier_test,
        }
    )
    if funnel_pred is not None:
        test_frame["p_won"] = funnel_pred["p_won_two_stage"].to_numpy()[test]
        test_frame["expected_value"] = funnel_pred["expected_value"].to_numpy()[test]
    slices = pd.Series("", index=lab.index, dtype="str")
    for name, idx in (("train", split.train), ("calibration", split.calibration), ("test", test)):
        slices.iloc[idx] = name
    slice_frame = pd.DataFrame({LEAD_ID: lab[LEAD_ID], "slice": slices})
    artifacts = {"test_predictions": test_frame, "importance": importance, "slices": slice_frame}
    if backtest is not None:
        artifacts["backtest_membership"] = backtest.membership
    # The booster never fit on these leads: their scores are the reference for drift.
    held_out = np.concatenate([split.calibration, split.test])
    model = replace(
        model, reference=reference_sample(features, score, held_out, config.model.seed)
    )
    return model, artifacts
