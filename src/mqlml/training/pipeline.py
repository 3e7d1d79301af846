"""Training end to end: labels -> time split -> recipe -> evaluation -> summary.

Time is kept honest at every step: features use only events before each lead's as-of;
labels only exist for leads whose horizon has passed by the snapshot; the model learns
from the earliest leads, calibration and thresholds from later ones, and the test slice
is the latest of all. The model is made by the one recipe
(:func:`mqlml.training.recipe.fit_recipe`) that the backtest folds and segment models
use too; once the test slice has given every figure, the model that ships is refit with
the recipe's choices on all labelled leads (``model.refit_on_all_history``);
:func:`mqlml.workflow.fit_labelled` adds the explanations (drivers, criteria, charts)
and the drift reference sample, which live in the layers above.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mqlml.columns import CREATED_AT, LABEL, LEAD_ID, TIER
from mqlml.config import Config
from mqlml.data.contract import CrmData
from mqlml.labels.labelled import LabelledLeads, label_history
from mqlml.model.bundle import TrainedModel, load_grade_cutoffs
from mqlml.training.backtest import BacktestResult, rolling_origin_backtest
from mqlml.training.evaluation import InsightInputs, SplitFit, fit_and_evaluate, importance
from mqlml.training.funnel import FunnelFit, fit_funnel
from mqlml.training.progress import StageCallback, Stages, as_stages
from mqlml.training.rules import load_rules
from mqlml.training.segments import SegmentModels, fit_segment_models, segment_rows

__all__ = ["TrainingRun", "run_training", "train_labelled", "training_run"]


@dataclass(frozen=True)
class TrainingRun:
    """A trained model, its report frames, and what the layers above need to finish it.

    Attributes
    ----------
    model : TrainedModel
        The model with the summary of :func:`run_training`, without the explanation keys
        (``drivers``, ``criteria_rules``, ``scorecard``, ``evaluation``) and without its
        drift reference sample: :func:`mqlml.workflow.fit_labelled` adds them.
    artifacts : dict
        As :func:`run_training` returns.
    insights : InsightInputs
        The inputs of the model's explanations and drift reference.
    segment_insights : dict
        Segment -> the same, for each segment model in use.
    """

    model: TrainedModel
    artifacts: dict
    insights: InsightInputs
    segment_insights: dict[str, InsightInputs]


def run_training(crm: CrmData, config: Config) -> tuple[TrainedModel, dict]:
    """Train, calibrate and set thresholds from a CRM history.

    :func:`label_history` followed by :func:`train_labelled`. The summary has no
    explanation keys and the model no drift reference: :func:`mqlml.workflow.fit_history`
    is this with both.

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
        calibration / test), ``measured_model`` (the model every held-out figure measures:
        the returned one, or with ``model.refit_on_all_history`` its twin before the refit
        on all labelled leads; same calibrator, thresholds and grades) and, with a
        backtest, ``backtest_membership``.
    """
    return train_labelled(label_history(crm, config), config)


def train_labelled(labelled: LabelledLeads, config: Config) -> tuple[TrainedModel, dict]:
    """Split labelled leads by time, then fit features, model, calibration and thresholds.

    Returns the same as :func:`run_training`.
    """
    run = training_run(labelled, config)
    return run.model, run.artifacts


def training_run(
    labelled: LabelledLeads, config: Config, *, progress: Stages | StageCallback | None = None
) -> TrainingRun:
    """Fit and evaluate the model, then the funnel, segments, segment models and backtest.

    Parameters
    ----------
    labelled : LabelledLeads
    config : Config
    progress : callable or Stages, optional
        Called as ``progress(stage, seconds)`` as each stage finishes (audit and
        features, model search, calibration and thresholds, evaluation, funnel, segment
        models, backtest fold k/n, refit on all history); None: silent.

    Returns
    -------
    TrainingRun
    """
    stages = as_stages(progress)
    # Files named in the config are read first, so a wrong path fails before any fitting.
    sheet = load_rules(config.baselines.rules_path) if config.baselines.rules_path else None
    keep = (
        load_grade_cutoffs(config.thresholds.keep_grades_from)
        if config.thresholds.keep_grades_from is not None
        else None
    )
    fitted = fit_and_evaluate(labelled, config, sheet=sheet, keep_grades=keep, stages=stages)
    summary = dict(fitted.summary)
    funnel = _funnel(fitted)
    if funnel is not None:
        summary["funnel"] = funnel.summary
        stages.done("funnel")
    if fitted.segments is not None:
        summary["segments"] = segment_rows(fitted)
    seg = _segment_models(fitted)
    if seg is not None:
        summary["segment_models"] = seg.rows
        stages.done("segment models")
    backtest = None
    if config.backtest.folds:
        backtest = rolling_origin_backtest(
            labelled,
            config,
            keep_grades=keep,
            excluded=fitted.recipe.audit.excluded,
            stages=stages,
        )
        summary["backtest"] = backtest.summary
    measured = replace(fitted, summary=summary)
    shipped = measured.shipped()
    if shipped is not measured:
        stages.done("refit on all history")
    model = shipped.to_model()
    if seg is not None and seg.models:
        model = replace(model, segment_models=seg.models, segment_column=config.segments.column)
    artifacts = _artifacts(fitted, funnel, backtest)
    # The model every held-out figure measures: what judges the holdout (registry gate,
    # champion comparison) when the shipped model has learned from it.
    artifacts["measured_model"] = replace(
        model,
        booster=fitted.recipe.model.fit.booster,
        linear=fitted.recipe.model.fit.linear,
        segment_models=(seg.measured or None) if seg is not None else None,
    )
    return TrainingRun(
        model,
        artifacts,
        fitted.insight_inputs,
        {name: sub.insight_inputs for name, sub in (seg.fits if seg else {}).items()},
    )


def _funnel(fitted: SplitFit) -> FunnelFit | None:
    """The funnel's stage models (``funnel.enabled`` and an outcomes table), else None."""
    config, st = fitted.config, fitted.stages
    if not config.funnel.enabled or st.stages is None:
        return None
    # The main model already is P(SQL | lead) when its label is the funnel's SQL stage.
    same_stage = config.labels.target == "sql" and st.sql_horizon == config.labels.horizon
    split = fitted.split
    # What the main model learned from: the oldest n_rows of its training and calibration
    # rows (all of them when it was refit after its time cross-fitted calibration).
    learned = np.concatenate([split.train, split.calibration])[: fitted.recipe.model.n_rows]
    return fit_funnel(
        features=fitted.scored.features,
        stages=st.stages,
        split=fitted.split,
        spec=fitted.recipe.spec,
        config=config,
        horizons=(st.sql_horizon, config.funnel.won_horizon_days),
        known={"sql": (fitted.scored.probability, learned)} if same_stage else None,
    )


