"""One model on one time split: check the slices, gate, fit the recipe, evaluate on test.

:func:`fit_and_evaluate` is what the pipeline runs for its model and for each segment's
model: the recipe (:func:`mqlml.training.recipe.fit_recipe`) on the split's train and
calibration slices, then every figure of the core training summary on its test slice,
which nothing fit has seen. The pipeline adds the funnel, per-segment figures and
models, and the backtest (:mod:`mqlml.training.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from mqlml.columns import CREATED_AT, TIER, TIERS
from mqlml.config import Config
from mqlml.errors import ConfigError, InsufficientDataError
from mqlml.features.build import field_label, to_matrix, without_personal
from mqlml.features.fields import field_matrix
from mqlml.labels.labelled import LabelledLeads
from mqlml.labels.split import TimeSplit, time_split
from mqlml.model.bundle import TrainedModel, library_versions
from mqlml.model.calibrate import probability_to_score
from mqlml.model.metrics import classification_metrics, expected_calibration_error
from mqlml.model.segments import segment_values
from mqlml.model.thresholds import (
    GRADES,
    POLICIES,
    funnel_table,
    policy_report,
    policy_target,
    slice_weeks,
)
from mqlml.training.audit import (
    AuditResult,
    drift_report,
    recent_fill_findings,
    warn_leakage,
)
from mqlml.training.funnel import StageArrays, stage_arrays
from mqlml.training.gate import check_gate, gate_counts
from mqlml.training.progress import Stages
from mqlml.training.recipe import FittedRecipe, fit_recipe
from mqlml.training.rules import RulesSheet, compare_at_equal_volume, rule_lines, rule_points

#: Fewest converted (and unconverted) leads each slice needs for honest fitting and testing.
MIN_CLASS_PER_SLICE = 10
#: The model's test ROC AUC must trail the logistic baseline's by this much for a warning:
#: smaller gaps print as equal at three decimals.
BASELINE_WARNING_GAP = 0.001


@dataclass(frozen=True)
class Scored:
    """The recipe's outputs for every labelled lead (positions as in the leads).

    ``baseline_test`` is the logistic baseline on the test slice only.
    """

    features: pd.DataFrame
    raw: np.ndarray
    probability: np.ndarray
    score: np.ndarray
    baseline_test: np.ndarray


@dataclass(frozen=True)
class InsightInputs:
    """What the explain and scoring layers read to finish a model's summary and bundle
    (:func:`mqlml.workflow.fit_labelled`): drivers, criteria and charts, and the
    drift reference sample."""

    leads: pd.DataFrame
    features: pd.DataFrame
    y: np.ndarray
    #: Positional ``train``, ``calibration`` and ``test`` indices.
    slices: dict[str, np.ndarray]
    score: np.ndarray
    baseline_test_probability: np.ndarray
    segment_column: str | None
    seed: int
    #: Calibrated probability of every labelled lead from the model the figures measure
    #: (out of time on the calibration and test slices), for the evaluation charts.
    probability: np.ndarray | None = None


@dataclass(frozen=True)
class SplitFit:
    """One recipe fit on a split and evaluated on its test slice.

    ``summary`` is the core summary (no funnel, segments, backtest or explanations);
    ``segments`` holds each lead's segment value when ``segments.column`` is set.
    """

    labelled: LabelledLeads
    config: Config
    split: TimeSplit
    segments: np.ndarray | None
    gate_rows: list[dict]
    stages: StageArrays
    recipe: FittedRecipe
    audit: AuditResult
    scored: Scored
    summary: dict = field(default_factory=dict)

    def to_model(self) -> TrainedModel:
        """The fitted recipe as a model to save and score with, carrying the summary."""
        r = self.recipe
        return TrainedModel(
            r.model.fit.booster, r.model.calibrator, r.mql, r.grades, r.spec, self.config,
            self.summary, tiers=r.tiers, policies=r.policies, linear=r.model.fit.linear,
        )

    def shipped(self) -> SplitFit:
        """This fit as it ships, once its test slice has given every figure.

        With ``model.refit_on_all_history`` the recipe is refit, with its choices, on
        every labelled lead of the split (train, calibration and test), and the summary's
        ``model`` says so (``learned_from_rows``, ``learned_from_test_slice``); the
        figures still describe ``self``, the model that never saw the test slice.
        Without it, ``self``.
        """
        if not self.config.model.refit_on_all_history:
            return self
        split = self.split
        rows = np.concatenate([split.train, split.calibration, split.test])
        recipe = self.recipe.refit_on(self.scored.features.iloc[rows], self.labelled.y[rows])
        model = {
            **self.summary["model"],
            "learned_from_rows": recipe.model.n_rows,
            "learned_from_test_slice": True,
        }
        return replace(self, recipe=recipe, summary={**self.summary, "model": model})

    @property
    def insight_inputs(self) -> InsightInputs:
        """The inputs of this model's insights and drift reference."""
        split = self.split
        return InsightInputs(
            leads=self.labelled.leads,
            features=self.scored.features,
            y=self.labelled.y,
            slices={"train": split.train, "calibration": split.calibration, "test": split.test},
            score=self.scored.score,
            baseline_test_probability=self.scored.baseline_test,
            segment_column=self.config.segments.column,
            seed=self.config.model.seed,
            probability=self.scored.probability,
        )


