"""The lead -> SQL -> customer funnel: stage outcomes, two-stage models, expected value.

Stage outcomes of each lead (:func:`funnel_outcomes`), all measured from the lead's
as-of time and known only once their horizon has passed by the snapshot:

* ``sql``: reached SQL in ``(as_of, as_of + sql_horizon_days]``;
* ``won_given_sql``: for those SQLs, won within ``won_horizon_days`` after ``sql_at``
  (known when ``sql_at + won_horizon_days <= snapshot``);
* ``won``: both, i.e. became a customer through this funnel (known when
  ``as_of + sql_horizon_days + won_horizon_days <= snapshot``);
* ``deal_value``: the value of the won deal (NaN otherwise).

Models (:func:`fit_funnel`), each the recipe's model step
(:func:`mqlml.training.recipe.fit_calibrated_model`, with the stage's label and the
configured model settings, no search and no time cross-fitting) fit on the training slice
and calibrated on the calibration slice: ``P(SQL | lead)``, ``P(won | SQL)`` (trained on
SQLs only) and a direct ``P(won | lead)``. Their product and the direct model are compared
on the test slice. With deal values, the expected value of a lead is ``P(won | lead)``
times the mean deal value of the training slice's won deals.

The training summary's ``funnel`` dict: ``sql_horizon_days``, ``won_horizon_days``,
``counts`` (per slice: leads, sql, won known, won), ``stages`` (rows: stage, train_rows
and train_positives (the rows its model learned from), test_rows, test_positives,
roc_auc, brier, log_loss, mean_probability, observed_rate), ``won_comparison`` (rows:
method ``two_stage_product`` / ``direct``, same metrics on the test leads whose won
outcome is known), ``mean_deal_value`` and ``expected_value_per_lead`` (mean over the
test slice), or ``skipped`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import DEAL_VALUE, LEAD_ID, SQL_AT, WON_AT
from mqlml.config import DEFAULT_HORIZON_DAYS, Config
from mqlml.features.build import FeatureSpec, to_matrix
from mqlml.labels.labelled import LabelledLeads
from mqlml.model.metrics import classification_metrics
from mqlml.training.recipe import fit_calibrated_model

#: Fewest positives and negatives each stage needs in its train and calibration rows.
MIN_STAGE_CLASS = 10

SQL, WON, WON_GIVEN_SQL = "sql", "won", "won_given_sql"


def funnel_outcomes(
    leads: pd.DataFrame,
    outcomes: pd.DataFrame,
    as_of: pd.Series,
    snapshot: pd.Timestamp,
    sql_horizon_days: int,
    won_horizon_days: int,
) -> pd.DataFrame:
    """Stage outcomes of each lead (0/1, NaN while unknown) and won deal values.

    Returns
    -------
    DataFrame
        Aligned with ``leads``: ``sql``, ``won_given_sql``, ``won``, ``deal_value``.
    """
    for name, v in (("sql_horizon_days", sql_horizon_days), ("won_horizon_days", won_horizon_days)):
        if not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    by_lead = outcomes.drop_duplicates(LEAD_ID).set_index(LEAD_ID)
    sql_at = pd.to_datetime(leads[LEAD_ID].map(by_lead[SQL_AT]), utc=True)
    won_at = pd.to_datetime(leads[LEAD_ID].map(by_lead[WON_AT]), utc=True)
    value = (
        leads[LEAD_ID].map(by_lead[DEAL_VALUE]).astype(float)
        if DEAL_VALUE in by_lead
        else pd.Series(np.nan, index=leads.index)
    )
    as_of = pd.Series(as_of.to_numpy(), index=leads.index)
    h1 = pd.Timedelta(days=int(sql_horizon_days))
    h2 = pd.Timedelta(days=int(won_horizon_days))

    sql_known = (as_of + h1 <= snapshot).to_numpy()
    is_sql = ((sql_at > as_of) & (sql_at <= as_of + h1)).fillna(False).to_numpy(bool)
    stage2_known = is_sql & (sql_at + h2 <= snapshot).fillna(False).to_numpy(bool)
    won_after_sql = ((won_at >= sql_at) & (won_at <= sql_at + h2)).fillna(False).to_numpy(bool)
    won_known = (as_of + h1 + h2 <= snapshot).to_numpy()
    won = is_sql & won_after_sql

    out = pd.DataFrame(index=leads.index)
    out[SQL] = np.where(sql_known, is_sql.astype(float), np.nan)
    out[WON_GIVEN_SQL] = np.where(stage2_known, won_after_sql.astype(float), np.nan)
    out[WON] = np.where(won_known, won.astype(float), np.nan)
    out[DEAL_VALUE] = np.where(won & won_known, value.to_numpy(), np.nan)
    return out


@dataclass(frozen=True)
class StageArrays:
    """Funnel outcomes as known at one snapshot, and the arrays the threshold figures use.

    Attributes
    ----------
    stages : DataFrame or None
        :func:`funnel_outcomes` of the labelled leads; None without an outcomes table.
    sql_horizon : int or None
        The SQL stage's horizon in days (None without outcomes).
    sql, won : ndarray
        SQL and won outcome per lead (NaN while unknown): the model's own label for its
        target stage, the funnel outcome for the other one.
    deal_value : ndarray
        Won deal value per lead (NaN otherwise).
    policy_won : ndarray or None
        What the expected-value policy needs as the won outcome; None when the target
        already is won.
    """

    stages: pd.DataFrame | None
    sql_horizon: int | None
    sql: np.ndarray
    won: np.ndarray
    deal_value: np.ndarray
    policy_won: np.ndarray | None


def stage_arrays(
    labelled: LabelledLeads, config: Config, snapshot: pd.Timestamp | None = None
) -> StageArrays:
    """Funnel stages of labelled leads as known at ``snapshot`` (default: the data's end).

    A backtest fold passes its origin: a won date or deal value after it is not known
    yet, so nothing the fold fits can read it.
    """
    y = labelled.y
    nan = np.full(len(y), np.nan)
    stages, sql_h = None, None
    if labelled.outcomes is not None:
        sql_h = config.funnel.sql_horizon_days or (
            config.labels.horizon if config.labels.target == "sql" else DEFAULT_HORIZON_DAYS["sql"]
        )
        stages = funnel_outcomes(
            labelled.leads,
            labelled.outcomes,
            labelled.as_of,
            labelled.snapshot if snapshot is None else snapshot,
            sql_h,
            config.funnel.won_horizon_days,
        )
    if config.labels.target == "sql":
        sql_y, won_y = y, (stages[WON].to_numpy(float) if stages is not None else nan)
    else:
        sql_y, won_y = (stages[SQL].to_numpy(float) if stages is not None else nan), y
    deal = stages[DEAL_VALUE].to_numpy(float) if stages is not None else nan
    policy_won = won_y if config.labels.target == "sql" else None
    return StageArrays(stages, sql_h, sql_y, won_y, deal, policy_won)


@dataclass(frozen=True)
class FunnelFit:
    """Predictions of the funnel models for every labelled lead, and the summary dict.

    ``predictions`` columns: ``p_sql``, ``p_won_given_sql``, ``p_won_two_stage``,
    ``p_won_direct``, ``expected_value`` (NaN without deal values).
    """

    predictions: pd.DataFrame | None
    summary: dict


def _stage_rows(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return idx[~np.isnan(y[idx])]


def _enough(y: np.ndarray) -> bool:
    pos = int(np.nansum(y))
    return pos >= MIN_STAGE_CLASS and len(y) - pos >= MIN_STAGE_CLASS


def _fit_stage(features, y, train, cal, spec, config) -> np.ndarray:
    """The recipe's model step on one stage's label; its probability for every lead."""
    model = fit_calibrated_model(
        fit_features=features.iloc[train],
        y_fit=y[train],
        calibration_features=features.iloc[cal],
        y_calibration=y[cal],
        spec=spec,
        config=config,
    )
    return model.predict_proba(to_matrix(features, spec))


def _metrics_row(name_key: str, name: str, y, p, train_rows, train_y) -> dict:
    m = classification_metrics(y, p)
    return {
        name_key: name,
        "train_rows": int(len(train_rows)),
        "train_positives": int(np.nansum(train_y)),
        "test_rows": int(len(y)),
        "test_positives": int(np.nansum(y)),
        "roc_auc": m["roc_auc"],
        "brier": m["brier"],
        "log_loss": m["log_loss"],
        "mean_probability": m["mean_probability"],
        "observed_rate": m["base_rate"],
    }


def fit_funnel(
    *,
    features: pd.DataFrame,
    stages: pd.DataFrame,
    split,
    spec: FeatureSpec | None,
    config: Config | None,
    horizons: tuple[int, int],
    known: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> FunnelFit:
    """Fit the stage models on the train slice, calibrate on calibration, test on test.

    Parameters
    ----------
    features : DataFrame
        Feature rows of all labelled leads (time order within each slice).
    stages : DataFrame
        :func:`funnel_outcomes` of the same leads.
    split : TimeSplit
        The train / calibration / test positions.
    spec, config
        The main model's feature spec, and the configuration whose ``model``, ``audit``
        and ``calibration`` settings the recipe's model step uses for every stage (without
        ``model.search``: the stages take the configured settings).
    horizons : (int, int)
        SQL and won horizons in days, for the summary.
    known : dict, optional
        Stage -> (calibrated probabilities already fit for it, positions of the leads that
        model learned from): e.g. the main model's when its target is SQL with the same
        horizon; not refit.

    Returns
    -------
    FunnelFit
        ``predictions`` is None and ``summary["skipped"]`` says why when a stage has too
        few known outcomes in its train or calibration rows.
    """
    summary: dict = {"sql_horizon_days": horizons[0], "won_horizon_days": horizons[1]}
    summary["counts"] = _counts(stages, split)
    ys = {k: stages[k].to_numpy(dtype=float) for k in (SQL, WON_GIVEN_SQL, WON)}
    rows = {
        k: {part: _stage_rows(ys[k], getattr(split, part)) for part in ("train", "calibration")}
        for k in ys
    }
    short = [
        f"{k} has {int(np.nansum(ys[k][r]))} positives of {len(r)} known {part} rows"
        for k in ys
        for part, r in rows[k].items()
        if not _enough(ys[k][r])
    ]
    if short:
        summary["skipped"] = (
            f"funnel models need at least {MIN_STAGE_CLASS} positives and negatives per stage "
            "in the train and calibration slices: " + "; ".join(short)
        )
        return FunnelFit(None, summary)

    known = known or {}
    # The stage models only report figures (none ships), so each is fit once: the
    # configured settings on the training slice, calibrated on the calibration slice that
    # it never saw. A search and the time cross-fitting (with its refits, which exist so
    # the shipped model learns from the newest rows) would double the training time at a
    # million leads; train_rows then is exactly what a stage model learned from.
    search = config.model.search.model_copy(update={"trials": 0})
    staged = config.model_copy(update={
        "model": config.model.model_copy(update={"search": search}),
        "calibration": config.calibration.model_copy(update={"cross_fit_periods": 0}),
    })
    p = {
        k: known[k][0]
        if k in known
        else _fit_stage(features, ys[k], rows[k]["train"], rows[k]["calibration"], spec, staged)
        for k in ys
    }
    two_stage = p[SQL] * p[WON_GIVEN_SQL]
    learned = {
        k: _stage_rows(ys[k], known[k][1]) if k in known else r["train"]
        for k, r in rows.items()
    }
    summary.update(_test_rows(ys, p, two_stage, learned, split.test))
    values = stages[DEAL_VALUE].to_numpy(dtype=float)[split.train]
    values = values[~np.isnan(values)]
    mean_value = float(values.mean()) if len(values) else float("nan")
    expected = two_stage * mean_value
    summary["mean_deal_value"] = mean_value
    summary["expected_value_per_lead"] = (
        float(expected[split.test].mean()) if len(values) else float("nan")
    )
    predictions = pd.DataFrame(
        {
            "p_sql": p[SQL],
            "p_won_given_sql": p[WON_GIVEN_SQL],
            "p_won_two_stage": two_stage,
            "p_won_direct": p[WON],
            "expected_value": expected,
        }
    )
    return FunnelFit(predictions, summary)


def _counts(stages: pd.DataFrame, split) -> list[dict]:
    """Per slice: leads, and how many have a known (and a positive) SQL and won outcome."""
    sql, won = stages[SQL].to_numpy(), stages[WON].to_numpy()
    return [
        {
            "slice": name,
            "leads": int(len(idx)),
            "sql_known": int((~np.isnan(sql[idx])).sum()),
            "sql": int(np.nansum(sql[idx])),
            "won_known": int((~np.isnan(won[idx])).sum()),
            "won": int(np.nansum(won[idx])),
        }
        for name, idx in (("train", split.train), ("calibration", split.calibration),
                          ("test", split.test))
    ]


def _test_rows(
    ys: dict, p: dict, two_stage: np.ndarray, learned: dict, test: np.ndarray
) -> dict:
    """``stages`` (each stage model on its known test rows, with the rows it learned from)
    and ``won_comparison``."""
    stage_rows = []
    for k in (SQL, WON_GIVEN_SQL, WON):
        t = _stage_rows(ys[k], test)
        if len(t):
            stage_rows.append(
                _metrics_row("stage", k, ys[k][t], p[k][t], learned[k], ys[k][learned[k]])
            )
    t_won = _stage_rows(ys[WON], test)
    train_won = learned[WON]
    comparison = (
        [
            _metrics_row("method", "two_stage_product", ys[WON][t_won], two_stage[t_won],
                         train_won, ys[WON][train_won]),
            _metrics_row("method", "direct", ys[WON][t_won], p[WON][t_won],
                         train_won, ys[WON][train_won]),
        ]
        if len(t_won)
        else []
    )
    return {"stages": stage_rows, "won_comparison": comparison}
