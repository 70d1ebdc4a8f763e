"""Adopting repositories registered through the tenant API into a running engine: each
registration's webhook secret, Git token and forge token are read from Vault under its tenant's
mount, its environments are followed like configured ones, and its previews are posted to the
forge it names (``Forges.set``). ``rxt serve`` starts the refresher.

A registration that cannot be adopted yet (its secret is missing, Vault is down) is skipped
with a ``registration.skipped`` event and tried again at the next refresh; the engine goes on.
A changed registration is adopted again whole; a deleted one is dropped (``Engine.remove_source``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import ConfigError, RxtError
from core.logs import get_logger
from core.secrets import SecretSource
from reconciler.mirrors import RepositoryMirror, TokenAuth
from reconciler.notifying import Guarded, UrlCheck
from reconciler.scoping import TenantScope
from reconciler.wiring.config import EngineConfig
from reconciler.wiring.engine import REVIEW_REFSPECS, Engine, Source
from reconciler.wiring.reviews import ForgeAccess
from reconciler.workers import RECONCILE, item_key
from state.registrations import RegisteredRepository, registered_repositories

log = get_logger()

# The reconciler reads an environment from this folder only (``reconciler.trees``).
ENVIRONMENTS_FOLDER = "environments"


def repository_name(url: str) -> str:
    """The name webhooks give the repository at ``url``: its path without ``.git``, which is
    ``owner/name`` on GitHub and ``group/subgroup/project`` on GitLab."""
    path = urlsplit(url).path if "://" in url else url.partition(":")[2]
    path = path.strip("/")
    return path.removesuffix(".git").strip("/")


def environment_folder(name: str) -> str:
    """Where the reconciler reads environment ``name`` in a repository."""
    return f"{ENVIRONMENTS_FOLDER}/{name}"


@dataclass(frozen=True)
class _Adopted:
    """What one adopted registration resolved to; compared to notice a rotated secret."""

    source: Source
    token: str
    forge: ForgeAccess | None = None


class RegistrationRefresher:
    """Reads the registrations from the store, resolves their secrets and hands each one to
    ``Engine.add_source``: at start, every ``interval`` seconds, and at once after ``wake``.

    Args:
        engine: the running engine; its Vault secret source reads the references.
        cache_dir: where the bare mirrors live (the configuration's ``cache_dir``).
        interval: seconds between refreshes.
        secrets: the secret source, when not the engine's.
        read: the registrations, when not read from the engine's store.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        cache_dir: Path,
        interval: float,
        secrets: SecretSource | None = None,
        read: Callable[[], Sequence[RegisteredRepository]] | None = None,
    ) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self.interval = interval
        self.secrets = secrets if secrets is not None else engine.sites.secrets
        self._read = read or (lambda: registered_repositories(engine.store.database))
        self.adopted: dict[int, _Adopted] = {}  # by repository id
        # Checks a registered forge's API URL before each use (``rxt serve`` sets the tenant
        # API's URL rules); None checks nothing more than the registration did.
        self.url_check: UrlCheck | None = None
        # And sends a registered forge's requests only to the addresses it checked.
        self.guarded: Guarded | None = None
        self._skipped: dict[int, str] = {}  # the last reason, so a refresh logs a change only
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def configured(cls, engine: Engine, config: EngineConfig) -> RegistrationRefresher | None:
        """The refresher ``rxt serve`` runs, or None when ``registrations_refresh_seconds``
        is 0 (registered repositories are then not adopted)."""
        seconds = config.registrations_refresh_seconds
        if seconds <= 0:
            return None
        return cls(engine, cache_dir=config.cache_dir, interval=seconds)

    # -- one refresh ----------------------------------------------------------------------------

    def refresh(self) -> list[str]:
        """Adopt every registration not yet adopted or changed since, and drop those deleted;
        returns the names of the repositories adopted or dropped."""
        registrations = list(self._read())
        changed = self._drop_deleted({r.repository_id for r in registrations})
        for registration in registrations:
            try:
                name = self._refresh_one(registration)
            except RxtError as error:
                self._skip(registration, error)
                continue
            self._skipped.pop(registration.repository_id, None)
            if name:
                changed.append(name)
        return changed

    def _refresh_one(self, registration: RegisteredRepository) -> str:
        name = repository_name(registration.url)
        self._check_claims(registration, name)
        _check_folders(registration)
        secret, token = self._resolve(registration)
        forge = self._forge(registration)
        source = Source(
            name, self._mirror(registration, token), registration.tenant,
            tuple(sorted(registration.environments)), registration.branch, (secret,),
            fence=TenantScope(self.engine.store.database, registration.tenant),
            notify=(registration.notify_url,) if registration.notify_url else (),
        )  # fmt: skip
        previous = self.adopted.get(registration.repository_id)
        adopted = _Adopted(source, token, forge)
        if previous is not None and _same(previous, adopted):
            return ""
        if previous is not None:
            # Replaced whole, so environments removed from the registration lose their targets
            # and schedules (and the repository its forge); the kept ones get theirs back below.
            self.engine.remove_source(previous.source.name)
        self.engine.add_source(source)
        self.engine.forges.set(name, forge)
        self.adopted[registration.repository_id] = adopted
        log.info("registration.adopted", tenant=registration.tenant, repository=name,
                 environments=list(source.environments), updated=previous is not None)  # fmt: skip
        before = previous.source.environments if previous is not None else ()
        self._schedule(source, new=[env for env in source.environments if env not in before])
        return name

    def _drop_deleted(self, present: set[int]) -> list[str]:
        """Stop following the adopted registrations that are no longer stored."""
        dropped = []
        for repository_id in sorted(set(self.adopted) - present):
            source = self.adopted.pop(repository_id).source
            if self.engine.sources.get(source.name) is source:
                self.engine.remove_source(source.name)
            log.info("registration.dropped", tenant=source.tenant, repository=source.name,
                     environments=list(source.environments))  # fmt: skip
            dropped.append(source.name)
        for repository_id in set(self._skipped) - present:
            self._skipped.pop(repository_id)
        return dropped

    def _check_claims(self, registration: RegisteredRepository, name: str) -> None:
        """Refuse a webhook name or an environment already followed for someone else: the
        configuration file wins, then the registration adopted first."""
        if not name:
            raise ConfigError(
                f"repository {registration.url}: its URL has no path to name it by",
                hint="register the repository's clone URL, e.g. https://host/owner/name.git",
            )
        ours = self.adopted.get(registration.repository_id)
        held = self.engine.sources.get(name)
        if held is not None and (ours is None or held is not ours.source):
            raise ConfigError(
                f"repository {registration.url}: the name {name!r} is already followed "
                f"(tenant {held.tenant})",
                hint="the configuration file or an earlier registration has it; remove one",
            )
        for env in registration.environments:
            key = item_key(registration.tenant, env)
            if key in self.engine.targets and (ours is None or env not in ours.source.environments):
                raise ConfigError(
                    f"environment {key} of {registration.url} is already followed",
                    hint="the engine configuration names it; drop it there or here",
                )

    def _resolve(self, registration: RegisteredRepository) -> tuple[str, str]:
        """The webhook secret and the Git token, read under the registration's own tenant."""
        if self.secrets is None:
            raise ConfigError(
                f"repository {registration.url}: its secrets are in Vault, and the engine has "
                "no Vault connection",
                hint="add a vault section (address and token) to the engine configuration",
            )
        tenant = registration.tenant
        secret = self.secrets.read(registration.webhook_secret_ref, tenant=tenant)
        credentials = registration.credentials_ref
        token = self.secrets.read(credentials, tenant=tenant) if credentials else ""
        return secret, token

    def _forge(self, registration: RegisteredRepository) -> ForgeAccess | None:
        """The registration's own forge with its token read under the registration's tenant;
        None sends its previews to the engine-wide forge."""
        forge = registration.forge
        if forge is None or self.secrets is None:  # no Vault: ``_resolve`` has refused already
            return None
        token = self.secrets.read(forge.token_ref, tenant=registration.tenant)
        return ForgeAccess(
            forge.provider, token, forge.api_url, check=self.url_check, guarded=self.guarded
        )

    def _mirror(self, registration: RegisteredRepository, token: str) -> RepositoryMirror:
        previous = self.adopted.get(registration.repository_id)
        if previous is not None and previous.token == token:
            return previous.source.mirror  # the same remote and credentials: keep the mirror
        return RepositoryMirror(
            registration.url, cache_dir=self.cache_dir,
            credentials=TokenAuth(token) if token else None, extra_refspecs=REVIEW_REFSPECS,
        )  # fmt: skip

    def _schedule(self, source: Source, *, new: Sequence[str]) -> None:
        """Fetch the adopted repository and set each environment's drift schedule, as
        ``Engine.start`` does for configured ones; queue a sync of each environment followed
        for the first time (``new``) as a push would (``sync.auto: false`` only plans it)."""
        for env in new:
            payload = {"trigger": "push", "reason": "registered"}
            key = item_key(source.tenant, env)
            self.engine.store.queue.enqueue(RECONCILE, key=key, payload=payload)
        for env in source.environments:
            target = self.engine.targets[item_key(source.tenant, env)]
            try:
                head = self.engine.head_commit(target, "")
            except RxtError as error:
                log.warning("registration.unfetched", tenant=source.tenant, env=env,
                            repository=source.name, error=error.message)  # fmt: skip
                return
            self.engine.refresh_schedule(target, head)

    def _skip(self, registration: RegisteredRepository, error: RxtError) -> None:
        reason = error.render()
        repeated = self._skipped.get(registration.repository_id) == reason
        self._skipped[registration.repository_id] = reason
        event = log.debug if repeated else log.warning
        event("registration.skipped", tenant=registration.tenant, repository=registration.url,
              error=reason, adopted=registration.repository_id in self.adopted)  # fmt: skip

    # -- life -----------------------------------------------------------------------------------

    def wake(self) -> None:
        """Refresh at once (the tenant API calls this after a registration is stored, changed
        or deleted); never blocks."""
        self._wake.set()

    def start(self) -> None:
        """Refresh now and then every ``interval`` seconds on a thread, until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="rxt-registrations")
        self._thread.start()

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop the thread; a refresh in progress finishes first."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            # The thread must outlive a database or driver failure of one refresh; the next
            # refresh tries again.
            except Exception as error:
                log.warning("registrations.unread", error=f"{type(error).__name__}: {error}")
            self._wake.wait(self.interval)
            self._wake.clear()


def _check_folders(registration: RegisteredRepository) -> None:
    for env, path in sorted(registration.environments.items()):
        if path.strip("/") != environment_folder(env):
            raise ConfigError(
                f"environment {registration.tenant}/{env} of {registration.url} is registered "
                f"at {path!r}; the engine reads it only from {environment_folder(env)!r}",
                hint="move the environment's folder and register it again with that path",
            )


def _same(previous: _Adopted, current: _Adopted) -> bool:
    old, new = previous.source, current.source
    return (old.environments, old.branch, old.webhook_secrets, old.notify) == (
        new.environments, new.branch, new.webhook_secrets, new.notify,
    ) and (previous.token, previous.forge) == (current.token, current.forge)  # fmt: skip
