"""Training end to end, and the proof that each learned piece only saw its own slice."""

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import LEAD_ID, SQL_AT
from mqlml.config import load_config
from mqlml.data.contract import CrmData, validate_crm
from mqlml.errors import InsufficientDataError
from mqlml.training.pipeline import run_training
from pipeline_split import recipe_on_pipeline_split


def test_summary_reports_periods_metrics_and_accounting(trained):
    model, artifacts, crm, _ = trained
    s = model.summary
    c = s.label_counts
    assert c.eligible + c.immature + c.converted_before_as_of == len(crm.leads)
    assert c.immature > 0 and c.converted_before_as_of > 0
    periods = s.periods
    assert [p.name for p in periods] == ["train", "calibration", "test"]
    assert periods[0].end <= periods[1].start <= periods[1].end <= periods[2].start
    assert sum(p.n_leads for p in periods) == c.eligible
    for m in (s.metrics_test.model, s.metrics_test.baseline_logistic):
        assert all(x == x for x in (m.roc_auc, m.pr_auc, m.brier, m.log_loss, m.lift_top_decile))
    assert s.metrics_test.model.roc_auc > 0.7
    assert len(artifacts["test_predictions"]) == periods[2].n_leads
    assert s.calibration.method in ("isotonic", "sigmoid")
    assert 1 <= s.mql_threshold.cutoff <= 99


def _retrain_with_outcomes_removed(trained, slice_name):
    """Retrain after turning half the conversions of one slice's leads into non-conversions."""
    model, artifacts, crm, cfg = trained
    slices = artifacts["slices"]
    ids = set(slices.loc[slices["slice"] == slice_name, LEAD_ID])
    as_of = crm.leads.set_index(LEAD_ID)["created_at"] + pd.Timedelta(days=14)
    sql_at = crm.outcomes.set_index(LEAD_ID)[SQL_AT]
    after_as_of = sql_at > as_of.reindex(sql_at.index)
    drop = [i for i in sql_at.index if i in ids and after_as_of[i]][::2]
    assert drop, f"the {slice_name} slice has conversions to remove"
    outcomes = crm.outcomes[~crm.outcomes[LEAD_ID].isin(drop)]
    cfg2 = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"snapshot_at": model.summary.snapshot_at})}
    )
    changed = CrmData(crm.leads, crm.activities, outcomes, crm.notes)
    return run_training(changed, cfg2)


@pytest.fixture(scope="module")
def measured_only(trained):
    """The ``trained`` history with ``model.refit_on_all_history`` off: the model that
    ships is the one every figure measures."""
    model, _, crm, cfg = trained
    cfg = cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"refit_on_all_history": False}),
        "data": cfg.data.model_copy(update={"snapshot_at": model.summary.snapshot_at}),
    })
    shipped, artifacts = run_training(crm, cfg)
    return shipped, artifacts, crm, cfg


def test_test_slice_outcomes_never_reach_model_calibration_or_thresholds(measured_only):
    model, artifacts = measured_only[0], measured_only[1]
    other, _ = _retrain_with_outcomes_removed(measured_only, "test")
    assert not model.summary.model.learned_from_test_slice
    assert artifacts["measured_model"].booster is model.booster
    assert other.booster.model_to_string() == model.booster.model_to_string()
    assert other.calibrator.to_dict() == model.calibrator.to_dict()
    assert other.mql.cutoff_ == model.mql.cutoff_
    assert other.grades.cutoffs_ == model.grades.cutoffs_
    assert {k: t.cutoff_ for k, t in other.policies.items()} == {
        k: t.cutoff_ for k, t in model.policies.items()
    }
    assert other.tiers.nurture_cutoff_ == model.tiers.nurture_cutoff_
    # ...while the test metrics do see them (the check above is not vacuous)
    before = model.summary.metrics_test.model.n_positive
    assert other.summary.metrics_test.model.n_positive < before


def test_refit_on_all_history_test_outcomes_reach_only_the_shipped_model(trained):
    model, artifacts = trained[0], trained[1]
    assert trained[3].model.refit_on_all_history  # the default
    other, other_artifacts = _retrain_with_outcomes_removed(trained, "test")
    # The model every figure measures never saw the test slice's outcomes ...
    measured, other_measured = artifacts["measured_model"], other_artifacts["measured_model"]
    assert other_measured.booster.model_to_string() == measured.booster.model_to_string()
    pd.testing.assert_series_equal(
        other_artifacts["test_predictions"]["probability"],
        artifacts["test_predictions"]["probability"],
    )
    assert other.calibrator.to_dict() == model.calibrator.to_dict()
    assert {k: t.cutoff_ for k, t in other.policies.items()} == {
        k: t.cutoff_ for k, t in model.policies.items()
    }
    assert other.grades.cutoffs_ == model.grades.cutoffs_
    # ... and the model that ships does: refit on every labelled lead once measured.
    assert model.summary.model.learned_from_test_slice
    assert other.booster.model_to_string() != model.booster.model_to_string()


