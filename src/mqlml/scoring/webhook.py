"""Tell sales when a lead becomes an MQL: JSON messages posted to a webhook, with retries.

Standard library only (``urllib``). Each message carries an ``Idempotency-Key`` header
derived from the model, the lead (or the batch's leads) and the event, not the scoring
moment, so that a message retried after a lost answer, or sent again by a later run after
a failed delivery, can be recognised by the receiver. Errors name the webhook by its
scheme and host only: Slack, Teams and Zapier addresses carry a secret in their path.
Transient failures (no answer, a timeout, HTTP 408, 429 or 5xx) are retried with
exponential backoff; any other HTTP error fails at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from mqlml import __version__
from mqlml.columns import (
    BECAME_MQL,
    GRADE,
    LEAD_ID,
    POSITIVE,
    PREVIOUS_GRADE,
    PREVIOUS_SCORE,
    PROBABILITY,
    SCORE,
    SCORE_CHANGE,
    SCORED_AT,
    TIER,
    reason_text,
)
from mqlml.config import WebhookConfig
from mqlml.errors import MqlmlError

#: Statuses worth another attempt: the receiver is busy or briefly down.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Longest ``Retry-After`` honoured, in seconds.
MAX_RETRY_AFTER = 60.0
#: The ``event`` of a message about one new MQL, and of one listing a batch's new MQLs.
EVENT_MQL = "mqlml.lead.became_mql"
EVENT_BATCH = "mqlml.batch.new_mqls"
#: The event in the idempotency key of a message about one lead, and of a batch's message
#: (distinct, so a batch of one never shares its key with that lead's own message).
KEY_EVENT = "became_mql"
KEY_EVENT_BATCH = "new_mqls"


class WebhookError(MqlmlError):
    """A message could not be delivered after every attempt (or was refused)."""


@dataclass(frozen=True)
class Message:
    """One JSON message and its idempotency key."""

    key: str
    payload: dict


@dataclass(frozen=True)
class Delivery:
    """A delivered message: its key, the attempts it took and the receiver's status."""

    key: str
    attempts: int
    status: int


def idempotency_key(
    model: Mapping[str, object], lead_ids: list[str], event: str = KEY_EVENT
) -> str:
    """A stable key of a message: SHA-256 of the model name and version, the event and the
    lead ids (sorted by the caller for a batch).

    The scoring moment is left out on purpose: a lead whose message failed is posted
    again by a later run, at a later moment, and must keep its key so the receiver can
    drop a duplicate of a message it did get.
    """
    parts = [str(model.get("name")), str(model.get("version")), event, *lead_ids]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _where(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: its path and query may hold a secret."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _moment(value) -> str:
    return pd.Timestamp(value).tz_convert("UTC").isoformat()


def _none(value):
    return None if pd.isna(value) else value


def _lead(row: Mapping[str, object], n_reasons: int) -> dict:
    reasons = [row.get(reason_text(POSITIVE, i)) for i in range(1, n_reasons + 1)]
    return {
        "lead_id": str(row[LEAD_ID]),
        "score": int(row[SCORE]),
        "probability": round(float(row[PROBABILITY]), 4),
        "grade": str(row[GRADE]),
        "tier": str(row[TIER]),
        "previous_score": None if pd.isna(row[PREVIOUS_SCORE]) else int(row[PREVIOUS_SCORE]),
        "previous_grade": _none(row[PREVIOUS_GRADE]),
        "score_change": None if pd.isna(row[SCORE_CHANGE]) else int(row[SCORE_CHANGE]),
        "scored_at": _moment(row[SCORED_AT]),
        "reasons": [str(r) for r in reasons if r is not None and not pd.isna(r)],
    }


def mql_messages(
    changes: pd.DataFrame, model: Mapping[str, object], *, per: str = "mql", n_reasons: int = 3
) -> list[Message]:
    """The messages about the new MQLs of a batch (``became_mql``), none when there are none.

    Parameters
    ----------
    changes : DataFrame
        From :func:`mqlml.scoring.changes.compare`.
    model : mapping
        ``name`` and ``version`` of the model, carried in each message and its key.
    per : {"mql", "batch"}
        One message per new MQL, or one listing them all.
    n_reasons : int
        Reasons (that raised the score) given per lead.
    """
    new = changes[changes[BECAME_MQL].astype(bool)]
    record = {"name": model.get("name"), "version": model.get("version")}
    leads = [_lead(row, n_reasons) for row in new.to_dict("records")]
    if per == "mql":
        return [
            Message(
                idempotency_key(model, [lead["lead_id"]]),
                {"event": EVENT_MQL, "model": record, "lead": lead},
            )
            for lead in leads
        ]
    if not leads:
        return []
    moments = sorted({lead["scored_at"] for lead in leads})
    moment = moments[0] if len(moments) == 1 else f"{moments[0]}..{moments[-1]}"
    key = idempotency_key(model, sorted(lead["lead_id"] for lead in leads), KEY_EVENT_BATCH)
    payload = {"event": EVENT_BATCH, "model": record, "scored_at": moment,
               "count": len(leads), "leads": leads}
    return [Message(key, payload)]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:  # an HTTP date: use our own backoff
        return None


def post(
    message: Message,
    settings: WebhookConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Post one message to ``settings.url``, retrying transient failures.

    Returns
    -------
    Delivery

    Raises
    ------
    WebhookError
        Naming the address (scheme and host only), the message's key, the attempts and
        the last answer, when every attempt failed or the receiver refused the message
        (an HTTP 4xx other than 408 and 429).
    """
    if settings.url is None:
        raise MqlmlError("crm.webhook.url: expected an http(s) address to post to, got none")
    body = json.dumps(message.payload, allow_nan=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": message.key,
        "User-Agent": f"mqlml/{__version__}",
    }
    if settings.authorization_env:
        token = os.environ.get(settings.authorization_env)
        if not token:
            raise MqlmlError(
                f"crm.webhook.authorization_env: expected the environment variable "
                f"{settings.authorization_env} to hold the Authorization header, it is not set"
            )
        headers["Authorization"] = token
    last, where = "", _where(settings.url)
    for attempt in range(1, settings.attempts + 1):
        wait = settings.backoff_seconds * 2 ** (attempt - 1)
        request = urllib.request.Request(settings.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as answer:
                return Delivery(message.key, attempt, answer.status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if exc.code not in RETRY_STATUSES:
                raise WebhookError(
                    f"webhook {where} refused message {message.key[:12]}: {last} "
                    "(not retried: fix the receiver or the address)"
                ) from None
            after = _retry_after(exc)
            wait = after if after is not None else wait
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < settings.attempts:
            sleep(wait)
    raise WebhookError(
        f"webhook {where}: message {message.key[:12]} not delivered after "
        f"{settings.attempts} attempts (last: {last})"
    )
