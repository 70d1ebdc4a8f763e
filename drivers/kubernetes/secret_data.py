"""Fills a Secret's ``data`` from the secret source at apply time; values never leave here
except inside the apply body sent to the API server.

Data keys: when the Secret carries ``deploy.rxt.io/secret-env`` (``NAME=path#key`` pairs, as
the planner renders it for pods that read ``secretKeyRef`` by variable name), each variable
name is a key; otherwise each reference's ``key`` is.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from core.errors import FatalError, InvalidRequest
from core.resources import DesiredResource, SecretRef
from core.secrets import SecretSource

SECRET_ENV_ANNOTATION = "deploy.rxt.io/secret-env"  # noqa: S105 - an annotation name


def _keys(desired: DesiredResource) -> dict[str, SecretRef]:
    by_text = {str(ref): ref for ref in desired.secrets}
    annotations = (desired.spec.get("metadata") or {}).get("annotations") or {}
    pairs = [p for p in str(annotations.get(SECRET_ENV_ANNOTATION, "")).split(",") if p]
    if not pairs:
        keys: dict[str, SecretRef] = {}
        for ref in desired.secrets:
            if ref.key in keys:
                raise _invalid(desired, f"two secret references fill data key {ref.key!r}")
            keys[ref.key] = ref
        return keys
    mapped = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if text not in by_text:
            raise _invalid(desired, f"{SECRET_ENV_ANNOTATION} names {text!r}, not a reference")
        mapped[name] = by_text[text]
    return mapped


def _invalid(desired: DesiredResource, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"{desired.ref}: {why}",
        hint="render each data key of a Secret from exactly one reference",
        resource=str(desired.ref),
    )


def with_data(
    desired: DesiredResource, *, source: SecretSource | None, tenant: str, read: bool = True
) -> Mapping[str, Any]:
    """The Secret's apply body: its spec plus ``data`` filled from ``source``.

    With ``read`` false (a dry run) no value is read: a preview never needs one, and the
    body goes without ``data``; a missing source still fails, as the real run would.

    Raises:
        FatalError: references exist but the driver was given no secret source.
        InvalidRequest: data keys cannot be told apart.
    """
    if not desired.secrets:
        return desired.spec
    if source is None:
        raise FatalError(
            f"{desired.ref} needs secret {desired.secrets[0]} but the Kubernetes driver has "
            "no secret source",
            hint="configure Vault/OpenBao for this engine so the driver can fill Secret data",
            resource=str(desired.ref),
        )
    keys = _keys(desired)
    if not read:
        return desired.spec
    values: dict[SecretRef, str] = {}
    data: dict[str, str] = {}
    for key, ref in keys.items():
        if ref not in values:
            values[ref] = source.read(ref, tenant=tenant)
        data[key] = base64.b64encode(values[ref].encode()).decode()
    return {**desired.spec, "data": data}
