"""``mqlml serve``: MLflow's scoring app behind a request-size limit and short error
answers (issue 17 item 7)."""

import json

import pytest

from mlflow_helpers import call_asgi
from mqlml.serving.rest import RequestGuard, truncate_error


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
    status, _, body = call_asgi(guard, b"x" * 1001)
    assert status == 413 and "at most 1,000 bytes" in json.loads(body)["message"]
    status, _, _ = call_asgi(guard, b"x" * 5000, chunk=700, declare=False)  # chunked, no length
    assert status == 413 and called == []


def test_error_answers_are_cut_short_and_carry_no_stack_trace():
    guard = RequestGuard(_echo_app, max_request_bytes=20_000_000, max_error_chars=200)
    status, headers, body = call_asgi(guard, b"{not json " + b"A" * 1_000_000)
    answer = json.loads(body)
    assert status == 400 and len(body) < 500 and int(headers[b"content-length"]) == len(body)
    assert answer["message"].endswith("more characters not shown)")
    assert "stack_trace" not in answer
    assert truncate_error(b"plain text " * 100, 20).endswith(b"not shown)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "models/lead-scoring"], "--model must be a models:/ or runs:/ URI"),
        (["--max-request-mb", "0"], "--max-request-mb must be positive"),
        (["--model", "models:/nobody@champion"], "models:/nobody@champion: cannot load"),
    ],
)
def test_serve_refuses_what_it_cannot_serve_in_one_line(args, message, monkeypatch):
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from typer.testing import CliRunner

    from mqlml.cli import app

    def no_such_model(uri):  # as MLflow answers, without creating a store to ask
        raise MlflowException(f"Registered Model with name={uri} not found")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", no_such_model)
    res = CliRunner().invoke(app, ["serve", *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
