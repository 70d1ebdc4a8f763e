"""The per-change blocks that the text and Markdown renderings share: marks, headings, field lines.

Called by ``planner.views.text`` and ``planner.views.markdown``; values come from specs, which
hold secret references only, never values.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.resources import Action, Change, FieldDiff
from planner.diffing import is_conflict

MARKS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NOOP: " ",
}
VERBS = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.REPLACE: "must be replaced",
    Action.DELETE: "will be destroyed",
    Action.NOOP: "is unchanged",
}
CONFLICT_MARK = "!"
VERSIONS_ANNOTATION = "deploy.rxt.io/secret-versions"
# A create or destroy shows this many fields; the JSON plan holds them all.
ALL_FIELDS = 40
# Strings longer than this are shortened in one-line values.
SHORT_TEXT = 120


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a change block, with the mark that decides its colour."""

    mark: str
    text: str


def mark_of(change: Change) -> str:
    """The Terraform-style mark of a change; ``!`` for an ownership conflict."""
    return CONFLICT_MARK if is_conflict(change) else MARKS[change.action]


def heading(change: Change) -> str:
    """The comment line above a change: what happens and why."""
    if is_conflict(change):
        return f"# {change.ref} cannot be created: {change.reason}"
    text = f"# {change.ref} {VERBS[change.action]}"
    if change.reason:
        text += f": {change.reason}"
    if change.needs_approval:
        text += " (needs approval)"
    return text


def value_text(value: Any) -> str:
    """A value on one line: JSON, long strings shortened, multi-line strings summarised."""
    if value is None:
        return "(absent)"
    if isinstance(value, str) and "\n" in value:
        return f"<text, {value.count(chr(10)) + 1} lines>"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= SHORT_TEXT else text[: SHORT_TEXT - 3] + "..."


def leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a spec with its dotted path; lists of plain values stay whole."""
    if isinstance(value, Mapping) and value:
        found: list[tuple[str, Any]] = []
        for key in value:
            found.extend(leaves(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return found
    if isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value):
        found = []
        for index, item in enumerate(value):
            found.extend(leaves(item, f"{prefix}.{index}" if prefix else str(index)))
        return found
    return [(prefix, value)]


def _text_diff(diff: FieldDiff) -> list[Line]:
    before = diff.before if isinstance(diff.before, str) else ""
    after = diff.after if isinstance(diff.after, str) else ""
    lines = [Line("~", f"~ {diff.path}: <text changed>")]
    for row in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1):
        if row.startswith(("---", "+++")):
            continue
        mark = row[:1] if row[:1] in "+-" else " "
        lines.append(Line(mark, f"    {row}"))
    return lines


def diff_lines(diff: FieldDiff) -> list[Line]:
    """The lines of one field change: ``~ path: old -> new``, or a line diff of long text."""
    multiline = any(isinstance(v, str) and "\n" in v for v in (diff.before, diff.after))
    if multiline:
        return _text_diff(diff)
    if diff.before is None:
        return [Line("+", f"+ {diff.path}: {value_text(diff.after)}")]
    if diff.after is None:
        return [Line("-", f"- {diff.path}: {value_text(diff.before)}")]
    return [Line("~", f"~ {diff.path}: {value_text(diff.before)} -> {value_text(diff.after)}")]


def _all_fields(spec: Mapping[str, Any], mark: str) -> list[Line]:
    fields = leaves(dict(spec))
    shown = [
        Line(mark, f"{mark} {path}: {value_text(value)}") for path, value in fields[:ALL_FIELDS]
    ]
    if len(fields) > ALL_FIELDS:
        more = len(fields) - ALL_FIELDS
        shown.append(Line(" ", f"  ... {more} more fields in the JSON plan"))
    return shown


def rotation_lines(change: Change) -> list[Line]:
    """Name the secrets behind a changed versions digest: which reference rotated, never a value.

    The digest covers all of a resource's references, so with several the line names them all.
    """
    desired = change.desired
    rotated = any(d.path.endswith(VERSIONS_ANNOTATION) for d in change.diffs)
    if desired is None or not desired.secrets or not rotated:
        return []
    refs = sorted({str(ref) for ref in desired.secrets})
    if len(refs) == 1:
        return [Line("~", f"~ secret {refs[0]}: version changed")]
    return [Line("~", f"~ secrets {', '.join(refs)}: a version changed")]


def body_lines(change: Change) -> list[Line]:
    """The field lines inside a change block: what changes, what is created or destroyed."""
    if change.action in (Action.UPDATE, Action.REPLACE):
        fields = [line for diff in change.diffs for line in diff_lines(diff)]
        return rotation_lines(change) + fields
    if change.action is Action.CREATE and change.desired is not None:
        return _all_fields(change.desired.spec, "+")
    if change.action is Action.DELETE and change.observed is not None:
        return _all_fields(change.observed.spec, "-")
    return []


def change_block(change: Change) -> list[Line]:
    """A whole change: heading, ``mark address {``, field lines, ``}``."""
    mark = mark_of(change)
    lines = [Line("#", heading(change)), Line(mark, f"{mark} {change.ref} {{")]
    lines.extend(Line(line.mark, "    " + line.text) for line in body_lines(change))
    lines.append(Line(" ", "  }"))
    return lines


def summary_line(add: int, change: int, replace: int, destroy: int) -> str:
    """Terraform's closing line."""
    return f"Plan: {add} to add, {change} to change, {replace} to replace, {destroy} to destroy."


def money(amount: float, currency: str) -> str:
    """An amount with thousands separators and its currency."""
    return f"{amount:,.2f} {currency}"


def signed(amount: float, currency: str) -> str:
    """A difference with its sign."""
    sign = "+" if amount >= 0 else "-"
    return f"{sign}{abs(amount):,.2f} {currency}"
