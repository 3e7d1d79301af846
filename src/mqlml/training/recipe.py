"""The recipe: everything a model needs, fit from a training slice and a later calibration slice.

One function, :func:`fit_recipe`, makes every model mqlml ships or reports on: the
pipeline's model, each rolling-origin backtest fold's, each segment's; the funnel's
stage models share its model step (:func:`fit_calibrated_model`). So a backtest fold
measures exactly the procedure that produces the shipped model. Given labelled leads
and the positions of a training slice and of a later calibration slice, it fits, in order:

1. the leakage audit on the training rows (columns that restate the outcome are excluded);
2. the feature spec on the training rows' kept columns and their activities before as-of;
3. the model (:func:`fit_calibrated_model`): drifting numeric columns (monotone, or left
   to the linear base), the model search on time folds of the training rows
   (:mod:`mqlml.training.search`: LightGBM settings, the linear model, a blend), and the
   calibrator on out-of-time scores of the
   calibration rows (time cross-fitting: each period of them scored by a model of every
   row before it); the model is then refit on the training and calibration rows together;
4. the logistic baseline on the rows the model learned from;
5. every threshold policy, the grades and the tiers on the calibration rows' out-of-time
   scores.

No row outside the two slices is read. The caller passes labels, won outcomes and deal
values as known when the model is made (a backtest fold: at its origin).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mqlml.columns import ACTIVITY_TYPE, CREATED_AT, LEAD_ID, OCCURRED_AT
from mqlml.config import Config, ModelConfig, ThresholdConfig
from mqlml.features.activity import ActivitySummary
from mqlml.features.build import (
    FeatureSpec,
    build_features,
    fit_feature_spec,
    to_matrix,
    without_personal,
)
from mqlml.labels.labelled import LabelledLeads
from mqlml.model.calibrate import ProbabilityCalibrator, probability_to_score
from mqlml.model.thresholds import (
    POLICIES,
    CapacityThreshold,
    ExpectedValueThreshold,
    GradeThresholds,
    PrecisionThreshold,
    RecallThreshold,
    TierThresholds,
    fit_policy,
    make_policy,
)
from mqlml.model.trees import (
    BoosterFit,
    fit_baseline,
    predict_baseline,
    predict_raw,
    recency_weights,
    refit_lightgbm,
)
from mqlml.training.audit import AuditResult, audit_leakage, monotone_for_drifting
from mqlml.training.progress import Stages
from mqlml.training.search import SearchResult, choose_model

#: A fitted MQL threshold policy.
Threshold = CapacityThreshold | PrecisionThreshold | RecallThreshold | ExpectedValueThreshold


@dataclass(frozen=True)
class CalibratedModel:
    """LightGBM (on its linear base, if any) with its calibrator and the chosen settings.

    Attributes
    ----------
    fit : BoosterFit
        The booster, how early stopping sized it, and its linear base.
    calibrator : ProbabilityCalibrator
        Fit on the calibration rows' raw scores.
    num_leaves, recency_half_life
        The settings chosen (by the search, or among the configured options).
    monotone : dict or None
        Feature column -> +1 / -1 for drifting columns (``model.monotone_drifting``).
    drifting : tuple of str
        Numeric columns that drift between the training and calibration rows.
    num_threads : int or None
        LightGBM threads when predicting (``model.num_threads``).
    n_rows : int
        Rows the model learned from.
    calibration_raw : ndarray
        The calibration rows' out-of-time log-odds.
    chosen : ModelConfig
        The model configuration with the chosen settings (for refits).
    linear_only : frozenset of str
        Columns left to the linear base (the trees never split on them).
    search : SearchResult or None
        What the search on time folds tried and chose (:mod:`mqlml.training.search`).
    """

    fit: BoosterFit
    calibrator: ProbabilityCalibrator
    num_leaves: int
    recency_half_life: float | None
    monotone: dict[str, int] | None
    drifting: tuple[str, ...]
    num_threads: int | None = None
    #: Rows the model learned from: training rows, plus calibration rows when refit.
    n_rows: int = 0
    #: Out-of-time log-odds of the calibration rows (what the calibrator was fit on): the
    #: scores to judge or fit anything else on, since a refit model has seen those rows.
    calibration_raw: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: The search on time folds that chose the model, or None (configured settings).
    search: SearchResult | None = field(default=None, compare=False)
    #: The model configuration with the chosen settings, and the columns left to the
    #: linear base: what a refit on more rows needs (:meth:`FittedRecipe.refit_on`).
    chosen: ModelConfig | None = field(default=None, compare=False, repr=False)
    linear_only: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """Log-odds before calibration of feature matrix rows."""
        return predict_raw(self.fit.booster, X, self.fit.linear, num_threads=self.num_threads)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of feature matrix rows."""
        return self.calibrator.predict(self.predict_raw(X))


