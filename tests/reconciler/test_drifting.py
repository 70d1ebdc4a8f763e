"""Drift checks against the fake world: statuses, per-field diffs, events, notifications sent
once, healing through the same gate as a push, and one check per environment at a time."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import httpx
import pytest

from core.errors import ConfigError
from core.resources import Platform, ResourceRef
from drivers.fake import FakeWorld
from reconciler import events, history
from reconciler.drifting import DriftChecker
from reconciler.notifying import Notifier
from reconciler.reconciling import Reconciler
from rxt.api.urls import GuardedTransport, UrlPolicy
from state.models import DriftStatus
from state.store import Store
from tests.reconciler.chat import chat_server
from tests.reconciler.envrepo import EnvRepo

DEPLOYMENT = ResourceRef(Platform.KUBERNETES, "Deployment", "web", "acme-prod")
VM = ResourceRef(Platform.VSPHERE, "VirtualMachine", "acme-prod-db-0", "acme-prod")


def edit_by_hand(world: FakeWorld, ref: ResourceRef, path: list[str], value: object) -> None:
    """Change one field of an object behind the engine's back, as a person with a console."""
    item = world.objects[ref]
    spec = copy.deepcopy(dict(item.spec))
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    world.objects[ref] = replace(item, spec=spec)


def applied(env_repo: EnvRepo, reconciler: Reconciler, **options: str) -> None:
    result = reconciler.reconcile(env_repo.target(), env_repo.initial(**options))
    assert result.status == "succeeded"


def test_an_environment_never_applied_has_never_run_drift_checks(
    env_repo: EnvRepo, reconciler: Reconciler
) -> None:
    env_repo.initial()
    outcome = DriftChecker(reconciler).check(env_repo.target())
    assert outcome.status is DriftStatus.NEVER_RUN


def test_an_untouched_environment_is_ok_and_raises_no_event(
    env_repo: EnvRepo, reconciler: Reconciler, store: Store
) -> None:
    applied(env_repo, reconciler)
    before = len(store.outbox.unsent(limit=1000))
    outcome = DriftChecker(reconciler).check(env_repo.target())
    assert outcome.status is DriftStatus.OK
    assert len(store.outbox.unsent(limit=1000)) == before
    assert store.catalog.latest_drift(1) is DriftStatus.OK


def test_hand_edits_are_reported_field_by_field_and_raise_a_drift_event(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    applied(env_repo, reconciler)
    edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 7)
    edit_by_hand(world, VM, ["cpu"], 8)
    del world.objects[ResourceRef(Platform.KUBERNETES, "Service", "web", "acme-prod")]

    outcome = DriftChecker(reconciler).check(env_repo.target())

    assert outcome.status is DriftStatus.DRIFTED
    by_ref = {item["ref"]: item for item in outcome.items}
    assert by_ref[str(DEPLOYMENT)]["fields"] == [
        {"path": "spec.replicas", "expected": 2, "actual": 7}
    ]
    assert by_ref[str(VM)]["fields"] == [{"path": "cpu", "expected": 2, "actual": 8}]
    assert by_ref["kubernetes:Service/acme-prod/web"]["drift"].startswith("missing")
    report = history.latest_drift(store.database, 1)
    assert report is not None
    assert report.status is DriftStatus.DRIFTED
    assert [d["ref"] for d in report.diffs] == sorted(by_ref)
    assert events.DRIFT_DETECTED in [e.type for e in store.outbox.unsent(limit=1000)]


def test_report_mode_leaves_drift_in_place_and_heal_mode_reverts_it_through_a_run(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    applied(env_repo, reconciler, mode="heal")
    edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 7)

    outcome = DriftChecker(reconciler).check(env_repo.target())

    assert outcome.healed is not None
    assert outcome.healed.status == "succeeded"
    assert world.objects[DEPLOYMENT].spec["spec"]["replicas"] == 2
    assert DriftChecker(reconciler).check(env_repo.target()).status is DriftStatus.OK
    runs = [e for e in store.outbox.unsent(limit=1000) if e.type == events.APPLY_SUCCEEDED]
    assert len(runs) == 2


def test_report_mode_does_not_revert(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld
) -> None:
    applied(env_repo, reconciler, mode="report")
    edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 7)
    outcome = DriftChecker(reconciler).check(env_repo.target())
    assert outcome.healed is None
    assert world.objects[DEPLOYMENT].spec["spec"]["replicas"] == 7


def test_a_disabled_schedule_is_reported_as_disabled(
    env_repo: EnvRepo, reconciler: Reconciler
) -> None:
    applied(env_repo, reconciler, interval="0")
    assert DriftChecker(reconciler).check(env_repo.target()).status is DriftStatus.DISABLED


