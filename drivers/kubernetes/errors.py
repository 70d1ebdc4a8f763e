"""Turns what the Kubernetes client raises into ``core.errors`` classes, by status and reason.

Every call the driver makes goes through ``classify``; no SDK exception leaves the package.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from core.errors import (
    FatalError,
    InvalidRequest,
    NotFound,
    OwnershipConflict,
    PlatformError,
    TransientError,
)
from core.logs import redact_text

_TRANSIENT_STATUSES = {408, 410, 429, 500, 502, 503, 504}
_BODY_LIMIT = 2000  # foreign error bodies are capped before they reach a message


def status_body(error: ApiException) -> dict[str, Any]:
    """The ``Status`` object of an error answer, or an empty dict when the body is not one."""
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def _causes(body: dict[str, Any]) -> list[dict[str, Any]]:
    causes = (body.get("details") or {}).get("causes") or []
    return [cause for cause in causes if isinstance(cause, dict)]


def _message(body: dict[str, Any], error: ApiException) -> str:
    text = str(body.get("message") or error.reason or "no message")
    return redact_text(text[:_BODY_LIMIT])


def classify(error: ApiException, *, resource: str, action: str) -> PlatformError:
    """The ``core.errors`` class for an error answer to ``action`` on ``resource``."""
    code = int(error.status or 0)
    body = status_body(error)
    reason = str(body.get("reason") or "")
    message = (
        f"{action} {resource} failed ({code} {reason or error.reason}): {_message(body, error)}"
    )
    if code in _TRANSIENT_STATUSES or reason in {"ServerTimeout", "Timeout", "TooManyRequests"}:
        retry = (error.headers or {}).get("Retry-After") if error.headers else None
        hint = f"retry after {retry} s" if retry else "retry with backoff"
        return TransientError(message, hint=hint, resource=resource)
    if code == 409:
        return _conflict(message, body, resource=resource)
    if code in {400, 422}:
        listed = "; ".join(f"{c.get('field', '?')}: {c.get('message', '')}" for c in _causes(body))
        detail = f"{message} [{redact_text(listed)}]" if listed else message
        hint = "fix the rendered object; the API server's causes name each field"
        return InvalidRequest(detail, hint=hint, resource=resource)
    if code == 404:
        return NotFound(message, hint="observe again and re-plan", resource=resource)
    hint = "check the credentials and RBAC of the kubeconfig user"
    if code not in {401, 403}:
        hint = "the driver sent a request this API server does not accept; report it"
    return FatalError(message, hint=hint, resource=resource)


def _conflict(message: str, body: dict[str, Any], *, resource: str) -> PlatformError:
    managers = [c for c in _causes(body) if c.get("reason") == "FieldManagerConflict"]
    if managers:
        fields = ", ".join(str(c.get("field")) for c in managers)
        hint = (
            f"another field manager owns {fields}; remove it from that manager or from the "
            "manifest (the engine forces only objects labelled as its own)"
        )
        return OwnershipConflict(message, hint=hint, resource=resource)
    # AlreadyExists or a stale resourceVersion/precondition: someone wrote in between.
    return TransientError(message, hint="observe again and re-plan", resource=resource)


def connection_error(error: Exception, *, resource: str, action: str) -> TransientError:
    """A request that got no answer (refused, reset, timed out)."""
    message = f"{action} {resource} got no answer from the API server: {type(error).__name__}"
    hint = "check that the API server is reachable; retry with backoff"
    return TransientError(message, hint=hint, resource=resource)
