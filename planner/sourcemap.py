"""Read one YAML document into plain data plus the line and column of every key and value.

Refuses what a hostile repository could use against the engine: files over 1 MiB, anchors and
aliases, custom tags, duplicate keys, deep nesting, several documents. Called by
``planner.loading``; positions feed every error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import YAMLError

from core.errors import Location, ManifestError

MAX_BYTES = 1024 * 1024
# Manifests nest six levels deep at most; 32 leaves room and keeps recursion shallow.
MAX_DEPTH = 32
# Python refuses to turn longer digit strings into an int; no manifest number comes close.
_MAX_DIGITS = 4000

PathKey = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(~|null|Null|NULL|)$")
# A plain scalar starting with anything else is a string; checked first because it is common.
_SPECIAL_STARTS = frozenset("0123456789+-.~nNtTfF")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {
    **{f"{sign}{word}": float(f"{sign or '+'}inf") for sign in ("", "+", "-")
       for word in (".inf", ".Inf", ".INF")},
    **{word: float("nan") for word in (".nan", ".NaN", ".NAN")},
}  # fmt: skip


@dataclass
class SourceMap:
    """Positions (1-based line, column) of each value and each mapping key, by data path."""

    path: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def at(self, where: PathKey, *, key: bool = False) -> Location:
        """The location of ``where`` (its key when ``key``); for a node that is not in the
        file, such as a missing field, the key of its nearest ancestor."""
        if key and where in self.keys:
            return Location(self.path, *self.keys[where])
        if where in self.values:
            return Location(self.path, *self.values[where])
        probe = where
        while probe and probe not in self.keys and probe not in self.values:
            probe = probe[:-1]
        line, column = self.keys.get(probe) or self.values.get(probe, (1, 1))
        return Location(self.path, line, column)


def _fail(message: str, *, path: str, mark: Any = None, hint: str = "") -> ManifestError:
    line = getattr(mark, "line", -1) + 1
    column = getattr(mark, "column", -1) + 1
    return ManifestError(message, location=Location(path, max(line, 1), max(column, 1)), hint=hint)


def _decode(data: str | bytes, *, path: str) -> str:
    """Text of at most ``MAX_BYTES``, measured before any parsing."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise _fail(
            f"file is {size} bytes, over the limit of {MAX_BYTES} bytes (1 MiB)",
            path=path,
            hint="split the application or move large values out of the manifest",
        )
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as error:
            raise _fail(
                f"text holds a lone surrogate at character {error.start}, which is not Unicode",
                path=path,
                hint="save the file as UTF-8",
            ) from error
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _fail(
            f"file is not UTF-8 text (byte {error.start})", path=path, hint="save it as UTF-8"
        ) from error


def _c_parser() -> Any:
    """ruamel.yaml's C parser class, or None when ruamel.yaml.clib is not installed."""
    parser = YAML(typ="safe", pure=False).Parser
    return parser if "clib" in str(parser.__module__) else None


_C_PARSER = _c_parser()


def parser_in_use() -> str:
    """Which YAML parser reads manifests: ruamel.yaml's C one (from ruamel.yaml.clib) or its
    pure Python one, several times slower on big files."""
    return "pure Python" if _C_PARSER is None else "C (ruamel.yaml.clib)"


def _event_source(text: str) -> Callable[[], Any]:
    """A function returning the next parser event. With ruamel.yaml.clib it is the C parser's
    own method: generator layers in between cost a third of the time on a 1 MiB file."""
    if _C_PARSER is None:
        events: Iterator[Any] = YAML(typ="safe", pure=True).parse(text)
        return events.__next__
    get_event: Callable[[], Any] = _C_PARSER(text).get_event
    return get_event


def _not_yaml(error: YAMLError, *, path: str) -> ManifestError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return _fail(f"not valid YAML: {problem}", path=path, mark=mark, hint="check the syntax")


def _resolve_number(text: str) -> int | float | None:
    """An int or float of the YAML 1.2 core schema, or None when ``text`` is not one."""
    if len(text) > _MAX_DIGITS:
        return None
    if _INT.match(text):
        return int(text)
    if _INT_OCT.match(text):
        return int(text[2:], 8)
    if _INT_HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    return _SPECIAL_FLOAT.get(text)


def _resolve_plain(text: str) -> Any:
    """A plain scalar under the YAML 1.2 core schema: ``yes`` and ``on`` stay strings."""
    if text and text[0] not in _SPECIAL_STARTS:
        return text  # most values: plain words, which can be neither number, bool nor null
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    number = _resolve_number(text)
    return text if number is None else number


_TAG_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "bool": bool,
    "null": type(None),
}
_SCALAR_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null")} | {"!"}
_ALLOWED_TAGS: dict[type, set[str]] = {
    ev.ScalarEvent: _SCALAR_TAGS,
    ev.SequenceStartEvent: {f"{_CORE}seq"},
    ev.MappingStartEvent: {f"{_CORE}map"},
}


def _is_plain_scalar(event: Any) -> bool:
    """A scalar with no anchor and no tag: nothing to refuse, nothing to convert by tag."""
    return type(event) is ev.ScalarEvent and event.anchor is None and event.tag is None


