"""Kubernetes quantities ("500m", "2", "4Gi") as integers: millicores and bytes.

Called by the manifest checks in ``planner.validation`` and by the planner when it sizes VMs.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The same grammar as planner.manifests.QUANTITY, split into its number and suffix.
_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
)

_MULTIPLIERS: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}

# Beyond this many digits a "quantity" is an attack on the parser, not a size.
_MAX_TEXT = 64


def _parse(text: str) -> Decimal:
    """The exact value of a quantity in base units; ``ValueError`` when it is not one."""
    match = _QUANTITY.match(text) if len(text) <= _MAX_TEXT else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as 500m, 2 or 4Gi")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # the pattern admits only decimals; kept for safety
        raise ValueError(f"{text!r} is not a number") from error
    return number * _MULTIPLIERS[match["suffix"] or ""]


def _ceiling(value: Decimal) -> int:
    """Round up: Kubernetes never rounds a request below what was asked for."""
    whole = int(value)
    return whole if value == whole else whole + 1


def parse_cpu_millicores(text: str) -> int:
    """CPU as millicores: ``"2"`` is 2000, ``"500m"`` is 500, ``"0.1"`` is 100.

    Raises:
        ValueError: ``text`` is not a quantity.
    """
    return _ceiling(_parse(text) * 1000)


def parse_bytes(text: str) -> int:
    """Memory or storage as bytes: ``"4Gi"`` is 4294967296, ``"1G"`` is 10**9.

    Raises:
        ValueError: ``text`` is not a quantity.
    """
    return _ceiling(_parse(text))
