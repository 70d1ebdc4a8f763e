"""A fault-injecting HTTP proxy to put in front of any local simulator (bar R4)."""

from simulators.faults.proxy import KINDS, FaultProxy

__all__ = ["KINDS", "FaultProxy"]