def fit_and_evaluate(
    labelled: LabelledLeads,
    config: Config,
    *,
    sheet: RulesSheet | None = None,
    keep_grades: dict | None = None,
    stages: Stages | None = None,
) -> SplitFit:
    """Split by time, gate, fit the recipe, and evaluate it on the test slice.

    Parameters
    ----------
    labelled : LabelledLeads
        Labelled leads (with their own split, or split by ``created_at`` here).
    config : Config
    sheet : RulesSheet, optional
        The current rules, compared with the model at equal MQL volume.
    keep_grades : dict, optional
        Grade cutoffs to keep (``thresholds.keep_grades_from``, read by the caller).
    stages : Stages, optional
        Told as each stage of the fit (see :func:`~mqlml.training.recipe.fit_recipe`) and
        the evaluation finish.

    Raises
    ------
    InsufficientDataError
        When a slice has too few converted or unconverted leads, or the gate fails.
    ConfigError
        When the configured threshold policy cannot be learned, or a configured column
        is missing.
    """
    y = labelled.y
    split = labelled.split or time_split(
        labelled.leads, y, config.split_fractions, config.split.calibration_positives
    )
    _check_slices(split, y)
    segments, gate_rows = _gate(labelled, split, config)
    funnel_arrays = stage_arrays(labelled, config)
    # Fill of the newest leads vs the older ones: a time order is needed, labels are not.
    findings = (
        recent_fill_findings(labelled.leads, config.audit) if labelled.split is None else None
    )
    recipe = fit_recipe(
        labelled,
        config,
        fit_rows=split.train,
        calibration_rows=split.calibration,
        won=funnel_arrays.policy_won,
        deal_value=funnel_arrays.deal_value,
        keep_grades=keep_grades,
        findings=findings,
        stages=stages,
    )
    policy = config.thresholds.policy
    if recipe.mql is None:
        raise ConfigError(
            f"thresholds.policy is {policy!r} but it cannot be learned from the "
            f"calibration slice: {recipe.policy_errors[policy]}"
        )
    # On the email domain type, never the addresses: evidence lists values it saw.
    audited = without_personal(labelled.leads, config.data.personal_columns, derive=True)
    drift = drift_report(audited, split, config.audit) if labelled.split is None else []
    audit = replace(recipe.audit, drift=drift)
    warn_leakage(audit)
    scored = _score(labelled, split, recipe)
    fitted = SplitFit(
        labelled, config, split, segments, gate_rows, funnel_arrays, recipe, audit, scored
    )
    fitted = replace(fitted, summary=core_summary(fitted, sheet))
    if stages is not None:
        stages.done("evaluation")
    return fitted


