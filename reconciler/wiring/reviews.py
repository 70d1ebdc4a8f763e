"""Pull request previews in the engine: the forge they post to (the ``forge`` section of the
configuration) and the run of ``Previewer`` for one review. ``Engine.handle_preview`` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.logs import get_logger
from reconciler.forges import GitHubReview, GitLabReview, open_review
from reconciler.mirrors import RepositoryMirror
from reconciler.previews import MemoryLedger, Preview, Previewer, PreviewLedger, ReviewHead
from reconciler.sites import Sites
from reconciler.wiring.config import ForgeConfig

log = get_logger()


@dataclass(frozen=True)
class ForgeAccess:
    """One forge API and its token: every review the engine previews is commented on there."""

    provider: str
    token: str
    api_url: str = ""

    @classmethod
    def configured(cls, config: ForgeConfig | None) -> ForgeAccess | None:
        """The access the configuration names, or None when it names no forge.

        Raises:
            ConfigError: a forge is named but no token is found for it.
        """
        if config is None:
            return None
        return cls(config.provider, config.resolved_token(), config.api_url)

    def open(self, repository: str, number: int) -> GitHubReview | GitLabReview:
        return open_review(
            self.provider, repository, number, token=self.token, base_url=self.api_url
        )


class PostedPreviews:
    """Plans a review's head (no lease, no apply), posts the sticky comments and the commit
    status, and keeps the previewed plans in a ledger.

    The default ledger is in memory: previewed plans are lost when the process stops, and
    nothing compares them with the plan at merge yet (see docs/previews.md).
    """

    def __init__(
        self, forge: ForgeAccess, *, sites: Sites, ledger: PreviewLedger | None = None
    ) -> None:
        self.forge = forge
        self.sites = sites
        self.ledger = ledger or MemoryLedger()

    def preview(self, tenant: str, mirror: RepositoryMirror, head: ReviewHead) -> list[Preview]:
        """Preview every environment of the repository that ``head`` changes against ``base``.

        Raises:
            PlatformError: the forge refused or failed; a TransientError is worth a retry.
            ConfigError: an environment names a site the engine has no connection for.
        """
        previewer = Previewer(tenant, source=mirror, observe=self.sites, ledger=self.ledger)
        with self.forge.open(head.repository, head.number) as review:
            previews = previewer.preview(head, review)
        log.info("preview.posted", tenant=tenant, repository=head.repository,
                 review=head.number, environments=len(previews))  # fmt: skip
        return previews
