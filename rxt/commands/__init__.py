"""The command groups of ``rxt``; each module adds its commands to the app."""

from __future__ import annotations

import typer

from rxt.commands import apply, audit, db, demo, drift, plan, serve, tokens, validate


def register_all(app: typer.Typer) -> None:
    """Add every command group to ``app``; a command module joins by a line here."""
    apply.register(app)
    audit.register(app)
    db.register(app)
    demo.register(app)
    drift.register(app)
    plan.register(app)
    serve.register(app)
    tokens.register(app)
    validate.register(app)