def _segment_models(fitted: SplitFit) -> SegmentModels | None:
    if fitted.segments is None or not fitted.config.segments.models:
        return None
    return fit_segment_models(fitted, [r["segment"] for r in fitted.gate_rows[1:]])


def _artifacts(
    fitted: SplitFit, funnel: FunnelFit | None, backtest: BacktestResult | None
) -> dict:
    """The report frames: test predictions, importance, slices, backtest membership."""
    lab, split, recipe, scored = fitted.labelled.leads, fitted.split, fitted.recipe, fitted.scored
    test = split.test
    score_test = scored.score[test]
    test_frame = pd.DataFrame(
        {
            LEAD_ID: lab[LEAD_ID].iloc[test].to_numpy(),
            CREATED_AT: lab[CREATED_AT].iloc[test].to_numpy(),
            LABEL: fitted.labelled.y[test],
            "probability": scored.probability[test],
            "score": score_test,
            "grade": recipe.grades.predict(score_test),
            "is_mql": recipe.mql.predict(score_test),
            "baseline_probability": scored.baseline_test,
            TIER: recipe.tiers.predict(score_test),
        }
    )
    if funnel is not None and funnel.predictions is not None:
        test_frame["p_won"] = funnel.predictions["p_won_two_stage"].to_numpy()[test]
        test_frame["expected_value"] = funnel.predictions["expected_value"].to_numpy()[test]
    slices = pd.Series("", index=lab.index, dtype="str")
    for name, idx in (("train", split.train), ("calibration", split.calibration), ("test", test)):
        slices.iloc[idx] = name
    artifacts = {
        "test_predictions": test_frame,
        "importance": importance(recipe),
        "slices": pd.DataFrame({LEAD_ID: lab[LEAD_ID], "slice": slices}),
    }
    if backtest is not None:
        artifacts["backtest_membership"] = backtest.membership
    return artifacts
