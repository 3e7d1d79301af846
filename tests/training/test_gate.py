"""The minimum-data gate: refuse with the counts and what is needed."""

import numpy as np
import pytest

from mqlml.config import DEFAULT_MIN_TEST_POSITIVES, DEFAULT_MIN_TRAIN_POSITIVES
from mqlml.errors import InsufficientDataError
from mqlml.training.gate import (
    check_gate,
    gate_counts,
)


def test_defaults_are_documented_values():
    from mqlml.config import load_config

    gate = load_config().gate
    assert (DEFAULT_MIN_TRAIN_POSITIVES, DEFAULT_MIN_TEST_POSITIVES) == (100, 30)
    assert (gate.min_train_positives, gate.min_test_positives) == (100, 30)


def test_gate_message_names_counts_and_what_is_needed():
    counts = gate_counts(np.r_[np.ones(42), np.zeros(500)], np.r_[np.ones(12), np.zeros(90)])
    with pytest.raises(InsufficientDataError) as err:
        check_gate(counts, 100, 30)
    msg = str(err.value)
    assert "train slice overall has 42 converted leads (of 542); at least 100 are needed" in msg
    assert "(gate.min_train_positives)" in msg
    assert "test slice overall has 12 converted leads (of 102); at least 30 are needed" in msg
    assert "Provide more history" in msg


def test_gate_passes_at_the_threshold():
    counts = gate_counts(np.r_[np.ones(100), np.zeros(5)], np.r_[np.ones(30), np.zeros(5)])
    check_gate(counts, 100, 30)  # exactly enough: no error


def test_gate_checks_every_segment():
    y_train = np.r_[np.ones(150), np.zeros(150)]
    seg_train = np.array(["a"] * 120 + ["b"] * 30 + ["a"] * 150)
    y_test = np.r_[np.ones(40), np.zeros(10)]
    seg_test = np.array(["a"] * 35 + ["b"] * 5 + ["a"] * 10)
    counts = gate_counts(y_train, y_test, seg_train, seg_test)
    assert [r["segment"] for r in counts] == ["(all)", "a", "b"]
    with pytest.raises(InsufficientDataError) as err:
        check_gate(counts, 100, 30, "industry")
    msg = str(err.value)
    assert "overall" not in msg  # 150 and 40 overall are enough
    assert "train slice in segment industry='b' has 30 converted leads" in msg
    assert "test slice in segment industry='b' has 5 converted leads" in msg
    assert "'a'" not in msg
    assert "coarser segments.column than 'industry'" in msg


def test_training_refuses_a_segment_below_the_gate(history):
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.training.pipeline import run_training

    cfg = load_config(None, {"tracking": {"enabled": False}, "segments": {"column": "industry"}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    with pytest.raises(InsufficientDataError, match=r"in segment industry='[^']+' has \d+ conv"):
        run_training(crm, cfg)


def test_training_refuses_overall_below_a_configured_gate(history):
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.training.pipeline import run_training

    cfg = load_config(None, {"tracking": {"enabled": False}, "gate": {"min_test_positives": 10**6}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    with pytest.raises(InsufficientDataError, match=r"test slice overall has \d+ converted leads"):
        run_training(crm, cfg)


def test_unknown_segment_column_is_named(history):
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.errors import ConfigError
    from mqlml.training.pipeline import run_training

    cfg = load_config(None, {"segments": {"column": "region"}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    with pytest.raises(ConfigError, match="segments.column is 'region', which is not a column"):
        run_training(crm, cfg)
