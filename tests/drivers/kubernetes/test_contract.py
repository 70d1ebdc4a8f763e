"""The Kubernetes driver keeps the shared driver contract against the fake API server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from core.resources import DesiredResource, OwnerKey
from drivers.kubernetes import KubernetesDriver
from drivers.protocol import Scope
from tests.drivers.contract import CONTRACT_CHECKS, ContractCase
from tests.drivers.kubernetes import scenario
from tests.drivers.kubernetes.conftest import DictSecrets


def _changed(items: list[DesiredResource]) -> tuple[DesiredResource, ...]:
    out = []
    for item in items:
        if item.ref.kind != "Deployment":
            out.append(item)
            continue
        spec = dict(item.spec)
        spec["spec"] = {**spec["spec"], "replicas": 4}
        out.append(DesiredResource(item.ref, item.owner, spec, secrets=item.secrets))
    return tuple(out)


@pytest.fixture
def case(api: k8s.ApiClient, scope: Scope, secrets: DictSecrets) -> ContractCase:
    owner = OwnerKey("acme", "prod", "shop", "web")
    desired = scenario.app(owner, scope.site["namespace"])
    return ContractCase(
        make_driver=lambda: KubernetesDriver(api, secrets=secrets),
        scope=scope,
        desired=tuple(desired),
        updated=_changed(desired),
    )


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
def test_the_kubernetes_driver_keeps_the_contract(
    check: Callable[[ContractCase], None], case: ContractCase
) -> None:
    check(case)
