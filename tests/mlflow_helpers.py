"""Helpers for the tests of the MLflow model, registry, REST serving and Spark.

Servers run on loopback only, on a free port, and are always stopped by the fixture.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.columns import CREATED_AT, LEAD_ID, SCORE_COLUMNS
from mqlml.config import config_to_dict, load_config
from mqlml.labels.labelled import label_history
from mqlml.model.bundle import save_bundle
from mqlml.serving.pyfunc import lead_rows, training_holdout
from mqlml.serving.tracking import log_training

#: The scoring moment of the test batch (after every lead of the shared history).
AS_OF = "2026-01-05T00:00:00+00:00"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_env(**extra: str) -> dict[str, str]:
    """The environment for MLflow subprocesses: this interpreter's scripts come first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@contextmanager
def running(cmd: list[str], url: str, log: Path, env: dict, timeout: float = 120.0):
    """Start ``cmd``, wait until ``url`` answers 200, yield, then stop the process."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[:3]} exited early:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def config_for(cfg, uri: str, name: str, models_dir: Path, **sections):
    """``cfg`` with its own tracking store, model name, models dir and section overrides."""
    raw = config_to_dict(cfg)
    raw.update(name=name, models_dir=str(models_dir))
    raw["tracking"] = {**raw["tracking"], "enabled": True, "uri": uri}
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return load_config(None, raw)


def register(model, artifacts, crm, cfg):
    """Save ``model``'s bundle, log it and register it through the gate, as training does."""
    bundle = save_bundle(model, cfg.models_dir)
    tracked = log_training(cfg, bundle, model, training_holdout(label_history(crm, cfg), artifacts),
                           artifacts["measured_model"])
    return bundle, tracked


def champion_store(trained, tmp: Path, name: str):
    """The shared model registered as ``name``'s champion in a fresh SQLite store in ``tmp``.

    Returns the store's URI, the config, the bundle and what :func:`log_training` recorded.
    """
    model, artifacts, crm, base = trained
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg = config_for(base, uri, name, tmp / "models")
    bundle, tracked = register(model, artifacts, crm, cfg)
    return uri, cfg, bundle, tracked


def batch(crm, n: int = 40):
    """The newest ``n`` leads of the history with their activities (one lead without any)."""
    leads = crm.leads.sort_values(CREATED_AT).tail(n).reset_index(drop=True)
    acts = crm.activities[crm.activities[LEAD_ID].isin(leads[LEAD_ID])]
    acts = acts[acts[LEAD_ID] != leads[LEAD_ID].iloc[0]]
    return leads, acts


def batch_rows(leads, acts) -> pd.DataFrame:
    """The batch as pyfunc input rows, scored at :data:`AS_OF`, in shuffled order."""
    rows = lead_rows(leads, acts, pd.Series(pd.Timestamp(AS_OF), index=leads.index))
    return rows.sample(frac=1.0, random_state=0).reset_index(drop=True)


def score_with_cli(model: str | Path, leads, acts, workdir: Path) -> pd.DataFrame:
    """``mqlml score`` on the batch written as CSV files, read back from Parquet."""
    workdir.mkdir(parents=True, exist_ok=True)
    leads.to_csv(workdir / "leads.csv", index=False)
    acts.to_csv(workdir / "activities.csv", index=False)
    out = workdir / "scored.parquet"
    res = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            str(model),
            "--leads",
            str(workdir / "leads.csv"),
            "--activities",
            str(workdir / "activities.csv"),
            "--as-of",
            AS_OF,
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    return pd.read_parquet(out)


def canonical(scored: pd.DataFrame) -> pd.DataFrame:
    """Scores by lead_id with plain dtypes and None for missing, to compare across paths."""
    out = scored[list(SCORE_COLUMNS)].sort_values(LEAD_ID).reset_index(drop=True)
    out = out.astype(
        {"probability": float, "score": np.int64, "is_mql": bool, LEAD_ID: object, "grade": object}
    )
    for c in out.columns:
        if c.endswith("_points"):
            # Missing points: None (JSON null) from the pyfunc model, NaN elsewhere.
            out[c] = out[c].astype(float)
        elif out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            # One spelling of an empty reason across paths: the pyfunc model's "" (see
            # mqlml.serving.pyfunc.score_lead_rows), the CSV's empty cell.
            out[c] = pd.Series(
                [None if v is None or v != v or v == "" else v for v in out[c]], dtype=object
            )
    return out


def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Identical scoring columns for the same leads (floats exactly equal)."""
    pd.testing.assert_frame_equal(canonical(a), canonical(b), check_exact=True)


def call_asgi(app, body: bytes, *, chunk: int | None = None, declare: bool = True):
    """POST ``body`` to /invocations of an ASGI app; (status, headers, body)."""
    chunks = [body] if chunk is None else [body[i:i + chunk] for i in range(0, len(body), chunk)]
    chunks = chunks or [b""]
    headers = [(b"content-type", b"application/json")]
    if declare:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": "POST", "path": "/invocations", "raw_path": b"/invocations",
             "query_string": b"", "headers": headers, "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 5000), "client": ("127.0.0.1", 1), "root_path": "",
             "asgi": {"version": "3.0"}}
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), out
