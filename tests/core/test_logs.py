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
