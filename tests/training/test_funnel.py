"""Funnel stage outcomes by hand, and the stage models on a synthetic history."""

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import CREATED_AT, DEAL_VALUE, LEAD_ID, LOST_AT, SQL_AT, WON_AT
from mqlml.training.funnel import funnel_outcomes

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _case(sql_days, won_days, value=1000.0):
    return sql_days, won_days, value


def _frames(cases):
    leads = pd.DataFrame(
        {LEAD_ID: [f"L{i}" for i in range(len(cases))], CREATED_AT: [T0] * len(cases)}
    )
    rows = [
        (f"L{i}", sql, won, val) for i, (sql, won, val) in enumerate(cases) if sql is not None
    ]
    outcomes = pd.DataFrame(
        {
            LEAD_ID: [r[0] for r in rows],
            SQL_AT: [T0 + pd.Timedelta(days=r[1]) for r in rows],
            WON_AT: [T0 + pd.Timedelta(days=r[2]) if r[2] is not None else pd.NaT for r in rows],
            LOST_AT: pd.NaT,
            DEAL_VALUE: [r[3] if r[2] is not None else np.nan for r in rows],
        }
    )
    return leads, outcomes


def test_stage_outcomes_by_hand():
    # as_of = created (day 0); SQL horizon 30 days, won horizon 20 days after SQL.
    leads, outcomes = _frames(
        [
            _case(10, 25),  # SQL at 10, won at 25 (15 days after SQL): customer
            _case(10, 40),  # won 30 days after SQL: too late for the won stage
            _case(40, 45),  # SQL after the SQL horizon: not an SQL, so not a customer here
            _case(None, None),  # never converted
            _case(20, None),  # SQL, no decision yet
        ]
    )
    as_of = leads[CREATED_AT]
    out = funnel_outcomes(leads, outcomes, as_of, T0 + pd.Timedelta(days=100), 30, 20)
    assert out["sql"].tolist() == [1, 1, 0, 0, 1]
    assert out["won_given_sql"].tolist()[:2] == [1, 0] and out["won_given_sql"].iloc[4] == 0
    assert np.isnan(out["won_given_sql"].iloc[2]) and np.isnan(out["won_given_sql"].iloc[3])
    assert out["won"].tolist() == [1, 0, 0, 0, 0]
    assert out[DEAL_VALUE].iloc[0] == 1000 and out[DEAL_VALUE].iloc[1:].isna().all()


def test_outcomes_not_yet_known_are_nan():
    leads, outcomes = _frames([_case(10, 25), _case(None, None)])
    # snapshot at day 40: SQL horizon (30) has passed, SQL + won horizon (50) has not; the
    # SQL at day 10 had its 20 won-days by day 30.
    out = funnel_outcomes(leads, outcomes, leads[CREATED_AT], T0 + pd.Timedelta(days=40), 30, 20)
    assert out["sql"].tolist() == [1, 0]
    assert out["won_given_sql"].iloc[0] == 1
    assert out["won"].isna().all()
    early = funnel_outcomes(leads, outcomes, leads[CREATED_AT], T0 + pd.Timedelta(days=20), 30, 20)
    assert early["sql"].isna().all()


@pytest.mark.parametrize("bad", [0, -3, 1.5])
def test_horizons_validated(bad):
    leads, outcomes = _frames([_case(None, None)])
    with pytest.raises(ValueError, match="won_horizon_days must be a positive integer"):
        funnel_outcomes(leads, outcomes, leads[CREATED_AT], T0, 30, bad)


