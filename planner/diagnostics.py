"""Turn pydantic's validation errors into ManifestErrors at the YAML position they concern.

Each error names the field by the contract's camelCase path, says what is wrong in words (not
regular expressions) and offers a hint, with a "did you mean" for unknown fields and values.
Called by ``planner.loading``.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.errors import ManifestError
from planner import manifests as m
from planner.sourcemap import PathKey, SourceMap

# What each pattern of the contract means, in the words a user would use: a noun and a hint.
# The patterns without a constant in planner.manifests are repeated here; a test checks that
# every pattern of the generated schemas has its words.
PATTERN_WORDS: dict[str, tuple[str, str]] = {
    m.DNS_LABEL: (
        "a DNS label",
        "use lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
    m.QUANTITY: ("a Kubernetes quantity", "write it like 500m, 2, 512Mi or 4Gi"),
    m.DURATION: ("a duration", "write it like 90s, 10m or 1h, or 0 to disable"),
    m.ENV_NAME: (
        "an environment variable name",
        "use letters, digits and '_', not starting with a digit",
    ),
    m.EGRESS_RULE: ("an IPv4 network with an optional port", 'write it like "10.20.0.0/16:5432"'),
    m.IPV4_ADDRESS: (
        "an IPv4 address",
        "write four numbers 0-255 separated by dots, e.g. 192.0.2.10",
    ),
    "^/": ("an absolute path", "start it with '/'"),
    r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$": (
        "a secret path",
        "write segments of letters, digits, '_', '.' and '-' separated by '/', e.g. payments/db",
    ),
    r"^[A-Za-z0-9_.-]+$": ("a secret key", "use letters, digits, '_', '.' and '-'"),
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$": (
        "a host name",
        "use lowercase DNS labels separated by dots, e.g. pay.acme.example.com",
    ),
    r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$": (
        "a dotted field path",
        "write it like spec.replicas",
    ),
}

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
}


def dotted(where: PathKey) -> str:
    """``('spec', 'ports', 0, 'name')`` as ``spec.ports[0].name``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "document"


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold once Optional, Annotated and unions are peeled."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [inner for arg in typing.get_args(annotation) for inner in _unwrap(arg)]
    return [annotation]


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info
    return None


