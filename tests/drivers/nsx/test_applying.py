"""The NSX driver's apply: one PATCH per app, no write when converged, races, ownership, deletes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from core.errors import FatalError, OwnershipConflict, TransientError
from core.resources import Action, Change, DesiredResource
from drivers.nsx import NsxDriver
from drivers.nsx.driver import Step
from drivers.nsx.errors import InUse, StaleRevision
from drivers.protocol import Scope
from simulators.nsx import NsxSimulator
from tests.drivers.contract import deletes_of, plan_changes
from tests.drivers.nsx.conftest import FakeClock
from tests.drivers.nsx.scenario import render

MakeDriver = Callable[..., NsxDriver]


def creates(desired: list[DesiredResource]) -> list[Change]:
    return plan_changes(desired, [])


def writes(sim: NsxSimulator) -> int:
    return sum(sim.calls(verb) for verb in ("PATCH", "PUT", "DELETE", "POST"))


def raw(sim: NsxSimulator) -> httpx.Client:
    return httpx.Client(base_url=sim.url + "/policy/api/v1", auth=(sim.username, sim.password))


def test_an_apps_changes_go_out_in_one_hierarchical_patch(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    changes = creates(render(scope, "shop")) + creates(render(scope, "blog", index=1))
    applied = make_driver().apply_many(changes)
    assert [a.wrote for a in applied] == [True] * 10
    assert sim.requests[("PATCH", "/policy/api/v1/infra")] == 2  # one per app
    assert writes(sim) == 2


def test_applying_a_converged_change_writes_nothing_and_keeps_the_revision(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    desired = render(scope, "shop")
    make_driver().apply_many(creates(desired))
    before = {path: sim.revision(path) for path in sim.paths()}
    observed = make_driver().observe(scope)
    updates = [
        Change(Action.UPDATE, d.ref, d.owner, desired=d, observed=o)
        for d, o in zip(desired, reversed(observed), strict=True)
    ]
    applied = make_driver().apply_many(updates)
    assert not any(a.wrote for a in applied)
    assert {path: sim.revision(path) for path in sim.paths()} == before
    assert sim.calls("PATCH") == 1


def test_a_dry_run_reads_but_sends_no_write(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    applied = make_driver().apply_many(creates(render(scope, "shop")), dry_run=True)
    assert all(a.wrote for a in applied)
    assert writes(sim) == 0
    assert sim.paths("/infra/segments/") == []


class RacingDriver(NsxDriver):
    """Lets a rival change the objects right after each read, ``races`` times."""

    races = 1

    def _write(self, steps: list[Step]) -> None:
        if self.races > 0:
            self.races -= 1
            with raw(self.sim) as rival:
                for step in steps:
                    answer = rival.patch(step.path, json={"description": "rival"})
                    assert answer.status_code == 200
        super()._write(steps)


def racing(sim: NsxSimulator, make_driver: MakeDriver, races: int) -> RacingDriver:
    driver = make_driver()
    driver.__class__ = RacingDriver
    driver.sim, driver.races = sim, races  # type: ignore[attr-defined]
    return driver  # type: ignore[return-value]


def test_a_stale_revision_is_read_again_and_retried_once(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    desired = render(scope, "shop", changed=True)[:1]
    make_driver().apply_many(creates(render(scope, "shop")[:1]))
    observed = make_driver().observe(scope)
    change = Change(
        Action.UPDATE, desired[0].ref, desired[0].owner, desired=desired[0], observed=observed[0]
    )
    assert racing(sim, make_driver, races=1).apply(change).wrote
    assert sim.calls("PATCH", path_prefix="/policy/api/v1/infra/segments") == 1  # the rival
    assert sim.requests[("PATCH", "/policy/api/v1/infra")] == 3  # create, 412, retry
    assert make_driver().observe(scope)[0].digest == desired[0].digest


def test_a_second_race_surfaces_as_a_transient_error(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    make_driver().apply_many(creates(render(scope, "shop")[:1]))
    desired = render(scope, "shop", changed=True)[0]
    change = Change(Action.UPDATE, desired.ref, desired.owner, desired=desired)
    with pytest.raises(StaleRevision) as caught:
        racing(sim, make_driver, races=2).apply(change)
    assert isinstance(caught.value, TransientError)


def test_an_object_with_our_id_but_not_our_tag_is_an_ownership_conflict(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    desired = render(scope, "shop")[0]
    with raw(sim) as client:
        client.patch(f"/infra/segments/{desired.ref.name}", json={"description": "by hand"})
    revision = sim.revision(f"/infra/segments/{desired.ref.name}")
    for change in (creates([desired])[0], Change(Action.DELETE, desired.ref, desired.owner)):
        with pytest.raises(OwnershipConflict, match="is tagged"):
            make_driver().apply(change)
    assert sim.revision(f"/infra/segments/{desired.ref.name}") == revision
    assert make_driver().observe(scope) == []


def test_deleting_what_is_gone_writes_nothing(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    desired = render(scope, "shop")
    make_driver().apply_many(creates(desired))
    deletes = deletes_of(make_driver().observe(scope))
    assert all(a.wrote for a in make_driver().apply_many(deletes))
    assert sim.paths("/infra/segments/") == []
    assert not any(a.wrote for a in make_driver().apply_many(deletes))


def test_recreating_during_a_pending_delete_is_retried_until_purged(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope, clock: FakeClock
) -> None:
    sim.store.delete_ticks = 5  # requests, counted by the fake, before a delete is purged
    desired = render(scope, "shop")[:1]
    driver = make_driver()
    driver.apply_many(creates(desired))
    driver.apply_many(deletes_of(driver.observe(scope)))
    assert driver.apply_many(creates(desired))[0].wrote
    assert driver.client.retries["400/500045"] >= 1
    assert sim.paths("/infra/segments/") == [f"/infra/segments/{desired[0].ref.name}"]


def test_a_delete_pending_forever_gives_up_within_the_retry_limit(
    make_driver: MakeDriver, scope: Scope, sim: NsxSimulator
) -> None:
    sim.store.delete_ticks = 1000
    desired = render(scope, "shop")[:1]
    driver = make_driver(max_attempts=3)
    driver.apply_many(creates(desired))
    driver.apply_many(deletes_of(driver.observe(scope)))
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        driver.apply_many(creates(desired))


def test_deleting_a_segment_still_in_use_is_refused(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    desired = render(scope, "shop")[:1]
    make_driver().apply_many(creates(desired))
    path = f"/infra/segments/{desired[0].ref.name}"
    sim.pin(path, by=f"{path}/ports/vm-0")
    with pytest.raises(InUse, match="500030"):
        make_driver().apply_many(deletes_of(make_driver().observe(scope)))
    assert sim.paths("/infra/segments/") == [path]


def test_removing_a_field_from_a_merged_kind_replaces_the_object(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    make_driver().apply_many(creates(render(scope, "shop", changed=True)[:1]))
    plain = render(scope, "shop")[:1]
    changes = plan_changes(plain, make_driver().observe(scope))
    assert [c.action for c in changes] == [Action.UPDATE]
    assert make_driver().apply(changes[0]).detail == {"request": "PUT"}
    assert plan_changes(plain, make_driver().observe(scope)) == []


def test_realization_error_is_a_terminal_error_and_shows_in_health(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope
) -> None:
    desired = render(scope, "shop")[:1]
    sim.fail_realization(f"/infra/segments/{desired[0].ref.name}", "edge cluster unavailable")
    with pytest.raises(FatalError, match="edge cluster unavailable"):
        make_driver().apply(creates(desired)[0])
    health = make_driver().health(desired[0].ref)
    assert health.failed
    assert not health.ready


def test_realization_is_polled_until_done_and_times_out(
    sim: NsxSimulator, make_driver: MakeDriver, scope: Scope, clock: FakeClock
) -> None:
    shop, blog = render(scope, "shop")[:1], render(scope, "blog", index=1)[:1]
    sim.set_realization(polls=3)
    make_driver().apply(creates(shop)[0])
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert make_driver().health(shop[0].ref).ready
    sim.set_realization(polls=10_000)
    with pytest.raises(TransientError, match="did not realize"):
        make_driver(realization_timeout_seconds=5.0).apply(creates(blog)[0])
