"""Pull request previews in the engine: the forge they post to (the ``forge`` section of the
configuration, a configured repository's own, or one a registration names) and the run of
``Previewer`` for one review. ``Engine.handle_preview`` calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from core.errors import ConfigError, PlatformError, RxtError
from core.logs import get_logger
from planner.plans import Plan
from reconciler.forges import GitHubReview, GitLabReview, open_review
from reconciler.mirrors import RepositoryMirror
from reconciler.notifying import Guarded, UrlCheck
from reconciler.previews import Preview, Previewer, PreviewLedger, ReviewHead
from reconciler.reconciling import Fence
from reconciler.sites import Sites
from reconciler.wiring.config import ForgeConfig

log = get_logger()


@dataclass(frozen=True)
class ForgeAccess:
    """One forge API and its token: every review the engine previews is commented on there."""

    provider: str
    token: str
    api_url: str = ""
    # What a merge whose plan is not the previewed one gets: held changes, or applied ones.
    on_stale_merge: Literal["hold", "apply"] = "hold"
    # A forge a tenant named: its API URL is checked again before each review is opened, since
    # its name may resolve to a private address now, and its requests go through ``guarded``,
    # which connects only to the addresses checked. None for the operator's own forges.
    check: UrlCheck | None = field(default=None, compare=False)
    guarded: Guarded | None = field(default=None, compare=False)

    @classmethod
    def configured(cls, config: ForgeConfig | None) -> ForgeAccess | None:
        """The access the configuration names, or None when it names no forge.

        Raises:
            ConfigError: a forge is named but no token is found for it.
        """
        if config is None:
            return None
        return cls(config.provider, config.resolved_token(), config.api_url, config.on_stale_merge)

    def open(self, repository: str, number: int) -> GitHubReview | GitLabReview:
        """The client of review ``number`` of ``repository`` on this forge.

        Raises:
            PlatformError: the forge's API URL may no longer be reached (``check``).
        """
        if self.check is not None and self.api_url:
            try:
                self.check(self.api_url)
            except RxtError as error:
                raise PlatformError(
                    f"repository {repository}: its forge API is refused: {error.message}",
                    hint="change the registration's forge.apiUrl, or ask the operator to "
                    "allow the host",
                    resource=f"{repository}#{number}",
                ) from None
        guarded = self.guarded
        client = httpx.Client(transport=guarded(), timeout=10.0) if guarded is not None else None
        return open_review(
            self.provider, repository, number, token=self.token, base_url=self.api_url,
            client=client,
        )  # fmt: skip


@dataclass(frozen=True)
class Forges:
    """The forge each repository's previews post to: its own when the configuration file or its
    registration names one (the file wins), else the engine-wide one; None for a repository
    with none of these."""

    default: ForgeAccess | None = None
    repositories: Mapping[str, ForgeAccess] = field(default_factory=dict)
    # Set at run time by ``set``: the registration refresher's thread writes, workers read, and
    # one dict assignment or lookup is atomic, so no lock is needed.
    _registered: dict[str, ForgeAccess] = field(default_factory=dict, init=False, repr=False)

    def of(self, repository: str) -> ForgeAccess | None:
        own = self.repositories.get(repository) or self._registered.get(repository)
        return own if own is not None else self.default

    def configured(self) -> bool:
        return self.default is not None or bool(self.repositories) or bool(self._registered)

    def set(self, repository: str, access: ForgeAccess | None) -> None:
        """Give ``repository`` its own forge from now on (a registration names one), or with
        None stop doing so; a forge from the configuration file is never replaced."""
        if access is None:
            self._registered.pop(repository, None)
        else:
            self._registered[repository] = access


class PostedPreviews:
    """Plans a review's head (no lease, no apply), posts the sticky comments and the commit
    status, and keeps the previewed plans in ``ledger``: the engine's is the state store's
    (``StoredLedger``), which ``reconciler.merging`` reads when the review is merged.
    """

    def __init__(
        self,
        forge: ForgeAccess | Forges,
        *,
        sites: Sites,
        ledger: PreviewLedger,
    ) -> None:
        self.forges = forge if isinstance(forge, Forges) else Forges(forge)
        self.sites = sites
        self.ledger = ledger

    def preview(
        self,
        tenant: str,
        mirror: RepositoryMirror,
        head: ReviewHead,
        *,
        followed: Collection[str] | None = None,
        fence: Fence | None = None,
        record: Callable[[Plan], None] | None = None,
    ) -> list[Preview]:
        """Preview every environment of the repository that ``head`` changes against ``base``
        and the engine follows (all when ``followed`` is None), each checked by ``fence`` and
        stored by ``record`` before its comment is posted.

        Raises:
            PlatformError: the forge refused or failed; a TransientError is worth a retry.
            ConfigError: an environment names a site the engine has no connection for, or no
                forge is configured for the repository.
        """
        forge = self.forges.of(head.repository)
        if forge is None:
            raise ConfigError(
                f"repository {head.repository}: no forge to post its previews to",
                hint="add a forge section to the repository or to the engine configuration",
            )
        previewer = Previewer(
            tenant, source=mirror, observe=self.sites, ledger=self.ledger, fence=fence,
            followed=followed, record=record,
        )  # fmt: skip
        with forge.open(head.repository, head.number) as review:
            previews = previewer.preview(head, review)
        log.info("preview.posted", tenant=tenant, repository=head.repository,
                 review=head.number, environments=len(previews))  # fmt: skip
        return previews
