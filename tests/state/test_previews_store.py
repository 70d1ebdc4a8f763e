"""The preview ledger on SQLite and PostgreSQL: the newest preview of a review counts, previews
are found by head commit, merges and verdicts are kept once, and each tenant sees its own."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from state.previews import Pruned, StoredPreview, StoredVerdict
from state.store import Store
from tests.state.conftest import FakeClock

HEAD = "a" * 40
NEWER = "b" * 40
MERGE = "c" * 40


def preview(
    *, tenant: str = "acme", head: str = HEAD, number: int = 42, plan: str = "p1"
) -> StoredPreview:
    return StoredPreview(
        tenant, "prod", "acme/envs", number, head, f"sha256:{plan}", "desired", "observed",
        "policy", comment_id=7,
    )  # fmt: skip


def verdict(*, tenant: str = "acme", matches: bool = False, plan: str = "p2") -> StoredVerdict:
    return StoredVerdict(
        tenant, "prod", MERGE, matches=matches, held=not matches,
        reason="" if matches else "the platforms changed since the preview",
        repository="acme/envs", number=42, plan_id=f"sha256:{plan}",
    )  # fmt: skip


def test_the_newest_preview_of_a_review_is_the_one_that_counts(
    store: Store, clock: FakeClock
) -> None:
    store.previews.record(preview(head=HEAD, plan="p1"))
    clock.advance(60)
    store.previews.record(preview(head=NEWER, plan="p2"))
    latest = store.previews.latest("acme", "prod", repository="acme/envs", number=42)
    assert latest is not None
    assert (latest.head_commit, latest.plan_id, latest.comment_id) == (NEWER, "sha256:p2", 7)
    assert latest.recorded_at == clock.now
    assert store.previews.latest("acme", "prod", repository="acme/envs", number=43) is None
    assert store.previews.latest("acme", "staging", repository="acme/envs", number=42) is None


def test_previews_are_found_by_their_head_commit(store: Store) -> None:
    store.previews.record(preview(head=HEAD, number=41, plan="p1"))
    store.previews.record(preview(head=NEWER, number=42, plan="p2"))
    found = store.previews.with_heads("acme", "prod", [MERGE, NEWER])
    assert [(p.number, p.head_commit) for p in found] == [(42, NEWER)]
    assert store.previews.with_heads("acme", "prod", []) == []
    assert store.previews.with_heads("acme", "staging", [HEAD]) == []


def test_a_merge_is_recorded_once_however_often_the_event_is_delivered(store: Store) -> None:
    for _ in range(2):
        store.previews.record_merge("acme", repository="acme/envs", number=42, merge_commit=MERGE)
    merges = store.previews.merges_into("acme", MERGE)
    assert [(m.repository, m.number, m.merge_commit) for m in merges] == [("acme/envs", 42, MERGE)]
    assert store.previews.merges_into("acme", HEAD) == []


def test_the_first_verdict_on_a_commit_stands(store: Store) -> None:
    assert store.previews.verdict("acme", "prod", MERGE) is None
    first = store.previews.record_verdict(verdict(matches=False, plan="p2"))
    again = store.previews.record_verdict(verdict(matches=True, plan="p3"))
    assert first == again == verdict(matches=False, plan="p2")
    assert store.previews.verdict("acme", "prod", MERGE) == first
    assert store.previews.verdict("acme", "staging", MERGE) is None


def test_each_tenant_sees_only_its_own_previews_merges_and_verdicts(store: Store) -> None:
    store.previews.record(preview(tenant="globex"))
    store.previews.record_merge("globex", repository="acme/envs", number=42, merge_commit=MERGE)
    store.previews.record_verdict(verdict(tenant="globex"))
    assert store.previews.latest("acme", "prod", repository="acme/envs", number=42) is None
    assert store.previews.with_heads("acme", "prod", [HEAD]) == []
    assert store.previews.merges_into("acme", MERGE) == []
    assert store.previews.verdict("acme", "prod", MERGE) is None
    mine = store.previews.record_verdict(verdict(tenant="acme", matches=True))
    assert mine.matches
    theirs = store.previews.verdict("globex", "prod", MERGE)
    assert theirs is not None
    assert replace(theirs, tenant="acme") != mine


def test_pruning_deletes_old_rows_of_every_tenant_but_keeps_new_ones_and_held_verdicts(
    store: Store, clock: FakeClock
) -> None:
    old_matched = replace(verdict(matches=True), commit="d" * 40)
    for tenant in ("acme", "globex"):
        store.previews.record(preview(tenant=tenant, head=HEAD, plan="old"))
        store.previews.record_merge(tenant, repository="acme/envs", number=42, merge_commit=MERGE)
        store.previews.record_verdict(verdict(tenant=tenant, matches=False))  # held
        store.previews.record_verdict(replace(old_matched, tenant=tenant))
    cutoff = clock.now + dt.timedelta(days=1)
    clock.advance(2 * 86400)
    store.previews.record(preview(head=NEWER, number=43, plan="new"))
    store.previews.record_merge("acme", repository="acme/envs", number=43, merge_commit=NEWER)

    pruned = store.previews.prune(before=cutoff)

    assert pruned == Pruned(previews=2, merges=2, verdicts=2)
    kept = store.previews.with_heads("acme", "prod", [HEAD, NEWER])
    assert [(p.number, p.head_commit) for p in kept] == [(43, NEWER)]
    assert store.previews.with_heads("globex", "prod", [HEAD]) == []
    assert store.previews.merges_into("acme", MERGE) == []
    assert [m.number for m in store.previews.merges_into("acme", NEWER)] == [43]
    for tenant in ("acme", "globex"):
        held = store.previews.verdict(tenant, "prod", MERGE)
        assert held is not None
        assert held.held  # age alone never releases a hold
        assert store.previews.verdict(tenant, "prod", old_matched.commit) is None
    assert store.previews.prune(before=cutoff) == Pruned()
