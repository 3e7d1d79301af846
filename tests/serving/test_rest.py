"""``mqlml serve``: MLflow's scoring app behind a request-size limit and short error
answers (issue 17 item 7)."""

import asyncio
import json

import mlflow
import pandas as pd
import pytest

from mlflow_helpers import batch, batch_rows, champion_store
from mqlml.serving.rest import RequestGuard, scoring_app, truncate_error


def _call(app, body: bytes, *, chunk: int | None = None, declare: bool = True):
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


async def _echo_app(scope, receive, send):
    """What MLflow does with a body that is not JSON: quote all of it in a 400."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps({"error_code": "BAD_REQUEST", "message": "Input: " + body.decode(),
                         "stack_trace": "Traceback ... secret.py line 1"}).encode()
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


def test_bodies_over_the_limit_are_refused_before_the_app_reads_them():
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    guard = RequestGuard(app, max_request_bytes=1000)
    status, _, body = _call(guard, b"x" * 1001)
    assert status == 413 and "at most 1,000 bytes" in json.loads(body)["message"]
    status, _, _ = _call(guard, b"x" * 5000, chunk=700, declare=False)  # chunked, no length
    assert status == 413 and called == []


def test_error_answers_are_cut_short_and_carry_no_stack_trace():
    guard = RequestGuard(_echo_app, max_request_bytes=20_000_000, max_error_chars=200)
    status, headers, body = _call(guard, b"{not json " + b"A" * 1_000_000)
    answer = json.loads(body)
    assert status == 400 and len(body) < 500 and int(headers[b"content-length"]) == len(body)
    assert answer["message"].endswith("more characters not shown)")
    assert "stack_trace" not in answer
    assert truncate_error(b"plain text " * 100, 20).endswith(b"not shown)")


@pytest.fixture(scope="module")
def guarded(trained, tmp_path_factory):
    uri = champion_store(trained, tmp_path_factory.mktemp("rest"), "rest")[0]
    mlflow.set_tracking_uri(uri)
    return scoring_app("models:/rest@champion", max_request_bytes=200_000, max_error_chars=300)


def test_the_real_scoring_app_scores_and_neither_echoes_nor_takes_huge_bodies(guarded, trained):
    leads, acts = batch(trained[2], n=3)
    rows = batch_rows(leads, acts)
    good = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split"))}).encode()
    status, _, body = _call(guarded, good)
    assert status == 200 and len(json.loads(body)["predictions"]) == 3
    status, _, body = _call(guarded, b"{" + b"B" * 150_000)  # malformed, under the limit
    assert status == 400 and len(body) < 1000 and b"BBBB" * 100 not in body
    status, _, _ = _call(guarded, b"{" + b"B" * 300_000)
    assert status == 413
    bad = pd.DataFrame({"lead_id": ["A"], "created_at": ["9999-12-31"]})
    payload = json.dumps({"dataframe_split": json.loads(bad.to_json(orient="split"))}).encode()
    status, _, body = _call(guarded, payload)
    assert status == 400 and "outside the years 1900-2199" in json.loads(body)["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "models/lead-scoring"], "--model must be a models:/ or runs:/ URI"),
        (["--max-request-mb", "0"], "--max-request-mb must be positive"),
        (["--model", "models:/nobody@champion"], "models:/nobody@champion: cannot load"),
    ],
)
def test_serve_refuses_what_it_cannot_serve_in_one_line(args, message):
    from typer.testing import CliRunner

    from mqlml.cli import app

    res = CliRunner().invoke(app, ["serve", *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