def _check_slices(split: TimeSplit, y: np.ndarray) -> None:
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


def _gate(
    labelled: LabelledLeads, split: TimeSplit, config: Config
) -> tuple[np.ndarray | None, list[dict]]:
    """Each lead's segment (with ``segments.column``) and the gate's counts, checked."""
    lab, y = labelled.leads, labelled.y
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
    return segments, gate_rows


def _score(labelled: LabelledLeads, split: TimeSplit, recipe: FittedRecipe) -> Scored:
    """The fitted recipe applied to every labelled lead (and the baseline to the test)."""
    features = recipe.features(labelled.leads, labelled.feature_activities, labelled.as_of)
    raw = recipe.model.predict_raw(to_matrix(features, recipe.spec))
    # A model refit on the calibration rows has seen them: their scores are the
    # out-of-time ones the calibrator and thresholds were fit on.
    raw[split.calibration] = recipe.model.calibration_raw
    probability = recipe.model.calibrator.predict(raw)
    base_p = recipe.predict_baseline(features.iloc[split.test])
    return Scored(features, raw, probability, probability_to_score(probability), base_p)


# --- the core summary ------------------------------------------------------------------


def core_summary(fitted: SplitFit, sheet: RulesSheet | None) -> dict:
    """The training summary of one model on its split: every key of
    :func:`mqlml.training.pipeline.run_training`'s summary but the funnel, segments,
    segment models, backtest and explanations."""
    lab, config, split = fitted.labelled, fitted.config, fitted.split
    recipe, scored = fitted.recipe, fitted.scored
    test = split.test
    thr = config.thresholds
    summary = {
        "name": config.name,
        "target": config.labels.target,
        "horizon_days": config.labels.horizon,
        "observation_days": config.features.observation_days,
        "snapshot_at": lab.snapshot.isoformat(),
        "label_counts": lab.label_counts,
        "periods": [p.to_dict() for p in split.periods],
        "metrics_test": _test_metrics(lab.y[test], scored, test),
        "calibration": {
            "method": recipe.model.calibrator.method_,
            "selection_log_loss": recipe.model.calibrator.selection_log_loss_,
        },
        "model": _model_section(recipe, config),
        "mql_threshold": _mql_section(fitted),
        "grades": {
            "cutoffs": recipe.grades.cutoffs_,
            "test": _grade_table(recipe, scored.score[test], lab.y[test]),
            "kept_from": str(thr.keep_grades_from) if thr.keep_grades_from is not None else None,
            "tiers": _tier_section(recipe, scored.score[test], lab.y[test], thr),
        },
        **_threshold_sections(fitted),
        "baselines_equal_volume": _equal_volume(fitted, sheet),
        "gate": {
            "min_train_positives": config.gate.min_train_positives,
            "min_test_positives": config.gate.min_test_positives,
            "counts": fitted.gate_rows,
        },
        "importance": importance(recipe).to_dict(orient="records"),
        "excluded_columns": recipe.spec.excluded,
        "data_notes": list(lab.notes),
        "versions": library_versions(),
        "leakage_audit": fitted.audit.leakage,
        "drift_audit": fitted.audit.drift,
    }
    summary["warnings"] = summary_warnings(summary["metrics_test"])
    if sheet is not None:
        summary["rules"] = {
            "name": sheet.name,
            "path": str(config.baselines.rules_path),
            "mql_threshold": sheet.mql_threshold,
            "lines": _rule_line_evidence(sheet, lab, test),
        }
    return summary


