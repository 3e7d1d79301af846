import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from mqlml.explain.contributions import field_contributions, field_matrix, field_points
from mqlml.explain.fastshap import compile_model, contributions, field_contributions_fast
from mqlml.features.build import build_features, to_matrix


def _data(n: int, seed: int, zeros: bool = False):
    """Numbers with NaN, counts, a categorical with NaN; labels depend on all of them."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.exponential(3.0, n),
            rng.integers(0, 9, n).astype(float),
            rng.poisson(1.0, n).astype(float),
            rng.normal(size=n),
            rng.uniform(-1, 1, n),
        ]
    )
    X[rng.random(n) < 0.2, 0] = np.nan
    X[rng.random(n) < 0.15, 1] = np.nan
    X[rng.random(n) < 0.1, 2] = np.nan
    if zeros:
        X[rng.random(n) < 0.3, 4] = 0.0
    logit = (
        np.nan_to_num(X[:, 0])
        - 0.3 * np.nan_to_num(X[:, 1], nan=5.0)
        + np.isin(X[:, 2], [1, 4, 7])
        + 0.5 * X[:, 3]
        + (X[:, 4] == 0)
        + X[:, 5]
    )
    y = (logit + rng.logistic(size=n) > 0).astype(float)
    return X, y


FIELDS = np.array([0, 1, 2, 1, 3, 3])  # two fields hold two features each
N_FIELDS = 4


def _train(X, y, rounds: int, leaves: int, categorical=(2,), **params) -> lgb.Booster:
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "learning_rate": 0.1,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "verbosity": -1,
        "seed": 1,
        **params,
    }
    data = lgb.Dataset(X, y, categorical_feature=list(categorical))
    return lgb.train(params, data, num_boost_round=rounds)


def _plain(booster, X, fields=FIELDS, n_fields=N_FIELDS):
    contrib = booster.predict(X, pred_contrib=True)
    indicator = np.zeros((len(fields), n_fields))
    indicator[np.arange(len(fields)), fields] = 1.0
    return contrib[:, :-1] @ indicator, float(contrib[0, -1])


def _scoring_rows(X: np.ndarray, seed: int) -> np.ndarray:
    """Rows to explain: unseen extremes, infinities, unseen and negative category codes."""
    rng = np.random.default_rng(seed)
    Z = X[rng.integers(0, len(X), 300)].copy()
    Z[:20, 0] = np.inf
    Z[20:40, 1] = -np.inf
    Z[40:60, 2] = 50.0  # a category the model never saw
    Z[60:70, 2] = -1.0
    Z[70:80, 4] = 1e-40  # "zero" for zero-as-missing splits
    Z[80:100] = np.nan
    return Z


MODELS = {
    "numerical + categorical, NaN missing": dict(rounds=40, leaves=15),
    "zero as missing": dict(rounds=40, leaves=15, zeros=True, zero_as_missing=True),
    "zeros, zero_as_missing off": dict(rounds=40, leaves=15, zeros=True),
    "missing values not handled": dict(rounds=30, leaves=15, use_missing=False),
    "no categorical": dict(rounds=30, leaves=7, categorical=()),
    "regression objective": dict(rounds=30, leaves=15, objective="regression"),
    "300 trees x 31 leaves": dict(rounds=300, leaves=31),
}


@pytest.mark.parametrize("case", list(MODELS))
def test_matches_lightgbm_pred_contrib_exactly(case):
    opts = dict(MODELS[case])
    X, y = _data(2000, seed=len(case), zeros=opts.pop("zeros", False))
    booster = _train(X, y, **opts)
    Z = _scoring_rows(X, seed=1)
    want, want_base = _plain(booster, Z)
    got, base = field_contributions_fast(booster, Z, FIELDS, N_FIELDS, n_threads=2)
    assert got.shape == (len(Z), N_FIELDS)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert base == want_base


def test_same_values_whatever_the_packing_threads_and_chunks():
    X, y = _data(2000, seed=5)
    booster = _train(X, y, rounds=30, leaves=31)
    Z = _scoring_rows(X, seed=2)
    want, _ = _plain(booster, Z)
    for bits in (0, 4, 11, 14):  # 0: a table per leaf, no subtree merged
        model = compile_model(booster, FIELDS, N_FIELDS, pack_bits=bits)
        for threads in (1, 2):
            np.testing.assert_allclose(contributions(model, Z, threads), want, atol=1e-9)
    chunked, _ = field_contributions_fast(booster, Z, FIELDS, N_FIELDS, chunk_rows=77)
    np.testing.assert_allclose(chunked, want, atol=1e-9)
    as_float32, _ = field_contributions_fast(booster, Z.astype(np.float32), FIELDS, N_FIELDS)
    want32, _ = _plain(booster, Z.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(as_float32, want32, atol=1e-9)


def test_reasons_of_a_trained_mqlml_model_match_the_plain_path(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(400)
    as_of = leads["created_at"] + pd.Timedelta(days=14)
    X = to_matrix(build_features(leads, crm.activities, as_of, model.spec), model.spec)
    plain, plain_base = field_contributions(model.booster, X, model.spec)
    m, fields = field_matrix(model.spec)
    fast, base = field_contributions_fast(model.booster, X, m.argmax(axis=1), len(fields))
    np.testing.assert_allclose(fast, plain.to_numpy(), atol=1e-9)
    assert base == plain_base
    # the score points a user sees, far inside the 0.5-point tolerance
    p_plain, _ = field_points(plain, plain_base, model.calibrator)
    p_fast, _ = field_points(pd.DataFrame(fast, columns=fields), base, model.calibrator)
    np.testing.assert_allclose(p_fast.to_numpy(), p_plain.to_numpy(), atol=1e-6)


def test_empty_batch_gives_no_rows_and_the_base_value():
    X, y = _data(500, seed=3)
    booster = _train(X, y, rounds=5, leaves=7)
    got, base = field_contributions_fast(booster, X[:0], FIELDS, N_FIELDS)
    assert got.shape == (0, N_FIELDS)
    assert base == _plain(booster, X[:1])[1]


def test_a_model_of_single_leaf_trees_contributes_nothing():
    X = np.random.default_rng(0).normal(size=(200, 6))
    booster = _train(X, np.zeros(200), rounds=3, leaves=7, objective="regression")
    got, base = field_contributions_fast(booster, X, FIELDS, N_FIELDS)
    assert np.all(got == 0)
    assert base == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("X_shape", "fields", "n_fields", "message"),
    [
        ((10, 5), FIELDS, N_FIELDS, r"X must have shape \(n, 6\)"),
        ((10, 6), FIELDS[:5], N_FIELDS, "one entry per feature"),
        ((10, 6), FIELDS, 3, r"must lie in \[0, 3\)"),
    ],
)
def test_bad_arguments_are_named(X_shape, fields, n_fields, message):
    X, y = _data(300, seed=4)
    booster = _train(X, y, rounds=2, leaves=4)
    with pytest.raises(ValueError, match=message):
        field_contributions_fast(booster, np.zeros(X_shape), fields, n_fields)


def test_multiclass_models_are_refused():
    X, _ = _data(300, seed=6)
    y = np.arange(300) % 3
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbosity": -1, "num_leaves": 4},
        lgb.Dataset(X, y),
        num_boost_round=2,
    )
    with pytest.raises(ValueError, match="one tree per iteration"):
        field_contributions_fast(booster, X, FIELDS, N_FIELDS)
