"""The outbox relay against the local NATS server (JetStream), one stream per test."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import nats
import pytest

from core.errors import TransientError
from reconciler import events
from reconciler.relaying import NatsRelay, RelaySettings
from state.store import Store

NATS_URL = "nats://127.0.0.1:4222"
START = [
    "start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server",
    "--", "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server",
    "-l", "/var/log/nats-server.log",
]  # fmt: skip


def _listening() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 4222)) == 0


@pytest.fixture(scope="session")
def nats_server() -> str:
    if not _listening():
        subprocess.run(START, check=True, timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _listening():
            return NATS_URL
        time.sleep(0.1)
    pytest.fail("the local NATS server did not start on 127.0.0.1:4222")


@pytest.fixture
def settings(nats_server: str) -> Iterator[RelaySettings]:
    tag = uuid.uuid4().hex[:10]
    made = RelaySettings(url=nats_server, stream=f"RXT_TEST_{tag}", prefix=f"t{tag}.")
    yield made
    asyncio.run(_delete_stream(made))


async def _delete_stream(settings: RelaySettings) -> None:
    nc = await nats.connect(settings.url)
    try:
        await nc.jetstream().delete_stream(settings.stream)
    finally:
        await nc.close()


async def _stored(settings: RelaySettings) -> list[dict[str, object]]:
    nc = await nats.connect(settings.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(settings.stream)
        bodies = []
        for seq in range(1, info.state.last_seq + 1):
            message = await js.get_msg(settings.stream, seq)
            bodies.append({"nats_subject": message.subject, **json.loads(message.data or b"{}")})
        return bodies
    finally:
        await nc.close()


def _stage(store: Store, count: int) -> list[str]:
    return [
        store.outbox.publish(events.PLAN_COMPUTED, subject="acme/prod", data={"n": n})
        for n in range(count)
    ]


def test_unsent_events_are_published_as_cloudevents_and_marked_sent(
    store: Store, settings: RelaySettings
) -> None:
    ids = _stage(store, 3)

    async def relay() -> int:
        relay = NatsRelay(store.outbox, settings)
        try:
            return await relay.relay_once()
        finally:
            await relay.close()

    assert asyncio.run(relay()) == 3
    assert store.outbox.unsent() == []
    stored = asyncio.run(_stored(settings))
    assert [m["id"] for m in stored] == ids
    assert {m["nats_subject"] for m in stored} == {settings.subject(events.PLAN_COMPUTED)}
    assert stored[0]["type"] == events.PLAN_COMPUTED
    assert stored[0]["specversion"] == "1.0"
    assert stored[0]["data"] == {"n": 0}


def test_an_event_published_twice_is_stored_once(store: Store, settings: RelaySettings) -> None:
    [event_id] = _stage(store, 1)

    async def publish_twice() -> None:
        relay = NatsRelay(store.outbox, settings)
        try:
            [row] = store.outbox.unsent()
            await relay.relay_once()
            await relay._publish(row)  # the engine died before marking it sent, then retried
        finally:
            await relay.close()

    asyncio.run(publish_twice())
    stored = asyncio.run(_stored(settings))
    assert [m["id"] for m in stored] == [event_id]


def test_an_unreachable_nats_leaves_the_outbox_untouched(store: Store) -> None:
    _stage(store, 2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    relay = NatsRelay(store.outbox, RelaySettings(url=f"nats://127.0.0.1:{port}", timeout=1))
    with pytest.raises(TransientError, match="cannot be reached"):
        asyncio.run(relay.relay_once())
    assert len(store.outbox.unsent()) == 2
