"""The contract every driver keeps, as reusable checks; each driver's tests run them.

How to use it from a driver's tests::

    from tests.drivers.contract import CONTRACT_CHECKS, ContractCase

    @pytest.fixture
    def case(server) -> ContractCase:
        scope = Scope(tenant="acme", environment="prod", site={"namespace": fresh_namespace()})
        return ContractCase(
            make_driver=lambda: MyDriver(...),     # a new instance = an engine restart
            scope=scope,
            desired=tuple(render_some(scope)),     # the scenario, as the planner would render it
            updated=tuple(render_changed(scope)),  # optional: the same refs, some specs changed
        )

    @pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda check: check.__name__)
    def test_driver_keeps_the_contract(check, case):
        check(case)

Each check expects a scope in which none of the scenario's objects exist yet (give every check
a fresh namespace, folder or mount) and deletes what it made before it returns. Changes are
computed here by comparing digests (``plan_changes``), not by the planner, so a driver is held
to the contract on its own. A dry run reports ``Applied.wrote`` as the real run would (True
when the platform would change). Deletes of the scenario's objects are plain changes without
approval: a scenario for a driver that gates some deletes should leave those kinds out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core.resources import (
    Action,
    Change,
    DesiredResource,
    ObservedResource,
    ResourceRef,
)
from drivers.protocol import Applied, Driver, Scope


@dataclass(frozen=True)
class ContractCase:
    """One scenario for one driver.

    Attributes:
        make_driver: builds a new driver; every call stands for an engine restart.
        scope: where the scenario lives; nothing of it may exist yet.
        desired: the objects to converge to.
        updated: optional; some of ``desired`` with changed specs (same refs), to hold updates
            to the same promises. Empty skips the update checks.
    """

    make_driver: Callable[[], Driver]
    scope: Scope
    desired: tuple[DesiredResource, ...]
    updated: tuple[DesiredResource, ...] = ()


def plan_changes(
    desired: Iterable[DesiredResource], observed: Iterable[ObservedResource]
) -> list[Change]:
    """Create, update or delete changes that take ``observed`` to ``desired``, by digest.

    Only observed objects that carry an owner of the desired set are pruned; objects without
    our marker are left alone, as the planner would.
    """
    wanted = list(desired)
    seen = {item.ref: item for item in observed}
    owners = {item.owner for item in wanted}
    changes: list[Change] = []
    for item in wanted:
        found = seen.get(item.ref)
        if found is None:
            changes.append(Change(Action.CREATE, item.ref, item.owner, desired=item))
        elif found.digest != item.digest:
            action = Action.UPDATE
            changes.append(Change(action, item.ref, item.owner, desired=item, observed=found))
    wanted_refs = {item.ref for item in wanted}
    for ref, found in seen.items():
        if ref not in wanted_refs and found.owner in owners and found.owner is not None:
            changes.append(Change(Action.DELETE, ref, found.owner, observed=found, reason="pruned"))
    return changes


def deletes_of(observed: Iterable[ObservedResource]) -> list[Change]:
    """Delete changes for every object in ``observed`` that carries an owner."""
    return [
        Change(Action.DELETE, item.ref, item.owner, observed=item, reason="contract cleanup")
        for item in observed
        if item.owner is not None
    ]


def ours(case: ContractCase, observed: Iterable[ObservedResource]) -> list[ObservedResource]:
    """The observed objects that belong to the scenario (by ref or by owner)."""
    refs = {item.ref for item in case.desired}
    owners = {item.owner for item in case.desired}
    return [item for item in observed if item.ref in refs or item.owner in owners]


def observe_ours(case: ContractCase, driver: Driver | None = None) -> list[ObservedResource]:
    """Observe the scope with ``driver`` (or a new one) and keep the scenario's objects."""
    return ours(case, (driver or case.make_driver()).observe(case.scope))


def apply_all(driver: Driver, changes: Sequence[Change], *, dry_run: bool = False) -> list[Applied]:
    """Apply ``changes`` in order, as the reconciler would."""
    return [driver.apply(change, dry_run=dry_run) for change in changes]


def converge(case: ContractCase, desired: Sequence[DesiredResource]) -> list[Applied]:
    """Plan against a fresh observation and apply it with a new driver."""
    driver = case.make_driver()
    return apply_all(driver, plan_changes(desired, observe_ours(case, driver)))


def cleanup(case: ContractCase) -> None:
    """Delete whatever of the scenario exists, so the next check starts empty."""
    driver = case.make_driver()
    apply_all(driver, deletes_of(observe_ours(case, driver)))


def outcome(applied: Sequence[Applied]) -> list[tuple[ResourceRef, Action, bool]]:
    """What a run reports, without ids that a dry run cannot know."""
    return [(item.ref, item.action, item.wrote) for item in applied]


