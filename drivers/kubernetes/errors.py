"""Turns what the Kubernetes client raises into ``core.errors`` classes, by status and reason.

Every call the driver makes goes through ``classify``; no SDK exception leaves the package,
not even as a cause: ``ApiException`` carries the raw response body and headers, and a body can
echo a Secret's data. Our errors keep an ``ApiAnswer`` (status and reason only) instead.
"""

from __future__ import annotations

import json
from collections.abc import Collection
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
from core.logs import REDACTED, redact_text

_TRANSIENT_STATUSES = {408, 410, 429, 500, 502, 503, 504}
_BODY_LIMIT = 2000  # foreign error bodies are capped before they reach a message


class ApiAnswer(Exception):
    """What the API server answered, reduced to its status code and reason phrase: the cause
    our errors keep, read in tracebacks, never raised or caught on its own."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"the API server answered {status} {reason}")
        self.status = status
        self.reason = reason

    @classmethod
    def of(cls, error: ApiException) -> ApiAnswer:
        # The reason phrase is the server's one line, not its body; capped all the same.
        return cls(int(error.status or 0), str(error.reason or "")[:200])


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


def _scrub(text: str, conceal: Collection[str]) -> str:
    """``text`` without known secrets or the ``conceal`` values, then capped: redacting before
    capping, so a cut never leaves the head of a secret behind."""
    text = redact_text(text)
    for value in sorted(conceal, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text[:_BODY_LIMIT]


def classify(
    error: ApiException, *, resource: str, action: str, conceal: Collection[str] = ()
) -> PlatformError:
    """The ``core.errors`` class for an error answer to ``action`` on ``resource``.

    The message keeps the status, the reason and the ``Status`` object's ``message`` and
    causes (which the API server writes), with ``conceal`` (values the request carried that
    must not come back, such as a Secret's data) and every registered secret redacted.
    """
    code = int(error.status or 0)
    body = status_body(error)
    reason = str(body.get("reason") or "")
    said = _scrub(str(body.get("message") or error.reason or "no message"), conceal)
    message = f"{action} {resource} failed ({code} {reason or error.reason}): {said}"
    if code in _TRANSIENT_STATUSES or reason in {"ServerTimeout", "Timeout", "TooManyRequests"}:
        retry = (error.headers or {}).get("Retry-After") if error.headers else None
        hint = f"retry after {retry} s" if retry else "retry with backoff"
        return TransientError(message, hint=hint, resource=resource)
    if code == 409:
        return _conflict(message, body, resource=resource)
    if code in {400, 422}:
        listed = "; ".join(f"{c.get('field', '?')}: {c.get('message', '')}" for c in _causes(body))
        detail = f"{message} [{_scrub(listed, conceal)}]" if listed else message
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
