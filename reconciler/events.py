"""CloudEvents envelopes of the engine's outbox events, and the event type names.

``reconciler.recording`` stages events with these types; ``reconciler.relaying`` turns an
outbox row into a structured CloudEvent (JSON format, spec 1.0) for NATS JetStream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

PLAN_COMPUTED: Final = "evt.plan.computed"
APPLY_SUCCEEDED: Final = "evt.apply.succeeded"
APPLY_FAILED: Final = "evt.apply.failed"
DRIFT_DETECTED: Final = "evt.drift.detected"
POLICY_DENIED: Final = "evt.policy.denied"
EVENT_TYPES: Final = (PLAN_COMPUTED, APPLY_SUCCEEDED, APPLY_FAILED, DRIFT_DETECTED, POLICY_DENIED)

SOURCE: Final = "rxt-deploy/engine"


def envelope(
    *,
    event_id: str,
    event_type: str,
    subject: str,
    data: Mapping[str, Any],
    at: dt.datetime,
) -> bytes:
    """The structured JSON CloudEvent of one outbox row; its id is the outbox event id, so a
    consumer (and JetStream's de-duplication window) recognises a redelivery."""
    event = CloudEvent(
        {
            "id": event_id,
            "source": SOURCE,
            "type": event_type,
            "subject": subject,
            "time": at.astimezone(dt.UTC),
            "datacontenttype": "application/json",
        },
        dict(data),
    )
    return JSONFormat().write(event)


def subject_of(tenant: str, environment: str) -> str:
    """The CloudEvent subject of everything about one environment."""
    return f"{tenant}/{environment}"
