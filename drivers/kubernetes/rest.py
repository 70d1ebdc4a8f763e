"""Raw REST calls through the official client's ``ApiClient``, JSON in and out.

The driver speaks paths and bodies itself (server-side apply needs its own content type and
no typed models); this module sends them with the client's auth and TLS settings and turns
every failure into a ``core.errors`` class. Those errors are raised outside the handler of the
client's exception, so neither ``__cause__`` nor ``__context__`` holds a raw response body.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from core.errors import PlatformError
from drivers.kubernetes.errors import ApiAnswer, classify, connection_error

APPLY_PATCH = "application/apply-patch+yaml"
JSON = "application/json"
_NOT_JSON = object()


def retry_policy() -> urllib3.Retry:
    """Retries for connection failures only.

    The client's default would also sleep through ``Retry-After`` on 429 and 503 inside the
    SDK; the reconciler owns backoff with jitter, so those answers must reach it as
    ``TransientError``.
    """
    return urllib3.Retry(total=3, status=0, status_forcelist=(), respect_retry_after_header=False)


class Rest:
    """Sends requests for one driver over one ``ApiClient``."""

    def __init__(self, client: ApiClient, *, timeout: float) -> None:
        self.client: Any = client  # the SDK is untyped
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        resource: str,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        content_type: str = JSON,
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer.

        Raises:
            PlatformError: a subclass chosen by status code and ``Status.reason``.
        """
        action = f"{method} {path}"
        conceal = sent_secret_values(body)
        try:
            serialized = self.client.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params={"Content-Type": content_type, "Accept": JSON},
                body=dict(body) if body is not None else None,
                auth_settings=["BearerToken"],
            )
            _, url, headers, data, _ = serialized
            response = self.client.call_api(
                method, url, header_params=headers, body=data, _request_timeout=self.timeout
            )
            raw: bytes = response.read()
        except ApiException as error:
            # Kept, not raised here: raising inside this handler would make the client's
            # exception, raw body and all, our error's ``__context__``.
            failed: ApiException = error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # urllib3's own errors carry the URL and the socket's complaint, never a body.
            raise connection_error(error, resource=resource, action=action) from error
        else:
            if 200 <= response.status < 300:
                return _decode(raw, resource=resource)
            failed = ApiException(status=response.status, reason=response.reason, body=raw.decode())
            failed.headers = response.headers
        failure = classify(failed, resource=resource, action=method, conceal=conceal)
        raise failure from ApiAnswer.of(failed)


def sent_secret_values(body: Mapping[str, Any] | None) -> frozenset[str]:
    """The data a request carries in a Secret, base64 and decoded, which an error answer must
    not repeat: a validation message or an admission webhook can echo a value it rejects."""
    if body is None or body.get("kind") != "Secret":
        return frozenset()
    values = {*_strings(body.get("data")), *_strings(body.get("stringData"))}
    values |= {text for value in values if (text := _base64_text(value))}
    # Under four characters a value would hide ordinary words, and is no secret worth the name;
    # the same floor as ``core.logs.register_secret``.
    return frozenset(value for value in values if len(value) >= 4)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _base64_text(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _decode(raw: bytes, *, resource: str) -> dict[str, Any]:
    try:
        decoded: Any = json.loads(raw or b"{}")
    except ValueError:
        # Raised below, outside this handler: the decoder's error keeps the whole answer in
        # its ``doc`` attribute, and a 2xx answer can be a Secret.
        decoded = _NOT_JSON
    if decoded is _NOT_JSON:
        raise PlatformError(f"the API server answered {resource} with non-JSON")
    return decoded if isinstance(decoded, dict) else {}
