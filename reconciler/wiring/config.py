"""The engine's configuration file (YAML): repositories and their environments, platform
connections by site name, Vault, the forge previews post to (engine-wide or per repository),
notifications, workers, and how often registered repositories are adopted. Read by
``rxt serve --config``.

Pydantic stops here, at the boundary; the engine is built from the checked model
(``reconciler.wiring.engine``). Secret values in the file are registered for redaction.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError
from core.logs import register_secret


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KubernetesConnection(_Model):
    kubeconfig: Path | None = None
    url: str = Field(default="", description="An API server URL without auth (simulators).")


class VsphereConnection(_Model):
    host: str
    port: int = 443
    user: str
    password: str
    protocol: str = "https"
    verify_tls: bool = True


class NsxConnection(_Model):
    url: str
    username: str
    password: str
    verify: bool = True
    realization_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often an apply asks NSX whether what it wrote is realized.",
    )


class VaultConnection(_Model):
    address: str
    token: str


class ForgeConfig(_Model):
    """Where pull request previews are posted: one GitHub or GitLab API and its token."""

    provider: Literal["github", "gitlab"]
    api_url: str = Field(default="", description="'' is the public service's API.")
    token: str = ""
    token_env: str = Field(default="", description="The environment variable holding the token.")
    on_stale_merge: Literal["hold", "apply"] = Field(
        default="hold",
        description="When the plan at a merge is not the previewed one: hold its changes until "
        "a person approves the new plan (hold), or apply the new plan at once (apply).",
    )

    def resolved_token(self) -> str:
        """The token, from the file or from ``token_env``.

        Raises:
            ConfigError: neither gives a token.
        """
        token = self.token or (os.environ.get(self.token_env, "") if self.token_env else "")
        if not token:
            where = f"the environment variable {self.token_env}" if self.token_env else "forge"
            raise ConfigError(
                f"forge ({self.provider}): no token in {where}",
                hint="set forge.token, or forge.token_env to a variable holding the token",
            )
        register_secret(token)
        return token


class RepositoryConfig(_Model):
    url: str = Field(description="The remote: https://, ssh://, file:// or a local path.")
    name: str = Field(description="owner/name, as webhooks name the repository.")
    tenant: str
    branch: str = "main"
    environments: list[str] = Field(min_length=1)
    webhook_secrets: list[str] = Field(default_factory=list)
    token: str = ""
    poll_seconds: float = Field(default=0, ge=0, description="0: rely on webhooks only.")
    forge: ForgeConfig | None = Field(
        default=None, description="Where this repository's previews post; None: the engine's."
    )


class EngineConfig(_Model):
    """The whole file."""

    cache_dir: Path = Field(description="Where the bare mirrors of the repositories live.")
    repositories: list[RepositoryConfig] = Field(default_factory=list)
    kubernetes: dict[str, KubernetesConnection] = Field(default_factory=dict)
    vsphere: dict[str, VsphereConnection] = Field(default_factory=dict)
    nsx: dict[str, NsxConnection] = Field(default_factory=dict)
    vault: VaultConnection | None = None
    forge: ForgeConfig | None = Field(default=None, description="None: previews are not posted.")
    notify: list[str] = Field(default_factory=list, description="Chat webhook URLs.")
    workers: int = Field(default=2, ge=1, le=64)
    drift_schedule: bool = True
    registrations_refresh_seconds: float = Field(
        default=30,
        ge=0,
        description="How often repositories registered through the tenant API are read and "
        "adopted; 0: they are not adopted.",
    )
    preview_retention_days: int = Field(
        default=90,
        ge=0,
        description="How long the preview ledger keeps previews, merges and settled verdicts "
        "(a verdict holding changes stays); 0: kept for ever.",
    )


def _secrets(config: EngineConfig) -> list[str]:
    found = [s for r in config.repositories for s in (*r.webhook_secrets, r.token) if s]
    found += [c.password for c in config.vsphere.values()]
    found += [c.password for c in config.nsx.values()]
    found += [config.vault.token] if config.vault else []
    forges = [config.forge, *(r.forge for r in config.repositories)]
    found += [forge.token for forge in forges if forge is not None and forge.token]
    return found


def parse_config(data: Any, *, source: str = "config") -> EngineConfig:
    """Check a parsed configuration document.

    Raises:
        ConfigError: the document does not match; the message names the field.
    """
    try:
        config = EngineConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"{source}: {where}: {first['msg']}",
            hint="see docs/reconciler.md for the engine configuration file",
        ) from None
    for secret in _secrets(config):
        register_secret(secret)
    return config


def load_config(path: Path) -> EngineConfig:
    """Read and check the configuration file at ``path``.

    Raises:
        ConfigError: it cannot be read or is not valid.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(
            f"{path}: cannot read the engine configuration: {error}",
            hint="pass a readable YAML file to --config",
        ) from error
    return parse_config(data, source=str(path))
