"""Real error answers of the fake, as the official client raises them, land in the right class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s

from core.errors import InvalidRequest, NotFound, OwnershipConflict, PlatformError, TransientError
from core.resources import Action, Change, OwnerKey
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.errors import classify
from tests.drivers.kubernetes import scenario

APPLY = "application/apply-patch+yaml"
OWNER = OwnerKey("acme", "prod", "shop", "web")


def _body(namespace: str, replicas: int) -> dict[str, Any]:
    return dict(scenario.deployment(OWNER, namespace, "web", replicas=replicas).spec)


def _field_conflict(apps: k8s.AppsV1Api, namespace: str) -> None:
    apps.patch_namespaced_deployment(
        "web", namespace, _body(namespace, 2), field_manager="team-a", _content_type=APPLY
    )
    apps.patch_namespaced_deployment(
        "web", namespace, _body(namespace, 5), field_manager="rxt-deploy", _content_type=APPLY
    )


def _already_exists(apps: k8s.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, _body(namespace, 2))
    apps.create_namespaced_deployment(namespace, _body(namespace, 2))


def _invalid(apps: k8s.AppsV1Api, namespace: str) -> None:
    apps.patch_namespaced_deployment(
        "web", namespace, _body(namespace, -1), field_manager="rxt-deploy", _content_type=APPLY
    )


def _missing(apps: k8s.AppsV1Api, namespace: str) -> None:
    apps.read_namespaced_deployment("gone", namespace)


CASES: list[tuple[str, Callable[[k8s.AppsV1Api, str], None], type[PlatformError], str]] = [
    (
        "field conflict",
        _field_conflict,
        OwnershipConflict,
        "another field manager owns .spec.replicas",
    ),
    ("already exists", _already_exists, TransientError, "observe again"),
    ("invalid", _invalid, InvalidRequest, "fix the rendered object"),
    ("not found", _missing, NotFound, "observe again"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_real_error_answer_is_classified_by_status_and_reason(
    api: k8s.ApiClient, namespace: str, case: tuple[str, Any, type[PlatformError], str]
) -> None:
    _, provoke, expected, hint = case
    with pytest.raises(k8s.ApiException) as raised:
        provoke(k8s.AppsV1Api(api), namespace)
    error = classify(raised.value, resource="kubernetes:Deployment/web", action="PATCH")
    assert type(error) is expected
    assert hint in error.hint


def test_the_causes_of_an_invalid_object_are_in_the_message(
    api: k8s.ApiClient, namespace: str
) -> None:
    with pytest.raises(k8s.ApiException) as raised:
        _invalid(k8s.AppsV1Api(api), namespace)
    error = classify(raised.value, resource="kubernetes:Deployment/web", action="PATCH")
    assert "[spec.replicas: Invalid value: -1: must be greater than or equal to 0]" in error.message


def test_a_preview_in_a_namespace_not_yet_created_is_reported_not_refused(
    driver: KubernetesDriver,
) -> None:
    desired = scenario.service(OWNER, "not-yet", "web")
    applied = driver.apply(Change(Action.CREATE, desired.ref, OWNER, desired=desired), dry_run=True)
    assert applied.wrote
    assert "does not exist yet" in applied.detail["note"]
    with pytest.raises(NotFound):
        driver.apply(Change(Action.CREATE, desired.ref, OWNER, desired=desired))
