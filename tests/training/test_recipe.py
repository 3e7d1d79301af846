"""The recipe: the one procedure that makes every model, reading only its two slices."""

from dataclasses import replace

import numpy as np
import pytest

from mqlml.config import load_config
from mqlml.data.contract import validate_crm
from mqlml.labels.labelled import label_history
from mqlml.training.funnel import stage_arrays
from mqlml.training.recipe import fit_recipe
from pipeline_split import recipe_on_pipeline_split


def _fingerprint(recipe) -> tuple:
    return (
        recipe.model.fit.booster.model_to_string(),
        recipe.model.calibrator.to_dict(),
        {k: t.cutoff_ for k, t in recipe.policies.items()},
        recipe.grades.cutoffs_,
        recipe.tiers.nurture_cutoff_,
        recipe.spec.columns,
    )


def test_the_shipped_model_is_the_recipe_on_the_pipelines_split(trained):
    model, artifacts, crm, cfg = trained
    _, _, recipe = recipe_on_pipeline_split(crm, cfg)
    # The model every figure measures is the recipe's; the one that ships is that recipe
    # refit on every labelled lead (tests/training/test_pipeline.py).
    measured = artifacts["measured_model"]
    assert recipe.model.fit.booster.model_to_string() == measured.booster.model_to_string()
    assert recipe.model.calibrator.to_dict() == model.calibrator.to_dict()
    assert {k: t.cutoff_ for k, t in recipe.policies.items()} == {
        k: t.cutoff_ for k, t in model.policies.items()
    }
    assert recipe.grades.cutoffs_ == model.grades.cutoffs_
    assert recipe.tiers.nurture_cutoff_ == model.tiers.nurture_cutoff_
    assert recipe.spec == model.spec