def fit_calibrated_model(
    *,
    fit_features: pd.DataFrame,
    y_fit: np.ndarray,
    calibration_features: pd.DataFrame,
    y_calibration: np.ndarray,
    spec: FeatureSpec,
    config: Config,
) -> CalibratedModel:
    """The recipe's model step: drifting columns, model search, LightGBM, calibration.

    The model is chosen on the training rows (:func:`~mqlml.training.search.choose_model`:
    the search on time folds, or the configured settings). With
    ``calibration.cross_fit_periods`` (k > 0) the calibration rows are cut into k
    consecutive periods; each is scored by a model of the chosen kind and settings fit on
    every row before it (the first by the chosen model itself), the calibrator is fit on
    these pooled out-of-time scores, and the returned model is refit on the training and
    calibration rows together. With 0 it is the chosen model, calibrated on its own scores
    of the calibration rows.

    Parameters
    ----------
    fit_features, calibration_features : DataFrame
        Feature rows (``spec.columns``) of the training and the later calibration rows,
        each in time order.
    y_fit, y_calibration : ndarray
        Their 0/1 labels (the pipeline's target, or a funnel stage's).
    spec : FeatureSpec
    config : Config
        Uses ``model``, ``audit`` (drift thresholds) and ``calibration``.
    """
    cfg = config.model
    drifting = (
        monotone_for_drifting(fit_features, calibration_features, y_fit, spec, config.audit)
        if cfg.monotone_drifting or cfg.linear_drifting or cfg.search.trials
        else {}
    )
    X_fit = to_matrix(fit_features, spec)
    choice = choose_model(X_fit, y_fit, spec, cfg, drifting)
    fit, monotone, half_life = choice.fit, choice.monotone, choice.recency_half_life
    refit = partial(
        _refit,
        spec=spec,
        cfg=choice.config,
        like=fit,
        monotone=monotone,
        half_life=half_life,
        linear_only=choice.linear_only,
    )
    X_cal = to_matrix(calibration_features, spec)
    periods = min(config.calibration.cross_fit_periods, len(y_calibration))
    raw_cal = np.empty(len(y_calibration))
    bounds = np.linspace(0, len(y_calibration), max(periods, 1) + 1).astype(int)
    for start, end in itertools.pairwise(bounds):
        # Period k is scored by a model of every row before it: never one that saw it.
        scorer = fit if start == 0 else refit(X_fit, y_fit, X_cal[:start], y_calibration[:start])
        raw_cal[start:end] = predict_raw(
            scorer.booster, X_cal[start:end], scorer.linear, num_threads=cfg.num_threads
        )
    calibrator = ProbabilityCalibrator(config.calibration.method).fit(raw_cal, y_calibration)
    if periods:
        fit = refit(X_fit, y_fit, X_cal, y_calibration)
    return CalibratedModel(
        fit,
        calibrator,
        choice.config.num_leaves,
        half_life,
        monotone,
        tuple(drifting),
        cfg.num_threads,
        n_rows=len(y_fit) + (len(y_calibration) if periods else 0),
        calibration_raw=raw_cal,
        search=choice.search,
        chosen=choice.config,
        linear_only=choice.linear_only,
    )


def _refit(X_fit, y_fit, X_more, y_more, *, spec, cfg, like, monotone, half_life, linear_only):
    """``like``'s settings and size fit on the training rows followed by newer rows."""
    X = np.concatenate([X_fit, X_more])
    y = np.concatenate([np.asarray(y_fit, dtype=float), np.asarray(y_more, dtype=float)])
    weight = recency_weights(len(y), half_life)
    return refit_lightgbm(X, y, spec, cfg, like, monotone, weight, linear_only)


