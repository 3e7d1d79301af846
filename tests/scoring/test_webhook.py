"""The webhook: one JSON message per new MQL, retried, with an idempotency key; tested
against a local HTTP server."""

import pandas as pd
import pytest
from crm_frames import MONDAY, Receiver, moments, scored_frame

from mqlml.config import CrmConfig, WebhookConfig
from mqlml.scoring.changes import ScoreState
from mqlml.scoring.crm import export_scores
from mqlml.scoring.webhook import (
    EVENT_BATCH,
    EVENT_MQL,
    KEY_EVENT_BATCH,
    WebhookError,
    idempotency_key,
)

MODEL = {"name": "demo", "version": "3"}


def settings(tmp_path, url, **webhook) -> CrmConfig:
    hook = WebhookConfig(url=url, backoff_seconds=0.5, timeout_seconds=5, **webhook)
    return CrmConfig(state_path=tmp_path / "state.sqlite", webhook=hook)


def run(frame, cfg, tmp_path, waits=None, at=MONDAY):
    return export_scores(
        frame, moments(frame, at), tmp_path / "scored.csv", cfg, model=MODEL,
        sleep=(waits.append if waits is not None else lambda s: None),
    )


def test_one_message_per_new_mql_retried_after_a_503_and_none_the_second_time(tmp_path):
    frame = scored_frame([10, 55, 45, 80])  # L001 and L003 are MQLs
    waits: list[float] = []
    with Receiver(statuses=[503]) as receiver:
        cfg = settings(tmp_path, receiver.url)
        first = run(frame, cfg, tmp_path, waits)
        after_first = len(receiver.requests)
        second = run(frame, cfg, tmp_path, waits)
    # The first attempt failed (503) and was retried after the backoff: 3 requests, 2 leads.
    assert after_first == 3 and waits == [0.5]
    first_try, retry, other = receiver.requests
    assert first_try["body"] == retry["body"]
    assert first_try["headers"]["Idempotency-Key"] == retry["headers"]["Idempotency-Key"]
    leads = [r["body"]["lead"]["lead_id"] for r in (retry, other)]
    assert leads == ["L001", "L003"]
    assert retry["headers"]["Idempotency-Key"] == idempotency_key(MODEL, ["L001"])
    assert other["headers"]["Idempotency-Key"] != retry["headers"]["Idempotency-Key"]
    assert retry["headers"]["Content-Type"].startswith("application/json")
    body = retry["body"]
    assert body["event"] == EVENT_MQL and body["model"] == MODEL
    lead = body["lead"]
    assert (lead["score"], lead["grade"], lead["tier"]) == (55, "B", "mql")
    assert lead["previous_score"] is None and lead["scored_at"] == MONDAY.isoformat()
    assert lead["reasons"][0] == "Visited the pricing page 2 times, recently"
    assert [d.attempts for d in first.deliveries] == [2, 1]
    # The same batch scored again: nothing new, nothing posted.
    assert second.deliveries == [] and len(receiver.requests) == 3


def test_a_lead_that_crosses_the_line_later_is_posted_then(tmp_path):
    with Receiver() as receiver:
        cfg = settings(tmp_path, receiver.url)
        run(scored_frame([10, 45]), cfg, tmp_path)
        assert receiver.requests == []
        run(scored_frame([12, 62]), cfg, tmp_path, at=MONDAY + pd.Timedelta(days=7))
    (message,) = receiver.requests
    lead = message["body"]["lead"]
    assert (lead["lead_id"], lead["previous_score"], lead["score_change"]) == ("L001", 45, 17)


def test_one_message_per_batch_lists_the_new_mqls(tmp_path):
    with Receiver() as receiver:
        cfg = settings(tmp_path, receiver.url, per="batch")
        run(scored_frame([10, 55, 45, 80]), cfg, tmp_path)
    (message,) = receiver.requests
    body = message["body"]
    assert body["event"] == EVENT_BATCH and body["count"] == 2
    assert [lead["lead_id"] for lead in body["leads"]] == ["L001", "L003"]
    assert message["headers"]["Idempotency-Key"] == idempotency_key(
        MODEL, ["L001", "L003"], KEY_EVENT_BATCH
    )


def test_an_undelivered_message_leaves_the_store_so_the_next_run_posts_it_again(tmp_path):
    frame = scored_frame([10, 55])
    with Receiver(statuses=[503, 503, 503]) as receiver:
        cfg = settings(tmp_path, receiver.url, attempts=3)
        with pytest.raises(WebhookError, match=r"not delivered after 3 attempts \(last: HTTP 503"):
            run(frame, cfg, tmp_path)
        assert ScoreState(tmp_path / "state.sqlite").previous(frame["lead_id"]).empty
        again = run(frame, cfg, tmp_path)
    assert len(receiver.requests) == 4
    assert again.changes["became_mql"].tolist() == [False, True]
    assert len({r["headers"]["Idempotency-Key"] for r in receiver.requests}) == 1


def test_a_lead_posted_again_by_a_later_run_after_a_failure_keeps_its_key(tmp_path):
    frame = scored_frame([10, 55])
    with Receiver(statuses=[503]) as receiver:
        cfg = settings(tmp_path, receiver.url, attempts=1)
        with pytest.raises(WebhookError):
            run(frame, cfg, tmp_path)
        run(frame, cfg, tmp_path, at=MONDAY + pd.Timedelta(hours=1))  # a later moment
    failed, resent = receiver.requests
    assert resent["body"]["lead"]["scored_at"] != failed["body"]["lead"]["scored_at"]
    assert resent["headers"]["Idempotency-Key"] == failed["headers"]["Idempotency-Key"]


def test_errors_name_the_webhook_by_scheme_and_host_not_its_secret_path(tmp_path):
    with Receiver(statuses=[400, 503]) as receiver:
        host = receiver.url.removesuffix("/mql")  # http://127.0.0.1:<port>
        cfg = settings(tmp_path, f"{host}/services/T0/B0/s3cretXYZ?token=abc", attempts=1)
        for _ in range(2):  # refused (400), then not delivered (503)
            with pytest.raises(WebhookError) as caught:
                run(scored_frame([55]), cfg, tmp_path)
            assert f"webhook {host} " in str(caught.value) or f"webhook {host}:" in str(
                caught.value)
            assert "s3cret" not in str(caught.value) and "abc" not in str(caught.value)


def test_a_refused_message_is_not_retried(tmp_path):
    with Receiver(statuses=[400]) as receiver:
        cfg = settings(tmp_path, receiver.url)
        with pytest.raises(WebhookError, match="refused message .*HTTP 400"):
            run(scored_frame([55]), cfg, tmp_path)
    assert len(receiver.requests) == 1


def test_the_authorization_header_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MQLML_TEST_HOOK_TOKEN", "Bearer s3cret")
    with Receiver() as receiver:
        cfg = settings(tmp_path, receiver.url, authorization_env="MQLML_TEST_HOOK_TOKEN")
        run(scored_frame([55]), cfg, tmp_path)
    assert receiver.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
