"""Values read from Vault are hidden by the one redaction point, in logs and exception chains."""

from __future__ import annotations

import base64
import io
import json

import hvac
import pytest
import requests
import structlog
from hvac import exceptions as hvac_errors

from core import logs
from core.errors import FatalError, InvalidRequest, NotFound, PlatformError, TransientError
from core.resources import SecretRef
from drivers.vault import VaultSecretSource, register_value, safe_text, scrub_exception
from drivers.vault.failures import safe_cause, translate
from tests.drivers.vault.conftest import write


def test_every_encoding_of_a_registered_value_is_redacted() -> None:
    value = 'canary "quoted" 9f2a'
    register_value(value)
    b64 = base64.b64encode(value.encode()).decode()
    text = f"raw={value} json={json.dumps(value)} data={b64}"
    redacted = logs.redact_text(text)
    assert value not in redacted
    assert b64 not in redacted
    assert json.dumps(value)[1:-1] not in redacted


def test_a_value_read_from_vault_is_redacted_in_json_logs(
    admin: hvac.Client, source: VaultSecretSource, tenant: str, request: pytest.FixtureRequest
) -> None:
    write(admin, tenant, "payments/db", password="log-canary-5c1d")
    value = source.read(SecretRef("payments/db", "password"), tenant=tenant)
    stream = io.StringIO()
    logs.configure(json=True, stream=stream)
    request.addfinalizer(structlog.reset_defaults)
    log = logs.get_logger(tenant=tenant)
    log.info("change.applied", note=f"filled {value}", body={"data": {"x": value}})
    try:
        raise RuntimeError(f"apply failed with {value}")
    except RuntimeError:
        log.exception("change.failed")
    assert "log-canary-5c1d" not in stream.getvalue()
    assert stream.getvalue().count(logs.REDACTED) >= 3


def test_scrubbing_a_chain_redacts_messages_and_drops_sdk_bodies() -> None:
    register_value("chain-canary-88")
    sdk = hvac_errors.InvalidRequest(
        "bad chain-canary-88",
        errors=["echo chain-canary-88"],
        method="post",
        url="http://vault/v1/sys/wrapping/wrap",
        text='{"data": "chain-canary-88"}',
        json={"data": "chain-canary-88"},
    )
    inner = ValueError("inner chain-canary-88")
    inner.add_note("note chain-canary-88")
    outer = PlatformError("outer chain-canary-88", hint="hint chain-canary-88")
    outer.__cause__ = sdk
    sdk.__context__ = inner
    scrub_exception(outer)
    everything = [outer.render(), str(sdk), repr(sdk.errors), str(inner), *inner.__notes__]
    assert not any("chain-canary-88" in text for text in everything)
    assert sdk.text is None
    assert sdk.json is None
    assert "chain-canary-88" not in safe_text(outer)
    assert safe_text(outer).startswith("PlatformError: outer")


@pytest.mark.parametrize(
    ("sdk_error", "expected"),
    [
        (hvac_errors.InvalidPath, NotFound),
        (hvac_errors.Forbidden, FatalError),
        (hvac_errors.Unauthorized, FatalError),
        (hvac_errors.RateLimitExceeded, TransientError),
        (hvac_errors.InternalServerError, TransientError),
        (hvac_errors.BadGateway, TransientError),
        (hvac_errors.VaultDown, TransientError),
        (hvac_errors.InvalidRequest, InvalidRequest),
        (hvac_errors.UnexpectedError, FatalError),
        (hvac_errors.VaultNotInitialized, FatalError),
    ],
)
def test_sdk_errors_are_classified_by_type_and_rebuilt_without_bodies(
    sdk_error: type[hvac_errors.VaultError], expected: type[PlatformError]
) -> None:
    planted = "body-canary-2e7"  # not registered: the body must be dropped, not merely redacted
    error = sdk_error("m", method="get", url="http://v:8200/v1/secret/data/x?list=1", text=planted)
    failure = translate(error, doing="reading", what="secret x#k", resource="vault:x", grant="g")
    assert type(failure.error) is expected
    assert "secret x#k" in failure.error.message
    assert planted not in str(failure.cause)
    assert "GET /v1/secret/data/x" in str(failure.cause)
    assert "list=1" not in str(failure.cause)


def test_a_safe_cause_keeps_vaults_error_strings_redacted() -> None:
    register_value("errors-canary-31")
    error = hvac_errors.InvalidRequest(
        errors=["cannot parse errors-canary-31"], method="post", url="u"
    )
    assert str(safe_cause(error)).endswith(f"cannot parse {logs.REDACTED}")


def test_a_non_json_answer_is_a_fatal_error_about_the_address() -> None:
    error = requests.exceptions.JSONDecodeError("Expecting value", "<html>login</html>", 0)
    failure = translate(error, doing="reading", what="secret x#k", resource="vault:x", grant="g")
    assert type(failure.error) is FatalError
    assert "VAULT_ADDR" in failure.error.hint
