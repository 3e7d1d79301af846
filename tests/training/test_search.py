"""The model choice on time folds: which rows judge what, and what it picks and ships."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlml.config import ModelConfig, SearchConfig, load_config
from mqlml.errors import ConfigError
from mqlml.explain.contributions import field_contributions
from mqlml.features.build import FeatureSpec
from mqlml.model.linear import LinearBase
from mqlml.model.trees import fit_model, predict_raw, refit_lightgbm
from mqlml.training.search import (
    BLEND_WEIGHTS,
    _TreesObjective,
    beats,
    choose_model,
    log_loss,
    time_folds,
)

SPEC = FeatureSpec(
    activity_types=(),
    windows_days=(),
    categorical={},
    numeric_attributes=("a", "b", "c", "d"),
    columns=("a", "b", "c", "d"),
    fields={c: c for c in "abcd"},
    groups={c: "fit" for c in "abcd"},
)


def _linear_world(n=6_000, seed=0):
    """Log-odds linear in four columns: a logistic model is the truth."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = -1.5 + 2.5 * X[:, 0] - 2.0 * X[:, 1] + 1.5 * X[:, 2] + X[:, 3]
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)


def _interaction_world(n=6_000, seed=0):
    """Converts where two columns share a sign: no additive model can rank it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -3.0)
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)


def _cfg(**search) -> ModelConfig:
    base = {"trials": 6, "budget_seconds": None, "min_positives": 50}
    return ModelConfig(learning_rate=0.1, search=SearchConfig(**{**base, **search}))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(50, 5_000),
    folds=st.integers(1, 10),
    fraction=st.floats(0.05, 0.45),
)
def test_folds_are_consecutive_periods_each_predicted_only_from_older_rows(n, folds, fraction):
    cfg = ModelConfig(early_stopping_fraction=fraction, search=SearchConfig(folds=folds))
    out = time_folds(n, cfg)
    assert out, "at least one fold"
    assert out[0][1] == int(n * (1 - fraction)) and out[-1][2] == n
    for (train_end, start, end), nxt in zip(out, [*out[1:], None], strict=True):
        # A fold learns from every row before its period and none in or after it.
        assert train_end == start < end
        if nxt is not None:
            assert nxt[1] == end


def test_a_fold_is_predicted_the_same_whatever_the_rows_after_it_say():
    X, y = _linear_world(3_000)
    cfg = _cfg()
    folds = time_folds(len(y), cfg)
    first = folds[0]
    objective = _TreesObjective(X, y, SPEC, cfg, {}, folds, y[first[1] :])
    raw, _ = objective._fold(cfg, first, None, False, False)
    later = y.copy()
    later[first[2] :] = 1 - later[first[2] :]
    changed = _TreesObjective(X, later, SPEC, cfg, {}, folds, later[first[1] :])
    np.testing.assert_array_equal(changed._fold(cfg, first, None, False, False)[0], raw)


@pytest.mark.parametrize(
    ("world", "expected"),
    [(_linear_world, {"linear", "blend"}), (_interaction_world, {"trees", "boosted"})],
    ids=["linear truth", "interaction"],
)
def test_the_search_ships_what_predicts_the_later_periods_best(world, expected):
    X, y = world()
    choice = choose_model(X, y, SPEC, _cfg(), {})
    search = choice.search
    assert search is not None and search.kind in expected
    assert choice.fit.kind == search.kind
    winner = "trees" if search.kind == "boosted" else search.kind
    assert search.log_loss[winner] <= search.log_loss["configured"]
    if search.kind == "blend":
        assert search.tree_weight in BLEND_WEIGHTS


def test_linear_truth_is_ranked_better_by_the_searched_model_than_by_default_trees():
    X, y = _linear_world(8_000)
    fit_rows, test = slice(0, 6_000), slice(6_000, None)
    searched = choose_model(X[fit_rows], y[fit_rows], SPEC, _cfg(), {}).fit
    plain = choose_model(X[fit_rows], y[fit_rows], SPEC, _cfg(trials=0), {}).fit
    loss = {
        name: log_loss(y[test], predict_raw(f.booster, X[test], f.linear))
        for name, f in (("searched", searched), ("plain", plain))
    }
    assert loss["searched"] < loss["plain"]


@pytest.mark.parametrize("max_rows", [100_000, 2_000], ids=["all rows", "newest rows"])
def test_the_shipped_trees_are_the_folds_counts_scaled_to_the_rows_searched(max_rows):
    X, y = _interaction_world(5_000)
    # Configured additive trees cannot rank an interaction: a searched setting beats them.
    cfg = _cfg(trials=6, max_rows=max_rows).model_copy(update={"num_leaves": 2})
    choice = choose_model(X, y, SPEC, cfg, {})
    assert not choice.search.configured, "a challenger beat the configured settings"
    searched = min(max_rows, len(y))
    ends = [end for end, _, _ in time_folds(searched, cfg)]
    trees = choice.search.fold_trees
    expected = np.mean([t * searched / e for t, e in zip(trees, ends, strict=True)])
    assert choice.fit.best_iteration == max(round(expected), 1)
    assert choice.fit.booster.num_trees() == choice.fit.best_iteration


def test_when_nothing_beats_the_configured_settings_the_model_is_the_one_without_search():
    X, y = _interaction_world(3_000)
    kept = choose_model(X, y, SPEC, _cfg(trials=1, candidates=("trees",)), {})
    plain = choose_model(X, y, SPEC, _cfg(trials=0), {})
    assert kept.search.configured and plain.search is None
    assert kept.fit.booster.model_to_string() == plain.fit.booster.model_to_string()


def test_the_first_trial_is_the_configured_settings_and_the_budget_stops_the_search():
    X, y = _linear_world(3_000)
    choice = choose_model(X, y, SPEC, _cfg(trials=50, budget_seconds=1e-6), {})
    assert choice.search.trials == 1
    assert choice.search.settings["num_leaves"] == ModelConfig().num_leaves
    assert choice.search.settings["learning_rate"] == pytest.approx(0.1)
    # Past the budget the linear model is tried at its configured strength only.
    if choice.search.linear_c is not None:
        assert choice.search.linear_c == ModelConfig().linear_base_c


def test_a_trial_running_past_the_budget_stops_at_its_next_fold():
    X, y = _interaction_world(3_000)
    cfg = _cfg(trials=3)
    folds = time_folds(len(y), cfg)
    objective = _TreesObjective(X, y, SPEC, cfg, {}, folds, y[folds[0][1] :])
    objective.deadline = 0.0  # long past
    study = optuna.create_study()
    study.enqueue_trial(objective.configured())
    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.trials]
    # The first (configured) trial always ends; the later ones stop before any fold.
    assert states[0] == optuna.trial.TrialState.COMPLETE
    assert states[1:] == [optuna.trial.TrialState.PRUNED] * 2


def test_a_search_without_a_time_budget_repeats_exactly():
    X, y = _interaction_world(3_000)
    one, two = (choose_model(X, y, SPEC, _cfg(trials=4), {}) for _ in range(2))
    assert one.search.settings == two.search.settings
    assert one.search.log_loss == two.search.log_loss
    np.testing.assert_array_equal(
        predict_raw(one.fit.booster, X, one.fit.linear),
        predict_raw(two.fit.booster, X, two.fit.linear),
    )


def test_a_challenger_must_beat_the_incumbent_by_more_than_its_noise():
    switched, better = 0, 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        truth = rng.normal(-1.0, 1.5, 2_000)
        y = (rng.random(2_000) < 1 / (1 + np.exp(-truth))).astype(float)
        # Two models as good as each other (the truth blurred alike): whichever did better
        # on these rows did so by chance.
        one, two = (truth + rng.normal(0.0, 1.0, 2_000) for _ in range(2))
        switched += beats(one, two, y)
        better += beats(truth, one, y)
        assert not beats(one, one, y)
    # Equal models replace each other rarely (2 standard errors: about 2% of the time);
    # a truly better model always wins.
    assert switched <= 10
    assert better == 200


def test_on_a_large_slice_the_search_judges_only_the_newest_max_rows():
    X, y = _interaction_world(5_000)
    cfg = _cfg(trials=3, max_rows=2_000)
    choice = choose_model(X, y, SPEC, cfg, {})
    assert choice.search.fold_rows == 2_000 - int(2_000 * (1 - cfg.early_stopping_fraction))
    older = y.copy()
    older[:3_000] = 1 - older[:3_000]
    again = choose_model(X, older, SPEC, cfg, {})
    # What the search saw is the same; the model is then fit on every row.
    assert again.search.log_loss == choice.search.log_loss
    assert again.search.settings == choice.search.settings
    assert not np.array_equal(
        predict_raw(again.fit.booster, X, again.fit.linear),
        predict_raw(choice.fit.booster, X, choice.fit.linear),
    )


@pytest.mark.parametrize(
    ("search", "why"),
    [({"trials": 0}, "search off"), ({"min_positives": 10_000}, "too few conversions")],
)
def test_the_configured_settings_are_used_when_the_search_cannot_mean_anything(search, why):
    X, y = _linear_world(3_000)
    choice = choose_model(X, y, SPEC, _cfg(**search), {})
    assert choice.search is None, why
    assert choice.fit.kind == "trees" and choice.config.num_leaves == ModelConfig().num_leaves


@pytest.mark.parametrize("candidates", [("trees",), ("trees", "linear")])
def test_only_the_allowed_candidates_can_ship(candidates):
    X, y = _linear_world()
    search = choose_model(X, y, SPEC, _cfg(candidates=candidates), {}).search
    assert set(search.log_loss) == {"configured", *candidates}
    assert search.kind in {*candidates, "boosted"}


@pytest.mark.parametrize("kind", ["blend", "linear"])
def test_a_blend_or_linear_model_explains_and_refits_as_it_predicts(kind):
    X, y = _linear_world(3_000)
    cfg = ModelConfig(learning_rate=0.1, num_leaves=4)
    fit = fit_model(X, y, SPEC, cfg, n_trees=30, kind=kind, linear_c=1.0, tree_weight=0.3)
    w = 0.3 if kind == "blend" else 0.0
    alone = LinearBase(C=1.0).fit(X, y, SPEC)
    trees = fit.booster.predict(X, raw_score=True)
    raw = predict_raw(fit.booster, X, fit.linear)
    np.testing.assert_allclose(raw, w * trees + (1 - w) * alone.decision_function(X), atol=1e-9)
    per_field, base = field_contributions(fit.booster, X, SPEC, linear=fit.linear)
    np.testing.assert_allclose(base + per_field.sum(axis=1).to_numpy(), raw, atol=1e-6)
    back = LinearBase.from_dict(json.loads(json.dumps(fit.linear.to_dict())))
    np.testing.assert_array_equal(predict_raw(fit.booster, X, back), raw)
    again = refit_lightgbm(X, y, SPEC, cfg, fit)
    assert again.kind == kind and again.linear.tree_weight_ == pytest.approx(w)
    np.testing.assert_allclose(predict_raw(again.booster, X, again.linear), raw, atol=1e-9)


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"folds": 0}, "model.search.folds must be an integer from 1 to 10, got 0"),
        ({"budget_seconds": -5}, "model.search.budget_seconds must be positive or null, got -5"),
        ({"trials": -1}, "model.search.trials must be 0 or more, got -1"),
        ({"candidates": ["linear"]}, "model.search.candidates must include 'trees'"),
        ({"max_rows": 10}, "model.search.max_rows must be at least 1000, got 10"),
    ],
)
def test_search_settings_are_checked_with_the_value_that_came(search, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(None, {"model": {"search": search}})
