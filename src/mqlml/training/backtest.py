"""Rolling-origin backtest: how the model would have done, period after period.

The latest ``test_share`` of the labelled leads (by ``created_at``) is cut into ``folds``
consecutive test periods. For each period starting at origin ``t``, everything is
refit from scratch on what was known at ``t``: only leads whose label was already
known (``as_of + horizon_days <= t``) are used, the earlier part of them for the
feature spec and the model, the later part for calibration, grades and thresholds.
The fold's test leads are those created in ``[t, next origin)``.

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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import ACTIVITY_TYPE, CREATED_AT, LEAD_ID, OCCURRED_AT
from mqlml.config import Config
from mqlml.features.build import build_features, fit_feature_spec, to_matrix
from mqlml.model.calibrate import ProbabilityCalibrator, probability_to_score
from mqlml.model.metrics import classification_metrics
from mqlml.model.thresholds import (
    GRADES,
    POLICIES,
    GradeThresholds,
    fit_policy,
    make_policy,
    slice_weeks,
)
from mqlml.model.trees import fit_lightgbm, predict_raw

#: Fewest converted and unconverted leads each part of a fold needs.
MIN_FOLD_CLASS = 10


@dataclass(frozen=True)
class BacktestResult:
    """The ``backtest`` summary dict and each lead's role per fold.

    ``membership`` has ``lead_id``, ``fold``, ``role`` (train / calibration / test).
    """

    summary: dict
    membership: pd.DataFrame


def fold_origins(created: pd.Series, folds: int, test_share: float) -> list[int]:
    """Positions (into time-sorted leads) where each test period starts, and the end.

    Returns ``folds + 1`` positions; fold ``k`` tests rows ``[p[k], p[k + 1])``.
    """
    n = len(created)
    start = int(round(n * (1 - test_share)))
    return [start + int(round(k * (n - start) / folds)) for k in range(folds + 1)]


def rolling_origin_backtest(
    leads: pd.DataFrame,
    as_of: pd.Series,
    y: np.ndarray,
    activities: pd.DataFrame,
    config: Config,
    stages: pd.DataFrame | None = None,
    keep_grades: dict | None = None,
) -> BacktestResult:
    """Run the rolling-origin backtest on labelled leads.

    Parameters
    ----------
    leads : DataFrame
        Labelled leads in time order (``lead_id``, ``created_at``, attributes).
    as_of : Series
        Their as-of times (aligned).
    y : ndarray
        Their 0/1 labels.
    activities : DataFrame
        All activities (each fold only uses those before each lead's as-of).
    config : Config
        Uses ``backtest``, ``labels``, ``split``, ``features``, ``model``, ``calibration``
        and ``thresholds``.
    stages : DataFrame, optional
        Funnel outcomes (``won``, ``deal_value``) for the expected-value policy.
    keep_grades : dict, optional
        Fixed grade cutoffs (instead of learning them per fold).
    """
    bt = config.backtest
    created = leads[CREATED_AT].reset_index(drop=True)
    leads = leads.reset_index(drop=True)
    as_of = pd.Series(as_of.to_numpy(), index=leads.index)
    y = np.asarray(y, dtype=float)
    known_at = as_of + pd.Timedelta(days=config.labels.horizon)
    bounds = fold_origins(created, bt.folds, bt.test_share)
    model_share = config.split.train / (config.split.train + config.split.calibration)
    params = config.thresholds.model_dump()
    won = stages["won"].to_numpy(dtype=float) if stages is not None else None
    value = stages["deal_value"].to_numpy(dtype=float) if stages is not None else None
    if config.labels.target == "won":
        won = None

    fold_rows, grade_rows, thr_rows, members = [], [], [], []
    for k in range(bt.folds):
        lo, hi = bounds[k], bounds[k + 1]
        test = np.arange(lo, hi)
        origin = created.iloc[lo]
        # Only labels already known at the origin: nothing from the future leaks in.
        train_all = np.flatnonzero((known_at <= origin).to_numpy())
        cut = int(len(train_all) * model_share)
        fit_rows, cal_rows = train_all[:cut], train_all[cut:]
        row: dict = {
            "fold": k + 1,
            "origin": origin.isoformat(),
            "test_start": created.iloc[lo].isoformat(),
            "test_end": created.iloc[hi - 1].isoformat(),
            "train_leads": int(len(fit_rows)),
            "train_positives": int(y[fit_rows].sum()),
            "calibration_leads": int(len(cal_rows)),
            "test_leads": int(len(test)),
            "test_positives": int(y[test].sum()),
        }
        short = [
            f"{name} has {int(y[r].sum())} converted of {len(r)}"
            for name, r in (("train", fit_rows), ("calibration", cal_rows), ("test", test))
            if min(y[r].sum(), len(r) - y[r].sum()) < MIN_FOLD_CLASS
        ]
        if short:
            row["skipped"] = (
                f"needs at least {MIN_FOLD_CLASS} converted and unconverted leads per part: "
                + "; ".join(short)
            )
            fold_rows.append(row)
            continue
        row.update(
            train_start=created.iloc[fit_rows[0]].isoformat(),
            train_end=created.iloc[fit_rows[-1]].isoformat(),
            calibration_start=created.iloc[cal_rows[0]].isoformat(),
            calibration_end=created.iloc[cal_rows[-1]].isoformat(),
        )
        for role, r in (("train", fit_rows), ("calibration", cal_rows), ("test", test)):
            members.append(
                pd.DataFrame({LEAD_ID: leads[LEAD_ID].iloc[r].to_numpy(), "fold": k + 1,
                              "role": role})
            )

        used = np.concatenate([fit_rows, cal_rows, test])
        fit_leads = leads.iloc[fit_rows]
        fit_known = activities[LEAD_ID].map(
            pd.Series(as_of.iloc[fit_rows].to_numpy(), index=fit_leads[LEAD_ID])
        )
        fit_acts = activities[
            activities[LEAD_ID].isin(fit_leads[LEAD_ID]) & (activities[OCCURRED_AT] < fit_known)
        ]
        spec = fit_feature_spec(
            fit_leads,
            fit_acts[[LEAD_ID, ACTIVITY_TYPE]],
            config.features.windows_days,
            config.features.min_leads_per_activity_type,
        )
        sub = leads.iloc[used].reset_index(drop=True)
        X = to_matrix(build_features(sub, activities, as_of.iloc[used].reset_index(drop=True),
                                     spec), spec)
        n_fit, n_cal = len(fit_rows), len(cal_rows)
        pos_fit = np.arange(n_fit)
        pos_cal = np.arange(n_fit, n_fit + n_cal)
        pos_test = np.arange(n_fit + n_cal, len(used))
        # The model as configured (with its linear base when that is always on).
        linear_c = config.model.linear_base_c if config.model.linear_base == "on" else None
        fit = fit_lightgbm(X[pos_fit], y[fit_rows], spec, config.model, linear_c=linear_c)
        raw = predict_raw(fit.booster, X, fit.linear)
        cal = ProbabilityCalibrator(config.calibration.method).fit(raw[pos_cal], y[cal_rows])
        prob = cal.predict(raw)
        score = probability_to_score(prob)
        m = classification_metrics(y[test], prob[pos_test])
        row.update(
            {
                key: m[key]
                for key in ("roc_auc", "pr_auc", "brier", "lift_top_decile", "base_rate",
                            "mean_probability")
            }
        )
        test_weeks = slice_weeks(created.iloc[test])
        policies = {}
        for name in POLICIES:
            try:
                policies[name] = fit_policy(
                    make_policy(name, params),
                    score[pos_cal],
                    y[cal_rows],
                    created.iloc[cal_rows],
                    won[cal_rows] if won is not None else None,
                    value[cal_rows] if value is not None else None,
                )
            except ValueError as exc:
                thr_rows.append({"fold": k + 1, "policy": name, "error": str(exc)})
                continue
            is_mql = policies[name].predict(score[pos_test])
            thr_rows.append(
                {
                    "fold": k + 1,
                    "policy": name,
                    "cutoff": int(policies[name].cutoff_),
                    "mqls_per_week": float(is_mql.sum() / test_weeks),
                    "mql_rate": float(y[test][is_mql].mean()) if is_mql.any() else np.nan,
                    "share_captured": float(y[test][is_mql].sum() / y[test].sum()),
                }
            )
        chosen = policies.get(config.thresholds.policy)
        if chosen is not None:
            is_mql = chosen.predict(score[pos_test])
            row.update(
                mql_cutoff=int(chosen.cutoff_),
                mqls_per_week=float(is_mql.sum() / test_weeks),
                mql_rate=float(y[test][is_mql].mean()) if is_mql.any() else np.nan,
            )
        grades = GradeThresholds(config.thresholds.grade_shares, keep_grades).fit(score[pos_cal])
        g_test = grades.predict(score[pos_test])
        for g in GRADES:
            mask = g_test == g
            grade_rows.append(
                {
                    "fold": k + 1,
                    "grade": g,
                    "min_score": grades.cutoffs_.get(g, 1),
                    "leads": int(mask.sum()),
                    "conversion_rate": float(y[test][mask].mean()) if mask.any() else np.nan,
                }
            )
        fold_rows.append(row)

    movement = []
    for name in POLICIES:
        cuts = [r["cutoff"] for r in thr_rows if r["policy"] == name and "cutoff" in r]
        if cuts:
            movement.append(
                {"policy": name, "min_cutoff": min(cuts), "max_cutoff": max(cuts),
                 "range": max(cuts) - min(cuts)}
            )
    membership = (
        pd.concat(members, ignore_index=True)
        if members
        else pd.DataFrame({LEAD_ID: pd.Series(dtype="str"), "fold": pd.Series(dtype=int),
                           "role": pd.Series(dtype="str")})
    )
    summary = {
        "folds": fold_rows,
        "grades": grade_rows,
        "thresholds": thr_rows,
        "movement": movement,
        "test_share": bt.test_share,
    }
    return BacktestResult(summary, membership)
