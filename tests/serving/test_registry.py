"""The model registry on a real ``mlflow server`` (loopback, SQLite backend, local
artifacts): every training registers a version, ``champion`` moves only through the gate,
``mqlml promote`` / ``mqlml rollback`` move it by hand and ``mqlml score`` reads it."""

import json
import sys

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mlflow_helpers import (
    assert_same_scores,
    batch,
    config_for,
    free_port,
    register,
    running,
    score_with_cli,
    venv_env,
)
from mqlml.cli import app
from mqlml.config import load_config
from mqlml.errors import ConfigError
from mqlml.labels.labelled import label_history
from mqlml.serving.tracking import CHAMPION, GATE_TAG, PREVIOUS_CHAMPION_TAG
from mqlml.workflow import fit_labelled

NAME = "gated"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 with a SQLite store, stopped after the module."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination",
        str(tmp / "artifacts"),
    ]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, f"{url}/health", tmp / "server.log", venv_env()):
        yield url, tmp


def _champion(client) -> str:
    return str(client.get_model_version_by_alias(NAME, CHAMPION).version)


def _cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


def test_gate_promote_rollback_and_score_through_a_real_server(
    server, trained, tmp_path, monkeypatch
):
    url, tmp = server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    model, artifacts, crm, base = trained
    cfg = config_for(base, url, NAME, tmp_path / "models")
    # Trainings on the same data that never learn from their test slice, so that a later
    # one may judge them on it: a deliberately weak one (one shallow tree) and the recipe.
    measured = {"refit_on_all_history": False}
    weak_cfg = config_for(base, url, NAME, tmp_path / "models",
                          model={"max_boost_rounds": 1, "num_leaves": 2, **measured})
    weak, weak_artifacts = fit_labelled(label_history(crm, weak_cfg), weak_cfg)
    strong_cfg = config_for(base, url, NAME, tmp_path / "models", model=measured)
    strong, strong_artifacts = fit_labelled(label_history(crm, strong_cfg), strong_cfg)
    client = MlflowClient(url)

    # 1. the first version that passes min_roc_auc becomes champion
    _, first = register(weak, weak_artifacts, crm, weak_cfg)
    assert first.gate.promoted and first.gate.version == "1"
    assert _champion(client) == "1"

    # 2. a better one replaces it, remembering the one it replaced
    _, second = register(strong, strong_artifacts, crm, strong_cfg)
    g = second.gate
    assert g.promoted and g.champion_version == "1" and g.value > g.champion_value
    assert _champion(client) == "2"
    assert client.get_model_version(NAME, "2").tags[PREVIOUS_CHAMPION_TAG] == "1"

    # 3. a worse one is registered but the champion stays
    _, third = register(weak, weak_artifacts, crm, weak_cfg)
    g = third.gate
    assert g.version == "3" and not g.promoted
    assert g.champion_version == "2" and g.value < g.champion_value
    assert "not good enough against the champion's" in g.reason
    assert _champion(client) == "2"
    assert json.loads(client.get_model_version(NAME, "3").tags[GATE_TAG])["promoted"] is False
    # the gate compared both on the same holdout: the champion's figure is its own test AUC
    assert g.champion_value == pytest.approx(strong.summary.metrics_test.model.roc_auc)
    assert g.compared_leads == len(artifacts["test_predictions"])

    # 4. the recipe refit on all history (the default) is judged by its measured twin,
    # which is the champion's model: as good, so promoted
    strong_bundle, fourth = register(model, artifacts, crm, cfg)
    g = fourth.gate
    assert model.summary.model.learned_from_test_slice
    assert g.promoted and g.champion_version == "2"
    assert g.value == pytest.approx(g.champion_value)
    assert _champion(client) == "4"

    # 5. it learned from every lead of this holdout: nothing left to judge it on fairly
    _, fifth = register(weak, weak_artifacts, crm, weak_cfg)
    g = fifth.gate
    assert not g.promoted and g.champion_version == "4" and g.champion_value is None
    assert g.compared_leads is None
    assert "learned from leads created up to" in g.reason
    assert f"0 of the {len(artifacts['test_predictions'])} holdout leads came later" in g.reason
    assert "gate.min_test_positives" in g.reason and "mqlml promote" in g.reason
    assert _champion(client) == "4"

    # 6. batch scoring from the registry equals scoring the champion's bundle
    leads, acts = batch(crm)
    from_registry = score_with_cli(f"models:/{NAME}@{CHAMPION}", leads, acts, tmp_path / "a")
    from_bundle = score_with_cli(strong_bundle, leads, acts, tmp_path / "b")
    assert_same_scores(from_registry, from_bundle)

    # 7. rollback returns to the replaced champion; promote moves by hand
    code, out = _cli("rollback", "--name", NAME)
    assert code == 0 and "champion is version 2 (was 4)" in out
    code, out = _cli("rollback", "--name", NAME)
    assert code == 0 and "champion is version 1 (was 2)" in out
    assert _champion(client) == "1"
    code, out = _cli("promote", "--name", NAME, "--version", "3", "--tracking-uri", url)
    assert code == 0 and "champion is version 3 (was 1)" in out
    code, out = _cli("rollback", "--name", NAME)
    assert code == 0 and "champion is version 1 (was 3)" in out

    # 8. clear errors, no traceback
    code, out = _cli("rollback", "--name", NAME)
    assert code == 2 and "records no previous champion" in out and "Traceback" not in out
    code, out = _cli("promote", "--name", NAME, "--version", "99")
    assert code == 2 and "no version 99" in out
    code, out = _cli("rollback", "--name", "nobody")
    assert code == 2 and "has no 'champion' alias" in out
    code, out = _cli(
        "score", "--model", "models:/nobody@champion", "--leads", "x.csv", "--out", "y.csv"
    )
    assert code == 2 and "models:/nobody@champion could not be loaded" in out


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        ({"min_roc_auc": 1.5}, "registry.min_roc_auc: min_roc_auc must be between 0 and 1"),
        ({"metric": "accuracy"}, "registry.metric"),
        ({"alias": "prod"}, "registry.alias"),
    ],
)
def test_registry_config_errors_name_the_key(registry, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"registry": registry})
    assert message in str(err.value)


