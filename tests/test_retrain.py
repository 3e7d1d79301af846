"""mqlml retrain against a known change (tests/monitor_worlds.py).

The champion was trained on the history before the shift. Retrained on the shifted
history (a new lead source, the base rate down by one log-odds), the challenger wins on the
newest mature leads and is promoted; retrained on the unchanged history, it is not better by
``registry.min_improvement`` and the champion stays.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import yaml
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.config import config_to_dict, load_config
from mqlml.labels.labelled import label_history
from mqlml.model.bundle import save_bundle
from mqlml.serving.pyfunc import Holdout, lead_rows
from mqlml.serving.tracking import (
    CHALLENGER_RUN_TAG,
    CHAMPION,
    CHAMPION_EVALUATION_TAG,
    log_training,
)
from mqlml.workflow import COMPARISON_KEY, retrain

#: log_loss sees the fall of the base rate that ROC AUC (a ranking) barely does.
METRIC = "log_loss"
#: Better by this much, or the champion stays (the unchanged world must not clear it).
MIN_IMPROVEMENT = 0.01


def _config(tmp, **retrain_settings):
    return load_config(None, {
        "name": "retrained", "models_dir": str(tmp / "models"),
        "tracking": {"enabled": True, "uri": f"sqlite:///{tmp / 'mlflow.db'}"},
        "registry": {"metric": METRIC, "min_improvement": MIN_IMPROVEMENT},
        "thresholds": {"capacity_per_week": 60},
        "model": {"max_boost_rounds": 40, "num_threads": 1}, "funnel": {"enabled": False},
        "retrain": retrain_settings,
    })


def _register_champion(worlds, world, cfg):
    """The worlds' model (trained before the shift) registered as champion in cfg's store."""
    labelled = label_history(world.crm, cfg)
    # Its gate rows: mature leads from before the shift (a first champion only needs an AUC).
    keep = (labelled.leads["created_at"] < worlds.plain.snapshot_at - pd.Timedelta(days=300)
            ).to_numpy().nonzero()[0][-300:]
    rows = lead_rows(labelled.leads.iloc[keep], labelled.activities, labelled.as_of.iloc[keep])
    model = replace(worlds.model, config=cfg)
    bundle = save_bundle(model, cfg.models_dir)
    tracked = log_training(cfg, bundle, model, Holdout(rows, labelled.y[keep]))
    assert tracked.gate.promoted, tracked.gate.reason
    return tracked.gate.version


def _champion(cfg) -> str:
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    return str(client.get_model_version_by_alias(cfg.name, CHAMPION).version)


def test_challenger_on_the_shifted_history_wins_and_is_promoted(monitor_worlds, tmp_path):
    cfg = _config(tmp_path, compare_leads=800)
    old = _register_champion(monitor_worlds, monitor_worlds.shifted, cfg)
    result = retrain(monitor_worlds.shifted.crm, cfg, echo=lambda *a, **k: None)
    c = result.comparison
    figures = {r["metric"]: r for r in c["metrics"]}
    assert c["leads"] == 800
    # The same leads, newest first: every one after the shift, none the champion saw.
    assert pd.Timestamp(c["period"][0], tz="UTC") >= monitor_worlds.shifted.snapshot_at \
        - pd.Timedelta(days=160)
    loss = figures[METRIC]
    assert loss["challenger"] < loss["champion"] - MIN_IMPROVEMENT
    assert result.promoted and _champion(cfg) != old
    assert result.message.startswith(f"challenger version {_champion(cfg)} is now champion "
                                     f"(was version {old})")
    assert c["grades"]["cutoffs"] == "learned anew"
    assert 0 < c["grades"]["leads_changing_grade"] <= 800
    # Both evaluations in MLflow, each run naming the other.
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    ours = client.get_run(result.challenger_run_id)
    theirs = client.get_run(result.champion_run_id)
    assert ours.data.tags[CHAMPION_EVALUATION_TAG] == result.champion_run_id
    assert theirs.data.tags[CHALLENGER_RUN_TAG] == result.challenger_run_id
    assert theirs.data.metrics[f"compare.{METRIC}"] == pytest.approx(loss["champion"])
    assert ours.data.metrics[f"compare.{METRIC}"] == pytest.approx(loss["challenger"])
    # The challenger's report has the section, with the champion's figure.
    html = (result.bundle / "report.html").read_text(encoding="utf-8")
    assert "id='challenger'" in html and f"{loss['champion']:.4f}" in html
    assert result.model.summary.to_dict()[COMPARISON_KEY]["leads"] == 800


def test_cli_retrain_on_unchanged_history_keeps_the_champion(monitor_worlds, tmp_path):
    cfg = _config(tmp_path)
    old = _register_champion(monitor_worlds, monitor_worlds.plain, cfg)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config_to_dict(cfg)), encoding="utf-8")
    res = CliRunner().invoke(app, [
        "retrain", "--data", str(monitor_worlds.plain.data_dir), "--config", str(config_file),
        "--keep-grades", "--compare-days", "60",
    ])
    assert res.exit_code == 0, res.output
    assert _champion(cfg) == old
    assert f"champion version {old} stays; challenger version" in res.output
    assert "was not promoted: holdout log_loss" in res.output
    assert "not good enough against the champion's" in res.output
    assert "grade cutoffs kept from the champion" in res.output
    bundle = res.stdout.strip().splitlines()[-1]
    assert (tmp_path / "models" / "retrained") in Path(bundle).parents
