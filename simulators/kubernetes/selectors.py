"""Label and field selectors of LIST requests, parsed the way the real server reads them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


class SelectorError(ValueError):
    """A selector the real server would answer with 400 BadRequest."""


def _split(text: str) -> list[str]:
    # Commas inside "in (a,b)" do not separate requirements.
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def _requirement(text: str) -> Predicate:
    if match := _SET.match(text):
        key, operator, values = match.groups()
        wanted = {v.strip() for v in values.split(",") if v.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in wanted
        return lambda labels: labels.get(key) not in wanted
    if match := _EQUALITY.match(text):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(text):
        negate, key = match.groups()
        return (lambda labels: key not in labels) if negate else (lambda labels: key in labels)
    raise SelectorError(f"unable to parse requirement: {text!r}")


def label_selector(text: str) -> Predicate:
    """A predicate over labels for ``labelSelector``; empty text selects everything."""
    requirements = [_requirement(part) for part in _split(text)]
    return lambda labels: all(requirement(labels) for requirement in requirements)


_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "metadata.name": lambda obj: obj["metadata"].get("name", ""),
    "metadata.namespace": lambda obj: obj["metadata"].get("namespace", ""),
}


def field_selector(text: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate over objects for ``fieldSelector`` (``metadata.name`` and ``namespace``)."""
    checks: list[tuple[str, str, bool]] = []
    for part in _split(text):
        match = _EQUALITY.match(part)
        if not match or match.group(1) not in _FIELDS:
            raise SelectorError(f"field label not supported: {part.strip()!r}")
        key, operator, value = match.groups()
        checks.append((key, value, operator == "!="))
    return lambda obj: all((_FIELDS[key](obj) == value) != negate for key, value, negate in checks)
