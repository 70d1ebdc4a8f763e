"""The steps of one VM change: find it, check ownership, clone, reconfigure, mark, power, destroy.

``VsphereDriver.apply`` calls ``Applier.ensure`` for creates, updates and replaces and
``Applier.delete`` for deletes. Every step reads the VM first and writes only what differs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

from core.errors import FatalError, InvalidRequest, NotFound, OwnershipConflict
from core.resources import Action, Change, DesiredResource, OwnerKey
from core.secrets import SecretSource
from drivers.protocol import Applied
from drivers.vsphere.configuring import (
    ON,
    Reconfiguration,
    network_backing,
    plan_reconfigure,
)
from drivers.vsphere.faults import PowerCycleRequired, translated
from drivers.vsphere.inventory import VmRecord, read_vm
from drivers.vsphere.sdk import vim
from drivers.vsphere.session import Session
from drivers.vsphere.specs import (
    CLONE_OWNER_KEY,
    CLONE_TEMPLATE_KEY,
    HASH_ATTRIBUTE,
    OWNER_ATTRIBUTE,
    SECRET_TOKEN_KEY,
    VAULT_ADDRESS_KEY,
    instance_uuid,
    owner_of,
)
from drivers.vsphere.tasks import TaskRunner

SECRET_TTL_SECONDS = 1800  # long enough for a clone, a first boot and cloud-init to unwrap it
NO_CONFLICT_HINT = (
    "RXT Deploy never adopts VMs it did not create: rename or remove that VM, "
    "or give the app another name"
)


def folder_path(datacenter: str, folder: str) -> str:
    """The inventory path of a VM folder: ``DC0/vm/acme-prod``."""
    return f"{datacenter}/vm/{folder.strip('/')}"


class Applier:
    """Carries out changes on one vCenter session."""

    def __init__(
        self,
        session: Session,
        *,
        runner: TaskRunner,
        secrets: SecretSource | None,
        vault_address: str = "",
    ) -> None:
        self._session = session
        self._runner = runner
        self._secrets = secrets
        self._vault_address = vault_address
        self._fields_ready = False

    def find_one(self, datacenter: str, folder: str, name: str) -> VmRecord | None:
        """The VM of that name in the folder, if there is one."""
        return self._named(datacenter, folder, name)

    def ensure(self, change: Change, *, dry_run: bool) -> Applied:
        """Create the VM, or bring the existing one of ours to the desired spec."""
        desired = _desired(change)
        self._check_secrets(desired)
        found = self._locate(change, datacenter=desired.spec["datacenter"])
        mine = self._owned(found, owner=change.owner, resource=str(change.ref))
        if mine is None or change.action is Action.REPLACE:
            # Everything a clone needs is checked before a replace destroys the old VM.
            template, cluster = self._clone_sources(desired)
            if mine is not None:
                self._destroy(mine, resource=str(change.ref), dry_run=dry_run)
            return self._create(change, desired, template, cluster, dry_run=dry_run)
        wrote, detail = self._converge(
            mine,
            desired,
            approved=change.needs_approval and change.approved,
            dry_run=dry_run,
            secret=False,
        )
        return Applied(change.ref, change.action, wrote, external_id=mine.moref, detail=detail)

    def delete(self, change: Change, *, dry_run: bool) -> Applied:
        """Power off and destroy the VM; a VM already gone is success."""
        spec = (change.observed or change.desired or _missing(change)).spec
        found = self._locate(change, datacenter=spec["datacenter"])
        mine = self._owned(found, owner=change.owner, resource=str(change.ref))
        if mine is None:
            return Applied(change.ref, change.action, wrote=False)
        wrote = self._destroy(mine, resource=str(change.ref), dry_run=dry_run)
        return Applied(change.ref, change.action, wrote, detail={"moref": mine.moref})

    def _locate(self, change: Change, *, datacenter: str) -> VmRecord | None:
        """The VM a change is about: by the observed moref when there is one, else by name.

        Two SOAP calls, whatever the folder holds. The moref also finds a VM someone moved to
        a subfolder, which a lookup by name in the folder would miss (and clone again).
        """
        hint = change.observed.external_id if change.observed is not None else ""
        if hint:
            with contextlib.suppress(NotFound):
                record = read_vm(self._session, self._session.managed("VirtualMachine", hint))
                if record is not None and record.name == change.ref.name:
                    return record
        return self._named(datacenter, change.ref.scope, change.ref.name)

    def _named(self, datacenter: str, folder: str, name: str) -> VmRecord | None:
        # vCenter keeps names unique per folder (vcsim does not; the driver never clones
        # without looking first, so it makes no duplicates itself).
        root = self._session.find(folder_path(datacenter, folder))
        if root is None:
            return None
        with translated(resource=f"{folder}/{name}", doing="looking up the VM"):
            found = self._session.content.searchIndex.FindChild(entity=root, name=name)
        if found is None or not isinstance(found, vim.VirtualMachine):
            return None
        return read_vm(self._session, found)

    def _owned(self, found: VmRecord | None, *, owner: OwnerKey, resource: str) -> VmRecord | None:
        if found is None:
            return None
        marked, _ = owner_of(found)
        if marked != owner:
            whose = f"is owned by {marked}" if marked else "carries no rxt.owner marker"
            raise OwnershipConflict(
                f"{resource}: VM {found.name} ({found.moref}) {whose}",
                hint=NO_CONFLICT_HINT,
                resource=resource,
            )
        return found

    def _check_secrets(self, desired: DesiredResource) -> None:
        if desired.secrets and self._secrets is None:
            resource = str(desired.ref)
            refs = ", ".join(sorted(str(ref) for ref in desired.secrets))
            raise FatalError(
                f"{resource}: needs secrets ({refs}) but the driver has no secret source",
                hint="configure Vault for this environment, or remove the VM's secret references",
                resource=resource,
            )

    def _clone_sources(self, desired: DesiredResource) -> tuple[Any, Any]:
        spec, resource = desired.spec, str(desired.ref)
        template = self._require(
            f"{spec['datacenter']}/vm/{spec['template']}", "template", resource
        )
        cluster = self._require(f"{spec['datacenter']}/host/{spec['cluster']}", "cluster", resource)
        return template, cluster

    def _create(
        self, change: Change, desired: DesiredResource, template: Any, cluster: Any, *,
        dry_run: bool,
    ) -> Applied:  # fmt: skip
        resource, spec = str(change.ref), desired.spec
        if dry_run:
            return Applied(change.ref, change.action, wrote=True, detail={"dryRun": True})

        folder = self._ensure_folder(spec["datacenter"], change.ref.scope, resource=resource)
        vm = self._clone(template, cluster, folder=folder, desired=desired, resource=resource)
        # vcsim ignores the clone's config spec and vCenter may too for some fields:
        # everything but the markers is set by an explicit reconfigure.
        record = read_vm(self._session, vm)
        if record is None:
            raise NotFound(f"{resource}: the clone vanished", hint="retry", resource=resource)
        _, detail = self._converge(record, desired, approved=True, dry_run=False, secret=True)
        return Applied(change.ref, change.action, True, external_id=record.moref, detail=detail)

    def _clone(
        self, template: Any, cluster: Any, *, folder: Any, desired: DesiredResource, resource: str
    ) -> Any:
        with translated(resource=resource, doing="reading the cluster's resource pool"):
            pool = cluster.resourcePool
        markers = {
            CLONE_OWNER_KEY: str(desired.owner),
            CLONE_TEMPLATE_KEY: desired.spec["template"],
        }
        spec = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(pool=pool),
            powerOn=False,
            template=False,
            config=vim.vm.ConfigSpec(
                instanceUuid=instance_uuid(desired.owner),
                extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in markers.items()],
            ),
        )
        return self._runner.run(
            lambda: template.CloneVM_Task(folder=folder, name=desired.spec["name"], spec=spec),
            vm_key=f"{folder}/{desired.spec['name']}",
            cluster=desired.spec["cluster"],
            resource=resource,
            doing="cloning from the template",
        )

    def _converge(
        self, record: VmRecord, desired: DesiredResource, *, approved: bool, dry_run: bool,
        secret: bool,
    ) -> tuple[bool, dict[str, Any]]:  # fmt: skip
        resource, wanted = str(desired.ref), desired.spec
        plan = self._plan(record, desired)
        if plan.power_cycle and not approved:
            raise PowerCycleRequired(
                f"{resource}: changing {', '.join(plan.fields)} needs the running VM powered off",
                hint="approve the change so the VM may be power-cycled, or enable hot-add",
                resource=resource,
            )
        moves = self._moves(record, desired)
        attributes = _attributes_to_set(record, desired)
        power_off = record.power_state == ON and (plan.power_cycle or wanted["powerState"] != ON)
        power_on = wanted["powerState"] == ON and (record.power_state != ON or power_off)
        if power_off:
            # Reconfigured while off, the VM also gets hot-add for the next increase.
            off = self._plan(dataclasses.replace(record, power_state="poweredOff"), desired)
            plan = dataclasses.replace(off, power_cycle=plan.power_cycle)
        wrote = bool(moves or plan.spec is not None or attributes or power_off or power_on)
        changed = [*moves, *plan.fields]
        detail: dict[str, Any] = {"moref": record.moref, "changed": changed}
        if plan.power_cycle:
            detail["powerCycled"] = True
        if dry_run or not wrote:
            return wrote, detail

        self._runner.wait_all(record.recent_tasks, resource=resource)
        for field, start in moves.items():
            self._task(record, resource, f"moving to its {field}", start)
        if power_off:
            self._task(record, resource, "powering off", record.vm.PowerOffVM_Task)
        if plan.spec is not None:
            if (secret or "guestinfo" in plan.fields) and desired.secrets:
                plan.spec.extraConfig.extend(self._secret_options(desired))
            self._task(
                record, resource, "reconfiguring", lambda: record.vm.ReconfigVM_Task(plan.spec)
            )
        self._mark(record, attributes, resource=resource)
        if power_on:
            self._task(record, resource, "powering on", record.vm.PowerOnVM_Task)
        return True, detail

    def _plan(self, record: VmRecord, desired: DesiredResource) -> Reconfiguration:
        resource, wanted = str(desired.ref), desired.spec
        return plan_reconfigure(
            record,
            wanted,
            resource=resource,
            network_backing=lambda: self._network(wanted, resource=resource),
        )

    def _moves(self, record: VmRecord, desired: DesiredResource) -> dict[str, Any]:
        """Relocations that put a VM moved by hand back into its cluster and folder."""
        spec, resource = desired.spec, str(desired.ref)
        moves: dict[str, Any] = {}
        if record.cluster != spec["cluster"]:
            cluster = self._require(
                f"{spec['datacenter']}/host/{spec['cluster']}", "cluster", resource
            )
            with translated(resource=resource, doing="reading the cluster's resource pool"):
                relocate = vim.vm.RelocateSpec(pool=cluster.resourcePool)
            moves["cluster"] = lambda: record.vm.RelocateVM_Task(spec=relocate)
        home = self._session.find(folder_path(spec["datacenter"], spec["folder"]))
        if home is not None and str(home) != str(record.folder):
            moves["folder"] = lambda: home.MoveIntoFolder_Task(list=[record.vm])
        return moves

    def _destroy(self, record: VmRecord, *, resource: str, dry_run: bool) -> bool:
        if dry_run:
            return True
        try:
            if record.power_state == ON:
                self._task(record, resource, "powering off", record.vm.PowerOffVM_Task)
            self._task(record, resource, "destroying", record.vm.Destroy_Task)
        except NotFound:
            return False  # someone else removed it first: the goal is reached all the same
        return True

    def _task(self, record: VmRecord, resource: str, doing: str, start: Any) -> Any:
        return self._runner.run(
            start, vm_key=record.moref, cluster=record.cluster, resource=resource, doing=doing
        )

    def _mark(self, record: VmRecord, attributes: Mapping[str, str], *, resource: str) -> None:
        if not attributes:
            return
        self._ensure_fields(resource)
        with translated(resource=resource, doing="setting the ownership attributes"):
            for key, value in attributes.items():
                record.vm.setCustomValue(key=key, value=value)

    def _ensure_fields(self, resource: str) -> None:
        if self._fields_ready:
            return
        manager = self._session.content.customFieldsManager
        with translated(resource=resource, doing="defining the rxt custom attributes"):
            present = {
                f.name
                for f in manager.field or []
                if f.managedObjectType in (None, vim.VirtualMachine)
            }
            for name in (OWNER_ATTRIBUTE, HASH_ATTRIBUTE):
                if name not in present:
                    # Another engine may define it between our read and our add.
                    with contextlib.suppress(vim.fault.DuplicateName):
                        manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine)
        self._fields_ready = True

    def _secret_options(self, desired: DesiredResource) -> list[Any]:
        """The wrapping token, and where the VM unwraps it (no secret value, ever)."""
        assert self._secrets is not None  # ensure() refused secrets without a source
        token = self._secrets.wrap(
            desired.secrets, tenant=desired.owner.tenant, ttl_seconds=SECRET_TTL_SECONDS
        )
        options = {SECRET_TOKEN_KEY: token}
        if self._vault_address:
            options[VAULT_ADDRESS_KEY] = self._vault_address
        return [vim.option.OptionValue(key=k, value=v) for k, v in options.items()]

    def _network(self, wanted: Mapping[str, Any], *, resource: str) -> Any:
        network = self._require(
            f"{wanted['datacenter']}/network/{wanted['network']}", "network", resource
        )
        with translated(resource=resource, doing="reading the network"):
            return network_backing(network)

    def _require(self, path: str, what: str, resource: str) -> Any:
        found = self._session.find(path)
        if found is None:
            raise InvalidRequest(
                f"{resource}: the {what} {path} does not exist",
                hint=f"fix the {what} in environment.yaml, or create it in vCenter",
                resource=resource,
            )
        return found

    def _ensure_folder(self, datacenter: str, folder: str, *, resource: str) -> Any:
        parent = self._require(f"{datacenter}/vm", "VM folder", resource)
        path = f"{datacenter}/vm"
        for part in folder.strip("/").split("/"):
            path = f"{path}/{part}"
            found = self._session.find(path)
            if found is None:
                with translated(resource=resource, doing=f"creating folder {path}"):
                    try:
                        found = parent.CreateFolder(name=part)
                    except vim.fault.DuplicateName:
                        found = self._session.find(path)  # created meanwhile by another run
            parent = found
        return parent


def _attributes_to_set(record: VmRecord, desired: DesiredResource) -> dict[str, str]:
    wanted = {OWNER_ATTRIBUTE: str(desired.owner), HASH_ATTRIBUTE: desired.digest}
    return {k: v for k, v in wanted.items() if record.attributes.get(k) != v}


def _desired(change: Change) -> DesiredResource:
    if change.desired is None:
        raise InvalidRequest(
            f"{change.ref}: a {change.action.value} change without a desired spec",
            hint="this is a planner bug; report it",
            resource=str(change.ref),
        )
    return change.desired


def _missing(change: Change) -> Any:
    raise InvalidRequest(
        f"{change.ref}: a delete without an observed or desired spec",
        hint="observe before deleting",
        resource=str(change.ref),
    )