# --- one resolution of --model (issue 19, item 3) ------------------------------------------


@pytest.fixture(scope="module")
def two_versions(trained, tmp_path_factory):
    """``resolved`` registered twice in a SQLite store: version 2 is the newest folder,
    version 1 the champion (version 2 learned from the same history, so the gate has no
    lead to judge version 1 on fairly and keeps it)."""
    from mlflow_helpers import champion_store

    tmp = tmp_path_factory.mktemp("resolve")
    uri, cfg, first, _ = champion_store(trained, tmp, "resolved")
    model, artifacts, crm, _ = trained
    second, tracked = register(model, artifacts, crm, cfg)
    assert tracked.gate.version == "2" and not tracked.gate.promoted
    return uri, tmp, first, second, crm


def test_model_folder_scores_with_the_champion_and_says_so(two_versions, monkeypatch):
    uri, tmp, first, second, crm = two_versions
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    elsewhere = tmp / "elsewhere-folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    leads, acts = batch(crm)
    leads.to_csv("leads.csv", index=False)
    acts.to_csv("activities.csv", index=False)
    res = CliRunner().invoke(
        app,
        ["score", "--model", str(first.parent), "--leads", "leads.csv",
         "--activities", "activities.csv", "--as-of", "2026-01-05", "--out", "scored.csv"],
    )
    assert res.exit_code == 0, res.output
    assert "model resolved version 1 (" in res.stderr and "the champion in" in res.stderr
    report = json.loads((elsewhere / "scored.report.json").read_text())
    assert report["model"]["name"] == "resolved" and report["model"]["version"] == "1"
    assert report["model"]["source"] == str(first)
    assert not (elsewhere / "mlflow.db").exists()


def test_resolve_model_forms(two_versions, monkeypatch):
    from mqlml import load_model
    from mqlml.serving.tracking import resolve_model

    uri, tmp, first, second, _ = two_versions
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    folder = first.parent
    assert resolve_model(second).version == "2"
    assert resolve_model(folder).version == "1"
    by_alias = resolve_model("models:/resolved@champion", tracking_uri=uri)
    assert (by_alias.version, by_alias.source) == ("1", "models:/resolved@champion")
    assert resolve_model("models:/resolved/2", tracking_uri=uri).version == "2"
    assert load_model(folder).loaded_from_.version == "1"
    # a store that knows no champion of this name: the newest, said so
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'other.db'}")
    (tmp / "models" / "copy").mkdir()
    (tmp / "models" / "copy" / "3").symlink_to(second)
    newest = resolve_model(tmp / "models" / "copy")
    assert newest.version == "3" and newest.chosen_by.startswith("the newest (")


def test_explain_and_report_accept_a_registry_uri(two_versions, tmp_path, monkeypatch):
    uri, tmp, first, second, crm = two_versions
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    leads, acts = batch(crm)
    leads.to_csv(tmp_path / "leads.csv", index=False)
    lead_id = leads["lead_id"].iloc[-1]
    code, out = _cli("explain", "--model", "models:/resolved@champion", "--lead-id", lead_id,
                     "--leads", tmp_path / "leads.csv", "--as-of", "2026-01-05")
    assert code == 0, out
    header = "model resolved version 1 (models:/resolved@champion): the 'champion' alias"
    assert header in out and out.index(header) < out.index(f"lead {lead_id}: score")
    page = tmp_path / "report.html"
    code, out = _cli("report", "--model", "models:/resolved@champion", "--out", page)
    assert code == 0, out
    assert "model resolved version 1 (models:/resolved@champion)" in page.read_text()


def test_registry_uri_from_a_folder_without_a_store_creates_none(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    code, out = _cli("score", "--model", "models:/resolved@champion", "--leads", "x.csv",
                     "--out", "y.csv")
    assert code == 2 and "no MLflow store at sqlite:///mlflow.db" in out
    assert not (tmp_path / "mlflow.db").exists()


# --- issue 19, item 9: promote names a missing model; rollback steps back through history


@pytest.fixture
def three_versions(tmp_path, monkeypatch):
    """A local SQLite registry with versions 1-3 of one model (no artifacts needed)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, source=str(tmp_path / "model"))
    return client


def test_rollback_steps_back_through_the_champion_history(three_versions):
    # Champions 1, 2, 3, then 1 again by hand: rollbacks retrace 3, 2, 1 and then stop,
    # instead of flipping between the last two (1 -> 3 -> ... -> 1 -> 3).
    for version in ("1", "2", "3", "1"):
        assert _cli("promote", "--name", NAME, "--version", version)[0] == 0
    for expected in ("version 3 (was 1)", "version 2 (was 3)", "version 1 (was 2)"):
        code, out = _cli("rollback", "--name", NAME)
        assert code == 0 and f"champion is {expected}" in out
    assert _champion(three_versions) == "1"
    code, out = _cli("rollback", "--name", NAME)
    assert code == 2 and "records no previous champion" in out


def test_promote_names_a_registered_model_that_does_not_exist(three_versions):
    code, out = _cli("promote", "--name", "nosuch", "--version", "1")
    assert code == 2
    assert "registered model 'nosuch' does not exist" in out and "no version" not in out
