"""The conversion model (LightGBM) and the baseline beside it (logistic regression)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mqlml.config import ModelConfig
from mqlml.features.build import FeatureSpec
from mqlml.model.linear import LinearBase

#: Characters LightGBM refuses in a feature name (it stores them as JSON) or rewrites.
_LIGHTGBM_UNSAFE = re.compile(r'[\x00-\x20",:\[\]{}\\\x7f]')


def lightgbm_feature_names(columns) -> list[str]:
    """The names LightGBM is given for ``columns``: each one with the characters it refuses
    (``"``, ``,``, ``:``, brackets, braces, backslash, whitespace and control characters)
    replaced by ``_``, made unique with a ``__<position>`` suffix when two would clash.

    Internal only: features are passed by position, and every message and reason names
    the user's column (a flat export header such as ``Budget "USD"``), never this name.
    """
    out: list[str] = []
    seen: set[str] = set()
    for i, column in enumerate(columns):
        name = _LIGHTGBM_UNSAFE.sub("_", str(column)) or f"feature_{i}"
        if name in seen:
            name = f"{name}__{i}"
        seen.add(name)
        out.append(name)
    return out


#: How a model's trees and linear part combine (:attr:`BoosterFit.kind`).
MODEL_KINDS = ("trees", "boosted", "linear", "blend")


@dataclass(frozen=True)
class BoosterFit:
    """A fitted LightGBM booster, its linear part, and how its size was chosen.

    ``kind`` says how the log-odds are made: ``trees`` (the booster alone), ``boosted``
    (trees boosted from the linear base), ``blend`` (independently fit trees and linear
    model, weighed by ``linear.tree_weight_``) or ``linear`` (the linear model alone; the
    booster is one tree weighed 0, since LightGBM cannot hold none and every scoring and
    explanation path then stays one).
    """

    booster: lgb.Booster
    best_iteration: int
    n_early_stopping_rows: int
    early_stopping_log_loss: float
    #: The linear part (:mod:`mqlml.model.linear`), or None.
    linear: LinearBase | None = None
    kind: str = "trees"


def lightgbm_threads(num_threads: int | None = None) -> int:
    """The thread count LightGBM gets: ``num_threads``, or the CPUs this process may use.

    LightGBM's own default (0, OpenMP's) takes every logical core of the machine, even
    those a container or ``taskset`` withholds; with more threads than free cores its
    threads spin waiting on each other, and a fit that takes a second alone took minutes
    under load. 0 keeps LightGBM's default.
    """
    if num_threads is not None:
        return int(num_threads)
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def lightgbm_params(cfg: ModelConfig) -> dict:
    """LightGBM parameters from the model config (deterministic for a given seed)."""
    return {
        "num_threads": lightgbm_threads(cfg.num_threads),
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_child_samples,
        "feature_fraction": cfg.feature_fraction,
        "bagging_fraction": cfg.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": cfg.lambda_l2,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def recency_weights(n: int, half_life: float | None) -> np.ndarray | None:
    """Row weights halving every ``half_life`` share of ``n`` time-ordered rows, newest 1."""
    if half_life is None:
        return None
    return 0.5 ** ((n - 1 - np.arange(n)) / (half_life * n))


def fit_lightgbm(
    X: np.ndarray,
    y,
    spec: FeatureSpec,
    cfg: ModelConfig,
    monotone: dict[str, int] | None = None,
    weight: np.ndarray | None = None,
    linear_c: float | None = None,
    linear_only: frozenset[str] = frozenset(),
) -> BoosterFit:
    """Fit LightGBM with early stopping on the latest rows of the training slice.

    Rows of ``X`` must be in time order. The last ``cfg.early_stopping_fraction`` of them
    choose the number of trees; the model is then refit on all rows with that many trees,
    so the calibration slice stays untouched until calibration. ``monotone`` maps feature
    columns to +1 / -1: the score may only rise / fall with them. ``weight`` weighs the
    rows when fitting; the early-stopping log loss is unweighted, so fits with different
    weights compare on the same footing. ``linear_c`` given: the trees start from a
    :class:`~mqlml.model.linear.LinearBase` with that ``C`` (fit, like the trees, first on the
    rows before the early-stopping rows, then on all rows); the trees never split on the
    columns in ``linear_only`` (their split gain is zeroed), which only the base then uses.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    cut = int(n * (1 - cfg.early_stopping_fraction))
    if len(np.unique(y[:cut])) < 2 or len(np.unique(y[cut:])) < 2:
        raise ValueError(
            "the training slice needs converted and unconverted leads both before and in "
            f"its latest {cfg.early_stopping_fraction:.0%} (early stopping); got "
            f"{int(y[:cut].sum())} and {int(y[cut:].sum())} converted"
        )
    params = train_params(cfg, spec, monotone, linear_c, linear_only)
    cats = [i for i, c in enumerate(spec.columns) if c in spec.categorical]
    names = lightgbm_feature_names(spec.columns)
    w_fit = weight[:cut] if weight is not None else None
    init, linear = None, None
    if linear_c is not None:
        probe_linear = LinearBase(C=linear_c).fit(X[:cut], y[:cut], spec, w_fit)
        init = probe_linear.decision_function(X)
        linear = LinearBase(C=linear_c).fit(X, y, spec, weight)
    fit_set = lgb.Dataset(
        X[:cut],
        y[:cut],
        weight=w_fit,
        init_score=init[:cut] if init is not None else None,
        feature_name=names,
        categorical_feature=cats,
        free_raw_data=False,
    )
    stop_set = fit_set.create_valid(
        X[cut:], y[cut:], init_score=init[cut:] if init is not None else None
    )
    evals: dict = {}
    probe = lgb.train(
        {**params, "metric": "binary_logloss"},
        fit_set,
        num_boost_round=cfg.max_boost_rounds,
        valid_sets=[stop_set],
        valid_names=["early_stopping"],
        callbacks=[
            lgb.early_stopping(cfg.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(evals),
        ],
    )
    best = max(int(probe.best_iteration or cfg.max_boost_rounds), 1)
    full = lgb.Dataset(
        X,
        y,
        weight=weight,
        feature_name=names,
        categorical_feature=cats,
        init_score=linear.decision_function(X) if linear is not None else None,
    )
    booster = lgb.train(params, full, num_boost_round=best)
    return BoosterFit(
        booster=booster,
        best_iteration=best,
        n_early_stopping_rows=n - cut,
        early_stopping_log_loss=float(evals["early_stopping"]["binary_logloss"][best - 1]),
        linear=linear,
        kind="boosted" if linear is not None else "trees",
    )


def refit_lightgbm(
    X: np.ndarray,
    y,
    spec: FeatureSpec,
    cfg: ModelConfig,
    like: BoosterFit,
    monotone: dict[str, int] | None = None,
    weight: np.ndarray | None = None,
    linear_only: frozenset[str] = frozenset(),
) -> BoosterFit:
    """A model of ``like``'s kind, settings and size, fit on other (usually more) rows.

    No early stopping: the number of trees is ``like.best_iteration``, the linear part (if
    ``like`` has one) keeps its ``C`` and, in a blend, its weight; so a model refit on newer
    rows differs from ``like`` only by what those rows teach. ``cfg`` must be the
    configuration ``like`` was fit with (tree size included); ``monotone``, ``weight`` and
    ``linear_only`` as in :func:`fit_lightgbm`. The early-stopping figures are ``like``'s.
    """
    linear_c = like.linear.C if like.linear is not None else None
    tree_weight = like.linear.tree_weight_ if like.linear is not None else 1.0
    fit = fit_model(
        X, y, spec, cfg, n_trees=like.best_iteration, kind=like.kind, linear_c=linear_c,
        tree_weight=tree_weight, monotone=monotone, weight=weight, linear_only=linear_only,
    )
    return BoosterFit(
        booster=fit.booster,
        best_iteration=like.best_iteration,
        n_early_stopping_rows=like.n_early_stopping_rows,
        early_stopping_log_loss=like.early_stopping_log_loss,
        linear=fit.linear,
        kind=like.kind,
    )


def fit_model(
    X: np.ndarray,
    y,
    spec: FeatureSpec,
    cfg: ModelConfig,
    *,
    n_trees: int,
    kind: str = "trees",
    linear_c: float | None = None,
    tree_weight: float = 1.0,
    monotone: dict[str, int] | None = None,
    weight: np.ndarray | None = None,
    linear_only: frozenset[str] = frozenset(),
) -> BoosterFit:
    """A model of ``kind`` (:data:`MODEL_KINDS`) with ``n_trees`` trees, no early stopping.

    ``boosted``: the trees start from a :class:`~mqlml.model.linear.LinearBase` with
    ``linear_c``; ``blend``: trees and that linear model are fit apart and weighed
    ``tree_weight`` and ``1 - tree_weight``; ``linear``: the linear model alone. The
    early-stopping figures are left empty (0 rows, NaN) for the caller to fill.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MODEL_KINDS)}, got {kind!r}")
    if kind != "trees" and linear_c is None:
        raise ValueError(f"a model of kind {kind!r} needs linear_c, got None")
    y = np.asarray(y, dtype=float)
    linear = LinearBase(C=linear_c).fit(X, y, spec, weight) if kind != "trees" else None
    boosted = kind == "boosted"
    full = lgb.Dataset(
        X,
        y,
        weight=weight,
        feature_name=lightgbm_feature_names(spec.columns),
        categorical_feature=[i for i, c in enumerate(spec.columns) if c in spec.categorical],
        init_score=linear.decision_function(X) if boosted else None,
    )
    params = train_params(cfg, spec, monotone, linear_c if boosted else None, linear_only)
    rounds = 1 if kind == "linear" else max(int(n_trees), 1)
    booster = lgb.train(params, full, num_boost_round=rounds)
    if kind in ("blend", "linear"):
        linear = linear.blended(tree_weight if kind == "blend" else 0.0)
    return BoosterFit(booster, rounds, 0, float("nan"), linear, kind)


def train_params(cfg, spec, monotone, linear_c, linear_only) -> dict:
    """:func:`lightgbm_params` with the monotone constraints and the columns left to the
    linear base (their split gain zeroed)."""
    params = lightgbm_params(cfg)
    if monotone:
        params["monotone_constraints"] = [int(monotone.get(c, 0)) for c in spec.columns]
    if linear_c is not None and linear_only:
        params["feature_contri"] = [0.0 if c in linear_only else 1.0 for c in spec.columns]
    return params


def predict_raw(
    booster: lgb.Booster,
    X: np.ndarray,
    linear: LinearBase | None = None,
    *,
    num_threads: int | None = None,
    **kwargs,
) -> np.ndarray:
    """The model's log-odds (before calibration): the trees' (weighed by the linear part's
    ``tree_weight_``), plus the linear part's.

    ``num_threads`` as in :func:`lightgbm_threads` (LightGBM's predict ignores the
    thread count the booster was trained with).
    """
    raw = booster.predict(X, raw_score=True, num_threads=lightgbm_threads(num_threads), **kwargs)
    if linear is None:
        return raw
    return linear.tree_weight_ * raw + linear.decision_function(X)


def _signed_log1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


def fit_baseline(features: pd.DataFrame, y, spec: FeatureSpec) -> Pipeline:
    """Logistic regression on the same features: one-hot categoricals, log-scaled numbers.

    Missing numbers are imputed with the median and flagged, so "never did X" stays
    visible to a linear model.
    """
    numeric = [c for c in spec.columns if c not in spec.categorical]
    categorical = list(spec.categorical_columns)
    num_pipe = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"),
        StandardScaler(),
    )
    cat_pipe = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True),
        OneHotEncoder(handle_unknown="ignore", min_frequency=10),
    )
    transformers = [("num", num_pipe, numeric)]
    if categorical:
        transformers.append(("cat", cat_pipe, categorical))
    model = Pipeline(
        [
            ("prep", ColumnTransformer(transformers)),
            ("lr", LogisticRegression(C=1.0, max_iter=2000)),
        ]
    )
    X = _baseline_frame(features, spec)
    return model.fit(X, np.asarray(y, dtype=int))


def _baseline_frame(features: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    # Categoricals as plain text with NaN for missing: the imputer cannot fill categories
    # that are not among a Categorical's levels.
    X = features.copy()
    for c in spec.categorical_columns:
        X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    return X


def predict_baseline(model: Pipeline, features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Baseline probabilities of conversion."""
    return model.predict_proba(_baseline_frame(features, spec))[:, 1]
