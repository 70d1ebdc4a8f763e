"""Pull and merge request previews: plan the head of a review speculatively (no lease, no apply,
nothing written to a platform), post one sticky comment per environment touched and a commit
status with the policy verdict, and record the previewed plan for the merge.

The engine's preview work item calls ``Previewer.preview``; ``reconciler.merging`` compares the
plan of a merged review's push with the previewed one (see docs/previews.md).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.errors import Location, ManifestError, PlatformError, RxtError
from core.logs import get_logger
from core.resources import ObservedResource, Platform, SecretRef
from drivers.protocol import Driver
from planner.loading import LoadedEnvironment
from planner.plans import Plan, plan_environment
from planner.views.markdown import LIMIT
from reconciler.forges import Review
from reconciler.preview_comments import PlacementMove, failed_comment, placement_moves, plan_comment
from reconciler.reconciling import Fence, TreeSource
from reconciler.recording import stored_plan_id
from reconciler.sites import Sites, load_at
from reconciler.trees import RepoTree, environment_files
from state.previews import PreviewStore, StoredPreview

log = get_logger()

Observer = Callable[[LoadedEnvironment], Sequence[ObservedResource]]
SecretVersions = Callable[[LoadedEnvironment], Mapping[SecretRef, int]]
CONTEXT = "rxt/plan"
_NOTICE = "> **Planned again on merge:**"


Observing = Sites | Mapping[Platform, Driver] | Iterable[Driver] | Observer


def observer_of(source: Observing) -> Observer:
    """An observe callable from the engine's ``Sites``, drivers (one per platform, serving
    every site; a list, or a mapping by platform), or an observe callable itself."""
    if isinstance(source, Sites):
        return source.observe
    if callable(source):
        return source
    drivers = source.values() if isinstance(source, Mapping) else source
    sites = Sites()
    for driver in drivers:
        sites.add(Platform(driver.platform), driver)
    return sites.observe


@dataclass(frozen=True)
class ReviewHead:
    """The review to preview: its repository, number, head commit and the base commit it
    would merge into ('' when unknown: every environment is previewed)."""

    repository: str
    number: int
    head: str
    base: str = ""


@dataclass(frozen=True)
class PreviewRecord:
    """What a preview saw, kept until the review is merged."""

    tenant: str
    environment: str
    repository: str
    number: int
    commit: str
    plan_id: str
    desired_digest: str
    observed_fingerprint: str
    policy_digest: str
    comment_id: int = 0


class PreviewLedger(Protocol):
    """Where previewed plans are kept; ``StoredLedger`` keeps them in the state store."""

    def record(self, preview: PreviewRecord) -> None: ...

    def latest(
        self, tenant: str, environment: str, *, repository: str, number: int
    ) -> PreviewRecord | None: ...


class MemoryLedger:
    """A ``PreviewLedger`` in memory: for tests, benchmarks and one-shot runs."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str, int], PreviewRecord] = {}

    def record(self, preview: PreviewRecord) -> None:
        key = (preview.tenant, preview.environment, preview.repository, preview.number)
        self.records[key] = preview

    def latest(
        self, tenant: str, environment: str, *, repository: str, number: int
    ) -> PreviewRecord | None:
        return self.records.get((tenant, environment, repository, number))


@dataclass(frozen=True)
class Preview:
    """One environment's preview: its plan (None when it could not be planned), the verdict
    (success, failure or error), and the comment it got."""

    environment: str
    verdict: str
    summary: str
    plan: Plan | None = None
    comment_id: int = 0


def touched_environments(source: TreeSource, *, head: str, base: str = "") -> list[str]:
    """Environments at ``head`` whose files (manifests or the repo's policies) differ from
    ``base``; all of them when ``base`` is ''. Environments removed by the review are not
    previewed."""
    head_tree = source.tree_at(head)
    names = sorted(head_tree.list_dir("environments"))
    if not base:
        return names
    base_tree = source.tree_at(base)
    return [name for name in names if _files(head_tree, name) != _files(base_tree, name)]