def assert_converged(case: ContractCase, desired: Sequence[DesiredResource]) -> None:
    """Observation holds exactly one object per desired ref, with the desired digest."""
    observed = observe_ours(case)
    refs = [item.ref for item in observed]
    assert len(refs) == len(set(refs)), f"duplicate objects observed: {sorted(map(str, refs))}"
    by_ref = {item.ref: item for item in observed}
    for item in desired:
        found = by_ref.get(item.ref)
        assert found is not None, f"{item.ref} was not observed after apply"
        assert found.owner == item.owner, f"{item.ref} observed with owner {found.owner}"
        assert found.digest == item.digest, (
            f"{item.ref} drifts after apply: observed {dict(found.spec)!r}, "
            f"desired {dict(item.spec)!r}"
        )
    assert plan_changes(desired, observed) == [], "the plan after apply is not empty"


def _require_empty(case: ContractCase) -> None:
    left = observe_ours(case)
    assert left == [], f"the scope is not empty before the check: {[str(i.ref) for i in left]}"


def check_apply_creates_everything(case: ContractCase) -> None:
    """Every desired object is created, and a fresh observation plans nothing."""
    _require_empty(case)
    try:
        applied = converge(case, case.desired)
        assert [item.action for item in applied] == [Action.CREATE] * len(case.desired)
        assert all(item.wrote for item in applied), f"a create wrote nothing: {outcome(applied)}"
        assert_converged(case, case.desired)
    finally:
        cleanup(case)


def check_applying_again_writes_nothing(case: ContractCase) -> None:
    """Replaying the same changes after convergence, on a new driver, writes nothing."""
    _require_empty(case)
    try:
        first = plan_changes(case.desired, [])
        apply_all(case.make_driver(), first)
        replay = apply_all(case.make_driver(), first)
        assert not any(item.wrote for item in replay), f"a replay wrote: {outcome(replay)}"
        assert converge(case, case.desired) == [], "a converged scope planned changes"
        assert_converged(case, case.desired)
    finally:
        cleanup(case)


def check_dry_run_reports_the_real_run_and_keeps_nothing(case: ContractCase) -> None:
    """A dry run reports what the real run then does, and leaves the platform as it was."""
    _require_empty(case)
    try:
        changes = plan_changes(case.desired, [])
        preview = apply_all(case.make_driver(), changes, dry_run=True)
        assert observe_ours(case) == [], "a dry run left objects behind"
        real = apply_all(case.make_driver(), changes)
        assert outcome(preview) == outcome(real)
        if case.updated:
            _check_dry_run_of_an_update(case)
    finally:
        cleanup(case)


def _check_dry_run_of_an_update(case: ContractCase) -> None:
    driver = case.make_driver()
    before = {item.ref: item.digest for item in observe_ours(case, driver)}
    changes = plan_changes(case.updated, observe_ours(case, driver))
    assert changes, "the updated scenario plans no change; give it a changed spec"
    preview = apply_all(driver, changes, dry_run=True)
    after = {item.ref: item.digest for item in observe_ours(case)}
    assert after == before, "a dry-run update changed the platform"
    real = apply_all(case.make_driver(), changes)
    assert outcome(preview) == outcome(real)
    assert_converged(case, case.updated)


def check_updates_converge(case: ContractCase) -> None:
    """Changing specs converges to the new digests, and the next plan is empty."""
    if not case.updated:
        return
    _require_empty(case)
    try:
        converge(case, case.desired)
        applied = converge(case, case.updated)
        assert applied, "the updated scenario planned no change"
        assert all(item.action is Action.UPDATE and item.wrote for item in applied)
        assert_converged(case, case.updated)
    finally:
        cleanup(case)


def check_a_run_cut_off_halfway_converges(case: ContractCase) -> None:
    """Half applied, then a restart: the new plan holds only the missing half, no duplicates."""
    _require_empty(case)
    try:
        changes = plan_changes(case.desired, [])
        half = len(changes) // 2
        apply_all(case.make_driver(), changes[:half])
        rest = plan_changes(case.desired, observe_ours(case))
        assert [change.ref for change in rest] == [change.ref for change in changes[half:]]
        apply_all(case.make_driver(), rest)
        assert_converged(case, case.desired)
    finally:
        cleanup(case)


def check_deleting_twice_succeeds(case: ContractCase) -> None:
    """Deleting removes every object; deleting the same objects again succeeds, writing nothing."""
    _require_empty(case)
    try:
        converge(case, case.desired)
        deletes = deletes_of(observe_ours(case))
        first = apply_all(case.make_driver(), deletes)
        assert all(item.wrote for item in first), f"a delete wrote nothing: {outcome(first)}"
        assert observe_ours(case) == [], "objects remain after delete"
        again = apply_all(case.make_driver(), deletes)
        assert not any(item.wrote for item in again), f"a second delete wrote: {outcome(again)}"
    finally:
        cleanup(case)


CONTRACT_CHECKS: tuple[Callable[[ContractCase], None], ...] = (
    check_apply_creates_everything,
    check_applying_again_writes_nothing,
    check_dry_run_reports_the_real_run_and_keeps_nothing,
    check_updates_converge,
    check_a_run_cut_off_halfway_converges,
    check_deleting_twice_succeeds,
)
"""Every check, in the order a reader would reason about them; parametrise over this."""
