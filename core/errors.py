"""The one error tree of RXT Deploy, split by who must act.

    RxtError                      message + hint; never carries a traceback to a user
    ├── ManifestError             the tenant must fix a file (path, line, column)
    │   └── ManifestErrors        several ManifestError found in one pass
    ├── ConfigError               the operator must fix settings or a connection
    ├── PolicyDenied              a policy gate said no; the plan stays unapplied
    ├── PlatformError             a platform (vSphere, NSX, Kubernetes, Vault) refused or failed
    │   ├── TransientError        retry later with backoff (5xx, 429, timeouts, 412 races)
    │   ├── OwnershipConflict     an object with our name but not our marker; a person decides
    │   ├── InvalidRequest        the platform rejected what we sent (422, InvalidArgument)
    │   ├── NotFound              the object is gone; success when deleting
    │   └── FatalError            permission, quota, broken connection settings: stop and report
    ├── StateError                the state store refused a write
    │   └── LeaseLost             our fencing token is stale: another engine holds the lease
    └── AuditChainBroken          verification found a tampered, missing or reordered entry

Drivers wrap SDK exceptions into PlatformError subclasses with ``raise ... from``; nothing
above ``drivers/`` ever sees an SDK exception type.
"""

from __future__ import annotations

from dataclasses import dataclass


class RxtError(Exception):
    """Base of every error RXT Deploy raises on purpose.

    Args:
        message: what is wrong, naming the object.
        hint: what to do about it, on its own line when printed.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The message, and the hint on its own line when there is one."""
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file an error points: 1-based line and column, like editors count."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


class ManifestError(RxtError):
    """A tenant's file is wrong: it names the file, the line and the column."""

    def __init__(self, message: str, *, location: Location, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.location = location

    def render(self) -> str:
        head = f"{self.location}: {self.message}"
        return f"{head}\n  hint: {self.hint}" if self.hint else head


class ManifestErrors(ManifestError):
    """Every error found in one pass over a repository, so a user fixes them all at once."""

    def __init__(self, errors: list[ManifestError]) -> None:
        if not errors:
            raise ValueError("ManifestErrors needs at least one error")
        first = errors[0]
        super().__init__(
            f"{len(errors)} error(s) in manifests",
            location=first.location,
            hint=first.hint,
        )
        self.errors = errors

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)


class ConfigError(RxtError):
    """The operator's settings are wrong or incomplete."""


class PolicyDenied(RxtError):
    """A policy gate denied a plan; the plan is recorded but not applied."""


class PlatformError(RxtError):
    """A platform API failed. Subclasses say whether to retry, stop, or ask a person."""

    retryable = False

    def __init__(self, message: str, *, hint: str = "", resource: str = "") -> None:
        super().__init__(message, hint=hint)
        self.resource = resource


class TransientError(PlatformError):
    """Worth retrying with backoff: overload, timeouts, lost races."""

    retryable = True


class OwnershipConflict(PlatformError):
    """An object has the name we would use but not our ownership marker; never adopted."""


class InvalidRequest(PlatformError):
    """The platform rejected the object we sent; retrying the same request cannot help."""


class NotFound(PlatformError):
    """The object does not exist; a delete treats this as success."""


class FatalError(PlatformError):
    """Permission, quota or connection settings: stop this run and report."""


class StateError(RxtError):
    """The state store refused a write."""


class LeaseLost(StateError):
    """Our fencing token is older than the store's: another engine took the lease."""


class AuditChainBroken(RxtError):
    """Audit verification failed at a given sequence number."""

    def __init__(self, message: str, *, tenant: str, sequence: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.tenant = tenant
        self.sequence = sequence
