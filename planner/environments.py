"""The view of a loaded environment that the planner's stages read.

``planner.loading.LoadedEnvironment`` satisfies it; tests and benchmarks may build their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from planner.manifests import Application, Environment


class EnvironmentView(Protocol):
    """One environment: its settings, its applications by name, and the tenant's Rego files."""

    @property
    def name(self) -> str: ...

    @property
    def environment(self) -> Environment: ...

    @property
    def apps(self) -> Mapping[str, Application]: ...

    @property
    def policy_files(self) -> Mapping[str, str]: ...
