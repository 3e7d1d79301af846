"""mqlml retrain against a known change (tests/monitor_worlds.py).

The champion was trained on the history before the shift. Retrained on the shifted
history (a new lead source, the base rate down by one log-odds), the challenger wins on the
newest mature leads and is promoted; retrained on the unchanged history, it is not better by
``registry.min_improvement`` and the champion stays.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from monitor_worlds import AT, _before
from mqlml import columns as C
from mqlml.cli import app
from mqlml.config import config_to_dict, load_config
from mqlml.data.contract import validate_crm
from mqlml.errors import MqlmlError
from mqlml.labels.labelled import label_history
from mqlml.model.bundle import load_bundle, save_bundle
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
MIN_IMPROVEMENT = 0.005
#: The registered model's name in every store.
NAME = "retrained"


def _config(tmp, **retrain_settings):
    return load_config(None, {
        "name": NAME, "models_dir": str(tmp / "models"),
        "tracking": {"enabled": True, "uri": f"sqlite:///{tmp / 'mlflow.db'}"},
        "registry": {"metric": METRIC, "min_improvement": MIN_IMPROVEMENT},
        "thresholds": {"capacity_per_week": 60},
        "model": {"max_boost_rounds": 40, "num_threads": 1}, "funnel": {"enabled": False},
        "retrain": retrain_settings,
    })


@pytest.fixture(scope="module")
def champion_db(monitor_worlds, tmp_path_factory):
    """A store whose champion is the worlds' model (trained before the shift); each test
    copies the database file (the artifacts stay where the experiment records them)."""
    tmp = tmp_path_factory.mktemp("retrain-champion")
    cfg = _config(tmp)
    labelled = label_history(monitor_worlds.plain.crm, cfg)
    # Gate rows of a first champion (it only needs an AUC): mature leads before the shift.
    before = (labelled.leads["created_at"] < AT).to_numpy().nonzero()[0][-300:]
    rows = lead_rows(labelled.leads.iloc[before], labelled.activities,
                     labelled.as_of.iloc[before])
    model = replace(monitor_worlds.model, config=cfg)
    tracked = log_training(cfg, save_bundle(model, cfg.models_dir), model,
                           Holdout(rows, labelled.y[before],
                                   labelled.leads["created_at"].to_numpy()[before]))
    assert tracked.gate.promoted, tracked.gate.reason
    return tmp / "mlflow.db", tracked.gate.version


def _store(champion_db, tmp, **retrain_settings):
    """A config on a copy of the champion's store, and the champion's version."""
    db, version = champion_db
    shutil.copyfile(db, tmp / "mlflow.db")
    return _config(tmp, **retrain_settings), version


def _champion(cfg) -> str:
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    return str(client.get_model_version_by_alias(cfg.name, CHAMPION).version)


def test_challenger_on_the_shifted_history_wins_and_is_promoted(
    monitor_worlds, champion_db, tmp_path
):
    cfg, old = _store(champion_db, tmp_path, compare_leads=800)
    result = retrain(monitor_worlds.shifted.crm, cfg, echo=lambda *a, **k: None)
    c = result.comparison
    figures = {r["metric"]: r for r in c["metrics"]}
    assert c["leads"] == 800
    # The same leads, newest first: every one after the shift, none the champion saw.
    assert pd.Timestamp(c["period"][0], tz="UTC") >= AT
    assert c["leads_the_champion_may_have_seen"] == 0
    # No compared lead could have matured by the end of the champion's data.
    s = monitor_worlds.model.summary
    end = pd.Timestamp(s.snapshot_at)
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    last = end - pd.Timedelta(days=s.observation_days + s.horizon_days)
    assert pd.Timestamp(c["period"][0], tz="UTC") > last
    loss = figures[METRIC]
    assert loss["challenger"] < loss["champion"] - MIN_IMPROVEMENT
    assert result.promoted and _champion(cfg) != old
    assert result.message.startswith(f"challenger version {_champion(cfg)} is now champion "
                                     f"(was version {old})")
    # The verdict returned is the registry's own decision; the saved report has none.
    assert c["gate"]["passes"] is True and c["gate"]["reason"] in result.message
    assert "passes" not in result.model.summary.to_dict()[COMPARISON_KEY]["gate"]
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


@pytest.mark.parametrize("refit_on_all", [False, True], ids=["measured", "refit on all"])
def test_cli_retrain_on_unchanged_history_keeps_the_champion(
    monitor_worlds, champion_db, tmp_path, refit_on_all
):
    cfg, old = _store(champion_db, tmp_path)
    # A challenger refit on its own test slice is still judged by the model that never saw
    # it: scored by the refit one, it would win on leads it learned from.
    cfg = cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"refit_on_all_history": refit_on_all})
    })
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
    bundle = Path(res.stdout.strip().splitlines()[-1])
    assert (tmp_path / "models" / NAME) in bundle.parents
    kept = load_bundle(bundle)
    assert kept.grades.cutoffs_ == monitor_worlds.model.grades.cutoffs_
    assert kept.summary.to_dict()["grades"]["kept_from"] == (
        f"models:/{NAME}@champion (version {old})")


def _scrambled(crm, seed: int = 0):
    """``crm`` with each outcome moved to another lead of the same week (same delay after
    creation): conversions no longer follow anything a lead shows."""
    rng = np.random.default_rng(seed)
    leads = crm.leads[[C.LEAD_ID, C.CREATED_AT]]
    out = crm.outcomes.merge(leads, on=C.LEAD_ID)
    week = leads[C.CREATED_AT].dt.floor("7D")
    new_id = pd.Series(leads[C.LEAD_ID].to_numpy(), index=leads[C.LEAD_ID].to_numpy())
    for _, ids in leads.groupby(week)[C.LEAD_ID]:
        new_id[ids.to_numpy()] = rng.permutation(ids.to_numpy())
    out[C.LEAD_ID] = new_id[out[C.LEAD_ID]].to_numpy()
    moved = out[C.LEAD_ID].map(leads.set_index(C.LEAD_ID)[C.CREATED_AT]) - out[C.CREATED_AT]
    for c in (C.SQL_AT, C.WON_AT, C.LOST_AT):
        out[c] = out[c] + moved
    end = crm.leads[C.CREATED_AT].max()
    out = out[~(out[[C.SQL_AT, C.WON_AT, C.LOST_AT]] > end).any(axis=1)]
    return validate_crm(crm.leads, crm.activities, out.drop(columns=C.CREATED_AT),
                        load_config(None, {}).data)


def test_challenger_on_a_scrambled_history_leaves_the_champion(
    monitor_worlds, champion_db, tmp_path
):
    cfg, old = _store(champion_db, tmp_path)
    result = retrain(_scrambled(monitor_worlds.plain.crm), cfg, echo=lambda *a, **k: None)
    auc = {r["metric"]: r for r in result.comparison["metrics"]}["roc_auc"]["challenger"]
    assert auc < 0.6
    assert not result.promoted and _champion(cfg) == old
    assert result.message.startswith(f"champion version {old} stays; challenger version")
    assert f"holdout ROC AUC {auc:.4f} is below registry.min_roc_auc 0.6" in result.message


def test_comparison_with_only_leads_the_champion_may_have_seen_is_refused(
    monitor_worlds, champion_db, tmp_path
):
    # Retrained on the champion's own history: every compared lead predates its data end.
    cfg, old = _store(champion_db, tmp_path, compare_leads=300)
    crm = validate_crm(*_before(monitor_worlds.plain.crm, AT), cfg.data)
    with pytest.raises(MqlmlError, match="retrain.compare_days=.*retrain.compare_leads=300"):
        retrain(crm, cfg, echo=lambda *a, **k: None)
    assert _champion(cfg) == old


def test_compared_leads_the_champion_may_have_seen_are_left_out_and_counted(
    monitor_worlds, champion_db, tmp_path
):
    # A month more history than the champion's: the challenger's test slice starts before
    # the newest lead whose outcome reached the champion and ends after it.
    cfg, _ = _store(champion_db, tmp_path)
    crm = validate_crm(*_before(monitor_worlds.shifted.crm, AT + pd.Timedelta(days=30)),
                       cfg.data)
    said = []
    result = retrain(crm, cfg, echo=lambda message, **_: said.append(message))
    c = result.comparison
    seen = c["leads_the_champion_may_have_seen"]
    until = monitor_worlds.model.summary.learned_until()
    assert seen > 0 and c["leads"] > 0
    # Only leads created after the champion's data are compared, and the user is told.
    assert c["period"][0] >= until[:10]
    told = [m for m in said if "are left out" in m]
    assert told and told[0].startswith(
        f"{seen} of the {seen + c['leads']} leads chosen for the comparison are left out: "
        f"they were created by {until[:10]}"
    )


def test_cli_retrain_without_the_registry_fails_before_training(tmp_path):
    # Promotion goes only through the registry: no tracking, no retrain (exit 2, no bundle).
    res = CliRunner().invoke(app, [
        "retrain", "--data", str(tmp_path / "nowhere"), "--models-dir", str(tmp_path / "m"),
        "--config", str(_write(tmp_path, {"tracking": {"enabled": False}})),
    ])
    assert res.exit_code == 2
    assert "promotes only through the model registry: tracking.enabled" in res.output
    assert not (tmp_path / "m").exists()


def _write(tmp, raw: dict) -> Path:
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path