def summary_warnings(metrics_test: dict) -> list[str]:
    """What a user must read before trusting the model, as sentences.

    Parameters
    ----------
    metrics_test : dict
        The summary's ``metrics_test`` (``model`` and ``baseline_logistic`` ROC AUC).

    Returns
    -------
    list of str
        One sentence when the model ranks the test leads worse than its own logistic
        baseline (fit on the same rows), with both test ROC AUCs; else empty.
    """
    model = metrics_test["model"]["roc_auc"]
    baseline = metrics_test["baseline_logistic"]["roc_auc"]
    if not (model == model and baseline == baseline) or baseline - model < BASELINE_WARNING_GAP:
        return []
    return [
        f"The model ranks the test leads worse than its own logistic baseline: test ROC AUC "
        f"{model:.3f} for the model against {baseline:.3f} for a logistic regression fit on "
        "the same rows. Do not rely on its ranking before you know why (see the drift and "
        "leakage audits in the data notes)."
    ]


def _test_metrics(y_test: np.ndarray, scored: Scored, test: np.ndarray) -> dict:
    """Model (calibrated and not) and logistic baseline on the test slice, with ECE."""
    uncal = 1 / (1 + np.exp(-scored.raw[test]))
    metrics = {}
    for name, p in (
        ("model", scored.probability[test]),
        ("model_uncalibrated", uncal),
        ("baseline_logistic", scored.baseline_test),
    ):
        metrics[name] = classification_metrics(y_test, p)
        metrics[name]["ece"] = expected_calibration_error(y_test, p)
    return metrics


def _model_section(recipe: FittedRecipe, config: Config) -> dict:
    m = recipe.model
    fit = m.fit
    return {
        "best_iteration": fit.best_iteration,
        "early_stopping_rows": fit.n_early_stopping_rows,
        "early_stopping_log_loss": fit.early_stopping_log_loss,
        "n_features": len(recipe.spec.columns),
        "learned_from_rows": m.n_rows,
        "cross_fit_periods": config.calibration.cross_fit_periods,
        "num_leaves": m.num_leaves,
        "recency_half_life": m.recency_half_life,
        "monotone": m.monotone or {},
        "linear_base": fit.kind == "boosted",
        "linear_only": sorted(m.drifting)
        if fit.kind == "boosted" and config.model.linear_drifting
        else [],
        "kind": fit.kind,
        "search": _search_section(m.search),
    }


def _search_section(search) -> dict | None:
    if search is None:
        return None
    return {
        "kind": search.kind,
        "settings": dict(search.settings),
        "tree_weight": search.tree_weight,
        "linear_c": search.linear_c,
        "log_loss": dict(search.log_loss),
        "fold_trees": list(search.fold_trees),
        "trials": search.trials,
        "seconds": search.seconds,
        "fold_rows": search.fold_rows,
        "fold_positives": search.fold_positives,
        "configured": search.configured,
    }


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


def _mql_section(fitted: SplitFit) -> dict:
    config, split, mql = fitted.config, fitted.split, fitted.recipe.mql
    score, y = fitted.scored.score, fitted.labelled.y
    created = fitted.labelled.leads[CREATED_AT]
    cal, test = split.calibration, split.test
    cal_weeks = slice_weeks(created.iloc[cal])
    return {
        "policy": config.thresholds.policy,
        "capacity_per_week": config.thresholds.capacity_per_week,
        "target": policy_target(mql),
        "cutoff": mql.cutoff_,
        "calibration": {
            "expected_mqls_per_week": float(mql.predict(score[cal]).sum() / cal_weeks),
            "leads_per_week": float(len(cal) / cal_weeks),
        },
        "test": _mql_report(mql.predict(score[test]), y[test], _weeks(created.iloc[test])),
    }


def _grade_table(recipe: FittedRecipe, score_test: np.ndarray, y_test: np.ndarray) -> list:
    grade_test = recipe.grades.predict(score_test)
    rows = []
    for g in GRADES:
        m = grade_test == g
        rows.append(
            {
                "grade": g,
                "min_score": recipe.grades.cutoffs_.get(g, 1),
                "leads": int(m.sum()),
                "share": float(m.mean()),
                "conversion_rate": float(y_test[m].mean()) if m.any() else float("nan"),
            }
        )
    return rows