@dataclass(frozen=True)
class FittedRecipe:
    """Everything :func:`fit_recipe` fit: what a model needs to score, grade and route leads.

    Attributes
    ----------
    audit : AuditResult
        The leakage audit of the training rows (``drift`` is left to the caller's report).
    spec : FeatureSpec
        Fit on the training rows' kept columns; ``excluded`` says why each other one is out.
    model : CalibratedModel
        LightGBM, its linear base, its calibrator and the chosen settings.
    baseline : Pipeline
        The logistic baseline, fit on the rows the model learned from before any
        :meth:`refit_on` (the yardstick of the figures).
    policies : dict
        Every threshold policy that could be fit on the calibration rows, by name.
    policy_errors : dict
        Policy name -> why it could not be fit.
    mql : threshold or None
        The configured policy (``thresholds.policy``); None when it could not be fit.
    grades : GradeThresholds
        Grade cutoffs (learned, or the kept ones of ``thresholds.keep_grades_from``).
    tiers : TierThresholds or None
        Nurture / disqualify below the MQL cutoff; None without an MQL policy.
    """

    audit: AuditResult
    spec: FeatureSpec
    model: CalibratedModel
    baseline: Pipeline
    policies: dict[str, Threshold]
    policy_errors: dict[str, str]
    mql: Threshold | None
    grades: GradeThresholds
    tiers: TierThresholds | None

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The model's feature columns."""
        return self.spec.columns

    def features(
        self, leads: pd.DataFrame, activities: pd.DataFrame | ActivitySummary, as_of: pd.Series
    ) -> pd.DataFrame:
        """Feature rows of ``leads`` at ``as_of`` (only activities before it, or from a
        prebuilt activity summary)."""
        return build_features(leads, activities, as_of, self.spec)

    def predict_raw(self, features: pd.DataFrame) -> np.ndarray:
        """The model's log-odds (before calibration) of feature rows."""
        return self.model.predict_raw(to_matrix(features, self.spec))

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities of feature rows."""
        return self.model.predict_proba(to_matrix(features, self.spec))

    def predict_baseline(self, features: pd.DataFrame) -> np.ndarray:
        """The logistic baseline's probabilities of feature rows."""
        return predict_baseline(self.baseline, features, self.spec)

    def refit_on(self, features: pd.DataFrame, y: np.ndarray) -> FittedRecipe:
        """This recipe with its model refit on more feature rows.

        Every choice the recipe made stays: the feature spec, the model's kind, settings,
        tree count, linear strength, recency weighting and constraints, and the
        calibrator, thresholds, grades and tiers (fit on out-of-time scores). Only what the
        rows teach the model changes. The logistic baseline stays the one the figures
        compared with: it is a yardstick, not shipped. ``features`` must be in time order,
        newest last (the recency weights count back from the last row).
        """
        m = self.model
        y = np.asarray(y, dtype=float)
        fit = refit_lightgbm(
            to_matrix(features, self.spec),
            y,
            self.spec,
            m.chosen,
            m.fit,
            m.monotone,
            recency_weights(len(y), m.recency_half_life),
            m.linear_only,
        )
        model = replace(m, fit=fit, n_rows=len(y))
        return replace(self, model=model)


