"""Rolling-origin backtest: how the model would have done, period after period.

The latest ``test_share`` of the labelled leads (by ``created_at``) is cut into ``folds``
consecutive test periods. For each period starting at origin ``t``, the shipped
recipe (:func:`mqlml.training.recipe.fit_recipe`: audit, feature spec, model search,
LightGBM, calibration, thresholds, grades) is refit from scratch on what was known at
``t``: only leads whose label was already known (``as_of + horizon_days <= t``) are
used, the earlier part of them for the audit, the feature spec and the model, the later
part for calibration, grades and thresholds. The fold's audit runs on its own training
rows, and the columns the pipeline's audit excluded stay out too. Won outcomes and deal
values (for the expected-value policy) are those known at ``t``
(:func:`mqlml.training.funnel.stage_arrays` with snapshot ``t``): a won date or deal
value after the origin changes nothing in the fold. The fold's test leads are those
created in ``[t, next origin)``.

The training summary's ``backtest`` dict:

``folds``
    One row per fold: ``fold``, ``origin``, ``train_start``, ``train_end``,
    ``calibration_start``, ``calibration_end``, ``test_start``, ``test_end``,
    ``train_leads``, ``train_positives``, ``calibration_leads``, ``test_leads``,
    ``test_positives``, ``roc_auc``, ``pr_auc``, ``brier``, ``lift_top_decile``,
    ``base_rate``, ``mean_probability``, ``mql_cutoff`` (the configured policy),
    ``mqls_per_week``, ``mql_rate`` (MQL -> target on the test period); or
    ``skipped`` with the reason when a fold has too few conversions.
``grades``
    One row per fold and grade: ``fold``, ``grade``, ``min_score``, ``leads``,
    ``conversion_rate`` (realised on the fold's test period).
``thresholds``
    One row per fold and policy: ``fold``, ``policy``, ``cutoff``, ``mqls_per_week``,
    ``mql_rate``, ``share_captured`` (on the test period); ``error`` when the policy
    could not be fit.
``movement``
    One row per policy: ``policy``, ``min_cutoff``, ``max_cutoff``, ``range``: how much
    its learned cutoff moves between folds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import CREATED_AT, LEAD_ID
from mqlml.config import Config
from mqlml.labels.labelled import LabelledLeads
from mqlml.labels.split import newest_block
from mqlml.model.calibrate import probability_to_score
from mqlml.model.metrics import classification_metrics
from mqlml.model.thresholds import GRADES, POLICIES, slice_weeks
from mqlml.training.funnel import stage_arrays
from mqlml.training.progress import Stages
from mqlml.training.recipe import FittedRecipe, fit_recipe

#: Fewest converted and unconverted leads each part of a fold needs.
MIN_FOLD_CLASS = 10
_METRICS = ("roc_auc", "pr_auc", "brier", "lift_top_decile", "base_rate", "mean_probability")


@dataclass(frozen=True)
class FoldModel:
    """What the recipe fit in one fold: its feature columns and those it kept out.

    Attributes
    ----------
    fold : int
        1-based fold number.
    origin : Timestamp
        Start of the fold's test period: everything the fold fit was known then.
    feature_columns : tuple of str
        The fold model's feature columns.
    excluded : dict
        Lead column -> why it is not a feature of the fold's model (its own audit, the
        pipeline's audit, the feature spec).
    """

    fold: int
    origin: pd.Timestamp
    feature_columns: tuple[str, ...]
    excluded: dict[str, str]


@dataclass(frozen=True)
class BacktestResult:
    """The ``backtest`` summary dict, each lead's role per fold, and each fold's model.

    ``membership`` has ``lead_id``, ``fold``, ``role`` (train / calibration / test);
    ``folds`` has one :class:`FoldModel` per fold that was not skipped.
    """

    summary: dict
    membership: pd.DataFrame
    folds: tuple[FoldModel, ...] = ()


def fold_origins(created: pd.Series, folds: int, test_share: float) -> list[int]:
    """Positions (into time-sorted leads) where each test period starts, and the end.

    Returns ``folds + 1`` positions; fold ``k`` tests rows ``[p[k], p[k + 1])``.
    """
    n = len(created)
    start = int(round(n * (1 - test_share)))
    return [start + int(round(k * (n - start) / folds)) for k in range(folds + 1)]


def rolling_origin_backtest(
    labelled: LabelledLeads,
    config: Config,
    *,
    keep_grades: dict | None = None,
    excluded: Mapping[str, str] | None = None,
    stages: Stages | None = None,
) -> BacktestResult:
    """Run the rolling-origin backtest on labelled leads.

    Parameters
    ----------
    labelled : LabelledLeads
        Labelled leads in time order, with their activities and (for the won outcomes
        and deal values the expected-value policy needs) their outcomes table.
    config : Config
        Uses ``backtest``, ``labels``, ``split``, ``funnel`` and everything the recipe
        uses (``audit``, ``features``, ``model``, ``calibration``, ``thresholds``).
    keep_grades : dict, optional
        Fixed grade cutoffs (instead of learning them per fold).
    excluded : mapping, optional
        Lead columns the pipeline's audit excluded: no fold's model reads them either.
    stages : Stages, optional
        Told as each fold finishes ("backtest fold k/n").
    """
    bt = config.backtest
    created = labelled.leads[CREATED_AT].reset_index(drop=True)
    known_at = pd.Series(labelled.as_of.to_numpy()) + pd.Timedelta(days=config.labels.horizon)
    bounds = fold_origins(created, bt.folds, bt.test_share)
    model_share = config.split.train / (config.split.train + config.split.calibration)
    rows, grades, thresholds, members, models = [], [], [], [], []
    for k in range(bt.folds):
        test = np.arange(bounds[k], bounds[k + 1])
        origin = created.iloc[bounds[k]]
        # Only labels already known at the origin: nothing from the future leaks in.
        train_all = np.flatnonzero((known_at <= origin).to_numpy())
        cut = _calibration_start(labelled.y[train_all], model_share, config)
        parts = {"train": train_all[:cut], "calibration": train_all[cut:], "test": test}
        row = _fold_row(k + 1, origin, created, labelled.y, parts)
        rows.append(row)
        if "skipped" in row:
            if stages is not None:
                stages.done(f"backtest fold {k + 1}/{bt.folds} (skipped)")
            continue
        members.extend(_members(labelled.leads, k + 1, parts))
        st = stage_arrays(labelled, config, snapshot=origin)
        recipe = fit_recipe(
            labelled,
            config,
            fit_rows=parts["train"],
            calibration_rows=parts["calibration"],
            won=st.policy_won,
            deal_value=st.deal_value,
            keep_grades=keep_grades,
            excluded=excluded,
        )
        models.append(FoldModel(k + 1, origin, recipe.feature_columns, dict(recipe.spec.excluded)))
        fold_grades, fold_thresholds = _evaluate_fold(recipe, labelled, test, row, config)
        grades.extend(fold_grades)
        thresholds.extend(fold_thresholds)
        if stages is not None:
            stages.done(f"backtest fold {k + 1}/{bt.folds}")
    summary = {
        "folds": rows,
        "grades": grades,
        "thresholds": thresholds,
        "movement": _movement(thresholds),
        "test_share": bt.test_share,
    }
    return BacktestResult(summary, _membership(members), tuple(models))


def _calibration_start(y_known: np.ndarray, model_share: float, config: Config) -> int:
    """Where the fold's calibration rows start among its known leads: the split's shares,
    or the newest block holding ``split.calibration_positives`` converted leads (as the
    pipeline's split does; with too few, all rows calibrate and the fold is skipped)."""
    positives = config.split.calibration_positives
    if positives is None:
        return int(len(y_known) * model_share)
    block = newest_block(y_known, positives)
    return 0 if block is None else len(y_known) - block


def _fold_row(
    fold: int, origin: pd.Timestamp, created: pd.Series, y: np.ndarray, parts: dict
) -> dict:
    """The fold's summary row so far: its periods and counts, or why it is skipped."""
    fit_rows, cal_rows, test = parts["train"], parts["calibration"], parts["test"]
    row: dict = {
        "fold": fold,
        "origin": origin.isoformat(),
        "test_start": created.iloc[test[0]].isoformat(),
        "test_end": created.iloc[test[-1]].isoformat(),
        "train_leads": int(len(fit_rows)),
        "train_positives": int(y[fit_rows].sum()),
        "calibration_leads": int(len(cal_rows)),
        "test_leads": int(len(test)),
        "test_positives": int(y[test].sum()),
    }
    short = [
        f"{name} has {int(y[r].sum())} converted of {len(r)}"
        for name, r in parts.items()
        if min(y[r].sum(), len(r) - y[r].sum()) < MIN_FOLD_CLASS
    ]
    if short:
        row["skipped"] = (
            f"needs at least {MIN_FOLD_CLASS} converted and unconverted leads per part: "
            + "; ".join(short)
        )
        return row
    row.update(
        train_start=created.iloc[fit_rows[0]].isoformat(),
        train_end=created.iloc[fit_rows[-1]].isoformat(),
        calibration_start=created.iloc[cal_rows[0]].isoformat(),
        calibration_end=created.iloc[cal_rows[-1]].isoformat(),
    )
    return row


def _members(leads: pd.DataFrame, fold: int, parts: dict) -> list[pd.DataFrame]:
    return [
        pd.DataFrame({LEAD_ID: leads[LEAD_ID].iloc[r].to_numpy(), "fold": fold, "role": role})
        for role, r in parts.items()
    ]


def _evaluate_fold(
    recipe: FittedRecipe, labelled: LabelledLeads, test: np.ndarray, row: dict, config: Config
) -> tuple[list[dict], list[dict]]:
    """Score the fold's test period; fill ``row`` and return its grade and policy rows."""
    leads = labelled.leads.iloc[test]
    features = recipe.features(leads, labelled.feature_activities, labelled.as_of.iloc[test])
    prob = recipe.predict_proba(features)
    score = probability_to_score(prob)
    y = labelled.y[test]
    m = classification_metrics(y, prob)
    row.update({key: m[key] for key in _METRICS})
    weeks = slice_weeks(leads[CREATED_AT])
    fold = row["fold"]
    thresholds = []
    for name in POLICIES:
        if name not in recipe.policies:
            thresholds.append({"fold": fold, "policy": name, "error": recipe.policy_errors[name]})
            continue
        policy = recipe.policies[name]
        is_mql = policy.predict(score)
        thresholds.append(
            {
                "fold": fold,
                "policy": name,
                "cutoff": int(policy.cutoff_),
                "mqls_per_week": float(is_mql.sum() / weeks),
                "mql_rate": float(y[is_mql].mean()) if is_mql.any() else np.nan,
                "share_captured": float(y[is_mql].sum() / y.sum()),
            }
        )
    if recipe.mql is not None:
        is_mql = recipe.mql.predict(score)
        row.update(
            mql_cutoff=int(recipe.mql.cutoff_),
            mqls_per_week=float(is_mql.sum() / weeks),
            mql_rate=float(y[is_mql].mean()) if is_mql.any() else np.nan,
        )
    return _grade_rows(fold, recipe, score, y), thresholds


def _grade_rows(fold: int, recipe: FittedRecipe, score: np.ndarray, y: np.ndarray) -> list[dict]:
    g_test = recipe.grades.predict(score)
    rows = []
    for g in GRADES:
        mask = g_test == g
        rows.append(
            {
                "fold": fold,
                "grade": g,
                "min_score": recipe.grades.cutoffs_.get(g, 1),
                "leads": int(mask.sum()),
                "conversion_rate": float(y[mask].mean()) if mask.any() else np.nan,
            }
        )
    return rows


def _movement(thresholds: list[dict]) -> list[dict]:
    """Per policy: how far its learned cutoff moves between folds."""
    movement = []
    for name in POLICIES:
        cuts = [r["cutoff"] for r in thresholds if r["policy"] == name and "cutoff" in r]
        if cuts:
            movement.append(
                {"policy": name, "min_cutoff": min(cuts), "max_cutoff": max(cuts),
                 "range": max(cuts) - min(cuts)}
            )
    return movement


def _membership(members: list[pd.DataFrame]) -> pd.DataFrame:
    if members:
        return pd.concat(members, ignore_index=True)
    return pd.DataFrame({LEAD_ID: pd.Series(dtype="str"), "fold": pd.Series(dtype=int),
                         "role": pd.Series(dtype="str")})
