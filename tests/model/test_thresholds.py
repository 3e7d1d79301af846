import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlml.model.thresholds import CapacityThreshold, GradeThresholds, TierThresholds


def _week_of_leads(scores, weeks=1):
    n = len(scores)
    created = pd.Timestamp("2025-01-06", tz="UTC") + pd.to_timedelta(
        np.linspace(0, 7 * weeks, n, endpoint=False), unit="D"
    )
    return np.asarray(scores), pd.Series(created)


def test_capacity_by_hand():
    # 100 leads in one week with scores 1..100 (capped at 99): capacity 10/week -> the
    # top 10 scores (>= 90) are MQLs.
    scores, created = _week_of_leads(np.minimum(np.arange(1, 101), 99))
    t = CapacityThreshold(10).fit(scores, created)
    assert t.leads_per_week_ == pytest.approx(100)
    assert t.cutoff_ == 91  # score >= 91 admits 10 leads (91..99 plus the capped 100)
    assert t.expected_mqls_per_week_ == pytest.approx(10)
    assert t.predict([90, 91]).tolist() == [False, True]


@pytest.mark.parametrize(
    ("capacity", "weeks", "expected_max"), [(50, 2, 50), (12, 4, 12), (1000, 1, 1000)]
)
def test_capacity_never_exceeded(capacity, weeks, expected_max):
    rng = np.random.default_rng(0)
    scores, created = _week_of_leads(rng.integers(1, 100, 400 * weeks), weeks)
    t = CapacityThreshold(capacity).fit(scores, created)
    assert t.expected_mqls_per_week_ <= expected_max + 1e-9
    if capacity >= 400:
        assert t.cutoff_ == 1  # capacity above volume: every lead is an MQL


def test_capacity_below_the_top_score_volume_admits_only_the_top_score():
    # Integer scores tie: when even score 99 alone exceeds capacity, only 99 is admitted.
    scores, created = _week_of_leads([99] * 20 + [50] * 80)
    t = CapacityThreshold(5).fit(scores, created)
    assert t.cutoff_ == 99 and t.expected_mqls_per_week_ == pytest.approx(20)


def test_capacity_rejects_bad_input():
    scores, created = _week_of_leads([1, 2, 3])
    with pytest.raises(ValueError, match="capacity_per_week must be positive"):
        CapacityThreshold(0).fit(scores, created)
    with pytest.raises(ValueError, match="integers 1-99"):
        CapacityThreshold(5).fit(np.array([0, 50]), created[:2])


def test_grades_by_hand():
    scores = np.repeat(np.arange(1, 11), 10)  # 10 leads at each score 1..10
    g = GradeThresholds((0.1, 0.2, 0.3)).fit(scores)
    assert g.cutoffs_ == {"A": 10, "B": 8, "C": 5}
    assert g.predict([10, 9, 8, 5, 4, 1]).tolist() == ["A", "B", "B", "C", "D", "D"]


def test_grade_cutoffs_stay_distinct_with_heavy_ties():
    scores = np.array([1] * 95 + [2] * 3 + [50] * 2)
    g = GradeThresholds().fit(scores)
    c = g.cutoffs_
    assert c["A"] > c["B"] > c["C"] >= 2


@pytest.mark.parametrize("shares", [(0.5, 0.3, 0.3), (0.0, 0.2, 0.2)])
def test_grade_shares_validated(shares):
    with pytest.raises(ValueError, match="shares"):
        GradeThresholds(shares).fit(np.arange(1, 50))


def test_tier_lines_are_grade_boundaries_by_hand():
    scores = np.repeat(np.arange(1, 11), 10)
    g = GradeThresholds((0.1, 0.2, 0.3), mql_cutoff=6, nurture_cutoff=3).fit(scores)
    # B starts at the MQL line, C at the nurture line; A is the top 10% of the MQLs' band.
    assert g.cutoffs_ == {"A": 10, "B": 6, "C": 3}


@settings(max_examples=150, deadline=None)
@given(
    scores=st.lists(st.integers(1, 99), min_size=20, max_size=300),
    mql=st.integers(1, 99),
    nurture_gap=st.integers(0, 60),
    data=st.data(),
)
def test_no_grade_holds_leads_of_two_tiers(scores, mql, nurture_gap, data):
    # Sales reads grade and tier side by side: every grade must sit inside one tier.
    scores = np.asarray(scores)
    nurture = max(1, mql - nurture_gap)
    tiers = TierThresholds(mql, 0.05)
    tiers.mql_cutoff_, tiers.nurture_cutoff_ = mql, nurture
    shares = data.draw(st.sampled_from([(0.1, 0.2, 0.3), (0.05, 0.1, 0.5), (0.3, 0.3, 0.3)]))
    g = GradeThresholds(shares, mql_cutoff=mql, nurture_cutoff=nurture).fit(scores)
    c = g.cutoffs_
    assert 99 >= c["A"] > c["B"] > c["C"] >= 2
    probe = np.arange(1, 100)
    grade, tier = g.predict(probe), tiers.predict(probe)
    for letter in "ABCD":
        assert len(set(tier[grade == letter])) <= 1, (letter, c, mql, nurture)