def test_refit_on_all_history_ships_the_recipe_refit_on_every_labelled_lead(
    trained, measured_only
):
    model, artifacts, crm, cfg = trained
    s = model.summary
    assert s.model.learned_from_rows == sum(p.n_leads for p in s.periods)
    measured = artifacts["measured_model"]
    # The measured model is the one shipped without the refit; only the weights differ.
    assert measured.booster.model_to_string() == measured_only[0].booster.model_to_string()
    assert measured.booster.model_to_string() != model.booster.model_to_string()
    assert measured.calibrator is model.calibrator and measured.mql is model.mql
    assert measured.grades is model.grades and measured.spec is model.spec
    lab, split, recipe = recipe_on_pipeline_split(crm, cfg)
    rows = np.concatenate([split.train, split.calibration, split.test])
    features = recipe.features(lab.leads.iloc[rows], lab.feature_activities, lab.as_of.iloc[rows])
    shipped = recipe.refit_on(features, lab.y[rows])
    assert shipped.model.fit.booster.model_to_string() == model.booster.model_to_string()
    assert shipped.model.n_rows == len(rows)


def test_calibration_slice_outcomes_reach_the_calibrator_thresholds_and_refit_model(trained):
    model, artifacts = trained[0], trained[1]
    other, other_artifacts = _retrain_with_outcomes_removed(trained, "calibration")
    assert model.summary.model.cross_fit_periods == 2
    # The measured model was refit on the training and calibration rows ...
    assert (other_artifacts["measured_model"].booster.model_to_string()
            != artifacts["measured_model"].booster.model_to_string())
    assert other.calibrator.to_dict() != model.calibrator.to_dict()
    # ... and thresholds are learned from the calibration slice's outcomes too
    assert {k: t.cutoff_ for k, t in other.policies.items()} != {
        k: t.cutoff_ for k, t in model.policies.items()
    }


def test_without_cross_fitting_calibration_outcomes_never_reach_the_model(trained):
    model, artifacts, crm, cfg = trained
    cfg = cfg.model_copy(
        update={"calibration": cfg.calibration.model_copy(update={"cross_fit_periods": 0})}
    )
    kept, kept_artifacts = run_training(crm, cfg.model_copy(update={"data": cfg.data.model_copy(
        update={"snapshot_at": model.summary.snapshot_at})}))
    other, other_artifacts = _retrain_with_outcomes_removed(
        (kept, artifacts, crm, cfg), "calibration"
    )
    # The model the figures measure learned from the training slice only (the one that
    # ships is still refit on every labelled lead once they are measured).
    assert (
        other_artifacts["measured_model"].booster.model_to_string()
        == kept_artifacts["measured_model"].booster.model_to_string()
    )
    assert other.calibrator.to_dict() != kept.calibrator.to_dict()


def test_insufficient_data_names_the_counts(history):
    cfg = load_config(None, {"tracking": {"enabled": False}})
    few = history.leads.head(150)
    crm = validate_crm(
        few,
        history.activities[history.activities[LEAD_ID].isin(few[LEAD_ID])],
        history.outcomes[history.outcomes[LEAD_ID].isin(few[LEAD_ID])],
    )
    with pytest.raises(
        InsufficientDataError, match=r"slice has \d+ converted and \d+ unconverted"
    ):
        run_training(crm, cfg)


def test_training_is_deterministic(history):
    cfg = load_config(None, {"tracking": {"enabled": False}})
    part = history.leads.head(3000)
    crm = validate_crm(
        part,
        history.activities[history.activities[LEAD_ID].isin(part[LEAD_ID])],
        history.outcomes[history.outcomes[LEAD_ID].isin(part[LEAD_ID])],
    )
    a, _ = run_training(crm, cfg)
    b, _ = run_training(crm, cfg)
    assert a.booster.model_to_string() == b.booster.model_to_string()
    assert np.isclose(
        a.summary.metrics_test.model.roc_auc, b.summary.metrics_test.model.roc_auc
    )


def test_training_reports_each_stage_once_in_order_and_is_silent_by_default(history, capsys):
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.training.pipeline import training_run

    cfg = load_config(None, {"tracking": {"enabled": False}, "backtest": {"folds": 2}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    lab = label_history(crm, cfg)
    seen = []
    training_run(lab, cfg, progress=lambda stage, s: seen.append((stage, s)))
    names = [s for s, _ in seen]
    assert names[:4] == [
        "audit and features", "model search", "calibration and thresholds", "evaluation"
    ]
    assert names[-3:] == ["backtest fold 1/2", "backtest fold 2/2", "refit on all history"]
    assert all(s >= 0 for _, s in seen)
    training_run(lab, cfg)
    assert capsys.readouterr() == ("", "")
