import numpy as np
import pytest

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


def test_sigmoid_on_a_few_values_is_exactly_predict_proba(monkeypatch):
    import mqlml.model.calibrate as calibrate

    rng = np.random.default_rng(0)
    raw = rng.normal(size=2000) * 3
    y = (rng.random(2000) < 1 / (1 + np.exp(-raw))).astype(int)
    cal = ProbabilityCalibrator("sigmoid").fit(raw, y)
    values = np.concatenate([rng.normal(size=40) * s for s in (0.1, 1, 30, 300)] + [[0.0, 710]])
    chunks = [values[i : i + 7] for i in range(0, len(values), 7)] + [values[0]]
    few = [cal.predict(c) for c in chunks]
    monkeypatch.setattr(calibrate, "_FEW_VALUES", -1)
    for a, c in zip(few, chunks, strict=True):
        b = cal.predict(c)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    monkeypatch.setattr(calibrate, "_FEW_VALUES", 64)
    with pytest.raises(ValueError, match="infinity"):
        cal.predict([0.5, np.inf])


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
