"""The linear base under the trees: exact contributions, extrapolation, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mqlml.config import ModelConfig, load_config
from mqlml.errors import ConfigError
from mqlml.explain.contributions import field_contributions, shap_tables
from mqlml.features.build import FeatureSpec
from mqlml.model.linear import MIN_LEVEL_ROWS, LinearBase
from mqlml.model.trees import fit_lightgbm, predict_raw

SPEC = FeatureSpec(
    activity_types=(),
    windows_days=(),
    categorical={"industry": ("a", "b", "c", "rare")},
    numeric_attributes=("rate", "visits"),
    columns=("rate", "visits", "industry"),
    fields={"rate": "rate", "visits": "visits", "industry": "industry"},
    groups={"rate": "fit", "visits": "behaviour", "industry": "fit"},
)


def _data(n=4_000, seed=0):
    """A log-odds falling linearly with ``rate``, rising with log visits, by industry."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(1.0, 5.0, n)
    visits = rng.poisson(2.0, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    industry = rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.3, 0.2])
    industry[:3] = 3.0  # a level seen on fewer than MIN_LEVEL_ROWS rows
    industry[rng.random(n) < 0.05] = np.nan
    X = np.column_stack([rate, visits, industry])
    logit = 1.0 - 0.9 * rate + 0.8 * np.log1p(np.nan_to_num(visits)) + 0.5 * (industry == 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return X, y


def test_contributions_add_up_to_the_log_odds_and_the_base_is_the_mean():
    X, y = _data()
    lin = LinearBase().fit(X, y, SPEC)
    contrib, base = lin.contributions(X)
    np.testing.assert_allclose(base + contrib.sum(axis=1), lin.decision_function(X), atol=1e-12)
    # Exact SHAP of an additive model: every column's contribution averages zero.
    np.testing.assert_allclose(contrib.mean(axis=0), 0.0, atol=1e-12)
    assert base == pytest.approx(lin.decision_function(X).mean())


def test_learns_the_direction_of_each_effect_and_pools_rare_and_unseen_levels():
    X, y = _data()
    lin = LinearBase().fit(X, y, SPEC)
    num = {name: col for name, col in zip(SPEC.columns, lin.columns_, strict=True)}
    assert num["rate"]["coef"][0] < 0 and num["visits"]["coef"][0] > 0
    assert num["visits"]["flag_missing"] and not num["rate"]["flag_missing"]
    assert 3.0 not in num["industry"]["levels"]  # fewer than MIN_LEVEL_ROWS rows
    assert MIN_LEVEL_ROWS > 3
    probe = np.array([[3.0, 1.0, 3.0], [3.0, 1.0, np.nan], [3.0, 1.0, 7.0]])
    terms = lin.column_terms(probe)
    # Rare, missing and never-seen levels all take the reference level's term (0).
    np.testing.assert_array_equal(terms[:, 2], 0.0)


def test_round_trip_through_json_gives_identical_log_odds():
    X, y = _data()
    lin = LinearBase(C=0.5).fit(X, y, SPEC)
    back = LinearBase.from_dict(json.loads(json.dumps(lin.to_dict())))
    np.testing.assert_array_equal(back.decision_function(X), lin.decision_function(X))
    np.testing.assert_array_equal(back.contributions(X)[0], lin.contributions(X)[0])


def _cfg(**kw):
    return ModelConfig(learning_rate=0.1, num_leaves=4, min_child_samples=20, **kw)


def test_trees_on_a_linear_base_extrapolate_where_trees_alone_predict_flat():
    X, y = _data(n=6_000)
    beyond = np.array([[0.5, 2.0, 0.0], [-1.0, 2.0, 0.0], [-3.0, 2.0, 0.0]])  # rate < 1
    plain = fit_lightgbm(X, y, SPEC, _cfg())
    based = fit_lightgbm(X, y, SPEC, _cfg(), linear_c=1.0)
    assert plain.linear is None and isinstance(based.linear, LinearBase)
    flat = predict_raw(plain.booster, beyond)
    rising = predict_raw(based.booster, beyond, based.linear)
    assert np.ptp(flat) < 1e-9  # trees saw no rate below 1: one prediction for all three
    assert np.all(np.diff(rising) > 0.5)  # the base keeps the rate's slope (-0.9 per unit)


@pytest.mark.parametrize("fast", [False, True], ids=["pred_contrib", "fastshap"])
def test_field_contributions_include_the_base_and_add_up_to_the_models_log_odds(fast):
    X, y = _data()
    fit = fit_lightgbm(X, y, SPEC, _cfg(), linear_c=1.0)
    tables = shap_tables(fit.booster, SPEC) if fast else None
    per_field, base = field_contributions(fit.booster, X[:500], SPEC, tables, fit.linear)
    total = base + per_field.to_numpy().sum(axis=1)
    np.testing.assert_allclose(total, predict_raw(fit.booster, X[:500], fit.linear), atol=1e-9)
    assert list(per_field.columns) == ["rate", "visits", "industry"]
    # The rate's effect is the base's: it dominates the field ranking.
    assert per_field.abs().mean().idxmax() == "rate"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"linear_base_c": 0}, "linear_base_c must be a positive number, got 0"),
        ({"linear_base_c": -1.5}, "linear_base_c must be a positive number, got -1.5"),
        ({"linear_base": "yes"}, "linear_base"),
        ({"linear_drifting": True}, "linear_drifting leaves drifting columns to the linear base"),
    ],
)
def test_bad_linear_base_settings_are_named(model, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"model": model})


def test_columns_left_to_the_base_are_never_split_on_by_the_trees():
    X, y = _data()
    fit = fit_lightgbm(X, y, SPEC, _cfg(), linear_c=1.0, linear_only=frozenset({"rate"}))
    splits = dict(zip(SPEC.columns, fit.booster.feature_importance("split"), strict=True))
    assert splits["rate"] == 0 and splits["visits"] > 0
    per_field, _ = field_contributions(fit.booster, X[:300], SPEC, linear=fit.linear)
    lin = fit.linear.contributions(X[:300])[0]
    # The rate's whole effect is the base's linear term.
    np.testing.assert_allclose(per_field["rate"], lin[:, 0], atol=1e-12)
