"""The vSphere driver: observes VMs in bulk; applies changes as clone, reconfigure, power, destroy.

The reconciler builds one ``VsphereDriver`` per vSphere site and calls it through
``drivers.protocol.Driver``; the steps of a change live in ``drivers.vsphere.applying``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from core.errors import FatalError, TransientError
from core.logs import get_logger
from core.resources import Action, Change, ObservedResource, Platform, ResourceRef
from core.secrets import SecretSource
from drivers.protocol import Applied, Health, Scope
from drivers.vsphere.applying import Applier, folder_path
from drivers.vsphere.faults import session_lost
from drivers.vsphere.inventory import HeavyCache, VmRecord, read_folder
from drivers.vsphere.session import Endpoint, Session
from drivers.vsphere.specs import observed_spec, owner_of
from drivers.vsphere.tasks import TaskRunner

KIND = "VirtualMachine"


class VsphereDriver:
    """VMs on one vCenter, marked with the custom attributes ``rxt.owner`` and ``rxt.spec-hash``.

    Args:
        host, port, user, password: the vCenter endpoint and login.
        protocol: ``https`` for vCenter; ``http`` for the simulator.
        verify_tls: check vCenter's certificate (turn off only in a lab).
        secrets: where ``DesiredResource.secrets`` are wrapped into a single-use token.
        vault_address: the Vault URL a VM unwraps its token at, written into guestinfo
            (``guestinfo.rxt.vault-addr``) beside the token; the SecretSource protocol does
            not carry it. Empty writes none, and the VM cannot unwrap at boot.
        tasks_per_cluster: how many tasks may run at once on one cluster.
        task_timeout: seconds to wait for one task before reporting it as still running.
    """

    platform: ClassVar[str] = Platform.VSPHERE.value

    def __init__(
        self,
        host: str,
        *,
        port: int = 443,
        user: str,
        password: str,
        protocol: str = "https",
        verify_tls: bool = True,
        secrets: SecretSource | None = None,
        vault_address: str = "",
        tasks_per_cluster: int = 4,
        task_timeout: float = 600.0,
        runner: TaskRunner | None = None,
    ) -> None:
        endpoint = Endpoint(host, port, user, password, protocol, verify_tls)
        self._session = Session(endpoint)
        runner = runner or TaskRunner(per_cluster=tasks_per_cluster, timeout=task_timeout)
        self._applier = Applier(
            self._session, runner=runner, secrets=secrets, vault_address=vault_address
        )
        self._datacenters: dict[ResourceRef, str] = {}
        self._heavy: dict[str, HeavyCache] = {}

    @property
    def soap_calls(self) -> int:
        """SOAP requests sent so far (the login excluded); observation should add few."""
        return self._session.calls

    def close(self) -> None:
        """Log out of vCenter."""
        self._session.close()

    def __enter__(self) -> VsphereDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _renewing(self) -> Iterator[None]:
        """Drop a session that expired or whose connection broke, so a retry logs in anew."""
        try:
            yield
        except TransientError as error:
            if session_lost(error):
                self._session.forget()
            raise

    def observe(self, scope: Scope) -> list[ObservedResource]:
        """VMs of the scope's folder that carry the scope's marker or a name of the scope.

        Raises:
            PlatformError: TransientError when vCenter is unreachable, FatalError for a login
                or permission failure or a scope without ``datacenter`` and ``folder``.
        """
        datacenter, folder = _site(scope.site)
        with self._renewing():
            return self._observe(scope, datacenter=datacenter, folder=folder)

    def _observe(self, scope: Scope, *, datacenter: str, folder: str) -> list[ObservedResource]:
        path = folder_path(datacenter, folder)
        found = self._session.find(path)
        if found is None:
            return []
        cache = self._heavy.setdefault(path, HeavyCache())
        prefix = f"{scope.tenant}-{scope.environment}-"
        observed = []
        for record in read_folder(self._session, found, cache=cache):
            if record.template:
                continue
            item = self._observed(record, datacenter=datacenter, folder=folder, root=found)
            mine = item.owner is not None and (item.owner.tenant, item.owner.environment) == (
                scope.tenant,
                scope.environment,
            )
            if mine or record.name.startswith(prefix):
                observed.append(item)
        # Logger fetched per call: one bound at import would miss a later ``configure``.
        get_logger(driver=self.platform).debug(
            "vms.observed", folder=folder, count=len(observed), soap_calls=self.soap_calls
        )
        return sorted(observed, key=lambda item: item.ref)

    def apply(self, change: Change, *, dry_run: bool = False) -> Applied:
        """Create, update, replace or delete one VM.

        Raises:
            PlatformError: OwnershipConflict for a VM with our name but not our marker;
                PowerCycleRequired (an InvalidRequest) for a hardware change the running VM
                cannot take hot, unless ``change.approved`` says a person approved it;
                FatalError when the VM has secrets and no secret source was given.
        """
        if change.action is Action.NOOP:
            return Applied(change.ref, change.action, wrote=False)
        with self._renewing():
            if change.action is Action.DELETE:
                applied = self._applier.delete(change, dry_run=dry_run)
            else:
                applied = self._applier.ensure(change, dry_run=dry_run)
        if change.desired is not None:
            self._datacenters[change.ref] = str(change.desired.spec["datacenter"])
        get_logger(driver=self.platform).info(
            "change.applied",
            resource=str(change.ref),
            action=change.action.value,
            wrote=applied.wrote,
            dry_run=dry_run,
        )
        return applied

    def health(self, ref: ResourceRef) -> Health:
        """Ready when the VM is powered on."""
        datacenter = self._datacenters.get(ref)
        if datacenter is None:
            return Health(ready=False, message=f"{ref}: not applied by this driver yet")
        record = self._applier.find_one(datacenter, ref.scope, ref.name)
        if record is None:
            return Health(ready=False, failed=True, message=f"{ref}: the VM does not exist")
        ready = record.power_state == "poweredOn"
        return Health(ready=ready, message=f"{ref}: {record.power_state}")

    def _observed(
        self, record: VmRecord, *, datacenter: str, folder: str, root: Any
    ) -> ObservedResource:
        owner, marked_by = owner_of(record)
        inside = folder if str(record.folder) == str(root) else f"{folder}/{record.folder_name}"
        spec = observed_spec(record, datacenter=datacenter, folder=inside)
        ref = ResourceRef(Platform.VSPHERE, KIND, record.name, scope=folder)
        self._datacenters[ref] = datacenter
        return ObservedResource(
            ref=ref,
            owner=owner,
            spec=spec,
            external_id=record.moref,
            status={
                "markedBy": marked_by,
                "specHash": record.attributes.get("rxt.spec-hash", ""),
                "instanceUuid": record.instance_uuid,
                "cpuHotAdd": record.cpu_hot_add,
                "memoryHotAdd": record.memory_hot_add,
            },
        )


def _site(site: Mapping[str, Any]) -> tuple[str, str]:
    datacenter, folder = site.get("datacenter"), site.get("folder")
    if not datacenter or not folder:
        raise FatalError(
            f"vSphere scope {dict(site)!r} lacks a datacenter or a folder",
            hint="set sites.vsphere.datacenter and sites.vsphere.folder in environment.yaml",
        )
    return str(datacenter), str(folder)
