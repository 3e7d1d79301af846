import numpy as np
import pandas as pd
import pytest

from conftest import make_leads, make_outcomes
from mqlml.columns import LABEL, WON_AT
from mqlml.labels.labelling import (
    CONVERTED_BEFORE_AS_OF,
    ELIGIBLE,
    IMMATURE,
    STATUS,
    make_labels,
    training_as_of,
)

OBS = 14


def _labels(leads, outcomes, target="sql", horizon=30, snapshot=None):
    snapshot = snapshot if snapshot is not None else pd.Timestamp("2026-01-01", tz="UTC")
    return make_labels(leads, outcomes, training_as_of(leads, OBS), target, horizon, snapshot)


@pytest.mark.parametrize(
    ("sql_after_days", "expected_status", "expected_label"),
    [
        (OBS + 5, ELIGIBLE, 1.0),  # converted inside the horizon
        (OBS + 30, ELIGIBLE, 1.0),  # exactly at the horizon's end still counts
        (OBS + 31, ELIGIBLE, 0.0),  # too late
        (OBS, CONVERTED_BEFORE_AS_OF, np.nan),  # at as-of: already in sales' hands
        (3, CONVERTED_BEFORE_AS_OF, np.nan),
    ],
)
def test_label_of_one_lead(sql_after_days, expected_status, expected_label):
    leads = make_leads(3)
    outcomes = make_outcomes(leads, {"L00000": sql_after_days})
    frame = _labels(leads, outcomes).frame
    assert frame.loc[0, STATUS] == expected_status
    np.testing.assert_equal(frame.loc[0, LABEL], expected_label)
    assert frame.loc[1, STATUS] == ELIGIBLE and frame.loc[1, LABEL] == 0.0


def test_immature_leads_are_excluded_even_when_already_converted():
    leads = make_leads(4, start="2025-12-01")
    # snapshot 2025-12-20: as-of is 12-15 .. 12-16, horizon 30 days ends after the snapshot
    outcomes = make_outcomes(leads, {"L00000": OBS + 2})
    res = _labels(leads, outcomes, snapshot=pd.Timestamp("2025-12-20", tz="UTC"))
    assert (res.frame[STATUS] == IMMATURE).all()
    assert res.counts[IMMATURE] == 4 and res.counts[ELIGIBLE] == 0
    assert res.frame[LABEL].isna().all()


def test_maturity_depends_on_the_horizon():
    leads = make_leads(1, start="2025-01-01")
    snapshot = pd.Timestamp("2025-02-14", tz="UTC")  # 44 days after creation
    assert (
        _labels(leads, make_outcomes(leads, {}), horizon=30, snapshot=snapshot).counts[ELIGIBLE]
        == 1
    )
    assert (
        _labels(leads, make_outcomes(leads, {}), horizon=31, snapshot=snapshot).counts[IMMATURE]
        == 1
    )


def test_won_target_uses_won_at():
    leads = make_leads(2)
    outcomes = make_outcomes(leads, {"L00000": OBS + 5, "L00001": OBS + 5})
    outcomes.loc[1, WON_AT] = pd.NaT
    res = _labels(leads, outcomes, target="won", horizon=60)
    assert res.frame[LABEL].tolist() == [1.0, 0.0]
    # won 35 days after as-of is outside a 30-day horizon
    assert _labels(leads, outcomes, target="won", horizon=30).frame[LABEL].tolist() == [0.0, 0.0]


def test_counts_account_for_every_lead():
    leads = make_leads(50, start="2025-11-01")
    outcomes = make_outcomes(leads, {"L00000": 2, "L00001": OBS + 1, "L00002": OBS + 3})
    res = _labels(leads, outcomes, snapshot=pd.Timestamp("2025-12-20", tz="UTC"))
    c = res.counts
    assert c[ELIGIBLE] + c[IMMATURE] + c[CONVERTED_BEFORE_AS_OF] == c["leads"] == 50
    assert c[CONVERTED_BEFORE_AS_OF] == 1 and c["positives"] == 2


def test_outcomes_after_the_snapshot_do_not_exist_for_labels():
    # A label may only use what was known at the snapshot: an outcome recorded later
    # than the snapshot cannot be in the data, and an eligible lead's horizon ends before it.
    leads = make_leads(1, start="2025-01-01")
    res = _labels(leads, make_outcomes(leads, {}), horizon=30)
    horizon_end = res.frame["as_of"].iloc[0] + pd.Timedelta(days=30)
    assert horizon_end <= res.snapshot_at


@pytest.mark.parametrize(("target", "horizon"), [("mql", 30), ("sql", 0), ("sql", -3)])
def test_bad_arguments_are_named(target, horizon):
    leads = make_leads(2)
    with pytest.raises(ValueError, match="target|horizon_days"):
        _labels(leads, make_outcomes(leads, {}), target=target, horizon=horizon)
