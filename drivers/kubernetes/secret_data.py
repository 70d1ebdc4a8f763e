"""Fills a Secret's ``data`` from the secret source at apply time; values never leave here
except inside the apply body sent to the API server."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from core.errors import FatalError, InvalidRequest
from core.resources import DesiredResource
from core.secrets import SecretSource


def with_data(
    desired: DesiredResource, *, source: SecretSource | None, tenant: str
) -> Mapping[str, Any]:
    """The Secret's apply body: its spec plus ``data`` keyed by each reference's key.

    Raises:
        FatalError: references exist but the driver was given no secret source.
        InvalidRequest: two references would fill the same data key.
    """
    if not desired.secrets:
        return desired.spec
    if source is None:
        first = desired.secrets[0]
        raise FatalError(
            f"{desired.ref} needs secret {first} but the Kubernetes driver has no secret source",
            hint="configure Vault/OpenBao for this engine so the driver can fill Secret data",
            resource=str(desired.ref),
        )
    data: dict[str, str] = {}
    for ref in desired.secrets:
        if ref.key in data:
            raise InvalidRequest(
                f"{desired.ref}: two secret references fill data key {ref.key!r}",
                hint="give each value of one Secret a distinct key",
                resource=str(desired.ref),
            )
        value = source.read(ref, tenant=tenant)
        data[ref.key] = base64.b64encode(value.encode()).decode()
    return {**desired.spec, "data": data}
