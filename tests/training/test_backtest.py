"""Rolling-origin backtest: folds over time that never train on what came after."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import CREATED_AT, DEAL_VALUE, LEAD_ID, WON_AT
from mqlml.config import load_config
from mqlml.data.contract import validate_crm
from mqlml.labels.labelled import label_history
from mqlml.training.backtest import fold_origins, rolling_origin_backtest
from mqlml.training.pipeline import train_labelled


@pytest.mark.parametrize(
    ("n", "folds", "share", "expected"),
    [(100, 2, 0.5, [50, 75, 100]), (10, 3, 0.3, [7, 8, 9, 10]), (9, 1, 0.5, [4, 9])],
)
def test_fold_origins_cut_the_latest_share_into_consecutive_periods(n, folds, share, expected):
    created = pd.Series(pd.date_range("2025-01-01", periods=n, freq="D", tz="UTC"))
    assert fold_origins(created, folds, share) == expected


def test_backtest_reports_every_fold(funnel_trained):
    model, _, _, cfg = funnel_trained
    bt = model.summary.backtest
    folds = bt.folds
    assert [f["fold"] for f in folds] == [1, 2]
    for f in folds:
        assert "skipped" not in f
        assert f["roc_auc"] > 0.7
        assert f["mql_cutoff"] >= 1 and f["mqls_per_week"] > 0
    # consecutive, non-overlapping test periods
    assert folds[0]["test_end"] < folds[1]["test_start"]
    # later folds know more history
    assert folds[1]["train_leads"] > folds[0]["train_leads"]
    assert {(g["fold"], g["grade"]) for g in bt.grades} == {
        (k, g) for k in (1, 2) for g in "ABCD"
    }
    assert {m["policy"] for m in bt.movement} == {
        "capacity", "precision", "recall", "expected_value"
    }
    for m in bt.movement:
        assert m["range"] == m["max_cutoff"] - m["min_cutoff"] >= 0


def test_folds_only_train_on_labels_known_before_their_test_period(funnel_trained):
    model, artifacts, labelled, cfg = funnel_trained
    members = artifacts["backtest_membership"]
    leads = labelled.leads.assign(as_of=labelled.as_of.to_numpy())
    info = members.merge(leads[[LEAD_ID, CREATED_AT, "as_of"]], on=LEAD_ID)
    horizon = pd.Timedelta(days=cfg.labels.horizon)
    for fold, rows in info.groupby("fold"):
        test = rows[rows["role"] == "test"]
        fit = rows[rows["role"] == "train"]
        cal = rows[rows["role"] == "calibration"]
        origin = test[CREATED_AT].min()
        # every label a fold learns from was known at its origin...
        assert (pd.concat([fit, cal])["as_of"] + horizon <= origin).all()
        # ...and the model saw only leads before its calibration leads
        assert fit[CREATED_AT].max() <= cal[CREATED_AT].min()
        assert set(test[LEAD_ID]).isdisjoint(set(fit[LEAD_ID]) | set(cal[LEAD_ID]))
        # the membership is what the summary says
        row = model.summary.backtest.folds[fold - 1]
        assert len(fit) == row["train_leads"] and len(test) == row["test_leads"]


def test_a_fold_without_enough_history_is_skipped_with_the_reason(history):
    cfg = load_config(None, {"backtest": {"folds": 2, "test_share": 0.9}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    lab = label_history(crm, cfg)
    # 90% of the leads are test periods: the first origin has almost no known labels
    result = rolling_origin_backtest(lab, cfg)
    first = result.summary["folds"][0]
    assert "skipped" in first and "converted of" in first["skipped"]
    assert first["fold"] == 1 and first["test_leads"] > 0


def test_folds_fit_the_model_as_configured_with_its_linear_base(history):
    runs = {}
    for base in ("off", "on"):
        cfg = load_config(
            None,
            {"backtest": {"folds": 2}, "model": {"linear_base": base, "learning_rate": 0.2}},
        )
        crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
        lab = label_history(crm, cfg)
        result = rolling_origin_backtest(lab, cfg)
        runs[base] = [f["roc_auc"] for f in result.summary["folds"] if "roc_auc" in f]
    assert len(runs["on"]) == len(runs["off"]) > 0
    assert all(0.5 < auc < 1 for auc in runs["on"])
    assert runs["on"] != runs["off"]  # a different model was fit in each fold


def _fast_config(**extra):
    """Two folds, fewer trees (a learning rate of 0.2), nothing else the checks do not need."""
    overrides = {
        "tracking": {"enabled": False},
        "backtest": {"folds": 2},
        "model": {"learning_rate": 0.2},
        "funnel": {"enabled": False},
    }
    return load_config(None, {**overrides, **extra})


def test_a_column_an_audit_excludes_never_reaches_a_fold_model(history):
    cfg = _fast_config()
    lab = label_history(validate_crm(history.leads, history.activities, history.outcomes), cfg)
    # A disposition filled in after the outcome: it restates the label exactly.
    leaky = lab.leads.assign(disposition=np.where(lab.y == 1, "qualified", "open"))
    lab = replace(lab, leads=leaky)
    # The pipeline's own audit excluded `industry` (as if): no fold may read it either.
    result = rolling_origin_backtest(lab, cfg, excluded={"industry": "leakage audit: planted"})
    assert [f.fold for f in result.folds] == [1, 2]
    for fold in result.folds:
        assert "disposition" not in fold.feature_columns
        assert fold.excluded["disposition"].startswith("leakage audit:")
        assert "industry" not in fold.feature_columns
        assert fold.excluded["industry"] == "leakage audit: planted"
        assert len(fold.feature_columns) > 5  # the other columns are still features
    for row in result.summary["folds"]:
        assert 0.6 < row["roc_auc"] < 0.95, row  # a column restating the label scores ~1


def test_wins_and_deal_values_after_a_folds_origin_change_nothing_in_it(history):
    # Horizons short enough that wins are known in the first fold's calibration rows.
    cfg = _fast_config(
        labels={"horizon_days": 30},
        funnel={"enabled": False, "won_horizon_days": 60},
        thresholds={"cost_per_lead": 300},
    )
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    lab = label_history(crm, cfg)
    before, art = train_labelled(lab, cfg)
    fold1 = before.summary.backtest.folds[0]
    origin = pd.Timestamp(fold1["origin"])

    # Every won after the first fold's origin: won later (still before the snapshot) and
    # worth ten times as much.
    out = crm.outcomes.copy()
    after = (out[WON_AT] > origin).to_numpy()
    out.loc[after, WON_AT] = out.loc[after, WON_AT] + (lab.snapshot - out.loc[after, WON_AT]) / 2
    out.loc[after, DEAL_VALUE] = out.loc[after, DEAL_VALUE] * 10
    pinned = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"snapshot_at": lab.snapshot.isoformat()})}
    )
    changed = label_history(validate_crm(crm.leads, crm.activities, out, pinned.data), pinned)
    np.testing.assert_array_equal(changed.y, lab.y)  # the SQL labels did not move
    after_model, _ = train_labelled(changed, pinned)

    # Not vacuous: the first fold's calibration leads include wins that were changed...
    members = art["backtest_membership"]
    cal_ids = members.loc[(members["fold"] == 1) & (members["role"] == "calibration"), LEAD_ID]
    assert out.loc[after, LEAD_ID].isin(cal_ids).sum() > 0
    # ...and the expected-value policy was learned in that fold.
    bt_before = before.summary.backtest.to_dict()
    bt_after = after_model.summary.backtest.to_dict()
    ev = [r for r in bt_before["thresholds"] if r["fold"] == 1 and r["policy"] == "expected_value"]
    assert "cutoff" in ev[0], ev

    def fold_one(bt: dict) -> tuple:
        return (
            bt["folds"][0],
            [r for r in bt["thresholds"] if r["fold"] == 1],
            [r for r in bt["grades"] if r["fold"] == 1],
        )

    assert fold_one(bt_after) == fold_one(bt_before)


def test_folds_calibrate_on_the_newest_block_holding_calibration_positives(history):
    cfg = _fast_config(split={"calibration_positives": 30})
    lab = label_history(validate_crm(history.leads, history.activities, history.outcomes), cfg)
    result = rolling_origin_backtest(lab, cfg)
    members = result.membership.merge(
        pd.DataFrame({LEAD_ID: lab.leads[LEAD_ID], "y": lab.y}), on=LEAD_ID
    )
    folds = [f for f in result.summary["folds"] if "skipped" not in f]
    assert folds
    for row in folds:
        mine = members[members["fold"] == row["fold"]]
        cal = mine.loc[mine["role"] == "calibration", "y"].to_numpy()
        # exactly the newest leads that hold 30 conversions, as the pipeline's split does
        assert cal.sum() == 30 and cal[0] == 1
        assert row["calibration_leads"] == len(cal)
