"""Helpers that route secret values through the one redaction point, ``core.logs``.

The Vault secret source registers every value it reads here; the reconciler and the command line
scrub exception chains here before they print, log or audit them.
"""

from __future__ import annotations

import base64
import json

from core.errors import RxtError
from core.logs import redact, redact_text, register_secret

# Attributes of SDK exceptions that can hold raw response bodies (hvac's VaultError keeps the
# response text and JSON; a wrapped read or an echoing server could put a value there).
_BODY_ATTRIBUTES = ("text", "json", "body", "data", "response", "errors")


def encodings(value: str) -> list[str]:
    """The forms a value takes on its way out: itself, JSON-escaped, and base64.

    Kubernetes Secret ``data`` carries base64 of each value, and a JSON log or error body carries
    the escaped form; redaction matches text, so each form is registered.
    """
    raw = value.encode()
    forms = [
        value,
        json.dumps(value)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]
    return list(dict.fromkeys(forms))


def register_value(value: str) -> None:
    """Register ``value`` and its encodings with ``core.logs`` so redaction hides each."""
    for form in encodings(value):
        register_secret(form)


def scrub_exception(error: BaseException) -> BaseException:
    """Redact, in place, every exception of ``error``'s chain (causes, contexts, groups).

    Message arguments are redacted and raw response bodies kept by SDK exceptions are dropped.
    Returns ``error`` for chaining at the call site.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_one(current)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
    return error


def _scrub_one(error: BaseException) -> None:
    error.args = tuple(redact(arg) for arg in error.args)
    if isinstance(error, RxtError):
        error.message = redact_text(error.message)
        error.hint = redact_text(error.hint)
    for name in _BODY_ATTRIBUTES:
        if name in vars(error):
            kept = redact(vars(error)[name]) if name == "errors" else None
            try:
                setattr(error, name, kept)
            except AttributeError:  # a read-only attribute: nothing of ours to scrub
                continue
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [redact_text(note) for note in notes]


def safe_text(error: BaseException) -> str:
    """The text of ``error``'s whole chain, each message redacted, for logs and audit rows."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {redact_text(_message(current))}")
        current = current.__cause__ or current.__context__
    return "; caused by ".join(parts)


def _message(error: BaseException) -> str:
    if isinstance(error, RxtError):
        return error.render()
    try:
        return str(error)
    except Exception:  # a broken __str__ must not hide the original failure
        return repr(error.args)