def _tier_section(recipe: FittedRecipe, score_test, y_test, thr) -> dict:
    tiers = recipe.tiers
    tier_test = tiers.predict(score_test)
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
        "disqualify_max_share": thr.disqualify_max_share,
        "calibration_lost_share": tiers.lost_share_,
        "test": rows,
    }


def _threshold_sections(fitted: SplitFit) -> dict:
    """``threshold_policies`` (each policy on calibration and test) and ``threshold_table``."""
    thr, split, st = fitted.config.thresholds, fitted.split, fitted.stages
    score, y = fitted.scored.score, fitted.labelled.y
    created = fitted.labelled.leads[CREATED_AT]
    cal, test = split.calibration, split.test
    test_weeks = slice_weeks(created.iloc[test])
    table = funnel_table(
        score[test], st.sql[test], st.won[test], test_weeks, thr.bootstrap_samples,
        thr.bootstrap_seed, thr.interval_level,
    )
    cal_inputs = {
        "scores": score[cal],
        "y": y[cal],
        "created_at": created.iloc[cal],
        "won": st.policy_won[cal] if st.policy_won is not None else None,
        "deal_value": st.deal_value[cal],
    }
    test_inputs = {"scores": score[test], "sql": st.sql[test], "won": st.won[test],
                   "weeks": test_weeks}
    rows = _policy_rows(fitted.recipe, thr, cal_inputs, test_inputs,
                        slice_weeks(created.iloc[cal]))
    return {"threshold_policies": rows, "threshold_table": table}


def _policy_rows(recipe: FittedRecipe, thr, cal_inputs, test_inputs, cal_weeks) -> list[dict]:
    rows = []
    for name in POLICIES:
        if name not in recipe.policies:
            rows.append({"policy": name, "in_use": False, "error": recipe.policy_errors[name]})
            continue
        t = recipe.policies[name]
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


def _rule_line_evidence(sheet: RulesSheet, lab: LabelledLeads, test: np.ndarray) -> list[dict]:
    """How the leads each line of the sheet scores converted on the test slice."""
    y = lab.y[test]
    base_rate = float(y.mean()) if len(y) else float("nan")
    lines = rule_lines(sheet, lab.leads.iloc[test], lab.rule_activities, lab.as_of.iloc[test])
    out = []
    for line in lines:
        n = int(line.hit.sum())
        rate = float(y[line.hit].mean()) if n else None
        out.append(
            {
                "criterion": line.criterion,
                "field": line.field,
                "points": line.points,
                "leads": n,
                "conversion_rate": rate,
                "lift": rate / base_rate if rate is not None and base_rate > 0 else None,
            }
        )
    return out


def _equal_volume(fitted: SplitFit, sheet: RulesSheet | None) -> list[dict]:
    """Model and baselines at the current rules' MQL volume (else the model's own)."""
    lab, test = fitted.labelled, fitted.split.test
    score, st = fitted.scored.score, fitted.stages
    fixed, n_equal = None, int(fitted.recipe.mql.predict(score[test]).sum())
    if sheet is not None:
        points = rule_points(sheet, lab.leads.iloc[test], lab.rule_activities, lab.as_of.iloc[test])
        fixed = {"current_rules": points >= sheet.mql_threshold}
        n_equal = int(fixed["current_rules"].sum())
    rankings = {
        "model": fitted.scored.probability[test],
        "logistic_baseline": fitted.scored.baseline_test,
    }
    return compare_at_equal_volume(rankings, n_equal, st.sql[test], st.won[test], fixed)


def importance(recipe: FittedRecipe) -> pd.DataFrame:
    """Gain share of each business field (a field's one-hot / window columns summed) in the
    trees; all 0 for a linear model, whose trees carry no weight (its drivers are the SHAP
    contributions of the report)."""
    spec = recipe.spec
    fit = recipe.model.fit
    gain = fit.booster.feature_importance(importance_type="gain")
    if fit.linear is not None:
        gain = gain * fit.linear.tree_weight_
    m, fields = field_matrix(spec)
    per_field = gain @ m
    total = per_field.sum() or 1.0
    return (
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