# --- policies beyond capacity, by hand ---------------------------------------

from mqlml.model.thresholds import (  # noqa: E402
    POLICIES,
    ExpectedValueThreshold,
    PrecisionThreshold,
    RecallThreshold,
    funnel_table,
    make_policy,
    policy_report,
    threshold_from_dict,
    threshold_to_dict,
)

# Ten leads: scores and outcomes chosen so every figure can be counted by eye.
TINY_SCORES = np.array([90, 80, 70, 60, 50, 40, 30, 20, 10, 5])
TINY_Y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], dtype=float)


@pytest.mark.parametrize(
    ("target", "cutoff", "precision"),
    [
        # The lowest cutoff admitting the right leads: >= 51 admits 90, 80, 70, 60 (3 of 4
        # converted); >= 41 adds 50 (3/5); >= 11 admits 8 leads, 4 converted (50%).
        (0.75, 51, 0.75),
        (0.6, 41, 0.6),
        (0.5, 11, 0.5),
        (1.0 - 1e-9, 71, 1.0),  # only the top two (90, 80) are both converted
        (0.4, 1, 0.4),  # everyone: 4 of 10
    ],
)
def test_precision_by_hand(target, cutoff, precision):
    t = PrecisionThreshold(target).fit(TINY_SCORES, TINY_Y)
    assert t.cutoff_ == cutoff and t.precision_ == pytest.approx(precision) and t.target_met_
    assert t.predict([cutoff - 1, cutoff]).tolist() == [False, True]


def test_precision_unreachable_falls_back_to_the_top_score():
    t = PrecisionThreshold(0.9).fit(np.array([10, 20, 30]), np.array([0.0, 1.0, 0.0]))
    assert t.cutoff_ == 99 and not t.target_met_


@pytest.mark.parametrize(
    ("target", "cutoff", "recall"),
    [
        # conversions at scores 90, 80, 60, 30: >= 80 captures 2/4, >= 60 3/4, >= 30 4/4
        (0.5, 80, 0.5),
        (0.75, 60, 0.75),
        (0.76, 30, 1.0),
        (1.0, 30, 1.0),
        (0.25, 90, 0.25),
    ],
)
def test_recall_by_hand(target, cutoff, recall):
    t = RecallThreshold(target).fit(TINY_SCORES, TINY_Y)
    assert t.cutoff_ == cutoff and t.recall_ == pytest.approx(recall)


def test_recall_needs_a_conversion():
    with pytest.raises(ValueError, match="at least one converted lead"):
        RecallThreshold(0.5).fit(np.array([10, 20]), np.array([0.0, 0.0]))


def test_expected_value_by_hand():
    # Won among converted: 1 of the 2 with a known outcome (NaN = still open); value 1000.
    # EV(s) = s/100 * 0.5 * 1000 - 50 > 0  <=>  s > 10  -> cutoff 11.
    won = np.array([1, 0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan])
    t = ExpectedValueThreshold(cost_per_lead=50, value_per_won=1000).fit(
        TINY_SCORES, TINY_Y, won=won
    )
    assert t.won_per_positive_ == pytest.approx(0.5)
    assert t.break_even_probability_ == pytest.approx(0.1)
    assert t.cutoff_ == 11
    np.testing.assert_allclose(t.expected_value([10, 11]), [0.0, 5.0])


def test_expected_value_learns_the_deal_value():
    # target already "won": P(won) = s/100; mean deal value of the won leads = 400;
    # EV(s) = 4 s - 100 > 0  <=>  s > 25  -> cutoff 26.
    value = np.where(TINY_Y == 1, [200, 600, 0, 300, 0, 0, 500, 0, 0, 0], np.nan)
    t = ExpectedValueThreshold(cost_per_lead=100).fit(TINY_SCORES, TINY_Y, deal_value=value)
    assert t.value_per_won_ == pytest.approx(400) and t.cutoff_ == 26


def test_expected_value_without_a_value_says_so():
    with pytest.raises(ValueError, match="value_per_won is not set"):
        ExpectedValueThreshold(100).fit(TINY_SCORES, TINY_Y)


