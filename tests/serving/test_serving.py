"""REST: ``mlflow models serve -m models:/<name>@champion`` on loopback scores leads
exactly as the batch CLI does, refuses bad leads with HTTP 400, and the latency
benchmark's load loop reports every request."""

import json
import sys
import urllib.error
import urllib.request

import pandas as pd
import pytest

from mlflow_helpers import (
    assert_same_scores,
    batch,
    batch_rows,
    champion_store,
    free_port,
    running,
    score_with_cli,
    venv_env,
)
from mqlml.columns import LEAD_ID, SCORE_COLUMNS
from mqlml.serving.tracking import CHAMPION
from script_loader import load_script

NAME = "served"


bench = load_script("benchmarks/rest_latency.py")


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """The shared model as champion in its own store, served on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("serving")
    uri = champion_store(trained, tmp, NAME)[0]
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}@{CHAMPION}"]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    env = venv_env(MLFLOW_TRACKING_URI=uri)
    with running(cmd, f"http://127.0.0.1:{port}/ping", tmp / "serve.log", env, timeout=180):
        yield uri, port


def _post(port: int, rows: pd.DataFrame):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=bench.payload(rows),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_rest_scores_equal_the_batch_cli(served, trained, tmp_path, monkeypatch):
    uri, port = served
    crm = trained[2]
    leads, acts = batch(crm)
    rows = batch_rows(leads, acts)
    status, body = _post(port, rows)
    assert status == 200
    rest = pd.DataFrame(body["predictions"])
    assert list(rest.columns) == list(SCORE_COLUMNS)
    assert rest[LEAD_ID].tolist() == rows[LEAD_ID].tolist()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cli = score_with_cli(f"models:/{NAME}@{CHAMPION}", leads, acts, tmp_path)
    assert_same_scores(rest, cli)


def test_one_lead_without_optional_columns(served, trained):
    _, port = served
    leads, acts = batch(trained[2], n=3)
    full = batch_rows(leads, acts)
    status, body = _post(port, full.iloc[[0]])
    assert status == 200 and len(body["predictions"]) == 1
    bare = full[[LEAD_ID, "created_at", "as_of"]].iloc[[0]]
    status, body = _post(port, bare)
    assert status == 200 and body["predictions"][0][LEAD_ID] == bare[LEAD_ID].iloc[0]


def test_bad_lead_is_a_400_naming_the_column(served):
    _, port = served
    bad = pd.DataFrame({LEAD_ID: ["A", "B"], "created_at": ["2025-01-01", "not a date"]})
    status, body = _post(port, bad)
    assert status == 400
    assert "created_at" in body["message"] and "row" in body["message"]


def test_load_loop_counts_every_request(served, trained):
    _, port = served
    leads, acts = batch(trained[2], n=5)
    rows = batch_rows(leads, acts)
    bodies = [bench.payload(rows.iloc[[i]]) for i in range(len(rows))]
    bodies.append(bench.payload(pd.DataFrame({LEAD_ID: ["X"], "created_at": ["nope"]})))
    result = bench.run_load(port, bodies, 24, 3, max_seconds=60)
    assert result.errors == 4 and result.not_sent == 0  # every 6th body is bad
    assert len(result.latencies_ms) == 20 and (result.latencies_ms > 0).all()
    assert "created_at" in result.first_error
    assert "errors 4" in result.line("test")