def test_a_failing_observation_is_an_error_report_not_a_silent_pause(
    env_repo: EnvRepo, reconciler: Reconciler, store: Store
) -> None:
    applied(env_repo, reconciler)
    reconciler.sites.drivers.clear()
    outcome = DriftChecker(reconciler).check(env_repo.target())
    assert outcome.status is DriftStatus.ERROR
    assert "no kubernetes connection" in outcome.error or "no vsphere" in outcome.error


def test_a_drift_is_notified_once_per_revision_and_a_new_drift_again(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    applied(env_repo, reconciler)
    with chat_server() as (url, received):
        checker = DriftChecker(reconciler, notifier=Notifier(store.catalog, urls=[url]))
        edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 7)
        checker.check(env_repo.target())
        checker.check(env_repo.target())
        assert len(received) == 1
        assert "spec.replicas expected 2, found 7" in received[0]["blocks"][1]["text"]["text"]
        edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 9)
        checker.check(env_repo.target())
        assert len(received) == 2
        assert received[1]["text"].startswith("Drift in acme/prod")


def test_a_second_check_of_an_environment_being_checked_is_skipped(
    env_repo: EnvRepo, reconciler: Reconciler, store: Store
) -> None:
    applied(env_repo, reconciler)
    lease = store.leases.acquire("drift:acme/prod", holder="other", ttl=dt.timedelta(minutes=1))
    assert lease is not None
    outcome = DriftChecker(reconciler).check(env_repo.target())
    assert "running" in outcome.error
    assert history.latest_drift(store.database, 1) is None


@pytest.mark.parametrize(
    "text",
    [
        "kubernetes:Deployment/acme-prod/web",
        "nsx:Segment/acme-prod-db-segment",
        "vsphere:VirtualMachine/dc/vm/folder/acme-prod-db-0",
        "kubernetes:Namespace/acme-prod",
    ],
)
def test_stored_references_read_back_to_the_same_reference(text: str) -> None:
    assert str(history.decode_ref(text)) == text


def test_a_tenants_registered_url_gets_its_own_environments_drift_checked_again_first(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, store: Store
) -> None:
    """A URL a tenant registered receives that environment's messages only, and is checked
    again before each post (its name may resolve somewhere private by now)."""
    applied(env_repo, reconciler)
    checked: list[str] = []

    def refuse_the_second(url: str) -> None:
        checked.append(url)
        if url.endswith("/refused"):
            raise ConfigError(f"{url} resolves to a private address", hint="allow it")

    with chat_server() as (url, received):
        notifier = Notifier(store.catalog, check=refuse_the_second)
        notifier.route("acme/prod", [f"{url}/mine", f"{url}/refused"])
        notifier.route("acme/other", [f"{url}/theirs"])
        edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 7)
        DriftChecker(reconciler, notifier=notifier).check(env_repo.target())

    assert checked == [f"{url}/mine", f"{url}/refused"]
    [message] = received
    assert message["text"].startswith("Drift in acme/prod")


def _rebinding_resolver() -> Callable[[str], list[str]]:
    """``chat.lab.test`` only this resolver knows; ``localhost`` answered public the first time
    and loopback after that (DNS rebinding)."""
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        if host == "chat.lab.test":
            return ["127.0.0.1"]
        if host == "localhost":
            return ["93.184.216.34"] if asked.count("localhost") == 1 else ["127.0.0.1"]
        return []

    return resolve


@pytest.mark.parametrize(
    "case",
    [("localhost", False, 0), ("chat.lab.test", True, 1)],
    ids=["rebound-to-loopback", "lab-name"],
)
def test_a_registered_url_is_posted_to_only_at_the_address_its_check_resolved(
    env_repo: EnvRepo, reconciler: Reconciler, world: FakeWorld, case: tuple[str, bool, int]
) -> None:
    """Posts to a tenant's URL go through the guarded transport: ``localhost`` rebound to
    loopback after its check is not posted to (the system resolver would have), and a name only
    the engine's resolver knows is reached at the address it gave (the system has none)."""
    host, private, delivered = case
    applied(env_repo, reconciler)
    policy = UrlPolicy.of(allow_private_networks=private, resolver=_rebinding_resolver())
    with chat_server() as (url, received):
        guarded = partial(GuardedTransport, policy)
        notifier = Notifier(reconciler.store.catalog, check=policy.check, guarded=guarded)
        notifier.route("acme/prod", [f"http://{host}:{httpx.URL(url).port}/hook"])
        edit_by_hand(world, DEPLOYMENT, ["spec", "replicas"], 7)
        DriftChecker(reconciler, notifier=notifier).check(env_repo.target())
    assert len(received) == delivered