def model_at(root: type[BaseModel], where: PathKey) -> type[BaseModel] | None:
    """The model class describing the mapping at ``where``, if one does."""
    current: list[Any] = [root]
    for part in where:
        following: list[Any] = []
        for kind in current:
            origin = typing.get_origin(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(part, str):
                info = _field(kind, part)
                following += _unwrap(info.annotation) if info is not None else []
            elif origin is list and isinstance(part, int):
                following += _unwrap(typing.get_args(kind)[0])
            elif origin is dict and isinstance(part, str):
                following += _unwrap(typing.get_args(kind)[1])
        current = following
    models = [k for k in current if isinstance(k, type) and issubclass(k, BaseModel)]
    return models[0] if models else None


def field_names(model: type[BaseModel]) -> list[str]:
    """The names a user writes: the alias where there is one."""
    return [info.alias or name for name, info in model.model_fields.items()]


def aliased(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``loc`` with every Python field name replaced by the name users write (its alias).

    pydantic reports aliases when it validated by alias, as the loader does; this keeps
    messages in the contract's words whichever way a model was validated.
    """
    translated: list[int | str] = []
    for part in loc:
        model = model_at(root, tuple(translated)) if isinstance(part, str) else None
        info = model.model_fields.get(str(part)) if model is not None else None
        translated.append(info.alias if info is not None and info.alias else part)
    return tuple(translated)


def did_you_mean(word: str, choices: list[str]) -> str:
    """``did you mean 'x'?`` for the closest choice, or the list of choices."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "expected one of: " + ", ".join(sorted(choices))


# pydantic names the union member it tried in ``loc``; these never match a key of the data.
_BRANCH_TAGS = {"str", "SecretValue"}


def _has(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _resolve(loc: tuple[int | str, ...], data: Any) -> tuple[PathKey, bool, PathKey | None]:
    """Follow ``loc`` through the data: the real path, whether it names a key, and where a
    union was tried (None outside unions)."""
    where: list[str | int] = []
    node, is_key, union_at = data, False, None
    for part in loc:
        if part == "[key]":
            is_key = True
        elif _has(node, part):
            where.append(part)
            node = node[part]
        elif part in _BRANCH_TAGS or str(part).startswith("function-"):
            union_at = union_at or tuple(where)
        else:
            where.append(part)  # a missing field: the path goes on past the data
            node = None
    return tuple(where), is_key, union_at


def _describe(error: ErrorDetails, where: PathKey, root: type[BaseModel]) -> tuple[str, str]:
    """Message and hint for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    name = dotted(where)
    if kind == "missing":
        parent = model_at(root, where[:-1])
        info = _field(parent, str(where[-1])) if parent else None
        about = (info.description or "").rstrip(".") if info else ""
        hint = f"add {where[-1]} ({about[:1].lower()}{about[1:]})" if about else f"add {where[-1]}"
        return f"{name} is required but missing", hint
    if kind == "extra_forbidden":
        parent = model_at(root, where[:-1])
        choices = field_names(parent) if parent else []
        where_text = f" in {dotted(where[:-1])}" if len(where) > 1 else ""
        return f"unknown field '{where[-1]}'{where_text}", did_you_mean(str(where[-1]), choices)
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        noun, hint = PATTERN_WORDS.get(pattern, (f"text matching {pattern}", ""))
        return f"{name} must be {noun}, not {value!r}", hint
    if kind == "literal_error":
        choices = [
            c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ",").split(",")
        ]
        return f"{name} must be one of {ctx.get('expected')}, not {value!r}", did_you_mean(
            str(value), [c for c in choices if c]
        )
    if kind in _TYPE_WORDS:
        hint = ""
        if kind == "string_type" and isinstance(value, int | float | bool):
            written = str(value).lower() if isinstance(value, bool) else str(value)
            hint = f'quote it to make it text: "{written}"'
        elif kind == "int_type" and isinstance(value, str) and value.strip().isdigit():
            hint = "remove the quotes around the number"
        return f"{name} must be {_TYPE_WORDS[kind]}, not {value!r}", hint
    return f"{name}: {error['msg'][:1].lower()}{error['msg'][1:]}", ""


def _is_branch_miss(detail: ErrorDetails, resolved: tuple[PathKey, bool, PathKey | None]) -> bool:
    """A union member refusing the value's type outright: noise beside a precise error."""
    where, _, union_at = resolved
    return union_at is not None and where == union_at and detail["type"] in _TYPE_WORDS


def _select(
    details: list[ErrorDetails], resolved: list[tuple[PathKey, bool, PathKey | None]]
) -> list[int]:
    """Errors worth showing; a union whose every member refused the type shows once."""
    keep: list[int] = []
    unions_reported: set[PathKey] = set()
    for index, detail in enumerate(details):
        union_at = resolved[index][2]
        if not _is_branch_miss(detail, resolved[index]):
            keep.append(index)
            continue
        others = [
            j
            for j, r in enumerate(resolved)
            if r[2] == union_at and not _is_branch_miss(details[j], r)
        ]
        if not others and union_at not in unions_reported:
            unions_reported.add(union_at or ())
            keep.append(index)
    return keep


def to_manifest_errors(
    error: ValidationError, *, data: Any, source: SourceMap, root: type[BaseModel]
) -> list[ManifestError]:
    """One ManifestError per distinct problem pydantic found, pointing at its YAML node."""
    details = error.errors(include_url=False)
    resolved = [_resolve(aliased(root, detail["loc"]), data) for detail in details]
    found: list[ManifestError] = []
    for index in _select(details, resolved):
        detail, (where, is_key, _) = details[index], resolved[index]
        if _is_branch_miss(detail, resolved[index]):
            message = f"{dotted(where)} must be a string or a mapping {{secretRef: {{path, key}}}}"
            found.append(ManifestError(message, location=source.at(where)))
            continue
        message, hint = _describe(detail, where, root)
        if detail["type"] == "missing":
            location = source.at(where[:-1], key=True)
        else:
            location = source.at(where, key=is_key or detail["type"] == "extra_forbidden")
        found.append(ManifestError(message, location=location, hint=hint))
    return found
