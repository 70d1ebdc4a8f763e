"""Merge-time plan matching: find the review a pushed commit merged, compare the plan made for
the commit with the one previewed on the review, keep the verdict, and tell the reviewer when
the plan was made again.

``Engine.handle_reconcile`` builds a ``MergeSettler`` for each reconcile when previews are
posted; ``Reconciler.reconcile`` calls it under the lease, once the plan is made.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol

from core.errors import PlatformError
from core.logs import get_logger
from planner.plans import Plan
from reconciler.forges import Review
from reconciler.previews import MergeVerdict, comment_replanned, compare, record_from
from reconciler.replanning import Settled
from state.previews import PreviewStore, StoredPreview, StoredVerdict

log = get_logger()

OpenReview = Callable[[str, int], AbstractContextManager[Review]]
"""Opens the forge client of review ``number`` of ``repository``."""

OnStale = Literal["hold", "apply"]


class CommitGraph(Protocol):
    """Where a commit's parents and message are read: the repository's ``RepositoryMirror``."""

    def parents(self, commit: str) -> list[str]: ...

    def message(self, commit: str) -> str: ...


# What the forges write into the commits they make by default: GitHub's squash merge ends its
# title with "(#42)" and its merge commit starts "Merge pull request #42 from ..."; GitLab ends
# a merge or squash commit with "See merge request group/project!42".
_GITHUB_SQUASH = re.compile(r"\(#(\d{1,9})\)\s*$")
_GITHUB_MERGE = re.compile(r"^Merge pull request #(\d{1,9}) ")
_GITLAB = re.compile(r"^See merge request (\S+)!(\d{1,9})\s*$", re.MULTILINE)


def named_review(message: str, *, repository: str) -> int | None:
    """The review number a forge wrote into a merge or squash commit's message, or None.

    Safe to trust: the review found is only compared with. A message naming another review
    matches only when the plan is exactly the one previewed there; otherwise it is held.
    """
    title = message.split("\n", 1)[0]
    for pattern in (_GITHUB_SQUASH, _GITHUB_MERGE):
        found = pattern.search(title)
        if found:
            return int(found.group(1))
    for project, number in _GITLAB.findall(message):
        if project == repository:
            return int(number)
    return None


def find_preview(
    previews: PreviewStore,
    *,
    tenant: str,
    environment: str,
    commit: str,
    parents: Sequence[str],
    repository: str = "",
    message: str = "",
) -> StoredPreview | None:
    """The preview, for ``environment``, of the review that ``commit`` merged, or None.

    First the review whose previewed head is ``commit`` itself (a fast-forward) or one of the
    parents it merged in (a merge commit; its first parent is the branch before the merge, so it
    is not looked at). Then the review a forge reported merged as ``commit`` (squash and rebase
    merges make a commit no preview saw), by its newest preview. Last, the review the forge
    named in the commit's message (``named_review``): a squash merge pushed before the forge's
    merge event arrived is still found.
    """
    heads = [commit, *parents[1:]]
    found = previews.with_heads(tenant, environment, heads)
    if found:
        # Newest first from the store; min keeps the newest preview of the best head.
        return min(found, key=lambda preview: heads.index(preview.head_commit))
    for merge in previews.merges_into(tenant, commit):
        latest = previews.latest(
            tenant, environment, repository=merge.repository, number=merge.number
        )
        if latest is not None:
            return latest
    number = named_review(message, repository=repository) if repository else None
    if number is None:
        return None
    return previews.latest(tenant, environment, repository=repository, number=number)


class MergeSettler:
    """Settles each pushed commit of one repository against the preview of the review it
    merged; a ``MergeCheck`` for ``Reconciler.reconcile``.

    Args:
        previews: the state store's preview ledger.
        graph: the repository's mirror, for the parents of a commit.
        open_review: opens the review's forge client, to edit its comment; None to comment
            nowhere.
        on_stale: what a plan that is not the previewed one gets: ``hold`` keeps every change
            until a person approves the new plan, ``apply`` applies it at once.
        repository: the name previews were recorded under (``owner/name``), to find a review
            named in a commit message; '' to not look there.
    """

    def __init__(
        self,
        previews: PreviewStore,
        *,
        graph: CommitGraph,
        open_review: OpenReview | None = None,
        on_stale: OnStale = "hold",
        repository: str = "",
    ) -> None:
        self.previews = previews
        self.graph = graph
        self.repository = repository
        self.open_review = open_review
        self.on_stale = on_stale

    def __call__(self, plan: Plan) -> Settled | None:
        """The verdict on ``plan``'s commit: read back when the commit was settled before,
        else decided now, stored, and told to the reviewer when the plan was made again.
        None when no previewed review merged the commit."""
        stored = self.previews.verdict(plan.tenant, plan.environment, plan.commit)
        if stored is not None:
            return _settled(stored, new=False)
        previewed = find_preview(
            self.previews, tenant=plan.tenant, environment=plan.environment,
            commit=plan.commit, parents=self.graph.parents(plan.commit),
            repository=self.repository, message=self.graph.message(plan.commit),
        )  # fmt: skip
        if previewed is None:
            log.info("merge.unmatched", tenant=plan.tenant, env=plan.environment,
                     commit=plan.commit)  # fmt: skip
            return None
        verdict = compare(plan, record_from(previewed))
        held = not verdict.matches and self.on_stale == "hold"
        # Stored before the forge is told: the hold must not depend on the forge answering.
        kept = self.previews.record_verdict(_stored(plan, previewed, verdict, held=held))
        if kept.plan_id != plan.id:
            return _settled(kept, new=False)  # another engine settled the commit first
        log.info("merge.settled", tenant=plan.tenant, env=plan.environment, plan_id=plan.id,
                 review=previewed.number, matches=verdict.matches, held=held,
                 reason=verdict.reason)  # fmt: skip
        if not verdict.matches:
            self._comment(plan, previewed, reason=verdict.reason, held=held)
        return _settled(kept, new=True)

    def _comment(self, plan: Plan, previewed: StoredPreview, *, reason: str, held: bool) -> None:
        if self.open_review is None:
            return
        try:
            with self.open_review(previewed.repository, previewed.number) as review:
                comment_replanned(plan, review=review, reason=reason, held=held)
        except PlatformError as error:
            # The verdict and the hold are stored; only the reviewer's notice is missing.
            log.warning("merge.comment_failed", tenant=plan.tenant, env=plan.environment,
                        review=previewed.number, error=error.message)  # fmt: skip


def _stored(
    plan: Plan, previewed: StoredPreview, verdict: MergeVerdict, *, held: bool
) -> StoredVerdict:
    return StoredVerdict(
        plan.tenant, plan.environment, plan.commit, matches=verdict.matches, held=held,
        reason=verdict.reason, repository=previewed.repository, number=previewed.number,
        plan_id=plan.id,
    )  # fmt: skip


def _settled(verdict: StoredVerdict, *, new: bool) -> Settled:
    review = f"{verdict.repository}#{verdict.number}"
    return Settled(verdict.matches, verdict.reason, review, held=verdict.held, new=new)
