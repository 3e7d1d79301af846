"""The REST server of ``mqlml serve``: MLflow's scoring server behind two limits.

``mlflow models serve`` reads a request body of any size and, when it is not valid JSON,
answers with the whole body quoted in the error (10 MB in, 10 MB out). ``mqlml serve``
runs the same MLflow scoring app (same ``/invocations``, ``/ping``, ``/health``,
``/version``, same JSON in and out) wrapped in :class:`RequestGuard`:

* a body larger than ``max_request_bytes`` is refused with HTTP 413 before it is parsed
  (the ``Content-Length`` header is checked first, then the bytes actually received);
* an error answer (HTTP 4xx/5xx) keeps at most ``max_error_chars`` characters of its
  ``message`` and drops MLflow's ``stack_trace``: a client learns what was wrong, not the
  request it sent nor the server's source lines.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mqlml.errors import RegistryError

#: Largest request body served by default (bytes): some thousand leads with activities.
DEFAULT_MAX_REQUEST_BYTES = 5 * 1024 * 1024
#: Characters of an error message kept in an answer.
DEFAULT_MAX_ERROR_CHARS = 1000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def truncate_error(body: bytes, max_chars: int) -> bytes:
    """An error answer with its ``message`` cut to ``max_chars`` characters (saying how
    much was cut) and without ``stack_trace``; a body that is not a JSON object is cut as
    text."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict):
        payload.pop("stack_trace", None)
        message = payload.get("message")
        if isinstance(message, str) and len(message) > max_chars:
            payload["message"] = _cut(message, max_chars)
        return json.dumps(payload).encode("utf-8")
    text = body.decode("utf-8", errors="replace")
    return _cut(text, max_chars).encode("utf-8") if len(text) > max_chars else body


def _cut(text: str, max_chars: int) -> str:
    return f"{text[:max_chars]}... ({len(text) - max_chars:,} more characters not shown)"


class RequestGuard:
    """ASGI middleware: a request-size limit and short error answers (see the module doc).

    Parameters
    ----------
    app : ASGI application
        The wrapped app (MLflow's scoring server).
    max_request_bytes : int
        Largest request body accepted; larger ones get HTTP 413.
    max_error_chars : int
        Characters of an error ``message`` kept.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_error_chars: int = DEFAULT_MAX_ERROR_CHARS,
    ):
        if max_request_bytes < 1 or max_error_chars < 1:
            raise ValueError("max_request_bytes and max_error_chars must be positive")
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_error_chars = max_error_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_request_bytes:
            await self._too_large(send, int(declared))
            return
        # Read the body here, counting: a chunked body has no length to check up front.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                await self._too_large(send, None)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, self._short_errors(send))

    def _short_errors(self, send: Send) -> Send:
        """``send`` that holds an error answer back and sends it cut short."""
        held: dict[str, Any] = {}
        parts: list[bytes] = []

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held["start"] = message
                return
            if "start" not in held or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = truncate_error(b"".join(parts), self.max_error_chars)
            start = dict(held.pop("start"))
            start["headers"] = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ] + [(b"content-length", str(len(body)).encode())]
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return guarded

    async def _too_large(self, send: Send, declared: int | None) -> None:
        got = f"{declared:,} bytes" if declared is not None else "more than that"
        body = json.dumps(
            {
                "error_code": "REQUEST_TOO_LARGE",
                "message": f"request body too large: at most {self.max_request_bytes:,} bytes "
                f"are accepted (mqlml serve --max-request-mb), got {got}; send fewer leads "
                "per request",
            }
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def scoring_app(
    model_uri: str,
    *,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_error_chars: int = DEFAULT_MAX_ERROR_CHARS,
) -> RequestGuard:
    """MLflow's scoring app for ``model_uri`` (e.g. ``models:/lead-scoring@champion``)
    behind :class:`RequestGuard`."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise RegistryError(f"{model_uri}: cannot load the model: {message}") from None
    app = scoring_server.init(model)
    return RequestGuard(app, max_request_bytes=max_request_bytes, max_error_chars=max_error_chars)