@pytest.fixture(scope="module")
def small_labelled(history):
    cfg = load_config(None, {"model": {"learning_rate": 0.3}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    return label_history(crm, cfg), cfg


def test_rows_outside_the_two_slices_are_never_read(small_labelled):
    lab, cfg = small_labelled
    n = len(lab.y)
    fit_rows, cal_rows = np.arange(0, n // 2), np.arange(n // 2, 3 * n // 4)
    st = stage_arrays(lab, cfg)
    kwargs = {"fit_rows": fit_rows, "calibration_rows": cal_rows, "won": st.policy_won,
              "deal_value": st.deal_value}
    first = fit_recipe(lab, cfg, **kwargs)
    # The latest quarter's labels, attributes and deal values turned upside down.
    later = np.arange(3 * n // 4, n)
    y = lab.y.copy()
    y[later] = 1 - y[later]
    leads = lab.leads.copy()
    leads.loc[later, "industry"] = leads.loc[later[::-1], "industry"].to_numpy()
    deal = st.deal_value.copy()
    deal[later] = 1e9
    again = fit_recipe(replace(lab, y=y, leads=leads), cfg, **{**kwargs, "deal_value": deal})
    assert _fingerprint(again) == _fingerprint(first)


def test_the_audit_runs_on_the_training_rows_and_keeps_its_columns_out(small_labelled):
    lab, cfg = small_labelled
    n = len(lab.y)
    leaky = lab.leads.assign(disposition=np.where(lab.y == 1, "qualified", "open"))
    recipe = fit_recipe(
        replace(lab, leads=leaky), cfg,
        fit_rows=np.arange(0, n // 2), calibration_rows=np.arange(n // 2, 3 * n // 4),
        excluded={"industry": "excluded by the caller"},
    )
    assert [r["column"] for r in recipe.audit.leakage] == ["disposition"]
    assert "disposition" not in recipe.feature_columns
    assert recipe.spec.excluded["disposition"].startswith("leakage audit:")
    assert "industry" not in recipe.feature_columns
    assert recipe.spec.excluded["industry"] == "excluded by the caller"
    assert recipe.mql is not None and recipe.tiers is not None


@pytest.mark.parametrize("threads", [None, 0, 1, 2])
def test_lightgbm_gets_the_thread_setting_when_fitting_and_predicting(threads, monkeypatch):
    import os

    import lightgbm as lgb

    from mqlml.config import ModelConfig
    from mqlml.model.trees import lightgbm_params, lightgbm_threads, predict_raw

    expected = len(os.sched_getaffinity(0)) if threads is None else threads
    assert lightgbm_params(ModelConfig(num_threads=threads))["num_threads"] == expected
    seen = {}
    real = lgb.Booster.predict

    def spy(self, X, **kwargs):
        seen.update(kwargs)
        return real(self, X, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", spy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, (X[:, 0] > 0).astype(float)),
        num_boost_round=3,
    )
    predict_raw(booster, X, num_threads=threads)
    assert seen["num_threads"] == lightgbm_threads(threads) == expected


def _recipe(lab, cfg, n, **overrides):
    cfg = cfg.model_copy(
        update={"calibration": cfg.calibration.model_copy(update=overrides)}
    ) if overrides else cfg
    return fit_recipe(
        lab, cfg, fit_rows=np.arange(0, n // 2), calibration_rows=np.arange(n // 2, 3 * n // 4)
    )


def test_each_calibration_period_is_scored_by_a_model_that_never_saw_it(small_labelled):
    lab, cfg = small_labelled
    n = len(lab.y)
    cal = np.arange(n // 2, 3 * n // 4)
    first = _recipe(lab, cfg, n, cross_fit_periods=3).model.calibration_raw
    bounds = np.linspace(0, len(cal), 4).astype(int)

    def relabelled(rows):
        y = lab.y.copy()
        y[rows] = 1 - y[rows]
        return _recipe(replace(lab, y=y), cfg, n, cross_fit_periods=3).model.calibration_raw

    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        # The period's own labels and everything after it do not change its scores ...
        np.testing.assert_array_equal(relabelled(cal[start:])[:end], first[:end])
        if start:
            # ... while the calibration rows before it are learned from.
            assert not np.allclose(relabelled(cal[:start])[start:end], first[start:end])


def test_the_model_that_ships_learned_from_the_calibration_rows_too(small_labelled):
    lab, cfg = small_labelled
    n = len(lab.y)
    refit, kept = _recipe(lab, cfg, n), _recipe(lab, cfg, n, cross_fit_periods=0)
    assert refit.model.n_rows == 3 * n // 4 and kept.model.n_rows == n // 2
    assert cfg.calibration.cross_fit_periods == 2
    # Same search, same size; only the rows it learned from differ.
    assert refit.model.fit.best_iteration == kept.model.fit.best_iteration
    assert refit.model.num_leaves == kept.model.num_leaves
    assert refit.model.fit.booster.model_to_string() != kept.model.fit.booster.model_to_string()
    # Without a refit the calibration scores are the shipped model's own.
    features = kept.features(
        lab.leads.iloc[n // 2: 3 * n // 4], lab.activities, lab.as_of.iloc[n // 2: 3 * n // 4]
    )
    np.testing.assert_allclose(kept.model.calibration_raw, kept.predict_raw(features))


def test_thresholds_and_grades_are_fit_on_the_out_of_time_scores(small_labelled):
    from mqlml.model.calibrate import probability_to_score
    from mqlml.model.thresholds import GradeThresholds

    lab, cfg = small_labelled
    recipe = _recipe(lab, cfg, len(lab.y))
    score = probability_to_score(recipe.model.calibrator.predict(recipe.model.calibration_raw))
    grades = GradeThresholds(
        cfg.thresholds.grade_shares,
        mql_cutoff=recipe.tiers.mql_cutoff_,
        nurture_cutoff=recipe.tiers.nurture_cutoff_,
    ).fit(score)
    assert grades.cutoffs_ == recipe.grades.cutoffs_
    assert recipe.mql.cutoff_ == recipe.policies[cfg.thresholds.policy].cutoff_


def test_a_refit_on_the_same_rows_is_the_searched_model(small_labelled):
    from mqlml.features.build import to_matrix
    from mqlml.model.trees import fit_lightgbm, refit_lightgbm

    lab, cfg = small_labelled
    n = len(lab.y) // 2
    recipe = _recipe(lab, cfg, len(lab.y), cross_fit_periods=0)
    features = recipe.features(lab.leads.iloc[:n], lab.activities, lab.as_of.iloc[:n])
    X, y = to_matrix(features, recipe.spec), lab.y[:n]
    like = fit_lightgbm(X, y, recipe.spec, cfg.model, linear_c=0.5)
    again = refit_lightgbm(X, y, recipe.spec, cfg.model, like)
    assert again.booster.model_to_string() == like.booster.model_to_string()
    X_probe = X[:50]
    np.testing.assert_allclose(
        again.linear.decision_function(X_probe), like.linear.decision_function(X_probe)
    )


@pytest.mark.parametrize("periods", [0, 2])
def test_the_logistic_baseline_learns_from_the_rows_the_model_learned_from(
    small_labelled, periods
):
    from mqlml.model.trees import fit_baseline

    lab, cfg = small_labelled
    n = len(lab.y)
    recipe = _recipe(lab, cfg, n, cross_fit_periods=periods)
    rows = np.arange(0, recipe.model.n_rows)
    assert len(rows) == (n // 2 if periods == 0 else 3 * n // 4)
    features = recipe.features(lab.leads.iloc[rows], lab.activities, lab.as_of.iloc[rows])
    expected = fit_baseline(features, lab.y[rows], recipe.spec)
    np.testing.assert_allclose(
        recipe.baseline[-1].coef_, expected[-1].coef_, rtol=1e-6, atol=1e-9
    )
