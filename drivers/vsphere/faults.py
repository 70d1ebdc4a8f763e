"""Turn vSphere faults into the engine's error classes, by fault class and never by message text.

The vSphere driver's modules call ``translated()`` around every SOAP call and ``classify()`` on
the ``info.error`` of a failed task; nothing outside ``drivers/vsphere/`` sees a pyVmomi type.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import (
    FatalError,
    InvalidRequest,
    NotFound,
    OwnershipConflict,
    PlatformError,
    TransientError,
)
from drivers.vsphere.sdk import vim, vmodl


class PowerCycleRequired(InvalidRequest):
    """A hardware change the running VM cannot take hot: it must be powered off and on again.

    The reconciler retries the change only once a person approved it (``Change.approved``).
    """


# Most specific first: the first class in the MRO of a fault that appears here decides.
_BY_FAULT: tuple[tuple[type[Any], type[PlatformError], str], ...] = (
    (vim.fault.CpuHotPlugNotSupported, PowerCycleRequired, "approve a power cycle of the VM"),
    (vim.fault.MemoryHotPlugNotSupported, PowerCycleRequired, "approve a power cycle of the VM"),
    (vmodl.fault.ManagedObjectNotFound, NotFound, "observe again; the object is gone"),
    (vim.fault.NotFound, NotFound, "observe again; the object is gone"),
    (vim.fault.DuplicateName, OwnershipConflict, "rename or remove the VM that holds the name"),
    (vim.fault.AlreadyExists, OwnershipConflict, "rename or remove the object that holds the name"),
    (
        vim.fault.FileAlreadyExists,
        OwnershipConflict,
        "clean up the leftover files on the datastore",
    ),
    # before NoPermission, its base class: an expired session is not a missing privilege
    (vim.fault.NotAuthenticated, TransientError, "retry; the session is renewed on next use"),
    (vim.fault.InvalidLogin, FatalError, "check the vSphere user and password of this site"),
    (vim.fault.NoPermission, FatalError, "grant the engine's vSphere user the missing privilege"),
    (
        vmodl.fault.SecurityError,
        FatalError,
        "grant the engine's vSphere user the missing privilege",
    ),
    (vim.fault.InsufficientResourcesFault, FatalError, "free capacity on the cluster"),
    (vim.fault.OutOfBounds, InvalidRequest, "fix the requested size or count"),
    (vim.fault.TaskInProgress, TransientError, "retry once the running task ends"),
    (vim.fault.ConcurrentAccess, TransientError, "retry; someone else changed the object"),
    (vim.fault.InvalidState, TransientError, "observe again; the object changed state"),
    (vim.fault.Timedout, TransientError, "retry later"),
    (vmodl.fault.HostCommunication, TransientError, "retry once the host is reachable"),
    (vmodl.fault.HostNotConnected, TransientError, "retry once the host is reachable"),
    (vmodl.fault.RequestCanceled, TransientError, "retry"),
    (vmodl.fault.SystemError, TransientError, "retry; vCenter reported an internal error"),
    (vmodl.fault.InvalidArgument, InvalidRequest, "fix the VM's spec"),
    (vmodl.fault.NotSupported, InvalidRequest, "this operation is not supported here"),
    (vim.fault.InvalidDeviceSpec, InvalidRequest, "fix the VM's disks or network"),
    (vim.fault.VmConfigFault, InvalidRequest, "fix the VM's spec"),
)

# Network-level failures talking to vCenter: worth a retry.
_TRANSPORT_ERRORS = (
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    ssl.SSLError,
)


def session_lost(error: BaseException) -> bool:
    """True when ``error`` came from an expired session or a broken connection: the session
    must be opened again before the next call."""
    cause = error.__cause__
    return isinstance(cause, (vim.fault.NotAuthenticated, *_TRANSPORT_ERRORS))


def fault_name(fault: Any) -> str:
    """The vSphere type name of a fault (pyVmomi names its classes so: ``vim.fault.NotFound``)."""
    return type(fault).__name__


def classify(fault: Any, *, resource: str, doing: str) -> PlatformError:
    """The engine error for a vSphere fault raised while ``doing`` something to ``resource``."""
    name = fault_name(fault)
    for fault_class, error_class, hint in _BY_FAULT:
        if isinstance(fault, fault_class):
            return error_class(
                f"{resource}: {doing} failed with {name}", hint=hint, resource=resource
            )
    return FatalError(
        f"{resource}: {doing} failed with {name}",
        hint="an unexpected vSphere fault; read the engine log for its detail",
        resource=resource,
    )


@contextmanager
def translated(*, resource: str, doing: str) -> Iterator[None]:
    """Run a block of SOAP calls, re-raising faults and transport errors as engine errors."""
    try:
        yield
    except vmodl.MethodFault as fault:
        raise classify(fault, resource=resource, doing=doing) from fault
    except _TRANSPORT_ERRORS as error:
        raise TransientError(
            f"{resource}: {doing} failed: vCenter unreachable ({type(error).__name__})",
            hint="retry; check the network path to vCenter if it persists",
            resource=resource,
        ) from error