def _files(tree: RepoTree, environment: str) -> dict[str, bytes]:
    if not tree.exists(f"environments/{environment}/environment.yaml"):
        return {}
    return environment_files(tree, environment)


class Previewer:
    """Previews the reviews of one tenant's repository."""

    def __init__(
        self,
        tenant: str,
        *,
        source: TreeSource,
        observe: Observing,
        ledger: PreviewLedger,
        secret_versions: SecretVersions | None = None,
        context: str = CONTEXT,
        fence: Fence | None = None,
        followed: Collection[str] | None = None,
        record: Callable[[Plan], None] | None = None,
    ) -> None:
        self.tenant = tenant
        self.fence = fence
        self.followed = followed
        # Stores each plan before its comment is posted (the engine keeps it as a ``preview``
        # plan with its audit entry), so every plan a review shows can be read back.
        self.record = record
        self.source = source
        self.observe = observer_of(observe)
        if secret_versions is None and isinstance(observe, Sites) and observe.secrets is not None:
            secret_versions = observe.secret_versions
        self.secret_versions = secret_versions
        self.ledger = ledger
        self.context = context

    def preview(self, head: ReviewHead, review: Review) -> list[Preview]:
        """Plan every environment the review touches, comment and set the status.

        Raises:
            PlatformError: the forge refused or failed (a TransientError is worth retrying);
                the status is set to error first when the forge still answers.
            ConfigError: the engine has no connection for a site an environment names.
        """
        touched = touched_environments(self.source, head=head.head, base=head.base)
        # Only environments the engine follows: another folder of the repository could name
        # sites or namespaces no one checked, and its observed objects would land in a comment.
        environments = [e for e in touched if self.followed is None or e in self.followed]
        review.set_status(
            head.head, state="pending", context=self.context,
            description=f"planning {len(environments)} environment(s)",
        )  # fmt: skip
        try:
            previews = [self._one(head, env, review) for env in environments]
        except RxtError as error:
            # Never leave the status pending: say the preview failed, then let the work retry.
            _settle_status(review, head.head, context=self.context, error=error)
            raise
        state, description = verdict_of(previews)
        review.set_status(head.head, state=state, description=description, context=self.context)
        log.info("preview.finished", tenant=self.tenant, commit=head.head, verdict=state,
                 review=head.number, environments=len(previews))  # fmt: skip
        return previews

    def _one(self, head: ReviewHead, environment: str, review: Review) -> Preview:
        marker = comment_marker(self.tenant, environment)
        try:
            plan, moves = self._plan(head, environment)
        except (ManifestError, PlatformError) as error:
            why = "the manifests are invalid" if isinstance(error, ManifestError) else (
                "the platforms could not be observed")  # fmt: skip
            body = failed_comment(marker, self.tenant, environment, head.head, why=why, error=error)
            posted = review.upsert_sticky_comment(marker, body)
            verdict = "failure" if isinstance(error, ManifestError) else "error"
            return Preview(environment, verdict, f"{environment}: {why}", comment_id=posted.id)
        if self.record is not None:
            self.record(plan)
        body = plan_comment(marker, plan, moves=moves)
        posted = review.upsert_sticky_comment(marker, body)
        self.ledger.record(record_of(plan, head, comment_id=posted.id))
        return Preview(environment, *plan_verdict(plan), plan=plan, comment_id=posted.id)

    def _plan(self, head: ReviewHead, environment: str) -> tuple[Plan, list[PlacementMove]]:
        view = load_at(self.source.tree_at(head.head), environment)
        self._check_tenant(view, environment)
        if self.fence is not None:
            self.fence(view)
        versions = self.secret_versions(view) if self.secret_versions else None
        plan = plan_environment(
            view, self.observe(view), commit=head.head, secret_versions=versions
        )
        return plan, placement_moves(plan, self._base_view(head, environment))

    def _check_tenant(self, view: LoadedEnvironment, environment: str) -> None:
        named = view.environment.metadata.tenant
        if named != self.tenant:
            raise ManifestError(
                f"environment {environment!r} names tenant {named!r}, but this repository "
                f"belongs to tenant {self.tenant!r}",
                location=Location(f"environments/{environment}/environment.yaml"),
                hint=f"set metadata.tenant to {self.tenant!r}; a repository plans only its own "
                "tenant's environments",
            )

    def _base_view(self, head: ReviewHead, environment: str) -> LoadedEnvironment | None:
        if not head.base:
            return None
        try:
            return load_at(self.source.tree_at(head.base), environment)
        except RxtError:
            return None  # a new environment, or a base that was already broken


