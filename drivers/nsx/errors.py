"""NSX error answers turned into ``core.errors`` classes, by HTTP status and ``error_code``.

The HTTP client calls ``classify`` on every error answer; nothing here reads message text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import (
    FatalError,
    InvalidRequest,
    NotFound,
    OwnershipConflict,
    PlatformError,
    TransientError,
)

PENDING_DELETE = 500045
IN_USE = 500030
BAD_XSRF = 98
PERSISTENCE_RECONFIGURING = 607
# 400 answers that mean "not yet", not "never": search indexing and search timeouts.
RETRYABLE_BAD_REQUESTS = frozenset({60508, 60514, PENDING_DELETE})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MESSAGE_LIMIT = 300  # foreign error text is capped before it reaches logs and reports


class StaleRevision(TransientError):
    """Our ``_revision`` was stale (412, or 409 on some endpoints): re-read, then retry once."""


class PendingDelete(TransientError):
    """The id is still being deleted (``error_code`` 500045); retry after it is purged."""


class InUse(InvalidRequest):
    """A delete was refused because other objects still reference this one (500030)."""


class SessionRejected(FatalError):
    """The session cookie or its XSRF token was refused; a new session may fix it."""


__all__ = [
    "FatalError",
    "InUse",
    "InvalidRequest",
    "NotFound",
    "OwnershipConflict",
    "PendingDelete",
    "PlatformError",
    "SessionRejected",
    "StaleRevision",
    "TransientError",
    "classify",
    "error_code",
]


_Rule = tuple[Callable[[int, int | None], bool], type[PlatformError], str]
# First match wins; the order puts specific error codes before their HTTP status.
_RULES: tuple[_Rule, ...] = (
    (lambda s, c: s in (409, 412), StaleRevision, "someone else changed it; it is re-read"),
    (
        lambda s, c: s == 400 and c == PENDING_DELETE,
        PendingDelete,
        "the previous delete is not purged yet; retry later",
    ),
    (
        lambda s, c: s == 400 and c in RETRYABLE_BAD_REQUESTS,
        TransientError,
        "NSX is indexing; retry later",
    ),
    (
        lambda s, c: s == 400 and c == IN_USE,
        InUse,
        "delete what references it first, or in the same change",
    ),
    (
        lambda s, c: s in (400, 422),
        InvalidRequest,
        "fix the rendered NSX object; retrying the same request cannot help",
    ),
    (lambda s, c: s == 404, NotFound, "the object does not exist"),
    (
        lambda s, c: s == 401 or (s == 403 and c == BAD_XSRF),
        SessionRejected,
        "check the NSX user and password in the settings",
    ),
    (
        lambda s, c: s in RETRYABLE_STATUSES,
        TransientError,
        "NSX is busy or restarting; retried with backoff",
    ),
)


def classify(status: int, body: Any, *, what: str) -> PlatformError:
    """The error class for an NSX answer of ``status`` with ``body`` about ``what``."""
    code = error_code(body)
    message = f"NSX refused {what}: HTTP {status}, error_code {code}: {_message(body)}"
    for test, error_class, hint in _RULES:
        if test(status, code):
            return error_class(message, hint=hint, resource=what)
    return FatalError(message, hint="check the NSX user's role and the manager's health")


def error_code(body: Any) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("error_code"), int):
        return int(body["error_code"])
    return None


def _message(body: Any) -> str:
    text = body.get("error_message", "") if isinstance(body, dict) else ""
    return str(text or "no error message")[:MESSAGE_LIMIT]
