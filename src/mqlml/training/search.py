"""The model choice: settings, and trees, a linear model or a blend, judged on time folds.

:func:`choose_model` is the recipe's model choice
(:func:`mqlml.training.recipe.fit_calibrated_model`). With ``model.search`` on and enough
converted leads, it runs :func:`search_time_folds`:

* the newest ``model.early_stopping_fraction`` of the training rows (time order; of the
  newest ``max_rows`` of them, on a larger slice) is cut into ``model.search.folds``
  consecutive periods; each period is predicted by models fit
  only on the rows before it (an expanding window), so every setting is judged the way it
  will be used: on leads newer than any it learned from;
* an Optuna TPE search (seeded by ``model.seed``, at most ``trials`` trials and
  ``budget_seconds``) over LightGBM's leaves, learning rate, leaf size, L2, feature share,
  recency weighting, monotone constraints on drifting columns and a linear base; each
  fold's trees are sized by early stopping on its period; the first trial is the
  configured settings;
* the logistic model (:class:`~mqlml.model.linear.LinearBase`) at the configured strength
  and, within the budget, a tenth and ten times it, and
  blends ``w * trees + (1 - w) * linear`` of the best of each (log-odds), on the same
  periods;
* the candidate with the lowest pooled log loss on the periods is fit on all training rows
  (its tree count the mean of the folds' counts, each scaled from its training rows to the
  rows the search judged on), provided it beats the simpler choice by more than two
  standard errors of the paired per-lead difference (:func:`beats`): the best trial must
  beat the configured settings, the linear model the trees kept, a blend whichever of
  those is kept. Near-equal candidates are noise on a few periods, and chasing it ships
  settings fit to them.

Otherwise (``trials: 0``, or too few converted leads for differences to mean anything) the
configured settings are used, choosing among ``num_leaves_search``,
``recency_half_life_search`` and ``linear_base: auto`` by early-stopping log loss.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np
import optuna

from mqlml.config import ModelConfig
from mqlml.features.build import FeatureSpec
from mqlml.model.linear import LinearBase
from mqlml.model.trees import (
    BoosterFit,
    fit_lightgbm,
    fit_model,
    lightgbm_feature_names,
    recency_weights,
    train_params,
)

#: Recency half-lives (shares of the training rows) the search tries beside the configured.
HALF_LIVES = (None, 0.1, 0.25, 0.5)
#: Blend weights of the trees tried between the trees alone (1) and the linear model (0).
BLEND_WEIGHTS = tuple(np.round(np.linspace(0.1, 0.9, 9), 2))
#: Standard errors of the paired log-loss difference a challenger must win by: one would
#: let two equally good models replace each other a third of the time.
MARGIN_SE = 2.0
#: Folds with fewer rows fit on one thread.
SMALL_FOLD_ROWS = 20_000
#: Strengths of the linear model tried: the configured ``linear_base_c`` times these.
LINEAR_C_FACTORS = (0.1, 1.0, 10.0)


@dataclass(frozen=True)
class SearchResult:
    """What the search on time folds tried and chose.

    Attributes
    ----------
    kind : str
        ``trees``, ``boosted`` (trees on a linear base), ``linear`` or ``blend``.
    settings : dict
        The LightGBM settings chosen (``num_leaves``, ``learning_rate``,
        ``min_child_samples``, ``lambda_l2``, ``feature_fraction``).
    tree_weight : float
        The trees' weight in a blend (1: trees alone, 0: the linear model alone).
    linear_c : float or None
        Inverse L2 strength of the linear part, if any.
    log_loss : dict
        Pooled log loss on the folds' periods of the configured settings, the trees kept,
        the best linear model and the best blend (missing where not tried).
    fold_trees : tuple of int
        The chosen settings' early-stopped tree count on each fold.
    trials : int
        LightGBM settings tried (pruned ones included).
    seconds : float
        Wall time of the search.
    fold_rows, fold_positives : int
        Leads and converted leads in the folds' periods together.
    configured : bool
        Nothing beat the configured settings: the model is the one fit without a search.
    """

    kind: str
    settings: dict
    tree_weight: float
    linear_c: float | None
    log_loss: dict[str, float]
    fold_trees: tuple[int, ...]
    trials: int
    seconds: float
    fold_rows: int
    fold_positives: int
    configured: bool = False


@dataclass(frozen=True)
class ModelChoice:
    """The model fit on all training rows with the chosen settings, and how it was chosen."""

    fit: BoosterFit
    #: The model configuration with the chosen LightGBM settings (for refits).
    config: ModelConfig
    recency_half_life: float | None
    monotone: dict[str, int] | None
    #: The search on time folds, or None when the configured settings were used.
    search: SearchResult | None = field(default=None)
    #: Columns left to the linear base (its trees never split on them); refits keep them.
    linear_only: frozenset[str] = frozenset()


def time_folds(n: int, cfg: ModelConfig) -> list[tuple[int, int, int]]:
    """``(train_end, start, end)`` of each fold: rows ``[0, train_end)`` predict ``[start, end)``.

    The newest ``cfg.early_stopping_fraction`` of ``n`` time-ordered rows is cut into
    ``cfg.search.folds`` consecutive periods; ``train_end == start``.
    """
    cut = int(n * (1 - cfg.early_stopping_fraction))
    bounds = np.linspace(cut, n, cfg.search.folds + 1).astype(int)
    return [(int(a), int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def choose_model(
    X: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    cfg: ModelConfig,
    drifting: dict[str, int],
) -> ModelChoice:
    """The recipe's model on the training rows ``X`` (time order): searched or configured.

    Parameters
    ----------
    X, y : ndarray
        Feature matrix and 0/1 labels of the training rows, oldest first.
    spec : FeatureSpec
    cfg : ModelConfig
        ``search`` decides whether the search runs; the other settings are its first trial
        (or the settings used without it).
    drifting : dict
        Numeric columns that drift between the training and calibration rows, with the
        sign of their effect (monotone constraints, or left to a linear base).

    Returns
    -------
    ModelChoice
    """
    y = np.asarray(y, dtype=float)
    # The search judges settings on the newest max_rows rows at most.
    start = max(len(y) - cfg.search.max_rows, 0)
    folds = time_folds(len(y) - start, cfg)
    fold_positives = int(sum(y[start + s : start + e].sum() for _, s, e in folds))
    if cfg.search.trials == 0 or fold_positives < cfg.search.min_positives:
        return _configured(X, y, spec, cfg, drifting)
    return _searched(X, y, spec, cfg, drifting, folds, start)


def _configured(X, y, spec, cfg: ModelConfig, drifting) -> ModelChoice:
    """The configured settings, choosing among the grid options by early-stopping loss."""
    monotone = drifting if cfg.monotone_drifting else None
    linear_only = frozenset(drifting) if cfg.linear_drifting else frozenset()
    linear_options = {"off": (None,), "on": (cfg.linear_base_c,)}.get(
        cfg.linear_base, (None, cfg.linear_base_c)
    )
    fits = []
    for leaves in cfg.num_leaves_search or (cfg.num_leaves,):
        for half_life in cfg.recency_half_life_search:
            for linear_c in linear_options:
                chosen = cfg.model_copy(update={"num_leaves": leaves})
                weight = recency_weights(len(y), half_life)
                fit = fit_lightgbm(X, y, spec, chosen, monotone, weight, linear_c, linear_only)
                fits.append((fit.early_stopping_log_loss, chosen, half_life, fit))
    _, chosen, half_life, fit = min(fits, key=lambda t: t[0])
    kept = linear_only if fit.kind == "boosted" else frozenset()
    return ModelChoice(fit, chosen, half_life, monotone, linear_only=kept)


def _searched(X, y, spec, cfg: ModelConfig, drifting, folds, start: int) -> ModelChoice:
    result, half_life, monotone_on = search_time_folds(
        X[start:], y[start:], spec, cfg, drifting, folds
    )
    if result.configured:
        # Nothing beat the configured settings: ship exactly what no search would have.
        return replace(_configured(X, y, spec, cfg, drifting), search=result)
    if half_life is not None:
        # A half-life is a share of the rows weighed: keep it the same number of rows.
        half_life = half_life * (len(y) - start) / len(y)
    chosen = cfg.model_copy(update=result.settings)
    monotone = drifting if monotone_on and drifting else None
    weight = recency_weights(len(y), half_life)
    linear_only = (
        frozenset(drifting) if result.kind == "boosted" and cfg.linear_drifting else frozenset()
    )
    # The folds' tree counts, each scaled to the rows the search judged on: several periods
    # size the trees more steadily than one, and no count is stretched past those rows.
    fit = fit_model(
        X,
        y,
        spec,
        chosen,
        n_trees=_shipped_trees(result, len(y) - start, folds),
        kind=result.kind,
        linear_c=result.linear_c,
        tree_weight=result.tree_weight,
        monotone=monotone,
        weight=weight,
        linear_only=linear_only,
    )
    fit = replace(fit, n_early_stopping_rows=result.fold_rows,
                  early_stopping_log_loss=result.log_loss[_candidate(result.kind)])
    return ModelChoice(fit, chosen, half_life, monotone, result, linear_only)


def _candidate(kind: str) -> str:
    return "trees" if kind == "boosted" else kind


def _shipped_trees(result: SearchResult, rows: int, folds) -> int:
    """The mean of the folds' early-stopped tree counts, each scaled from its training rows
    to the ``rows`` the search judged on."""
    scaled = [t * rows / end for t, (end, _, _) in zip(result.fold_trees, folds, strict=True)]
    return max(int(round(np.mean(scaled))), 1)


def search_time_folds(
    X: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    cfg: ModelConfig,
    drifting: dict[str, int],
    folds: list[tuple[int, int, int]],
) -> tuple[SearchResult, float | None, bool]:
    """Search LightGBM settings, the linear model and a blend on ``folds`` (see module).

    Returns
    -------
    result : SearchResult
    recency_half_life : float or None
    monotone : bool
        Whether the drifting columns get monotone constraints.
    """
    started = time.perf_counter()
    y_val = np.concatenate([y[s:e] for _, s, e in folds])
    trees = _TreesObjective(X, y, spec, cfg, drifting, folds, y_val)
    if cfg.search.budget_seconds is not None:
        trees.deadline = started + cfg.search.budget_seconds
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=cfg.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
        )
        study.enqueue_trial(trees.configured())
        # The configured settings always run, whatever the budget: the floor to beat.
        study.optimize(trees, n_trials=1)
        budget = cfg.search.budget_seconds
        left = None if budget is None else budget - (time.perf_counter() - started)
        if cfg.search.trials > 1 and (left is None or left > 0):
            study.optimize(trees, n_trials=cfg.search.trials - 1, timeout=left)
    finally:
        optuna.logging.set_verbosity(verbosity)
    # A challenger replaces the incumbent only when it predicts the periods better by more
    # than their noise: a few periods cannot tell near-equal candidates apart.
    first, best = study.trials[0], study.best_trial
    trial = best if beats(trees.raw[best.number], trees.raw[first.number], y_val) else first
    losses = {"configured": first.value, "trees": trial.value}
    kind = "boosted" if trial.params.get("linear_base", cfg.linear_base == "on") else "trees"
    half_life = trial.params.get("recency_half_life")
    tree_raw = trees.raw[trial.number]
    choice = (kind, 1.0, trees.linear_c if kind == "boosted" else None, tree_raw)
    allowed = cfg.search.candidates
    if "linear" in allowed or "blend" in allowed:
        linear_c, linear_raw = _best_linear(
            X, y, spec, cfg, folds, y_val, half_life, trees.deadline
        )
        if "linear" in allowed:
            losses["linear"] = log_loss(y_val, linear_raw)
            if beats(linear_raw, choice[3], y_val):
                choice = ("linear", 0.0, linear_c, linear_raw)
        if "blend" in allowed and kind == "trees":
            w, blend_raw = min(
                ((w, w * tree_raw + (1 - w) * linear_raw) for w in BLEND_WEIGHTS),
                key=lambda t: log_loss(y_val, t[1]),
            )
            losses["blend"] = log_loss(y_val, blend_raw)
            if beats(blend_raw, choice[3], y_val):
                choice = ("blend", float(w), linear_c, blend_raw)
    kind, tree_weight, linear_c, _ = choice
    result = SearchResult(
        kind=kind,
        settings={k: trial.params[k] for k in _SETTINGS},
        tree_weight=tree_weight,
        linear_c=linear_c,
        log_loss=losses,
        fold_trees=tuple(trial.user_attrs["fold_trees"]),
        trials=len(study.trials),
        seconds=time.perf_counter() - started,
        fold_rows=len(y_val),
        fold_positives=int(y_val.sum()),
        configured=trial is first and kind in ("trees", "boosted"),
    )
    return result, half_life, bool(trial.params.get("monotone", cfg.monotone_drifting))


#: The LightGBM settings the search chooses (names of :class:`~mqlml.config.ModelConfig`).
_SETTINGS = ("num_leaves", "learning_rate", "min_child_samples", "lambda_l2", "feature_fraction")


def log_loss(y: np.ndarray, raw: np.ndarray) -> float:
    """Mean log loss of 0/1 ``y`` under log-odds ``raw`` (stable for large ``|raw|``)."""
    return float(np.mean(_row_losses(y, raw)))


def beats(challenger: np.ndarray, incumbent: np.ndarray, y: np.ndarray) -> bool:
    """Whether log-odds ``challenger`` predict ``y`` better than ``incumbent`` by more than
    :data:`MARGIN_SE` standard errors of the paired per-row log-loss difference."""
    gain = _row_losses(y, incumbent) - _row_losses(y, challenger)
    if len(gain) < 2:
        return bool(gain.mean() > 0)
    return bool(gain.mean() > MARGIN_SE * gain.std(ddof=1) / math.sqrt(len(gain)))


def _row_losses(y: np.ndarray, raw: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, raw) - y * raw


class _TreesObjective:
    """One Optuna trial: LightGBM settings fit on each fold, pooled out-of-time log loss."""

    def __init__(self, X, y, spec, cfg: ModelConfig, drifting, folds, y_val):
        self.X, self.y, self.spec, self.cfg = X, y, spec, cfg
        self.drifting, self.folds, self.y_val = drifting, folds, y_val
        self.linear_c = cfg.linear_base_c
        self.half_lives = tuple(dict.fromkeys((*cfg.recency_half_life_search, *HALF_LIVES)))
        self.raw: dict[int, np.ndarray] = {}
        self._sets: dict[tuple, tuple] = {}
        #: ``time.perf_counter()`` after which no trial but the first starts another fold.
        self.deadline: float | None = None
        self.names = lightgbm_feature_names(spec.columns)
        self.cats = [i for i, c in enumerate(spec.columns) if c in spec.categorical]

    def configured(self) -> dict:
        """The configured settings as the first trial's parameters."""
        cfg = self.cfg
        out = {k: getattr(cfg, k) for k in _SETTINGS}
        out["recency_half_life"] = cfg.recency_half_life_search[0]
        if self.drifting:
            out["monotone"] = cfg.monotone_drifting
        if cfg.linear_base == "auto":
            out["linear_base"] = False
        return out

    def __call__(self, trial: optuna.Trial) -> float:
        cfg = self.cfg
        settings = {
            "num_leaves": trial.suggest_int("num_leaves", 2, 64, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 300, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 100.0, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        }
        half_life = trial.suggest_categorical("recency_half_life", self.half_lives)
        monotone = trial.suggest_categorical("monotone", (False, True)) if self.drifting else False
        linear = (
            trial.suggest_categorical("linear_base", (False, True))
            if cfg.linear_base == "auto"
            else cfg.linear_base == "on"
        )
        chosen = cfg.model_copy(update=settings)
        raw, sizes = [], []
        for step, fold in enumerate(self.folds):
            late = self.deadline is not None and time.perf_counter() > self.deadline
            if trial.number > 0 and late:
                # Optuna checks its timeout between trials only: a trial still running when
                # the budget ends stops at its next fold (the configured trial always ends).
                raise optuna.TrialPruned()
            fold_raw, best = self._fold(chosen, fold, half_life, monotone, linear)
            raw.append(fold_raw)
            sizes.append(best)
            seen = np.concatenate(raw)
            trial.report(log_loss(self.y_val[: len(seen)], seen), step)
            if step < len(self.folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("fold_trees", sizes)
        self.raw[trial.number] = np.concatenate(raw)
        return log_loss(self.y_val, self.raw[trial.number])

    def _fold(self, cfg: ModelConfig, fold, half_life, monotone: bool, linear: bool):
        _, start, stop = fold
        train, valid, init_val = self._datasets(fold, half_life, linear)
        params = train_params(
            cfg,
            self.spec,
            self.drifting if monotone else None,
            self.linear_c if linear else None,
            frozenset(self.drifting) if linear and cfg.linear_drifting else frozenset(),
        )
        if stop < SMALL_FOLD_ROWS:
            # On a few thousand rows LightGBM's threads cost more than they save.
            params["num_threads"] = 1
        booster = lgb.train(
            {**params, "metric": "binary_logloss", "feature_pre_filter": False},
            train,
            num_boost_round=cfg.max_boost_rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )
        best = max(int(booster.best_iteration or cfg.max_boost_rounds), 1)
        raw = booster.predict(self.X[start:stop], raw_score=True, num_iteration=best)
        return (raw + init_val if init_val is not None else raw), best

    def _datasets(self, fold, half_life, linear: bool):
        """A fold's binned training and period rows, built once per weighting and base.

        Binning is most of a small fit's cost, and it does not depend on the settings
        searched (``feature_pre_filter`` off: leaf sizes may change between trials).
        """
        key = (fold, half_life, linear)
        if key not in self._sets:
            end, start, stop = fold
            X, y = self.X, self.y
            weight = recency_weights(end, half_life)
            init_fit = init_val = None
            if linear:
                base = LinearBase(C=self.linear_c).fit(X[:end], y[:end], self.spec, weight)
                init_fit = base.decision_function(X[:end])
                init_val = base.decision_function(X[start:stop])
            train = lgb.Dataset(
                X[:end],
                y[:end],
                weight=weight,
                init_score=init_fit,
                feature_name=self.names,
                categorical_feature=self.cats,
                params={"feature_pre_filter": False, "verbosity": -1},
                free_raw_data=False,
            )
            valid = train.create_valid(X[start:stop], y[start:stop], init_score=init_val)
            self._sets[key] = (train, valid, init_val)
        return self._sets[key]


def _best_linear(X, y, spec, cfg: ModelConfig, folds, y_val, half_life, deadline=None):
    """The linear model's strength with the lowest pooled log loss on the folds, and its
    log-odds of the folds' periods. The configured strength is always tried; the others
    while ``deadline`` (a ``time.perf_counter()`` value, None: none) has not passed."""
    best = (math.inf, None, None)
    for factor in sorted(LINEAR_C_FACTORS, key=lambda f: f != 1.0):
        if factor != 1.0 and deadline is not None and time.perf_counter() > deadline:
            break
        c = cfg.linear_base_c * factor
        raw = np.concatenate(
            [
                LinearBase(C=c)
                .fit(X[:end], y[:end], spec, recency_weights(end, half_life))
                .decision_function(X[s:e])
                for end, s, e in folds
            ]
        )
        best = min(best, (log_loss(y_val, raw), c, raw), key=lambda t: t[0])
    _, c, raw = best
    return c, raw
