"""Logs are structured events, and secrets never reach them."""

from __future__ import annotations

import io
import json

import pytest

from core import logs


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("X-Vault-Token", True),
        ("api_key", True),
        ("password_policy_name", False),
        ("tenant", False),
    ],
)
def test_secret_looking_keys_are_recognised(key: str, secret: bool) -> None:
    assert logs.is_secret_key(key) is secret


def test_json_log_redacts_secret_keys_and_registered_values() -> None:
    stream = io.StringIO()
    logs.configure(json=True, stream=stream)
    logs.register_secret("canary-5f0e2b")
    logs.get_logger(tenant="acme").info(
        "change.applied", token="abc123", error="refused: canary-5f0e2b is wrong"
    )
    event = json.loads(stream.getvalue())
    assert event["event"] == "change.applied"
    assert event["tenant"] == "acme"
    assert event["token"] == logs.REDACTED
    assert "canary-5f0e2b" not in stream.getvalue()


def test_a_secret_containing_a_shorter_secret_is_hidden_whole() -> None:
    logs.register_secret("short-9c1d")
    logs.register_secret("longer-short-9c1d-tail")
    assert logs.redact_text("x longer-short-9c1d-tail y") == f"x {logs.REDACTED} y"


def test_registering_while_redacting_from_other_threads_is_safe() -> None:
    import threading

    stop = threading.Event()
    failures: list[BaseException] = []

    def redact_loop() -> None:
        try:
            while not stop.is_set():
                logs.redact_text("nothing secret here")
        except BaseException as error:  # pragma: no cover - only on a regression
            failures.append(error)

    reader = threading.Thread(target=redact_loop)
    reader.start()
    for index in range(2000):
        logs.register_secret(f"thread-canary-{index:05d}")
    stop.set()
    reader.join(timeout=10)
    assert failures == []
