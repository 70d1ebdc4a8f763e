"""The driver contract against a real cluster; only with --e2e and RXT_E2E_KUBECONFIG set.

Never run on this project's machines (no cluster is reachable); kept so that a run against a
real API server holds the driver to the same promises as the fake.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from core.resources import Action, Change, OwnerKey
from drivers.kubernetes import KubernetesDriver
from drivers.protocol import Scope
from tests.drivers.contract import CONTRACT_CHECKS, ContractCase, plan_changes
from tests.drivers.kubernetes import scenario
from tests.drivers.kubernetes.conftest import CANARY, DictSecrets

pytestmark = pytest.mark.e2e
OWNER = OwnerKey("rxt-e2e", "prod", "shop", "web")


@pytest.fixture
def real_case() -> Iterator[ContractCase]:
    path = os.environ.get("RXT_E2E_KUBECONFIG")
    if not path:
        pytest.skip("set RXT_E2E_KUBECONFIG to a kubeconfig of a disposable cluster")
    secrets = DictSecrets({"tenants/rxt-e2e/prod/shop#db-password": CANARY})
    driver = KubernetesDriver.from_kubeconfig(path, secrets=secrets)
    namespace = f"rxt-e2e-{uuid.uuid4().hex[:8]}"
    owner = OwnerKey("rxt-e2e", "prod", "_environment", "namespace")
    space = scenario.resource(owner, "Namespace", namespace, namespace, {}, api_version="v1")
    (create,) = plan_changes([space], [])
    driver.apply(create)
    yield ContractCase(
        make_driver=lambda: driver,
        scope=Scope("rxt-e2e", "prod", {"namespace": namespace}),
        desired=tuple(scenario.app(OWNER, namespace)),
    )
    (seen,) = [o for o in driver.observe(Scope("rxt-e2e", "prod", {"namespace": namespace}))
               if o.ref.kind == "Namespace"]  # fmt: skip
    gone = Change(Action.DELETE, seen.ref, owner, observed=seen, needs_approval=True)
    driver.apply(gone, approved=True)
    driver.close()


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
def test_the_driver_keeps_the_contract_on_a_real_cluster(
    check: Callable[[ContractCase], None], real_case: ContractCase
) -> None:
    check(real_case)
