"""The engine's settings, read from ``RXT_*`` environment variables.

The command line reads them once and hands plain values to the parts below; nothing under
``state/`` or ``reconciler/`` reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "rxt"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """Where state lives and how the audit chain is checkpointed.

    Every field reads ``RXT_<NAME>`` (``RXT_DATABASE_URL``, ``RXT_DATA_DIR``, ...).
    """

    model_config = SettingsConfigDict(env_prefix="RXT_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; default: a SQLite file rxt.db in the data directory",
    )
    audit_signing_key: Path | None = Field(
        default=None,
        description="Ed25519 PEM key signing checkpoints; default: made on first start in "
        "the data directory",
    )
    checkpoint_every_entries: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=300.0, gt=0)
    nats_url: str | None = None
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts, host:port pairs or networks (CIDR) that repository and notification "
        "URLs may name although they are private; comma-separated",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="Let repository and notification URLs reach loopback, link-local and "
        "private addresses; for a lab with one trusted tenant only",
    )
    allowed_url_schemes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["https", "http"],
        description="URL schemes repositories and notifications may use; comma-separated",
    )

    @field_validator("allowed_hosts", "allowed_url_schemes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'rxt.db'}"
        if self.audit_signing_key is None:
            self.audit_signing_key = self.data_dir / "audit-signing-key.pem"
        return self

    @property
    def signing_key_path(self) -> Path:
        """The signing key's path, always set once the settings are read."""
        if self.audit_signing_key is None:  # filled in by the validator above
            raise ValueError("settings were not validated")
        return self.audit_signing_key