def test_two_stage_and_direct_models_compared_on_the_holdout(funnel_trained):
    f = funnel_trained[0].summary.funnel
    assert f.skipped is None
    assert {r["stage"] for r in f.stages} == {"sql", "won_given_sql", "won"}
    methods = {r["method"]: r for r in f.won_comparison}
    assert set(methods) == {"two_stage_product", "direct"}
    for r in methods.values():
        assert r["test_positives"] > 0 and r["roc_auc"] > 0.6
        # calibrated: the mean predicted chance of becoming a customer is near the rate
        assert r["mean_probability"] == pytest.approx(r["observed_rate"], abs=0.03)
    assert f.mean_deal_value > 0 and f.expected_value_per_lead > 0
    # Each stage names the rows it learned from: the SQL stage is the main model (target
    # sql), refit on the training and calibration slices; the others the training slice.
    periods = {p.name: p.n_leads for p in funnel_trained[0].summary.periods}
    learned = {r["stage"]: r["train_rows"] for r in f.stages}
    counts = {r["slice"]: r for r in f.counts}
    assert learned["sql"] == periods["train"] + periods["calibration"]
    assert learned["won"] == counts["train"]["won_known"]
    assert learned["won_given_sql"] < learned["won"]
    # the latest leads' won outcome is not known yet: fewer known than leads in test
    assert counts["test"]["won_known"] < counts["test"]["leads"]
    assert counts["train"]["won_known"] == counts["train"]["leads"]
    test = funnel_trained[1]["test_predictions"]
    assert test["p_won"].between(0, 1).all()
    assert test["expected_value"].corr(test["p_won"]) > 0.99  # P(won) x mean deal value


def test_funnel_is_skipped_with_a_reason_when_a_stage_has_too_few_outcomes():
    from mqlml.labels.split import time_split
    from mqlml.training.funnel import fit_funnel

    leads, outcomes = _frames([_case(10, 25)] * 3 + [_case(None, None)] * 30)
    leads[CREATED_AT] = T0 + pd.to_timedelta(np.arange(len(leads)), unit="D")
    stages = funnel_outcomes(leads, outcomes, leads[CREATED_AT], T0 + pd.Timedelta(days=400),
                             30, 20)
    split = time_split(leads, stages["sql"], (0.6, 0.2, 0.2))
    fit = fit_funnel(features=pd.DataFrame({"x": np.zeros(len(leads))}), stages=stages,
                     split=split, spec=None, config=None, horizons=(30, 20))
    assert fit.predictions is None
    assert "funnel models need at least 10 positives" in fit.summary["skipped"]
    assert "sql has" in fit.summary["skipped"]


def test_stage_models_take_the_configured_settings_without_a_search(monkeypatch):
    """The main model searches (model.search.trials > 0) and is cross-fitted; each stage
    model is fit once by the recipe's model step (trials 0, cross_fit_periods 0), with
    otherwise the same configuration."""
    import mqlml.training.funnel as funnel
    from mqlml.config import load_config
    from mqlml.labels.split import time_split

    seen = []

    class Fitted:
        def predict_proba(self, X):
            return np.full(len(X), 0.3)

    def model_step(**kwargs):
        seen.append(kwargs["config"])
        return Fitted()

    monkeypatch.setattr(funnel, "fit_calibrated_model", model_step)
    monkeypatch.setattr(funnel, "to_matrix", lambda features, spec: features.to_numpy())
    cases = [_case(10, 25), _case(10, None), _case(None, None)] * 80
    leads, outcomes = _frames(cases)
    # One lead a day, each with its outcomes as many days after its own creation.
    leads[CREATED_AT] = T0 + pd.to_timedelta(np.arange(len(leads)), unit="D")
    shift = outcomes[LEAD_ID].map(leads.set_index(LEAD_ID)[CREATED_AT] - T0)
    outcomes[SQL_AT] += shift
    outcomes[WON_AT] += shift
    stages = funnel_outcomes(leads, outcomes, leads[CREATED_AT], T0 + pd.Timedelta(days=900),
                             30, 30)
    split = time_split(leads, stages["sql"], (0.6, 0.2, 0.2))
    cfg = load_config(None, {"model": {"search": {"trials": 7}}})
    fit = funnel.fit_funnel(features=pd.DataFrame({"x": np.zeros(len(leads))}), stages=stages,
                            split=split, spec=None, config=cfg, horizons=(30, 30))
    assert fit.predictions is not None and len(seen) == 3
    for stage_cfg in seen:
        assert stage_cfg.model.search.trials == 0
        assert stage_cfg.model.model_copy(update={"search": cfg.model.search}) == cfg.model
        assert stage_cfg.calibration.cross_fit_periods == 0 < cfg.calibration.cross_fit_periods
        assert stage_cfg.calibration.model_copy(
            update={"cross_fit_periods": cfg.calibration.cross_fit_periods}
        ) == cfg.calibration
        assert stage_cfg.audit == cfg.audit
