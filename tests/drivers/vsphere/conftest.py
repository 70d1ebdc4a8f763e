"""Fixtures of the vcsim tests."""

from tests.simulators.vcsim.fixtures import si, vcsim

__all__ = ["si", "vcsim"]
