"""A market that changes at a date (MarketShift): each change is measurable after it."""

from __future__ import annotations

import pandas as pd
import pytest

from mqlml import columns as C
from mqlml.synthetic.generate import MarketShift, generate_history

AT = "2025-01-01"
SQL_H = pd.Timedelta(days=90)
SHIFT = MarketShift(
    at=AT, new_source="partner_marketplace", new_source_logit=1.2, new_source_share=0.2,
    stop_behaviour="pricing_page_view", base_rate_logit=-0.7, new_industry="Energy",
    new_industry_logit=0.8, new_industry_share=0.15,
)


def _panel(history) -> pd.DataFrame:
    """Mature, not yet converted leads with their label, period and pricing-view flag."""
    df = history.truth.merge(history.leads, on=C.LEAD_ID).merge(
        history.outcomes, on=C.LEAD_ID, how="left"
    )
    df["y"] = (df[C.SQL_AT] > df[C.AS_OF]) & (df[C.SQL_AT] <= df[C.AS_OF] + SQL_H)
    df["after"] = df[C.CREATED_AT] >= pd.Timestamp(AT, tz="UTC")
    acts = history.activities.merge(history.truth[[C.LEAD_ID, C.AS_OF]], on=C.LEAD_ID)
    pricing = acts[
        (acts[C.ACTIVITY_TYPE] == "pricing_page_view") & (acts[C.OCCURRED_AT] < acts[C.AS_OF])
    ]
    df["pricing"] = df[C.LEAD_ID].isin(pricing[C.LEAD_ID])
    mature = (df[C.AS_OF] + SQL_H <= history.snapshot_at) & ~df[C.CONVERTED_BEFORE_AS_OF]
    return df[mature]


@pytest.fixture(scope="module")
def shifted():
    return generate_history(60_000, seed=3, shift=SHIFT)


@pytest.fixture(scope="module")
def panel(shifted) -> pd.DataFrame:
    return _panel(shifted)


def test_leads_before_the_date_are_those_of_the_unshifted_generator(shifted):
    plain = generate_history(60_000, seed=3)
    before = (shifted.leads[C.CREATED_AT] < pd.Timestamp(AT, tz="UTC")).to_numpy()
    assert 0.3 < before.mean() < 0.7
    for name in ("leads", "truth"):
        got, want = getattr(shifted, name)[before], getattr(plain, name)[before]
        pd.testing.assert_frame_equal(got, want)
    # ...and the later ones changed
    assert not shifted.truth[~before].equals(plain.truth[~before])


def test_new_source_appears_at_the_date_and_converts_at_its_own_rate(panel):
    is_new = panel[C.LEAD_SOURCE] == "partner_marketplace"
    assert not (is_new & ~panel["after"]).any()
    after = panel[panel["after"]]
    assert 0.17 < (after[C.LEAD_SOURCE] == "partner_marketplace").mean() < 0.23
    rate_new = after.loc[is_new, "y"].mean()
    rate_rest = after.loc[~is_new, "y"].mean()
    # +1.2 log-odds against sources between -0.5 and 0.5: about twice the rate
    assert rate_new > 1.7 * rate_rest
    # the truth file describes the shifted world: calibrated on the new source too
    assert abs(after.loc[is_new, C.TRUE_P_SQL].mean() - rate_new) < 0.02


def test_new_industry_appears_at_the_date_with_its_rate(panel):
    is_new = panel[C.INDUSTRY] == "Energy"
    assert not (is_new & ~panel["after"]).any()
    after = panel[panel["after"]]
    assert 0.12 < is_new[panel["after"]].mean() < 0.18
    assert after.loc[is_new, "y"].mean() > 1.3 * after.loc[~is_new, "y"].mean()


def test_stopped_behaviour_no_longer_predicts(panel):
    def lift(df):
        return df.loc[df["pricing"], "y"].mean() / df.loc[~df["pricing"], "y"].mean()

    before, after = panel[~panel["after"]], panel[panel["after"]]
    assert lift(before) > 2.5
    assert 0.85 < lift(after) < 1.2
    # it still happens about as often
    assert abs(after["pricing"].mean() - before["pricing"].mean()) < 0.08


def test_base_rate_falls_after_the_date_and_the_truth_follows(panel):
    before, after = panel[~panel["after"]], panel[panel["after"]]
    assert after["y"].mean() < 0.8 * before["y"].mean()
    for part in (before, after):
        assert abs(part[C.TRUE_P_SQL].mean() - part["y"].mean()) < 0.008


def test_base_rate_rise_alone():
    history = generate_history(20_000, seed=4, shift=MarketShift(at=AT, base_rate_logit=0.8))
    df = _panel(history)
    assert "partner_marketplace" not in set(df[C.LEAD_SOURCE])
    assert df.loc[df["after"], "y"].mean() > 1.4 * df.loc[~df["after"], "y"].mean()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at": "not a date"}, "shift.at"),
        ({"new_source": "referral"}, "shift.new_source"),
        ({"new_industry": "Software"}, "shift.new_industry"),
        ({"new_source": "x", "new_source_share": 1.5}, "shift.new_source_share"),
        ({"stop_behaviour": "email_open"}, "shift.stop_behaviour"),
        ({"base_rate_logit": float("inf")}, "shift.base_rate_logit"),
    ],
)
def test_invalid_shift_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_history(100, shift=MarketShift(**({"at": AT} | kwargs)))


def test_a_stopped_request_no_longer_moves_the_won_odds_either():
    # Demo requests raise the chance a SQL is won; once they stop predicting, they stop
    # for winning too (the truth has no term for them after the date).
    stop = MarketShift(at=AT, stop_behaviour="demo_request")
    history = generate_history(20_000, seed=5, shift=stop)
    truth = history.truth.merge(history.leads[[C.LEAD_ID, C.CREATED_AT]], on=C.LEAD_ID)
    acts = history.activities.merge(history.truth[[C.LEAD_ID, C.AS_OF]], on=C.LEAD_ID)
    asked = acts[(acts[C.ACTIVITY_TYPE] == "demo_request") & (acts[C.OCCURRED_AT] < acts[C.AS_OF])]
    truth["asked"] = truth[C.LEAD_ID].isin(asked[C.LEAD_ID])
    truth["q_won"] = truth[C.TRUE_P_WON] / truth[C.TRUE_P_SQL]
    after = truth[truth[C.CREATED_AT] >= pd.Timestamp(AT, tz="UTC")]
    before = truth[truth[C.CREATED_AT] < pd.Timestamp(AT, tz="UTC")]

    def gap(df):
        return df.loc[df["asked"], "q_won"].mean() - df.loc[~df["asked"], "q_won"].mean()

    assert gap(before) > 0.05
    assert abs(gap(after)) < 0.02
