"""The intake's order of checks: verify, de-duplicate, rate-limit, queue; with a fake clock."""

from __future__ import annotations

import threading

import pytest

from reconciler.intake import Delivery, MemoryDeliveryLog, RateLimiter, WebhookIntake
from reconciler.webhooks import WebhookRejected
from tests.reconciler import payloads
from tests.reconciler.payloads import Recorder


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _intake(
    enqueue: object, *, clock: Clock | None = None, burst: float = 5, per_second: float = 1
) -> WebhookIntake:
    clock = clock or Clock()
    return WebhookIntake(
        secrets=payloads.secrets_for,
        enqueue=enqueue,  # type: ignore[arg-type]
        deliveries=MemoryDeliveryLog(),
        limiter=RateLimiter(burst=burst, per_second=per_second, clock=clock),
        clock=clock,
    )


@pytest.mark.parametrize(
    ("elapsed", "allowed", "wait"),
    [(0.0, False, 1.0), (0.5, False, 0.5), (1.0, True, 0.0), (10.0, True, 0.0)],
)
def test_a_bucket_refills_at_its_rate_after_the_burst(
    elapsed: float, allowed: bool, wait: float
) -> None:
    clock = Clock()
    limiter = RateLimiter(burst=3, per_second=1, clock=clock)
    assert [limiter.take("repo") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += elapsed
    got = limiter.take("repo")
    assert (got == 0.0) is allowed
    assert got == pytest.approx(wait)


def test_buckets_are_kept_per_repository() -> None:
    limiter = RateLimiter(burst=1, per_second=0.1, clock=Clock())
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_a_valid_delivery_is_queued_once_with_its_parsed_event() -> None:
    queue = Recorder()
    signed = payloads.github("push", payloads.github_push())
    receipt = _intake(queue).receive("github", signed.headers, signed.body)
    assert (receipt.outcome, receipt.status) == ("accepted", 202)
    [delivery] = queue.calls
    assert isinstance(delivery, Delivery)
    assert delivery.delivery_id == signed.headers["X-GitHub-Delivery"]
    assert delivery.event.kind == "push"


def test_a_replayed_body_under_a_fresh_delivery_id_is_still_a_replay() -> None:
    queue = Recorder()
    intake = _intake(queue)
    signed = payloads.github("push", payloads.github_push())
    intake.receive("github", signed.headers, signed.body)
    forged_id = {**signed.headers, "X-GitHub-Delivery": "another-guid"}
    assert intake.receive("github", forged_id, signed.body).outcome == "replayed"
    assert len(queue.calls) == 1


def test_the_rate_limit_answers_429_with_a_retry_after() -> None:
    clock = Clock()
    intake = _intake(Recorder(), clock=clock, burst=2, per_second=0.5)
    for n in range(2):
        signed = payloads.github("push", payloads.github_push(after=f"{n:040d}"))
        intake.receive("github", signed.headers, signed.body)
    signed = payloads.github("push", payloads.github_push(after="f" * 40))
    with pytest.raises(WebhookRejected) as caught:
        intake.receive("github", signed.headers, signed.body)
    assert (caught.value.status, caught.value.retry_after) == (429, 2)
    clock.now += 2
    assert intake.receive("github", signed.headers, signed.body).outcome == "accepted"


def test_a_replay_does_not_use_up_the_rate_limit() -> None:
    intake = _intake(Recorder(), burst=1, per_second=0.001)
    signed = payloads.github("push", payloads.github_push())
    intake.receive("github", signed.headers, signed.body)
    for _ in range(5):
        assert intake.receive("github", signed.headers, signed.body).outcome == "replayed"


class Broken:
    def __init__(self) -> None:
        self.fail = True
        self.calls = 0

    def __call__(self, delivery: Delivery) -> None:
        self.calls += 1
        if self.fail:
            raise ConnectionError("queue down")


def test_a_delivery_the_queue_could_not_take_can_be_redelivered() -> None:
    queue = Broken()
    intake = _intake(queue)
    signed = payloads.gitlab("Push Hook", payloads.gitlab_push())
    with pytest.raises(WebhookRejected) as caught:
        intake.receive("gitlab", signed.headers, signed.body)
    assert (caught.value.outcome, caught.value.status) == ("unavailable", 503)
    queue.fail = False
    assert intake.receive("gitlab", signed.headers, signed.body).outcome == "accepted"
    assert queue.calls == 2


def test_gitlab_prefers_the_idempotency_key_that_survives_its_retries() -> None:
    queue = Recorder()
    signed = payloads.gitlab("Push Hook", payloads.gitlab_push())
    headers = {**signed.headers, "Idempotency-Key": "retry-stable-key"}
    _intake(queue).receive("gitlab", headers, signed.body)
    assert queue.calls[0].delivery_id == "retry-stable-key"


@pytest.mark.parametrize("missing", ["X-GitHub-Delivery", "X-GitHub-Event"])
def test_a_delivery_without_its_id_or_event_header_is_malformed(missing: str) -> None:
    signed = payloads.github("push", payloads.github_push())
    del signed.headers[missing]
    with pytest.raises(WebhookRejected) as caught:
        _intake(Recorder()).receive("github", signed.headers, signed.body)
    assert caught.value.outcome == "malformed"


def test_an_unregistered_repository_gets_the_same_answer_as_a_bad_signature() -> None:
    payload = payloads.github_push()
    payload["repository"] = {**payloads.GITHUB_REPO, "full_name": "evil/other"}
    signed = payloads.github("push", payload)
    with pytest.raises(WebhookRejected) as caught:
        _intake(Recorder()).receive("github", signed.headers, signed.body)
    assert (caught.value.outcome, caught.value.status) == ("unknown_source", 403)
    assert caught.value.message == "the delivery's signature was not verified"


def test_copies_of_one_delivery_arriving_together_are_queued_once() -> None:
    queue = Recorder()
    intake = _intake(queue, burst=100)
    signed = payloads.github("push", payloads.github_push())
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def send() -> None:
        barrier.wait()
        outcomes.append(intake.receive("github", signed.headers, signed.body).outcome)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["accepted"] + ["replayed"] * 7
    assert len(queue.calls) == 1


def test_the_memory_log_forgets_its_oldest_keys_past_capacity() -> None:
    log = MemoryDeliveryLog(capacity=2)
    for key in ("a", "b", "c"):
        assert log.record(key, provider="github", body_digest="d")
    assert not log.seen("a", provider="github")
    assert log.seen("c", provider="github")
    assert not log.seen("c", provider="gitlab")  # ids are per provider
    assert not log.record("c", provider="github", body_digest="d")
    log.forget("c", provider="github")
    assert log.record("c", provider="github", body_digest="d")