def _settle_status(review: Review, sha: str, *, context: str, error: RxtError) -> None:
    try:
        review.set_status(sha, state="error", description=f"preview failed: {error.message}",
                          context=context)  # fmt: skip
    except PlatformError as second:
        log.warning("preview.status_failed", commit=sha, error=second.message)


def comment_marker(tenant: str, environment: str) -> str:
    """The hidden first line that finds an environment's sticky comment again."""
    return f"<!-- rxt:plan {tenant}/{environment} -->"


def plan_verdict(plan: Plan) -> tuple[str, str]:
    """success or failure, and a short reason naming the blocking rules."""
    blocking = [r for r in plan.policy.results if r.blocking]
    if blocking:
        rules = ", ".join(sorted({_rule_name(r.pack, r.rule) for r in blocking}))
        return "failure", f"{plan.environment}: denied by {rules}"
    changes = len(plan.changes)
    return "success", f"{plan.environment}: {changes} change(s), policy passed"


def _rule_name(pack: str, rule: str) -> str:
    return rule if rule.startswith(f"{pack}.") else f"{pack}/{rule}"


def verdict_of(previews: Sequence[Preview]) -> tuple[str, str]:
    """The review's one status: the worst verdict, described environment by environment."""
    if not previews:
        return "success", "no environment is changed by this review"
    order = ("error", "failure", "success")
    state = min((p.verdict for p in previews), key=order.index)
    worst_first = sorted(previews, key=lambda p: order.index(p.verdict))
    return state, "; ".join(p.summary for p in worst_first)


def record_of(plan: Plan, head: ReviewHead, *, comment_id: int) -> PreviewRecord:
    return PreviewRecord(
        tenant=plan.tenant, environment=plan.environment, repository=head.repository,
        number=head.number, commit=plan.commit, plan_id=plan.id,
        desired_digest=plan.desired_digest, observed_fingerprint=plan.observed_fingerprint,
        policy_digest=plan.policy.bundle_digest, comment_id=comment_id,
    )  # fmt: skip


@dataclass(frozen=True)
class MergeVerdict:
    """Whether the plan computed at merge is the one previewed.

    ``matches`` is True when it is: apply it as previewed. Otherwise ``reason`` says why it was
    planned again; the plan to apply is always the one just computed, never the saved one.
    """

    matches: bool
    reason: str
    previewed: PreviewRecord | None


def compare(plan: Plan, previewed: PreviewRecord | None) -> MergeVerdict:
    """Compare the plan computed at merge with the previewed one.

    A merge commit is a new commit even when its tree is the previewed head's, so besides the
    plan id every part of the id but the commit is compared: desired state, observed
    fingerprint and policy bundle.
    """
    if previewed is None:
        return MergeVerdict(False, "no preview was recorded for this review", None)
    if plan.id == previewed.plan_id:
        return MergeVerdict(True, "", previewed)
    if plan.desired_digest != previewed.desired_digest:
        why = (
            f"the manifests at {plan.commit[:12]} differ from the previewed head "
            f"{previewed.commit[:12]} (the base branch moved or the review changed)"
        )
    elif plan.observed_fingerprint != previewed.observed_fingerprint:
        why = "the platforms changed since the preview (the observed state is not the same)"
    elif plan.policy.bundle_digest != previewed.policy_digest:
        why = "the policies changed since the preview"
    else:
        return MergeVerdict(True, "", previewed)
    return MergeVerdict(False, why, previewed)