def test_tiers_by_hand():
    # MQL cutoff 60. Disqualify may hold at most 25% of the 4 conversions: scores below
    # 30 hold none, below 60 would hold the one at 30 (25%) -> nurture from 30.
    t = TierThresholds(mql_cutoff=60, max_lost_share=0.25).fit(TINY_SCORES, TINY_Y)
    assert t.nurture_cutoff_ == 60  # recall 75% is met at 60 itself: no nurture band
    t = TierThresholds(mql_cutoff=60, max_lost_share=0.1).fit(TINY_SCORES, TINY_Y)
    assert t.nurture_cutoff_ == 30 and t.lost_share_ == 0
    assert t.predict([90, 59, 30, 29]).tolist() == ["mql", "nurture", "nurture", "disqualify"]


def test_grades_can_keep_previous_cutoffs():
    g = GradeThresholds(keep_cutoffs={"A": 60, "B": 35, "C": 15}).fit(np.arange(1, 30))
    assert g.cutoffs_ == {"A": 60, "B": 35, "C": 15}
    with pytest.raises(ValueError, match="keep_cutoffs"):
        GradeThresholds(keep_cutoffs={"A": 10, "B": 35, "C": 15}).fit(np.arange(1, 30))


def test_funnel_table_by_hand():
    won = np.array([1, 0, 0, np.nan, 0, 0, 0, 0, 0, 0])  # one customer; one outcome open
    rows = funnel_table(TINY_SCORES, TINY_Y, won, weeks=2.0, n_boot=0)
    assert [r["cutoff"] for r in rows] == list(range(1, 100))
    r = rows[60 - 1]
    assert r["mqls"] == 4 and r["mqls_per_week"] == 2.0
    assert r["mql_sql_rate"] == pytest.approx(0.75)
    assert r["mql_won_rate"] == pytest.approx(1 / 3)  # of the 3 MQLs with a known outcome
    assert r["share_sql_captured"] == pytest.approx(0.75) and r["share_won_captured"] == 1.0
    assert np.isnan(r["mql_sql_rate_lo"])
    assert rows[95 - 1]["mqls"] == 0 and np.isnan(rows[95 - 1]["mql_sql_rate"])


def test_funnel_table_intervals_are_seeded_and_cover_the_point():
    rng = np.random.default_rng(1)
    s = rng.integers(1, 100, 500)
    y = (rng.random(500) < s / 100).astype(float)
    a = funnel_table(s, y, y, 10.0, n_boot=100, seed=3)
    b = funnel_table(s, y, y, 10.0, n_boot=100, seed=3)
    assert a == b
    for r in a[:90]:
        assert r["mql_sql_rate_lo"] <= r["mql_sql_rate"] <= r["mql_sql_rate_hi"]
        assert r["mqls_per_week_lo"] <= r["mqls_per_week"] <= r["mqls_per_week_hi"]


def test_policy_report_interval_covers_refitting_the_cutoff():
    rng = np.random.default_rng(2)
    s = rng.integers(1, 60, 3000)
    y = (rng.random(3000) < s / 100).astype(float)
    created = pd.Series(pd.Timestamp("2025-01-06", tz="UTC") + pd.to_timedelta(
        np.linspace(0, 70, 3000), unit="D"))
    t = PrecisionThreshold(0.4).fit(s[:1500], y[:1500])
    cal = {"scores": s[:1500], "y": y[:1500], "created_at": created[:1500]}
    test = {"scores": s[1500:], "sql": y[1500:], "won": np.full(1500, np.nan), "weeks": 5.0}
    row = policy_report(t, cal, test, n_boot=200, seed=0)
    assert row["cutoff"] == t.cutoff_ and row["cutoff_lo"] <= t.cutoff_ <= row["cutoff_hi"]
    assert row["cutoff_hi"] > row["cutoff_lo"]  # the learned cutoff itself is uncertain
    assert row["mql_sql_rate_lo"] <= 0.4 <= row["mql_sql_rate_hi"]
    assert np.isnan(row["mql_won_rate"])


@pytest.mark.parametrize("name", POLICIES)
def test_every_policy_round_trips_through_a_dict(name):
    params = {"capacity_per_week": 3, "target_precision": 0.5, "target_recall": 0.7,
              "cost_per_lead": 10, "value_per_won": 100}
    t = make_policy(name, params)
    created = pd.Series(pd.date_range("2025-01-01", periods=10, freq="D", tz="UTC"))
    from mqlml.model.thresholds import fit_policy

    fit_policy(t, TINY_SCORES, TINY_Y, created)
    back = threshold_from_dict(json_round_trip(threshold_to_dict(t)))
    assert type(back) is type(t) and back.cutoff_ == t.cutoff_
    assert back.predict(TINY_SCORES).tolist() == t.predict(TINY_SCORES).tolist()


