"""An error answer's body never reaches our errors: not as their cause or context (the client's
``ApiException`` prints the raw body), and not as a Secret data value the server echoed."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from core.errors import InvalidRequest, PlatformError
from drivers.kubernetes.errors import ApiAnswer
from drivers.kubernetes.rest import APPLY_PATCH, Rest, _decode, sent_secret_values
from simulators.kubernetes import FakeApiServer

# Never registered with ``core.logs``: only the driver's own care can keep it out.
VALUE = "k8s-body-canary-7f3a9e"
ENCODED = base64.b64encode(VALUE.encode()).decode()


class RaisingClient(k8s.ApiClient):
    """Raises for error answers with the body attached, as the client's typed APIs do
    (``ApiClient.response_deserialize`` calls ``ApiException.from_response``)."""

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        response: Any = super().call_api(*args, **kwargs)
        if not 200 <= response.status < 300:
            response.read()
            k8s.ApiException.from_response(
                http_resp=response, body=response.data.decode(), data=None
            )
        return response


def secret(namespace: str) -> dict[str, Any]:
    """A Secret the server rejects with 422, echoing the rejected data value in its Status:
    the value sits one level too deep, where a string belongs."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "data": {"password": {"wrapped": ENCODED}},
    }


def rejected(api: k8s.ApiClient, namespace: str) -> PlatformError:
    rest = Rest(api, timeout=10)
    with pytest.raises(PlatformError) as raised:
        rest.call(
            "PATCH",
            f"/api/v1/namespaces/{namespace}/secrets/db",
            resource="kubernetes:Secret/db",
            query={"fieldManager": "rxt-deploy"},
            body=secret(namespace),
            content_type=APPLY_PATCH,
        )
    return raised.value


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every cause and context behind it."""
    seen: list[BaseException] = []
    stack = [error]
    while stack:
        current = stack.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def leaked_forms(error: PlatformError) -> list[str]:
    """Which forms of the value appear anywhere in the error, its hint or its chain."""
    texts = [error.hint or ""]
    for item in chain(error):
        texts += [str(item), repr(item), repr(vars(item))]
    forms = {VALUE, ENCODED, json.dumps(ENCODED)}
    return sorted(form for form in forms if any(form in text for text in texts))


@pytest.fixture
def raising_api(server: FakeApiServer) -> Iterator[k8s.ApiClient]:
    configuration = k8s.Configuration()
    configuration.host = server.url
    client: Any = RaisingClient(configuration)
    yield client
    client.close()


def test_the_fake_echoes_the_rejected_value_so_these_tests_can_catch_a_leak(
    raising_api: k8s.ApiClient, namespace: str
) -> None:
    """Without the echo the other tests would pass on any driver; prove it is there."""
    rest = Rest(raising_api, timeout=10)
    # The client's own exception, as the SDK raises it, before the driver wraps it.
    with pytest.raises(k8s.ApiException) as raised:
        rest.client.call_api(
            *rest.client.param_serialize(
                method="PATCH",
                resource_path=f"/api/v1/namespaces/{namespace}/secrets/db",
                query_params=[("fieldManager", "rxt-deploy")],
                header_params={"Content-Type": APPLY_PATCH},
                body=secret(namespace),
            )[:4]
        )
    assert ENCODED in str(raised.value)


def test_an_error_answer_for_a_secret_never_repeats_its_data_value(
    api: k8s.ApiClient, namespace: str
) -> None:
    error = rejected(api, namespace)

    assert isinstance(error, InvalidRequest)
    assert leaked_forms(error) == []


def test_a_client_exception_with_the_body_is_not_kept_as_cause_or_context(
    raising_api: k8s.ApiClient, namespace: str
) -> None:
    error = rejected(raising_api, namespace)

    assert error.__context__ is None
    assert isinstance(error.__cause__, ApiAnswer)
    assert (error.__cause__.status, error.__cause__.reason) == (422, "Unprocessable Entity")
    assert not any(isinstance(item, k8s.ApiException) for item in chain(error))
    assert leaked_forms(error) == []


@pytest.mark.parametrize("client", ["api", "raising_api"])
def test_the_message_still_names_the_status_reason_field_and_the_servers_words(
    request: pytest.FixtureRequest, namespace: str, client: str
) -> None:
    error = rejected(request.getfixturevalue(client), namespace)

    assert "PATCH kubernetes:Secret/db failed (422 Invalid)" in error.message
    assert 'Secret "db" is invalid' in error.message
    assert "data.password: Invalid value: {" in error.message
    assert "[redacted]" in error.message
    assert "fix the rendered object" in error.hint


def test_a_non_json_answer_is_raised_without_the_decoders_error_that_holds_it() -> None:
    with pytest.raises(PlatformError) as raised:
        _decode(f'{{"data": {{"password": "{ENCODED}"'.encode(), resource="kubernetes:Secret/db")

    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, set()),
        ({"kind": "ConfigMap", "data": {"password": ENCODED}}, set()),
        ({"kind": "Secret", "data": {"password": ENCODED}}, {ENCODED, VALUE}),
        ({"kind": "Secret", "stringData": {"password": VALUE}}, {VALUE}),
        ({"kind": "Secret", "data": {"short": "YQ=="}}, {"YQ=="}),  # "a" is too short to hide
        ({"kind": "Secret", "data": {"binary": base64.b64encode(b"\xff\xfe").decode()}}, {"//4="}),
    ],
)
def test_the_values_a_secret_request_carries_are_concealed_in_each_form(
    body: dict[str, Any] | None, expected: set[str]
) -> None:
    assert sent_secret_values(body) == expected
