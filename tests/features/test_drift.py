import numpy as np
import pandas as pd
import pytest

from mqlml.features.drift import PSI_WARNING, psi, psi_table


def test_identical_samples_have_zero_psi():
    x = np.random.default_rng(0).normal(size=5000)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-12)


def test_same_distribution_is_stable_and_a_shift_is_flagged():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=20_000)
    assert psi(ref, rng.normal(size=20_000)) < 0.02
    assert psi(ref, rng.normal(loc=1.0, size=20_000)) > PSI_WARNING


def test_values_beyond_the_reference_range_drift():
    # The macro-economic columns of a regime change leave the range seen in training.
    ref = np.linspace(0, 1, 1000)
    assert psi(ref, np.full(1000, 5.0)) > 1.0


def test_hand_computed_categorical_psi():
    e = pd.Series(["a"] * 50 + ["b"] * 50)
    a = pd.Series(["a"] * 80 + ["b"] * 20)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi(e, a) == pytest.approx(expected, rel=1e-3)


def test_unseen_categories_and_new_missing_values_count_as_drift():
    e = pd.Series(["a", "b"] * 100)
    assert psi(e, pd.Series(["c"] * 200)) > PSI_WARNING
    num = pd.Series(np.arange(200, dtype=float))
    assert psi(num, pd.Series([np.nan] * 200)) > PSI_WARNING


@pytest.mark.parametrize("bad", [0, 1, -3])
def test_n_bins_is_validated(bad):
    with pytest.raises(ValueError, match=f"n_bins must be an integer of at least 2, got {bad}"):
        psi([1.0, 2.0], [1.0, 2.0], n_bins=bad)


def test_empty_sample_gives_nan():
    assert np.isnan(psi([], [1.0]))


def test_psi_table_orders_by_drift():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"stable": rng.normal(size=3000), "moved": rng.normal(size=3000)})
    new = pd.DataFrame(
        {"stable": rng.normal(size=3000), "moved": rng.normal(3, size=3000), "extra": 1}
    )
    table = psi_table(ref, new)
    assert table["column"].tolist() == ["moved", "stable"]
    assert table["drift"].tolist() == [True, False]
