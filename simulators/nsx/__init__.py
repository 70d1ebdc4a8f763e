"""A fake NSX Manager serving the Policy API subset RXT Deploy uses (see docs/simulators/nsx.md)."""

from simulators.nsx.simulator import TRANSPORT_ZONE, NsxSimulator

__all__ = ["TRANSPORT_ZONE", "NsxSimulator"]
