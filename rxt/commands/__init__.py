"""The command groups of ``rxt``; each module adds its commands to the app."""

from __future__ import annotations

import typer


def register_all(app: typer.Typer) -> None:
    """Add every command group to ``app``; a command module joins by a line here."""
    del app  # no command groups are wired in yet