def fit_recipe(
    labelled: LabelledLeads,
    config: Config,
    *,
    fit_rows: np.ndarray,
    calibration_rows: np.ndarray,
    won: np.ndarray | None = None,
    deal_value: np.ndarray | None = None,
    keep_grades: dict | None = None,
    excluded: Mapping[str, str] | None = None,
    findings: Mapping[str, list] | None = None,
    stages: Stages | None = None,
) -> FittedRecipe:
    """Fit the whole recipe on a training slice and a later calibration slice.

    Parameters
    ----------
    labelled : LabelledLeads
        Labelled leads; only the rows at ``fit_rows`` and ``calibration_rows`` are read.
    config : Config
        Every option of ``audit``, ``features``, ``model``, ``calibration`` and
        ``thresholds`` is honoured (``keep_grades_from`` through ``keep_grades``).
    fit_rows, calibration_rows : ndarray of int
        Positions of the training slice and of the later calibration slice, each in
        time order.
    won : ndarray, optional
        Won outcome per lead (NaN while unknown) for the expected-value policy when the
        target is not itself won; aligned with ``labelled.leads``.
    deal_value : ndarray, optional
        Won deal value per lead (NaN otherwise), aligned with ``labelled.leads``.
    keep_grades : dict, optional
        Grade cutoffs to keep instead of learning them (read by the caller).
    excluded : mapping, optional
        Lead columns kept out of the model beyond this slice's own audit (e.g. those the
        pipeline's audit excluded), with the reason.
    findings : mapping, optional
        Leakage evidence found outside the training rows without reading a label
        (:func:`~mqlml.training.audit.recent_fill_findings`), weighed by this slice's audit.
    stages : Stages, optional
        Told as audit and features, model search, and calibration and thresholds finish.

    Returns
    -------
    FittedRecipe
    """
    y = labelled.y
    out_at = labelled.outcome_at
    audit = audit_leakage(
        # Personal columns are never features: nothing to audit for leakage in them.
        without_personal(labelled.leads.iloc[fit_rows], config.data.personal_columns),
        y[fit_rows],
        config.audit,
        out_at.iloc[fit_rows] if out_at is not None else None,
        findings,
    )
    spec = _fit_spec(labelled, fit_rows, {**audit.excluded, **(excluded or {})}, config)
    rows = np.concatenate([fit_rows, calibration_rows])
    features = build_features(
        labelled.leads.iloc[rows], labelled.feature_activities, labelled.as_of.iloc[rows], spec
    )
    fit_features, cal_features = features.iloc[: len(fit_rows)], features.iloc[len(fit_rows):]
    stages = stages or Stages()
    stages.done("audit and features")
    model = fit_calibrated_model(
        fit_features=fit_features,
        y_fit=y[fit_rows],
        calibration_features=cal_features,
        y_calibration=y[calibration_rows],
        spec=spec,
        config=config,
    )
    # The baseline learns from the same rows as the model (the oldest n_rows of the two
    # slices), so the comparison is fair.
    baseline = fit_baseline(features.iloc[: model.n_rows], y[rows[: model.n_rows]], spec)
    stages.done("model search")
    score = probability_to_score(model.calibrator.predict(model.calibration_raw))
    cal = calibration_rows
    policies, errors = fit_policies(
        config.thresholds,
        score,
        y[cal],
        labelled.leads[CREATED_AT].iloc[cal],
        won[cal] if won is not None else None,
        deal_value[cal] if deal_value is not None else None,
    )
    mql = policies.get(config.thresholds.policy)
    tiers = (
        TierThresholds(mql.cutoff_, config.thresholds.disqualify_max_share).fit(score, y[cal])
        if mql is not None
        else None
    )
    grades = GradeThresholds(
        config.thresholds.grade_shares,
        keep_grades,
        mql_cutoff=tiers.mql_cutoff_ if tiers is not None else None,
        nurture_cutoff=tiers.nurture_cutoff_ if tiers is not None else None,
    ).fit(score)
    stages.done("calibration and thresholds")
    return FittedRecipe(audit, spec, model, baseline, policies, errors, mql, grades, tiers)


def _fit_spec(
    labelled: LabelledLeads, fit_rows: np.ndarray, excluded: dict[str, str], config: Config
) -> FeatureSpec:
    """The feature spec of the training rows without the ``excluded`` columns, which it
    lists with their reasons; activities count only before each lead's as-of."""
    lab, acts = labelled.leads, labelled.activities
    train_leads = lab.iloc[fit_rows].drop(columns=[c for c in excluded if c in lab.columns])
    if labelled.activity_summary is not None:
        # Its per-type rows are the types each lead did before its as-of.
        train_acts = labelled.activity_summary.type_rows(
            train_leads[LEAD_ID], labelled.as_of.iloc[fit_rows]
        )
    else:
        known = acts[LEAD_ID].map(pd.Series(labelled.as_of.to_numpy(), index=lab[LEAD_ID]))
        train_acts = acts[acts[LEAD_ID].isin(train_leads[LEAD_ID]) & (acts[OCCURRED_AT] < known)]
    spec = fit_feature_spec(
        train_leads,
        train_acts[[LEAD_ID, ACTIVITY_TYPE]],
        config.features.windows_days,
        config.features.min_leads_per_activity_type,
        config.features.max_categories,
        config.data.personal_columns,
        config.features.min_category_count,
    )
    return replace(spec, excluded={**spec.excluded, **excluded})


def fit_policies(
    thr: ThresholdConfig,
    scores: np.ndarray,
    y: np.ndarray,
    created: pd.Series,
    won: np.ndarray | None,
    deal: np.ndarray | None,
) -> tuple[dict[str, Threshold], dict[str, str]]:
    """Every threshold policy fit on one slice; those that cannot be fit give the reason."""
    params = thr.model_dump()
    policies, errors = {}, {}
    for name in POLICIES:
        try:
            policies[name] = fit_policy(make_policy(name, params), scores, y, created, won, deal)
        except ValueError as exc:
            errors[name] = str(exc)
    return policies, errors
