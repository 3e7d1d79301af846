import re

import pytest

from mqlml.config import load_config
from mqlml.errors import ConfigError


def test_defaults_and_stage_horizons():
    cfg = load_config()
    assert cfg.labels.target == "sql" and cfg.labels.horizon == 90
    won = load_config(None, {"labels": {"target": "won"}})
    assert won.labels.horizon == 180
    assert cfg.split_fractions == (0.6, 0.2, 0.2)


def test_yaml_file_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "name: acme\nlabels:\n  horizon_days: 60\n"
        "data:\n  column_mapping:\n    leads:\n      Lead ID: lead_id\n"
    )
    cfg = load_config(p, {"labels": {"target": "won"}})
    assert cfg.name == "acme" and cfg.labels.horizon == 60 and cfg.labels.target == "won"
    assert cfg.data.column_mapping["leads"] == {"Lead ID": "lead_id"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("labels:\n  horizon_days: -3\n", "horizon_days must be a positive integer, got -3"),
        ("labels:\n  target: mql\n", "labels.target"),
        ("bogus: 1\n", "bogus: Extra inputs are not permitted"),
        ("split:\n  train: 0.9\n", "split fractions must sum to 1"),
        ("thresholds:\n  capacity_per_week: 0\n", "capacity_per_week must be positive"),
        ("features:\n  windows_days: [0, 7]\n", "windows_days must be positive"),
        ("name: 'a b'\n", "name must use letters"),
        ("name: 'a/b'\n", "name must use letters"),
        ("name: '..'\n", "name must not start with '.'"),
        ("name: '.hidden'\n", "name must not start with '.'"),
        ("- a\n- b\n", "mapping at the top level"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, raw, message):
    p = tmp_path / "bad.yaml"
    p.write_text(raw)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(p)
    assert str(p) in str(err.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/config.yaml")


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"thresholds": {"policy": "gut"}}, "thresholds.policy"),
        ({"thresholds": {"target_recall": 0}}, "target_recall must be in (0, 1], got 0"),
        ({"thresholds": {"cost_per_lead": -1}}, "cost_per_lead must be zero or positive, got -1"),
        ({"thresholds": {"disqualify_max_share": 1}}, "disqualify_max_share must be in [0, 1)"),
        ({"gate": {"min_test_positives": -2}}, "min_test_positives must be zero or positive"),
        ({"funnel": {"won_horizon_days": 0}}, "won_horizon_days must be a positive integer"),
        ({"backtest": {"test_share": 1.5}}, "test_share must be between 0 and 1, got 1.5"),
        ({"segments": {"col": "industry"}}, "segments.col"),
    ],
)
def test_threshold_funnel_backtest_gate_settings_are_validated(over, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, over)


@pytest.mark.parametrize(("threads", "expected"), [(None, None), (0, 0), (3, 3)])
def test_model_num_threads_setting(threads, expected):
    assert load_config(None, {"model": {"num_threads": threads}}).model.num_threads == expected


def test_negative_num_threads_is_refused():
    with pytest.raises(ConfigError, match="model.num_threads must be 0 or a positive integer"):
        load_config(None, {"model": {"num_threads": -2}})
