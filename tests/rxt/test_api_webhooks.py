"""Bar R6 through the HTTP API (httpx over ASGI): forged, replayed and oversized deliveries are
refused and counted; valid ones are answered 202 and queued once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from reconciler.webhooks import github_signature
from rxt.api import ApiLimits, create_app
from rxt.api.metrics import Metrics
from tests.reconciler import payloads
from tests.reconciler.payloads import Recorder, Signed

MiB = 1024 * 1024


def _app(queue: Recorder, **limits: Any) -> FastAPI:
    return create_app(secrets=payloads.secrets_for, enqueue=queue, limits=ApiLimits(**limits))


def _send(app: FastAPI, path: str, signed: Signed, *, content: Any = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rxt") as client:
            return await client.post(
                path, content=signed.body if content is None else content, headers=signed.headers
            )

    return asyncio.run(go())


def _metrics(app: FastAPI) -> Metrics:
    metrics = app.state.rxt.metrics
    assert isinstance(metrics, Metrics)
    return metrics


VALID: list[tuple[str, str, Callable[[], Signed]]] = [
    ("github push", "/webhooks/github", lambda: payloads.github("push", payloads.github_push())),
    (
        "github pull request",
        "/webhooks/github",
        lambda: payloads.github("pull_request", payloads.github_pull_request()),
    ),
    ("github ping", "/webhooks/github", lambda: payloads.github("ping", payloads.github_ping())),
    (
        "gitlab push",
        "/webhooks/gitlab",
        lambda: payloads.gitlab("Push Hook", payloads.gitlab_push()),
    ),
    (
        "gitlab merge request",
        "/webhooks/gitlab",
        lambda: payloads.gitlab("Merge Request Hook", payloads.gitlab_merge_request()),
    ),
]


@pytest.mark.parametrize(("case", "path", "make"), VALID, ids=[v[0] for v in VALID])
def test_a_valid_delivery_is_answered_202_and_queued_once(
    case: str, path: str, make: Callable[[], Signed]
) -> None:
    queue = Recorder()
    app = _app(queue)
    signed = make()
    response = _send(app, path, signed)
    assert response.status_code == 202, response.text
    delivery_id = signed.headers.get("X-GitHub-Delivery") or signed.headers["X-Gitlab-Event-UUID"]
    assert response.json() == {"status": "accepted", "delivery": delivery_id}
    assert len(queue.calls) == 1
    again = _send(app, path, signed)
    assert (again.status_code, again.json()["status"]) == (200, "replayed")
    assert len(queue.calls) == 1


def _flip_a_byte(signed: Signed) -> Signed:
    body = bytearray(signed.body)
    body[len(body) // 2] ^= 0x01
    return Signed(bytes(body), signed.headers)


def _without(header: str) -> Callable[[Signed], Signed]:
    def drop(signed: Signed) -> Signed:
        return Signed(signed.body, {k: v for k, v in signed.headers.items() if k != header})

    return drop


def _with(header: str, value: str) -> Callable[[Signed], Signed]:
    return lambda signed: Signed(signed.body, {**signed.headers, header: value})


def _oversized(signed: Signed) -> Signed:
    payload = json.loads(signed.body)
    payload["padding"] = "x" * MiB
    body = json.dumps(payload).encode()
    headers = {**signed.headers, "X-Hub-Signature-256": github_signature(body, payloads.SECRET)}
    return Signed(body, headers)


def _signed_unknown_event(signed: Signed) -> Signed:
    return payloads.github("issues", {**json.loads(signed.body), "action": "opened"})


def _legacy_sha1_only(signed: Signed) -> Signed:
    digest = hmac.new(payloads.SECRET.encode(), signed.body, hashlib.sha1).hexdigest()
    headers = {k: v for k, v in signed.headers.items() if k != "X-Hub-Signature-256"}
    return Signed(signed.body, {**headers, "X-Hub-Signature": f"sha1={digest}"})


def _wrong_secret(signed: Signed) -> Signed:
    return payloads.github("push", json.loads(signed.body), secret="not-the-secret")


GITHUB_ATTACKS: list[tuple[str, Callable[[Signed], Signed], int, str]] = [
    ("missing signature", _without("X-Hub-Signature-256"), 403, "bad_signature"),
    ("wrong signature", _with("X-Hub-Signature-256", "sha256=" + "0" * 64), 403, "bad_signature"),
    ("one flipped byte in the body", _flip_a_byte, 403, "bad_signature"),
    ("wrong secret", _wrong_secret, 403, "bad_signature"),
    ("legacy sha1 header only", _legacy_sha1_only, 403, "bad_signature"),
    ("oversized body", _oversized, 413, "oversized"),
    ("unknown event", _signed_unknown_event, 400, "unknown_event"),
    ("missing delivery id", _without("X-GitHub-Delivery"), 400, "malformed"),
]

GITLAB_ATTACKS: list[tuple[str, Callable[[Signed], Signed], int, str]] = [
    ("missing token", _without("X-Gitlab-Token"), 403, "bad_signature"),
    ("wrong token", _with("X-Gitlab-Token", "guess"), 403, "bad_signature"),
    ("unknown event", _with("X-Gitlab-Event", "Tag Push Hook"), 400, "unknown_event"),
]


def test_r6_forged_replayed_and_oversized_deliveries_are_refused_and_counted() -> None:
    queue = Recorder()
    app = _app(queue)
    accepted = 0
    refused = 0
    for _case, attack, status, outcome in GITHUB_ATTACKS:
        response = _send(
            app, "/webhooks/github", attack(payloads.github("push", payloads.github_push()))
        )
        assert response.status_code == status, (_case, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["outcome"] == outcome
        accepted += response.status_code == 202
        refused += 1
    for _case, attack, status, outcome in GITLAB_ATTACKS:
        response = _send(
            app, "/webhooks/gitlab", attack(payloads.gitlab("Push Hook", payloads.gitlab_push()))
        )
        assert (response.status_code, response.json()["outcome"]) == (status, outcome), _case
        refused += 1

    # A replay: the original is accepted, ten copies of it are not acted on.
    original = payloads.github("push", payloads.github_push(after="9" * 40))
    assert _send(app, "/webhooks/github", original).status_code == 202
    replays = [_send(app, "/webhooks/github", original) for _ in range(10)]
    replays_acted_on = len(queue.calls) - 1
    print(
        f"\nR6: {refused} forged/oversized/unknown deliveries, {accepted} accepted; "
        f"10 replays, {replays_acted_on} acted on"
    )
    assert accepted == 0
    assert replays_acted_on == 0
    assert all(r.status_code == 200 and r.json()["status"] == "replayed" for r in replays)

    metrics = _metrics(app)
    assert metrics.webhook_count("github", "bad_signature") == 5
    assert metrics.webhook_count("gitlab", "bad_signature") == 2
    assert metrics.webhook_count("github", "oversized") == 1
    assert metrics.webhook_count("github", "replayed") == 10
    assert metrics.webhook_count("github", "accepted") == 1


def test_an_oversized_chunked_body_is_refused_without_a_content_length() -> None:
    queue = Recorder()
    app = _app(queue, max_body_bytes=1000)
    signed = payloads.github("push", payloads.github_push())

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 100

    response = _send(app, "/webhooks/github", signed, content=chunks())
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert queue.calls == []


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    app = _app(Recorder(), max_body_bytes=10)
    signed = payloads.github("push", payloads.github_push())
    response = _send(app, "/webhooks/github", signed)
    assert response.status_code == 413
    assert "10-byte limit" in response.json()["detail"]


def test_a_rate_limited_delivery_says_when_to_retry() -> None:
    app = _app(Recorder(), burst=1, per_second=0.1)
    first = payloads.github("push", payloads.github_push(after="1" * 40))
    second = payloads.github("push", payloads.github_push(after="2" * 40))
    assert _send(app, "/webhooks/github", first).status_code == 202
    response = _send(app, "/webhooks/github", second)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "10"
    assert _metrics(app).webhook_count("github", "rate_limited") == 1


def test_a_queue_that_fails_gives_503_and_the_delivery_can_be_redelivered() -> None:
    calls: list[object] = []

    def broken(delivery: object) -> None:
        calls.append(delivery)
        if len(calls) == 1:
            raise ConnectionError("queue down")

    app = create_app(secrets=payloads.secrets_for, enqueue=broken)
    signed = payloads.github("push", payloads.github_push())
    response = _send(app, "/webhooks/github", signed)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert _send(app, "/webhooks/github", signed).status_code == 202
