"""The whole loop on the simulators through the real drivers: a signed push through the HTTP
API, a worker's plan and apply on the Kubernetes fake, vcsim and the NSX fake, the audit chain,
a no-op second reconcile; then hand edits in vcsim and Kubernetes, reported and healed."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from pyVmomi import vim
from sqlalchemy import select

from core.resources import Platform
from reconciler.drifting import DriftChecker
from reconciler.reconciling import Reconciler
from reconciler.recording import stored_plan_id
from reconciler.sites import Sites
from reconciler.wiring.deliveries import StoreDeliveryLog
from reconciler.wiring.engine import Engine, EngineSettings, Source
from rxt.api import create_app
from rxt.api.serving import running_in_thread
from simulators.kubernetes import FakeApiServer
from state.models import DriftStatus, PlanApproval, Tenant
from state.store import Store
from state.verifying import verify_chains
from tests.conftest import free_port
from tests.reconciler import payloads
from tests.reconciler.conftest import SIM_OPTIONS
from tests.reconciler.envrepo import DB, EnvRepo, db_yaml

pytestmark = pytest.mark.slow
_numbers = itertools.count()


@pytest.fixture
def sim_repo(tmp_path: Any) -> EnvRepo:
    n = f"{os.getpid()}x{next(_numbers)}"
    return EnvRepo(
        tmp_path / "remote", tmp_path / "cache", name=f"e{n}", namespace=f"acme-e{n}",
        folder=f"acme-e{n}",
    )  # fmt: skip


def observed_by_kind(
    sites: Sites, repo: EnvRepo, reconciler: Reconciler, commit: str
) -> dict[str, Any]:
    view = reconciler.load(repo.target(), commit)
    return {f"{o.ref.platform.value}:{o.ref.kind}": o for o in sites.observe(view)}


def test_a_push_is_applied_on_all_three_simulators_and_a_second_reconcile_is_a_no_op(
    store: Store, sim_sites: Sites, sim_repo: EnvRepo
) -> None:
    head = sim_repo.initial()
    source = Source("acme/env-repo", sim_repo.mirror, "acme", (sim_repo.name,),
                    webhook_secrets=(payloads.SECRET,))  # fmt: skip
    settings = EngineSettings(drift_schedule=False, options=SIM_OPTIONS)
    engine = Engine(store, sim_sites, [source], settings=settings)
    app = create_app(
        secrets=engine.webhook_secrets, enqueue=engine.enqueue,
        deliveries=StoreDeliveryLog(store.catalog),
    )  # fmt: skip
    signed = payloads.github("push", payloads.github_push(after=head))
    with running_in_thread(app, port=free_port()) as url:
        answer = httpx.post(f"{url}/webhooks/github", content=signed.body, headers=signed.headers)
    assert answer.status_code == 202
    assert engine.worker("w").step()
    [first] = engine.results
    assert first.status == "succeeded", first.failed

    found = observed_by_kind(sim_sites, sim_repo, engine.reconciler, head)
    assert {"kubernetes:Deployment", "vsphere:VirtualMachine", "nsx:Segment"} <= set(found)
    assert found["vsphere:VirtualMachine"].spec["cpu"] == 2

    second = engine.reconciler.reconcile(sim_repo.target(), head)
    assert (second.status, second.wrote) == ("unchanged", 0)
    reports = verify_chains(store.database, public_key=store.key.public)
    assert [r.ok for r in reports] == [True]


def _resize_vm_by_hand(si: Any, folder: str, name: str) -> None:
    """A person powers the VM off and gives it 4 CPUs (and leaves it off, as a console user
    resizing a VM without CPU hot-add must): a running VM's CPU cannot be reverted without an
    approved power cycle, which the heal would then report as a failed change."""
    machine = si.RetrieveContent().searchIndex.FindByInventoryPath(f"DC0/vm/{folder}/{name}")
    assert machine is not None
    config_spec: Any = vim.vm.ConfigSpec  # pyVmomi is untyped
    for task in (machine.PowerOffVM_Task(), machine.ReconfigVM_Task(config_spec(numCPUs=4))):
        _wait(task)


def _wait(task: Any) -> None:
    assert task.info.state == "success", task.info.error


def _scale_by_hand(kube: FakeApiServer, namespace: str, replicas: int) -> None:
    configuration = k8s.Configuration()
    configuration.host = kube.url
    with k8s.ApiClient(configuration) as api:
        apps = k8s.AppsV1Api(api)
        deployment = apps.read_namespaced_deployment("web", namespace)
        deployment.spec.replicas = replicas
        apps.replace_namespaced_deployment("web", namespace, deployment)


def _fields(items: Any) -> dict[str, list[tuple[str, Any, Any]]]:
    return {
        item["ref"].split(":")[0] + ":" + item["ref"].split(":")[1].split("/")[0]: [
            (f["path"], f["expected"], f["actual"]) for f in item["fields"]
        ]
        for item in items
    }


@pytest.mark.parametrize("mode", ["report", "heal"])
def test_hand_edits_in_vcsim_and_kubernetes_show_with_field_diffs_and_heal_reverts_them(  # noqa: PLR0917 - fixtures
    store: Store, sim_sites: Sites, sim_repo: EnvRepo, si: Any, kube_server: FakeApiServer,
    mode: str,
) -> None:  # fmt: skip
    head = sim_repo.initial(mode=mode)
    reconciler = Reconciler(store, sim_sites, options=SIM_OPTIONS)
    assert reconciler.reconcile(sim_repo.target(), head).status == "succeeded"
    _resize_vm_by_hand(si, sim_repo.folder, f"acme-{sim_repo.name}-db-0")
    _scale_by_hand(kube_server, sim_repo.namespace, 5)

    outcome = DriftChecker(reconciler).check(sim_repo.target())

    assert outcome.status is DriftStatus.DRIFTED
    fields = _fields(outcome.items)
    assert ("cpu", 2, 4) in fields["vsphere:VirtualMachine"]
    assert ("powerState", "poweredOn", "poweredOff") in fields["vsphere:VirtualMachine"]
    # The driver reads back only the fields rxt-deploy owns: a field another manager took over
    # reads as absent, so the report says what was expected and that it is no longer ours.
    [(path, expected, actual)] = fields["kubernetes:Deployment"]
    assert (path, expected) == ("spec.replicas", 2)
    assert actual != expected
    if mode == "report":
        found = observed_by_kind(sim_sites, sim_repo, reconciler, head)
        assert outcome.healed is None
        assert found["vsphere:VirtualMachine"].spec["cpu"] == 4
        return
    assert outcome.healed is not None
    assert outcome.healed.status == "succeeded", outcome.healed.failed
    found = observed_by_kind(sim_sites, sim_repo, reconciler, head)
    assert found["vsphere:VirtualMachine"].spec["cpu"] == 2
    assert found["vsphere:VirtualMachine"].spec["powerState"] == "poweredOn"
    assert found["kubernetes:Deployment"].spec["spec"]["replicas"] == 2
    assert DriftChecker(reconciler).check(sim_repo.target()).status is DriftStatus.OK
    assert Platform.VSPHERE in {p for p, _ in sim_sites.drivers}


def _approve(store: Store, plan_id: str) -> None:
    with store.database.write() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.name == "acme")).one()
        session.add(
            PlanApproval(
                plan_id=stored_plan_id(plan_id), tenant_id=tenant.id, approved_by="ops@acme",
                reason="a short outage of db-0 is fine now", approved_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip


def test_shrinking_a_running_vm_waits_for_approval_then_power_cycles_it_on_vcsim(
    store: Store, sim_sites: Sites, sim_repo: EnvRepo
) -> None:
    """The power cycle is found when planning: the change is held (the VM keeps running as it
    is) instead of failing with PowerCycleRequired, and an approval lets the driver stop,
    reconfigure and start the VM."""
    reconciler = Reconciler(store, sim_sites, options=SIM_OPTIONS)
    assert reconciler.reconcile(sim_repo.target(), sim_repo.initial()).status == "succeeded"
    smaller = sim_repo.push({DB: db_yaml(cpu=1)})

    held = reconciler.reconcile(sim_repo.target(), smaller)

    [vm_ref] = held.held
    assert (held.status, held.failed) == ("unchanged", ())
    vm = observed_by_kind(sim_sites, sim_repo, reconciler, smaller)["vsphere:VirtualMachine"]
    assert (vm.spec["cpu"], vm.spec["powerState"]) == (2, "poweredOn")
    _approve(store, held.plan_id)
    released = reconciler.reconcile(sim_repo.target(), smaller)
    assert (released.status, released.held, released.failed) == ("succeeded", (), ())
    vm = observed_by_kind(sim_sites, sim_repo, reconciler, smaller)["vsphere:VirtualMachine"]
    assert (str(vm.ref), vm.spec["cpu"], vm.spec["powerState"]) == (vm_ref, 1, "poweredOn")
