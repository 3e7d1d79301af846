import numpy as np
import pandas as pd
import pytest

from mqlml.thresholds import CapacityThreshold, GradeThresholds


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
