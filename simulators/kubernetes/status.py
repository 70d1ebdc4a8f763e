"""``Status`` answers: the error bodies of the real API server, and the error that carries them."""

from __future__ import annotations

from typing import Any

from simulators.kubernetes.kinds import Kind
from simulators.kubernetes.validation import Cause

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An answer other than success, with the ``Status`` body the real server sends."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str = "",
        kind: Kind | None = None,
        name: str = "",
        causes: list[Cause] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.kind = kind
        self.name = name
        self.causes = causes or []
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.kind is not None:
            if self.kind.group:
                details["group"] = self.kind.group
            details["kind"] = self.kind.plural
        if self.causes:
            details["causes"] = [cause.as_json() for cause in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(404, f'{kind.qualified} "{name}" not found', kind=kind, name=name)


def already_exists(kind: Kind, name: str) -> ApiError:
    message = f'{kind.qualified} "{name}" already exists'
    return ApiError(409, message, reason="AlreadyExists", kind=kind, name=name)


def conflict(kind: Kind, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {kind.qualified} "{name}": {why}'
    return ApiError(409, message, reason="Conflict", kind=kind, name=name)


def invalid(kind: Kind, name: str, causes: list[Cause]) -> ApiError:
    parts = [f"{cause.field}: {cause.message}" for cause in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    message = f'{kind.kind_group} "{name}" is invalid: {listed}'
    return ApiError(422, message, reason="Invalid", kind=kind, name=name, causes=causes)


def success(kind: Kind, name: str, uid: str) -> dict[str, Any]:
    """The ``Status`` a DELETE answers with."""
    details = {"name": name, "kind": kind.plural, "uid": uid}
    if kind.group:
        details["group"] = kind.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
