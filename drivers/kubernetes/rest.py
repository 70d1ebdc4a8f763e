"""Raw REST calls through the official client's ``ApiClient``, JSON in and out.

The driver speaks paths and bodies itself (server-side apply needs its own content type and
no typed models); this module sends them with the client's auth and TLS settings and turns
every failure into a ``core.errors`` class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from core.errors import PlatformError
from drivers.kubernetes.errors import classify, connection_error

APPLY_PATCH = "application/apply-patch+yaml"
JSON = "application/json"


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
            raise classify(error, resource=resource, action=method) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise connection_error(error, resource=resource, action=action) from error
        if not 200 <= response.status < 300:
            failed = ApiException(status=response.status, reason=response.reason, body=raw.decode())
            failed.headers = response.headers
            raise classify(failed, resource=resource, action=method)
        return _decode(raw, resource=resource)


def _decode(raw: bytes, *, resource: str) -> dict[str, Any]:
    try:
        decoded = json.loads(raw or b"{}")
    except ValueError as error:
        raise PlatformError(f"the API server answered {resource} with non-JSON") from error
    return decoded if isinstance(decoded, dict) else {}
