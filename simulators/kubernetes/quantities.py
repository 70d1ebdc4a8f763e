"""Resource quantities rewritten to the canonical text the real API server stores.

The real server parses every quantity and prints it back in its own form: ``"0.5"`` becomes
``"500m"``, ``"1024Mi"`` becomes ``"1Gi"``, ``"1000"`` becomes ``"1k"``. A client that sends a
non-canonical form sees a different value when it reads the object back. Called by defaulting.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

_TEXT = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def canonical(value: Any) -> Any:
    """The canonical text of a quantity; anything that does not parse is left alone."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return value
    match = _TEXT.match(str(value))
    if match is None:
        return value  # exponent forms and garbage: validation is not this module's job
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        exact = number * (Decimal(2) ** _BINARY[suffix])
        if abs(exact) >= 1024 and exact == exact.to_integral_value():
            return _binary(int(exact))
        return _decimal(exact)
    return _decimal(number * (Decimal(10) ** _DECIMAL[suffix]))


def _binary(value: int) -> str:
    for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
        if value % (2**power) == 0:
            return f"{value // 2**power}{suffix}"
    return str(value)


def _decimal(value: Decimal) -> str:
    # The real server rounds up to the milli unit, then uses the largest exact SI suffix.
    milli = math.ceil(value * 1000)
    if milli == 0:
        return "0"
    for suffix, power in sorted(_DECIMAL.items(), key=lambda item: -item[1]):
        size = 10 ** (power + 3)
        if milli % size == 0:
            return f"{milli // size}{suffix}"
    return f"{milli}m"


def canonicalise(resources: Any) -> None:
    """Rewrite ``requests`` and ``limits`` of a resources block in place."""
    if not isinstance(resources, dict):
        return
    for part in ("requests", "limits"):
        values = resources.get(part)
        if isinstance(values, dict):
            for name, value in values.items():
                values[name] = canonical(value)
