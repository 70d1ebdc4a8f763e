"""Webhook intake: verify, de-duplicate, rate-limit per repository, then hand off to the queue.

The HTTP layer (``rxt.api``) reads the body with its size cap and calls ``WebhookIntake.receive``
off the event loop; the work itself is only ever queued here, never done.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from core.logs import get_logger
from reconciler.webhooks import (
    Event,
    Provider,
    Repository,
    WebhookRejected,
    identify,
    parse_event,
    verify_github,
    verify_gitlab,
)

log = get_logger()
Clock = Callable[[], float]


@dataclass(frozen=True)
class Delivery:
    """One verified, first-seen delivery, as handed to the work queue."""

    provider: Provider
    delivery_id: str
    event_name: str
    event: Event
    body_sha256: str
    received_at: float


class Enqueue(Protocol):
    """Puts a delivery on the work queue; must return quickly and must not do the work."""

    def __call__(self, delivery: Delivery) -> None: ...


class SecretLookup(Protocol):
    """The webhook secrets registered for a repository (two during a rotation), or none."""

    def __call__(self, repository: Repository) -> Sequence[str]: ...


class DeliveryLog(Protocol):
    """Which deliveries were already received, by provider and delivery id.

    ``record`` is the atomic claim: it returns False when the id was already there, so two
    copies of one delivery arriving together cannot both be queued. Besides the host's id, the
    intake records ``sha256:<body digest>`` as a second id (up to 71 characters), which catches
    a captured body replayed under a fresh id.
    """

    def seen(self, delivery_id: str, *, provider: str) -> bool: ...

    def record(self, delivery_id: str, *, provider: str, body_digest: str) -> bool: ...

    def forget(self, delivery_id: str, *, provider: str) -> None: ...


class MemoryDeliveryLog:
    """A bounded in-process ``DeliveryLog``: the oldest keys are dropped past ``capacity``.

    It forgets on restart and is not shared between processes; the state store's table is the
    durable one.
    """

    def __init__(self, *, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, delivery_id: str, *, provider: str) -> bool:
        with self._lock:
            return (provider, delivery_id) in self._keys

    def record(self, delivery_id: str, *, provider: str, body_digest: str) -> bool:
        with self._lock:
            if (provider, delivery_id) in self._keys:
                return False
            self._keys[provider, delivery_id] = body_digest
            while len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
            return True

    def forget(self, delivery_id: str, *, provider: str) -> None:
        with self._lock:
            self._keys.pop((provider, delivery_id), None)


class RateLimiter:
    """A token bucket per key: ``burst`` deliveries at once, refilled at ``per_second``."""

    def __init__(self, *, burst: float, per_second: float, clock: Clock) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("a rate limit needs burst >= 1 and a positive refill rate")
        self._burst = burst
        self._rate = per_second
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until one is free."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self._rate


@dataclass(frozen=True)
class Receipt:
    """What became of a delivery that was not refused: queued, or a replay left alone."""

    outcome: Literal["accepted", "replayed"]
    delivery_id: str
    status: int


_HEADERS: Mapping[Provider, tuple[str, str, tuple[str, ...]]] = {
    # provider: (event header, credential header, delivery id headers in order of preference)
    "github": ("x-github-event", "x-hub-signature-256", ("x-github-delivery",)),
    # GitLab 17.4+ keeps Idempotency-Key the same across its own retries of one event.
    "gitlab": ("x-gitlab-event", "x-gitlab-token", ("idempotency-key", "x-gitlab-event-uuid")),
}


class WebhookIntake:
    """Turns one received delivery into a queued ``Delivery``, or refuses it with a reason."""

    def __init__(
        self,
        *,
        secrets: SecretLookup,
        enqueue: Enqueue,
        deliveries: DeliveryLog,
        limiter: RateLimiter,
        clock: Clock,
    ) -> None:
        self._secrets = secrets
        self._enqueue = enqueue
        self._deliveries = deliveries
        self._limiter = limiter
        self._clock = clock

    def receive(self, provider: Provider, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Verify, de-duplicate, rate-limit and queue one delivery.

        Raises:
            WebhookRejected: the delivery was refused; nothing was queued.
        """
        event_header, credential_header, id_headers = _HEADERS[provider]
        lowered = {key.lower(): value for key, value in headers.items()}
        delivery_id = next((lowered[h] for h in id_headers if lowered.get(h)), "")
        event_name = lowered.get(event_header, "")
        if not delivery_id or not event_name:
            raise WebhookRejected(
                f"the {' or '.join(id_headers)} and {event_header} headers are required",
                outcome="malformed",
                status=400,
                hint="deliveries must come from the Git host's webhook, unchanged",
            )

        # The secret is found by the repository the body names; only then is the body trusted.
        repository = identify(provider, body)
        self._verify(provider, repository, lowered.get(credential_header), body)
        event = parse_event(provider, event_name, body, repository)

        digest = hashlib.sha256(body).hexdigest()
        keys = (delivery_id, f"sha256:{digest}")
        if any(self._deliveries.seen(key, provider=provider) for key in keys):
            return self._replayed(delivery_id, repository)
        self._limit(repository)
        if not self._claim(keys, provider=provider, digest=digest):
            return self._replayed(delivery_id, repository)

        delivery = Delivery(
            provider=provider,
            delivery_id=delivery_id,
            event_name=event_name,
            event=event,
            body_sha256=digest,
            received_at=self._clock(),
        )
        self._hand_off(delivery, keys)
        return Receipt(outcome="accepted", delivery_id=delivery_id, status=202)

    def _verify(
        self, provider: Provider, repository: Repository, credential: str | None, body: bytes
    ) -> None:
        secrets = self._secrets(repository)
        if provider == "github":
            verified = verify_github(body, credential, secrets)
        else:
            verified = verify_gitlab(credential, secrets)
        if verified:
            return
        # One answer for an unknown repository and a bad signature: a caller without the
        # secret learns nothing about which repositories are registered.
        outcome: Literal["unknown_source", "bad_signature"] = (
            "unknown_source" if not secrets else "bad_signature"
        )
        log.warning("webhook.refused", outcome=outcome, repository=repository.full_name)
        raise WebhookRejected(
            "the delivery's signature was not verified",
            outcome=outcome,
            status=403,
            hint="set the webhook's secret to the one registered for this repository",
        )

    def _limit(self, repository: Repository) -> None:
        wait = self._limiter.take(f"{repository.provider}:{repository.full_name}")
        if wait > 0:
            raise WebhookRejected(
                f"too many deliveries for {repository.full_name}",
                outcome="rate_limited",
                status=429,
                hint="the host retries later; the limit is per repository",
                retry_after=max(1, math.ceil(wait)),
            )

    def _claim(self, keys: Sequence[str], *, provider: Provider, digest: str) -> bool:
        """Record every key of the delivery; False (and nothing kept) if one was taken."""
        claimed: list[str] = []
        for key in keys:
            if not self._deliveries.record(key, provider=provider, body_digest=digest):
                for done in claimed:
                    self._deliveries.forget(done, provider=provider)
                return False
            claimed.append(key)
        return True

    def _hand_off(self, delivery: Delivery, keys: Sequence[str]) -> None:
        try:
            self._enqueue(delivery)
        except Exception as error:
            # Not queued, so not received: a redelivery of it must be allowed through.
            for key in keys:
                self._deliveries.forget(key, provider=delivery.provider)
            log.error("webhook.enqueue_failed", delivery=delivery.delivery_id, error=str(error))
            raise WebhookRejected(
                "the work queue is unavailable",
                outcome="unavailable",
                status=503,
                hint="redeliver the webhook from the host once the engine is healthy",
                retry_after=30,
            ) from error
        log.info(
            "webhook.accepted",
            delivery=delivery.delivery_id,
            event_name=delivery.event_name,
            repository=delivery.event.repository.full_name,
        )

    def _replayed(self, delivery_id: str, repository: Repository) -> Receipt:
        log.info("webhook.replayed", delivery=delivery_id, repository=repository.full_name)
        return Receipt(outcome="replayed", delivery_id=delivery_id, status=200)
