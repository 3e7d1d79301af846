import numpy as np
import pytest

from mqlml.model.metrics import classification_metrics, expected_calibration_error, lift_at


def test_lift_by_hand():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 10)
    p = np.where(y == 1, 0.9, 0.1)
    # the top 10 leads all convert, against a base rate of 20%
    assert lift_at(y, p, 0.1) == pytest.approx(1.0 / 0.2)
    assert lift_at(y, p, 0.2) == pytest.approx(1.0 / 0.2)
    assert lift_at(y, p, 0.4) == pytest.approx(0.5 / 0.2)


def test_metrics_of_a_perfect_and_a_useless_model():
    y = np.array([0, 0, 1, 1])
    perfect = classification_metrics(y, np.array([0.01, 0.02, 0.98, 0.99]))
    assert perfect["roc_auc"] == 1.0 and perfect["pr_auc"] == 1.0
    assert perfect["brier"] < 0.001
    flat = classification_metrics(y, np.full(4, 0.5))
    assert flat["roc_auc"] == 0.5 and flat["brier"] == pytest.approx(0.25)


def test_single_class_gives_nan_not_an_error():
    m = classification_metrics(np.zeros(5), np.full(5, 0.1))
    assert np.isnan(m["roc_auc"]) and m["base_rate"] == 0


def test_ece():
    y = np.array([1, 0, 1, 0])
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(4, 0.9)) == pytest.approx(0.4)