class _Builder:
    """Turns the event stream into dicts, lists and scalars, recording positions on the way."""

    def __init__(self, next_event: Callable[[], Any], source: SourceMap) -> None:
        self.next_event = next_event
        self.source = source
        self.values = source.values
        self.keys = source.keys

    def fail(self, message: str, event: Any, hint: str = "") -> ManifestError:
        return _fail(message, path=self.source.path, mark=event.start_mark, hint=hint)

    def node(self, event: Any, where: PathKey) -> Any:
        if len(where) > MAX_DEPTH:
            raise self.fail(
                f"nesting deeper than {MAX_DEPTH} levels",
                event,
                hint="manifests nest a few levels deep; flatten this value",
            )
        self.check_event(event)
        mark = event.start_mark
        self.values[where] = (mark.line + 1, mark.column + 1)
        kind = type(event)
        if kind is ev.ScalarEvent:
            return self.scalar(event)
        if kind is ev.SequenceStartEvent:
            return self.sequence(where)
        return self.mapping(where)

    def check_event(self, event: Any) -> None:
        kind = type(event)
        if kind is ev.AliasEvent:
            raise self.fail(
                f"alias *{event.anchor} is not allowed",
                event,
                hint="write the value out in full; anchors and aliases are refused",
            )
        if event.anchor is not None:
            raise self.fail(
                f"anchor &{event.anchor} is not allowed",
                event,
                hint="write the value out in full; anchors and aliases are refused",
            )
        tag = event.tag
        if tag is not None and tag not in _ALLOWED_TAGS.get(kind, ()):
            raise self.fail(
                f"tag {tag} is not allowed", event, hint="remove the tag; plain YAML only"
            )

    def scalar(self, event: Any) -> Any:
        tag, text = event.tag, event.value
        if tag is None:
            return _resolve_plain(text) if event.implicit[0] else text
        if tag in (f"{_CORE}str", "!"):
            return text
        value: Any = _resolve_plain(text)
        kind = tag.removeprefix(_CORE)
        if kind == "float" and type(value) is int:
            value = float(value)
        if type(value) is not _TAG_TYPES[kind]:
            raise self.fail(
                f"{text!r} is not a valid {tag}", event, hint="remove the tag or fix the value"
            )
        return value

    def sequence(self, where: PathKey) -> list[Any]:
        items: list[Any] = []
        while type(event := self.next_event()) is not ev.SequenceEndEvent:
            items.append(self.node(event, (*where, len(items))))
        return items

    def mapping(self, where: PathKey) -> dict[str, Any]:
        # The hot loop of a big file: plain keys and plain scalar values, the common case,
        # are handled inline; anything else goes through key() and node(), which refuse.
        result: dict[str, Any] = {}
        next_event, keys, values = self.next_event, self.keys, self.values
        shallow = len(where) < MAX_DEPTH
        while type(event := next_event()) is not ev.MappingEndEvent:
            if _is_plain_scalar(event) and event.value not in result:
                key = event.value
            else:
                key = self.key(event, result)
            child = (*where, key)
            mark = event.start_mark
            keys[child] = (mark.line + 1, mark.column + 1)
            value = next_event()
            if shallow and _is_plain_scalar(value):
                mark = value.start_mark
                values[child] = (mark.line + 1, mark.column + 1)
                text = value.value
                result[key] = _resolve_plain(text) if value.implicit[0] else text
            else:
                result[key] = self.node(value, child)
        return result

    def key(self, event: Any, seen: dict[str, Any]) -> str:
        self.check_event(event)
        if type(event) is not ev.ScalarEvent:
            raise self.fail(
                "mapping keys must be plain strings", event, hint="write the key as plain text"
            )
        if event.tag is not None and event.tag not in (f"{_CORE}str", "!"):
            raise self.fail(
                f"mapping key {event.value!r} must be a string", event, hint="remove the tag"
            )
        if event.value in seen:
            raise self.fail(
                f"duplicate key {event.value!r}",
                event,
                hint="each key may appear once in a mapping; remove or merge the repeated one",
            )
        return str(event.value)


def _documents(next_event: Callable[[], Any], source: SourceMap) -> list[Any]:
    """The root value of each document, refusing a second one when it starts."""
    roots: list[Any] = []
    while type(event := next_event()) is not ev.StreamEndEvent:
        if type(event) is ev.DocumentStartEvent:
            if roots:
                raise _fail(
                    "several YAML documents in one file",
                    path=source.path,
                    mark=event.start_mark,
                    hint="keep one document per file; remove the '---' separator",
                )
            roots.append(_Builder(next_event, source).node(next_event(), ()))
    return roots


def read_yaml(data: str | bytes, *, path: str) -> tuple[dict[str, Any], SourceMap]:
    """One YAML document as a mapping, with a source map of its nodes.

    Raises:
        ManifestError: the file is too big, not YAML, not one mapping, or uses a refused feature.
    """
    source = SourceMap(path)
    try:
        roots = _documents(_event_source(_decode(data, path=path)), source)
    except YAMLError as error:  # the parser's own complaint about hostile or broken input
        raise _not_yaml(error, path=path) from error
    if not roots or roots[0] is None:
        raise _fail("file is empty", path=path, hint="write an apiVersion, kind, metadata and spec")
    if not isinstance(roots[0], dict):
        raise _fail(
            "the document must be a mapping of apiVersion, kind, metadata and spec",
            path=path,
            mark=None,
            hint="start the file with 'apiVersion: deploy.rxt.io/v1'",
        )
    return roots[0], source
