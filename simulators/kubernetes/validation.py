"""Validation of objects the way the real server answers: 422 Invalid with causes.

Structure comes from the ``kubernetes-validate`` schemas of the configured version; a few
checks the real server does in Go code (names, replicas, selectors, immutable fields) are
written here. Called by the request handlers before anything is stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from simulators.kubernetes import schemas
from simulators.kubernetes.kinds import Kind

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAMED = {"Namespace", "Service"}


@dataclass(frozen=True, slots=True)
class Cause:
    """One entry of ``Status.details.causes``."""

    reason: str
    message: str
    field: str

    def as_json(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _dotted(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _schema_cause(error: Any) -> Cause:
    where = _dotted(error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else "?"
        return Cause("FieldValueRequired", "Required value", f"{where}.{name}".lstrip("."))
    if error.validator == "enum":
        allowed = ", ".join(f'"{v}"' for v in error.validator_value if v is not None)
        message = f'Unsupported value: "{error.instance}": supported values: {allowed}'
        return Cause("FieldValueNotSupported", message, where)
    if error.validator == "additionalProperties":
        unknown = re.findall(r"'([^']+)'", error.message.split("(", 1)[-1])
        field = f"{where}.{unknown[0]}".lstrip(".") if unknown else where
        return Cause("FieldValueInvalid", "field not declared in schema", field)
    if error.validator == "type":
        wanted = [t for t in _as_list(error.validator_value) if t != "null"]
        shown = json.dumps(error.instance)
        message = f"Invalid value: {shown}: {where} in body must be of type {' or '.join(wanted)}"
        return Cause("FieldValueTypeInvalid", message, where)
    message = f"Invalid value: {json.dumps(error.instance)}: {error.message}"
    reason = (
        "FieldValueTypeInvalid" if error.validator in {"type", "oneOf"} else "FieldValueInvalid"
    )
    return Cause(reason, message, where)


def schema_causes(
    obj: dict[str, Any], kind: Kind, *, minor: int, strict: bool, partial: bool = False
) -> list[Cause]:
    """What the kind's schema rejects in ``obj``, in a stable order.

    ``partial`` is for an apply configuration: it may leave out required fields that the
    merged object has, so only types, enums and unknown fields count.
    """
    checker = schemas.validator(minor, kind.api_version, kind.kind, strict=strict)
    found = checker.iter_errors(obj)
    if partial:
        found = (error for error in found if error.validator != "required")
    errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    return [_schema_cause(error) for error in errors]


def semantic_causes(obj: dict[str, Any], kind: Kind) -> list[Cause]:
    """Checks the real server makes in code rather than in its schema."""
    causes = _name_causes(obj, kind)
    spec = obj.get("spec") or {}
    if kind.kind == "Deployment":
        causes += _deployment_causes(spec)
    elif kind.kind == "HorizontalPodAutoscaler":
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if isinstance(low, int) and isinstance(high, int) and high < low:
            message = f"Invalid value: {high}: must be greater than or equal to `minReplicas`"
            causes.append(Cause("FieldValueInvalid", message, "spec.maxReplicas"))
    elif kind.kind == "Service":
        for index, port in enumerate(spec.get("ports") or []):
            number = port.get("port") if isinstance(port, dict) else None
            if isinstance(number, int) and not 1 <= number <= 65535:
                message = f"Invalid value: {number}: must be between 1 and 65535, inclusive"
                causes.append(Cause("FieldValueInvalid", message, f"spec.ports[{index}].port"))
    return causes


def _name_causes(obj: dict[str, Any], kind: Kind) -> list[Cause]:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        return [Cause("FieldValueRequired", "Required value: name is required", "metadata.name")]
    pattern = _DNS_LABEL if kind.kind in _LABEL_NAMED else _DNS_SUBDOMAIN
    limit = 63 if kind.kind in _LABEL_NAMED else 253
    if isinstance(name, str) and pattern.match(name) and len(name) <= limit:
        return []
    message = (
        f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character"
    )
    return [Cause("FieldValueInvalid", message, "metadata.name")]


def _deployment_causes(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        message = f"Invalid value: {replicas}: must be greater than or equal to 0"
        causes.append(Cause("FieldValueInvalid", message, "spec.replicas"))
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        message = f"Invalid value: {labels!r}: `selector` does not match template `labels`"
        causes.append(Cause("FieldValueInvalid", message, "spec.template.metadata.labels"))
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers")
    if containers == []:
        causes.append(
            Cause("FieldValueRequired", "Required value", "spec.template.spec.containers")
        )
    for index, container in enumerate(containers or []):
        if isinstance(container, dict) and not container.get("image"):
            where = f"spec.template.spec.containers[{index}].image"
            causes.append(Cause("FieldValueRequired", "Required value", where))
    return causes


def immutable_causes(old: dict[str, Any], new: dict[str, Any], kind: Kind) -> list[Cause]:
    """Changes to fields the real server never lets change after creation."""
    before, after = old.get("spec") or {}, new.get("spec") or {}
    if kind.kind == "Deployment" and before.get("selector") != after.get("selector"):
        return [Cause("FieldValueInvalid", "field is immutable", "spec.selector")]
    if kind.kind == "Service" and before.get("clusterIP") != after.get("clusterIP"):
        return [Cause("FieldValueInvalid", "field is immutable", "spec.clusterIP")]
    if kind.kind == "PersistentVolumeClaim":
        return _pvc_causes(before, after)
    return []


def _pvc_causes(before: dict[str, Any], after: dict[str, Any]) -> list[Cause]:
    def without_storage(spec: dict[str, Any]) -> dict[str, Any]:
        requests = dict((spec.get("resources") or {}).get("requests") or {})
        requests.pop("storage", None)
        return {**spec, "resources": {**(spec.get("resources") or {}), "requests": requests}}

    if without_storage(before) == without_storage(after):
        return []
    message = (
        "spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims"
    )
    return [Cause("Forbidden", message, "spec")]
