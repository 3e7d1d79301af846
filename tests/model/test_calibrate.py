import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlml.model.calibrate import ProbabilityCalibrator, probability_to_score


@pytest.mark.parametrize(
    ("p", "score"), [(0.0, 1), (0.004, 1), (0.3, 30), (0.305, 30), (0.996, 99), (1.0, 99)]
)
def test_probability_to_score(p, score):
    assert probability_to_score([p])[0] == score


def _overconfident(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.normal(-1.5, 1.5, n)
    p_true = 1 / (1 + np.exp(-(0.5 * raw - 1)))  # the model's log-odds are too extreme
    y = (rng.uniform(size=n) < p_true).astype(float)
    return raw, y, p_true


@pytest.mark.parametrize("method", ["auto", "isotonic", "sigmoid"])
def test_calibration_recovers_true_probabilities(method):
    raw, y, _ = _overconfident()
    cal = ProbabilityCalibrator(method).fit(raw, y)
    raw2, _, p2 = _overconfident(seed=1)
    p = cal.predict(raw2)
    assert np.mean(np.abs(p - p2)) < 0.03
    assert cal.method_ in ("isotonic", "sigmoid")
    assert (np.diff(cal.predict(np.sort(raw2))) >= -1e-12).all()  # monotone


def test_auto_prefers_sigmoid_when_the_truth_is_logistic():
    raw, y, _ = _overconfident(n=3000)
    cal = ProbabilityCalibrator("auto").fit(raw, y)
    assert set(cal.selection_log_loss_) == {"isotonic", "sigmoid"}
    assert cal.method_ == min(cal.selection_log_loss_, key=cal.selection_log_loss_.get)


def test_auto_selects_on_the_latest_part_only():
    # The early part is calibrated one way, the late part another: the choice must be
    # judged on the late part, never on random folds mixing both.
    raw, y, _ = _overconfident(n=2000)
    cal = ProbabilityCalibrator("auto", selection_fraction=0.3).fit(raw, y)
    early = ProbabilityCalibrator("auto", selection_fraction=0.3).fit(raw[:1400], y[:1400])
    assert cal.selection_log_loss_ != early.selection_log_loss_


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_round_trip_through_dict(method):
    raw, y, _ = _overconfident()
    cal = ProbabilityCalibrator(method).fit(raw, y)
    back = ProbabilityCalibrator.from_dict(cal.to_dict())
    grid = np.linspace(-8, 5, 200)
    np.testing.assert_allclose(back.predict(grid), cal.predict(grid), atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        ProbabilityCalibrator("beta").fit([0.0, 1.0], [0, 1])
    with pytest.raises(ValueError, match="both converted and unconverted"):
        ProbabilityCalibrator().fit([0.1, 0.2], [0, 0])
    with pytest.raises(RuntimeError, match="not fitted"):
        ProbabilityCalibrator().predict([0.0])


_RNG = np.random.default_rng(0)
_RAW = _RNG.normal(size=2000) * 3
_Y = (_RNG.random(2000) < 1 / (1 + np.exp(-_RAW))).astype(int)
FITTED = {m: ProbabilityCalibrator(m).fit(_RAW, _Y) for m in ("isotonic", "sigmoid")}
LOG_ODDS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 710.0])


def _by_definition(cal: ProbabilityCalibrator, raw: np.ndarray) -> np.ndarray:
    """scikit-learn's own mapping (its input checks included), clipped like predict."""
    if cal.method_ == "isotonic":
        p = cal.model_.predict(raw)
    else:
        p = cal.model_.predict_proba(raw.reshape(-1, 1))[:, 1]
    return np.clip(p, 1e-4, 1 - 1e-4)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(FITTED)),
    st.lists(LOG_ODDS, min_size=1, max_size=40),
    st.integers(1, 7),
)
def test_calibrating_a_batch_equals_calibrating_its_parts(method, values, size):
    cal = FITTED[method]
    raw = np.array(values)
    parts = [raw[i : i + size] for i in range(0, len(raw), size)]
    if not np.isfinite(raw).all():
        with pytest.raises(ValueError, match="raw must be finite log-odds"):
            cal.predict(raw)
        for part in parts:
            if not np.isfinite(part).all():
                with pytest.raises(ValueError, match="raw must be finite log-odds"):
                    cal.predict(part)
        return
    whole = cal.predict(raw)
    assert whole.shape == raw.shape and whole.dtype == np.float64
    np.testing.assert_array_equal(whole, np.concatenate([cal.predict(p) for p in parts]))
    np.testing.assert_array_equal(whole, _by_definition(cal, raw))


def test_non_finite_log_odds_are_an_error_naming_where():
    with pytest.raises(ValueError, match=r"in 2 of 3 values \(first at position 1: inf\)"):
        FITTED["sigmoid"].predict([0.5, np.inf, np.nan])


@pytest.mark.parametrize(
    "params", [{}, {"method": "sigmoid"}, {"method": "isotonic", "selection_fraction": 0.5}]
)
def test_follows_the_scikit_learn_contract(params):
    from sklearn.base import clone

    raw, y, _ = _overconfident(600)
    cal = ProbabilityCalibrator(**params)
    assert cal.get_params() == {"method": "auto", "selection_fraction": 0.3, **params}
    fitted = cal.fit(raw, y)
    assert fitted is cal and cal.method_ in ("isotonic", "sigmoid")
    copy = clone(cal)
    assert copy.get_params() == cal.get_params()
    assert not hasattr(copy, "method_")  # clone is unfitted
    assert ProbabilityCalibrator().set_params(**params).get_params() == cal.get_params()
