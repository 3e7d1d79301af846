"""Rolling-origin backtest: folds over time that never train on what came after."""

import pandas as pd
import pytest

from mqlml.columns import CREATED_AT, LEAD_ID
from mqlml.training.backtest import fold_origins


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
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.training.backtest import rolling_origin_backtest

    cfg = load_config(None, {"backtest": {"folds": 2, "test_share": 0.9}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    lab = label_history(crm, cfg)
    # 90% of the leads are test periods: the first origin has almost no known labels
    result = rolling_origin_backtest(lab.leads, lab.as_of, lab.y, lab.activities, cfg)
    first = result.summary["folds"][0]
    assert "skipped" in first and "converted of" in first["skipped"]
    assert first["fold"] == 1 and first["test_leads"] > 0


def test_folds_fit_the_model_as_configured_with_its_linear_base(history):
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.training.backtest import rolling_origin_backtest

    runs = {}
    for base in ("off", "on"):
        cfg = load_config(
            None,
            {"backtest": {"folds": 2}, "model": {"linear_base": base, "learning_rate": 0.2}},
        )
        crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
        lab = label_history(crm, cfg)
        result = rolling_origin_backtest(lab.leads, lab.as_of, lab.y, lab.activities, cfg)
        runs[base] = [f["roc_auc"] for f in result.summary["folds"] if "roc_auc" in f]
    assert len(runs["on"]) == len(runs["off"]) > 0
    assert all(0.5 < auc < 1 for auc in runs["on"])
    assert runs["on"] != runs["off"]  # a different model was fit in each fold