def settle_merge(
    plan: Plan,
    *,
    repository: str,
    number: int,
    ledger: PreviewLedger,
    review: Review | None,
) -> MergeVerdict:
    """Decide, for a merged review, whether ``plan`` (computed now, at the merge commit) is the
    previewed one; when it is not, edit the review's sticky comment to show the new plan and
    say why it was planned again.

    Args:
        plan: the plan the reconcile loop computed for the pushed merge commit.
        repository: the review's repository, as the preview recorded it.
        number: the pull request number or merge request iid.
        ledger: where ``Previewer.preview`` recorded the previewed plan.
        review: the forge client of the review; None to decide without commenting.

    Raises:
        PlatformError: the forge refused to edit the comment.
    """
    previewed = ledger.latest(plan.tenant, plan.environment, repository=repository, number=number)
    verdict = compare(plan, previewed)
    log.info("merge.settled", tenant=plan.tenant, env=plan.environment, plan_id=plan.id,
             matches=verdict.matches, reason=verdict.reason)  # fmt: skip
    if not verdict.matches and previewed is not None and review is not None:
        comment_replanned(plan, review=review, reason=verdict.reason)
    return verdict


def comment_replanned(plan: Plan, *, review: Review, reason: str, held: bool = False) -> None:
    """Edit the environment's sticky comment to show ``plan``, planned again on merge because
    of ``reason``; when ``held``, say that its changes wait for an approval and how to give it.

    Raises:
        PlatformError: the forge refused to edit the comment.
    """
    marker = comment_marker(plan.tenant, plan.environment)
    body = plan_comment(marker, plan, moves=None, replanned=reason)
    if held:
        lines = body.split("\n")
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith(_NOTICE)), 2)
        lines[at:at] = [hold_notice(plan)]
        body = "\n".join(lines)[:LIMIT]
    review.upsert_sticky_comment(marker, body)


def hold_notice(plan: Plan) -> str:
    """What a reviewer must do to release a merge that was planned again: approve its plan."""
    stored = stored_plan_id(plan.id)
    # A '>' line of its own keeps the quote going and starts a new paragraph in it.
    return (
        f">\n> **Held:** none of these changes is applied until a person approves plan "
        f"`{stored}` through the tenant API: `POST /api/v1/plans/{stored}/approvals` (an admin "
        "token). The approval queues a reconcile that applies them; a change that differs by "
        "then waits for a new approval."
    )


class StoredLedger:
    """The ``PreviewLedger`` of the engine: previewed plans kept in the state store, so they
    outlive the process and every replica sees them."""

    def __init__(self, previews: PreviewStore) -> None:
        self.previews = previews

    def record(self, preview: PreviewRecord) -> None:
        self.previews.record(
            StoredPreview(
                preview.tenant, preview.environment, preview.repository, preview.number,
                preview.commit, preview.plan_id, preview.desired_digest,
                preview.observed_fingerprint, preview.policy_digest, preview.comment_id,
            )
        )  # fmt: skip

    def latest(
        self, tenant: str, environment: str, *, repository: str, number: int
    ) -> PreviewRecord | None:
        found = self.previews.latest(tenant, environment, repository=repository, number=number)
        return None if found is None else record_from(found)


def record_from(stored: StoredPreview) -> PreviewRecord:
    """A preview read back from the state store."""
    return PreviewRecord(
        stored.tenant, stored.environment, stored.repository, stored.number, stored.head_commit,
        stored.plan_id, stored.desired_digest, stored.observed_fingerprint, stored.policy_digest,
        stored.comment_id,
    )  # fmt: skip
