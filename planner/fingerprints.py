"""Fast spec digests for the diff and the plan id, where thousands of specs are hashed per plan.

Called by ``planner.diffing`` and ``planner.plans``. RFC 8785 (``core.hashing``) is pure Python
and costs about a millisecond per spec; sorted-key JSON from the C encoder gives equal bytes for
equal data in a fraction of that, which is all a comparison within the planner needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def spec_digest(spec: Mapping[str, Any] | list[Any]) -> str:
    """A ``sha256:`` digest of ``spec`` (or any JSON value) as sorted-key compact JSON.

    Two specs that compare equal as Python data can still differ here only where JSON does
    (``1`` against ``1.0``); the diff then finds no field change and treats them as equal.
    """
    text = _ENCODER.encode(spec)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
