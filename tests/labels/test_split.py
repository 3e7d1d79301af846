import numpy as np
import pandas as pd
import pytest

from conftest import make_leads
from mqlml.columns import CREATED_AT
from mqlml.labels.split import time_split


def test_slices_are_ordered_in_time_and_cover_every_lead():
    leads = make_leads(100).sample(frac=1, random_state=0).reset_index(drop=True)
    y = np.tile([0.0, 1.0], 50)
    s = time_split(leads, y, (0.6, 0.2, 0.2))
    assert sorted(np.concatenate([s.train, s.calibration, s.test]).tolist()) == list(range(100))
    assert (len(s.train), len(s.calibration), len(s.test)) == (60, 20, 20)
    created = leads[CREATED_AT]
    assert created.iloc[s.train].max() < created.iloc[s.calibration].min()
    assert created.iloc[s.calibration].max() < created.iloc[s.test].min()
    assert [p.name for p in s.periods] == ["train", "calibration", "test"]
    assert s.periods[0].n_positive == int(y[s.train].sum())
    assert "calibration" in s.describe()


def test_ties_are_split_deterministically():
    leads = make_leads(10)
    leads[CREATED_AT] = pd.Timestamp("2025-01-01", tz="UTC")
    a = time_split(leads, np.zeros(10), (0.5, 0.3, 0.2))
    b = time_split(leads.iloc[::-1].reset_index(drop=True), np.zeros(10), (0.5, 0.3, 0.2))
    ids = leads["lead_id"].to_numpy()
    rev = ids[::-1]
    assert sorted(ids[a.test]) == sorted(rev[b.test]) == ["L00008", "L00009"]


@pytest.mark.parametrize("fractions", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.0,)])
def test_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        time_split(make_leads(10), np.zeros(10), fractions)


@pytest.mark.parametrize("k", [10, 15, 31])
def test_calibration_slice_is_the_newest_pre_test_block_with_k_positives(k):
    leads = make_leads(200).sample(frac=1, random_state=1).reset_index(drop=True)
    rng = np.random.default_rng(k)
    y = (rng.random(200) < 0.3).astype(float)
    s = time_split(leads, y, (0.6, 0.2, 0.2), calibration_positives=k)
    assert len(s.test) == 40  # the test share is kept
    assert y[s.calibration].sum() == k
    created = leads[CREATED_AT]
    # The smallest such block: its oldest lead is a converted one.
    oldest = s.calibration[np.argmin(created.iloc[s.calibration].to_numpy())]
    assert y[oldest] == 1
    assert created.iloc[s.train].max() < created.iloc[s.calibration].min()
    assert created.iloc[s.calibration].max() < created.iloc[s.test].min()
    assert len(s.train) + len(s.calibration) == 160


def test_too_few_positives_for_the_calibration_slice_is_named():
    from mqlml.errors import InsufficientDataError

    leads = make_leads(100)
    y = np.zeros(100)
    y[:12] = 1.0
    with pytest.raises(InsufficientDataError, match="calibration_positives is 12, but the 80"):
        time_split(leads, y, (0.6, 0.2, 0.2), calibration_positives=12)


def test_calibration_positives_below_ten_is_refused():
    from mqlml.config import load_config
    from mqlml.errors import ConfigError

    with pytest.raises(ConfigError, match="calibration_positives must be at least 10, got 3"):
        load_config(None, {"split": {"calibration_positives": 3}})
