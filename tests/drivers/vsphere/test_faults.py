"""vSphere faults are classified by their class, whatever their message says."""

from __future__ import annotations

import http.client

import pytest
from pyVmomi import vim, vmodl

from core.errors import (
    FatalError,
    InvalidRequest,
    NotFound,
    OwnershipConflict,
    PlatformError,
    TransientError,
)
from drivers.vsphere.faults import PowerCycleRequired, classify, translated

# Faults vcsim cannot produce (DuplicateName on clone, hot-plug refusals, permissions) are
# built here as pyVmomi raises them.
FAULTS: list[tuple[object, type[PlatformError]]] = [
    (vim.fault.DuplicateName(name="acme-prod-payments-0"), OwnershipConflict),
    (vim.fault.FileAlreadyExists(file="[ds] acme-prod-payments-0"), OwnershipConflict),
    (vim.fault.CpuHotPlugNotSupported(), PowerCycleRequired),
    (vim.fault.MemoryHotPlugNotSupported(), PowerCycleRequired),
    (vmodl.fault.ManagedObjectNotFound(), NotFound),
    (vim.fault.InvalidPowerState(), TransientError),
    (vim.fault.TaskInProgress(), TransientError),
    (vim.fault.ToolsUnavailable(), FatalError),
    (vmodl.fault.HostCommunication(), TransientError),
    (vim.fault.NoPermission(privilegeId="VirtualMachine.Inventory.Create"), FatalError),
    (vim.fault.InvalidLogin(), FatalError),
    (vim.fault.NotAuthenticated(), TransientError),
    (vim.fault.InsufficientResourcesFault(), FatalError),
    (vmodl.fault.InvalidArgument(invalidProperty="spec.location.pool"), InvalidRequest),
    (vim.fault.InvalidDeviceSpec(), InvalidRequest),
    (vmodl.fault.NotSupported(), InvalidRequest),
]


@pytest.mark.parametrize(
    ("fault", "expected"), FAULTS, ids=[type(fault).__name__ for fault, _ in FAULTS]
)
def test_a_fault_maps_to_its_error_class(fault: object, expected: type[PlatformError]) -> None:
    error = classify(fault, resource="vsphere:VirtualMachine/acme-prod/vm", doing="cloning")
    assert type(error) is expected
    assert type(fault).__name__ in error.message
    assert error.hint
    assert error.resource == "vsphere:VirtualMachine/acme-prod/vm"


def test_a_misleading_message_does_not_change_the_class() -> None:
    fault = vmodl.fault.InvalidArgument(msg="DuplicateName: already exists, permission denied")
    assert type(classify(fault, resource="r", doing="d")) is InvalidRequest


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionResetError("reset by peer"),
        TimeoutError("timed out"),
        http.client.RemoteDisconnected("closed"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_transport_failures_are_transient_and_chained(failure: Exception) -> None:
    with pytest.raises(TransientError) as caught, translated(resource="r", doing="observing"):
        raise failure
    assert caught.value.__cause__ is failure


def test_a_raised_fault_is_wrapped_with_the_fault_as_its_cause() -> None:
    fault = vim.fault.DuplicateName(name="x")
    with pytest.raises(OwnershipConflict) as caught, translated(resource="r", doing="cloning"):
        raise fault
    assert caught.value.__cause__ is fault


def test_other_errors_pass_through_unwrapped() -> None:
    with pytest.raises(KeyError), translated(resource="r", doing="reading"):
        raise KeyError("a bug of ours, not a platform failure")