def json_round_trip(d):
    import json

    return json.loads(json.dumps(d))


# --- on a synthetic history: each learned cutoff meets its target on the test slice --------


def _policy(model, name):
    return next(r for r in model.summary.threshold_policies if r["policy"] == name)


@pytest.mark.parametrize(
    ("policy", "figure", "target"),
    [
        ("capacity", "mqls_per_week", 25),
        ("precision", "mql_sql_rate", 0.3),
        ("recall", "share_sql_captured", 0.7),
    ],
)
def test_learned_cutoff_meets_its_target_on_the_test_slice(funnel_trained, policy, figure, target):
    row = _policy(funnel_trained[0], policy)
    assert row["target"] == pytest.approx(target) and row["target_met"]
    assert row[f"{figure}_lo"] <= target <= row[f"{figure}_hi"], row
    assert row[f"{figure}_hi"] - row[f"{figure}_lo"] < 0.7 * target  # informative, not vacuous


def test_expected_value_policy_pays_on_the_test_slice(funnel_trained):
    model = funnel_trained[0]
    row = _policy(model, "expected_value")
    ev = model.policies["expected_value"]
    assert row["cutoff"] == ev.cutoff_ and ev.cutoff_ > 1
    # the marginal lead at the cutoff is worth working, the one just below is not
    assert ev.expected_value(ev.cutoff_) > 0 >= ev.expected_value(ev.cutoff_ - 1)
    # and the MQLs it admits do win often enough to pay for the touch
    assert row["mql_won_rate_hi"] * ev.value_per_won_ > ev.cost_per_lead


def test_threshold_table_and_tiers_in_the_summary(funnel_trained):
    model, artifacts, _, _ = funnel_trained
    s = model.summary
    table = s.threshold_table
    assert len(table) == 99
    volume = [r["mqls"] for r in table]
    assert volume == sorted(volume, reverse=True)  # a higher cutoff never admits more
    tiers = s.grades.tiers
    assert tiers.nurture_min_score <= tiers.mql_min_score == model.mql.cutoff_
    rates = {r["tier"]: r["conversion_rate"] for r in tiers.test}
    assert rates["mql"] > rates["nurture"] > rates["disqualify"]
    test = artifacts["test_predictions"]
    assert set(test["tier"]) == {"mql", "nurture", "disqualify"}
    assert (test["is_mql"] == (test["tier"] == "mql")).all()
    grades = {r["grade"]: r["conversion_rate"] for r in s.grades.test}
    assert grades["A"] > grades["B"] > grades["C"] > grades["D"]
    # the shipped model's grades sit inside its tiers: A, B are MQLs, C nurture, D not
    by_grade = test.groupby("grade")["tier"].agg(set).to_dict()
    assert by_grade == {"A": {"mql"}, "B": {"mql"}, "C": {"nurture"}, "D": {"disqualify"}}


@pytest.mark.parametrize(
    ("cls", "params", "fit_args"),
    [
        (CapacityThreshold, {"capacity_per_week": 7.0}, "created"),
        (PrecisionThreshold, {"target_precision": 0.5}, "y"),
        (RecallThreshold, {"target_recall": 0.6}, "y"),
        (ExpectedValueThreshold, {"cost_per_lead": 50.0, "value_per_won": 1000.0}, "y"),
        (
            GradeThresholds,
            {"shares": (0.2, 0.2, 0.2), "keep_cutoffs": None, "mql_cutoff": 40,
             "nurture_cutoff": 10},
            "",
        ),
        (TierThresholds, {"mql_cutoff": 60, "max_lost_share": 0.1}, "y"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_thresholds_follow_the_scikit_learn_contract(cls, params, fit_args):
    from sklearn.base import clone

    t = cls(**params)
    assert t.get_params() == {**cls().get_params(), **params}
    assert cls().set_params(**params).get_params() == t.get_params()
    scores, created = _week_of_leads(np.arange(1, 100))
    y = (scores > 50).astype(float)
    extra = {"created": (created,), "y": (y,), "": ()}[fit_args]
    assert t.fit(scores, *extra) is t
    assert all(not k.startswith("_") for k in vars(t))
    fitted = {k for k in vars(t) if k.endswith("_")}
    assert fitted and set(vars(t)) == set(params) | fitted  # __init__ only stores params
    copy = clone(t)
    assert copy.get_params() == t.get_params()
    assert not any(k.endswith("_") for k in vars(copy))  # a clone is unfitted
