"""Structured logging set-up: JSON off a terminal, a console renderer on one, secrets redacted.

Called once by the command line and the server; libraries only ever call ``get_logger``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Keys whose values are secrets whatever they hold. Matched on the key's last word so that
# ``db_password`` and ``X-Vault-Token`` are caught but ``password_policy_name`` is not.
_SECRET_KEY = re.compile(
    r"(?:^|[_\-.])(password|passwd|secret|token|api[_\-]?key|private[_\-]?key|credentials?)$",
    re.IGNORECASE,
)

# Values that are known secrets in this process (resolved Vault values). Kept as a set so
# that redaction can replace them even inside longer strings such as error messages; replaced
# longest first, so that a secret containing a shorter one is hidden whole. Workers register
# and redact from several threads, hence the lock around the set and its ordered copy.
_known_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def is_secret_key(key: str) -> bool:
    """True when a key's name says its value is a secret."""
    return bool(_SECRET_KEY.search(key))


def register_secret(value: str) -> None:
    """Remember a secret value so that every later redaction hides it wherever it appears."""
    global _longest_first  # noqa: PLW0603 - one process-wide registry, swapped atomically
    if len(value) < 4 or value in _known_secrets:  # shorter values would hide ordinary words
        return
    with _secrets_lock:
        _known_secrets.add(value)
        _longest_first = tuple(sorted(_known_secrets, key=len, reverse=True))


def redact_text(text: str) -> str:
    """Replace every known secret value inside ``text``."""
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(value: Any, *, key: str = "") -> Any:
    """Return ``value`` with secret-looking keys and known secret values replaced."""
    if key and is_secret_key(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, MutableMapping | dict):
        return {k: redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redacting_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {key: redact(value, key=key) for key, value in event_dict.items()}


def configure(*, level: str = "INFO", json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog for this process.

    Args:
        level: the lowest level to print.
        json: force JSON (True) or the console renderer (False); default: JSON unless the
            stream is a terminal.
        stream: where to write; standard error by default.
    """
    out = stream if stream is not None else sys.stderr
    as_json = json if json is not None else not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    processors: Iterable[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redacting_processor,
        renderer,
    ]
    structlog.configure(
        processors=list(processors),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    """A logger with ``context`` (the fixed keys: tenant, env, commit, app, resource...).

    The logger is a lazy proxy: one made at import time still follows a later ``configure``.
    """
    return structlog.get_logger(**context)
