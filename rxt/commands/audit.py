"""``rxt audit``: verify the hash chains, read the log, export signed checkpoints.

Exit codes: 0 when every chain verifies, 4 when one is broken, 1 on any other error.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import ConfigError, RxtError
from rxt.commands.db import fail, open_configured_store
from state.audit import LogFilter, StoredEntry
from state.chain import body_object
from state.checkpoints import export_checkpoints, read_exported, stored_checkpoints
from state.verifying import ChainReport, verify_chains

EXIT_CHAIN_BROKEN = 4

app = typer.Typer(help="The hash-chained audit store.", no_args_is_help=True)
checkpoint_app = typer.Typer(help="Signed checkpoints of the audit chains.", no_args_is_help=True)
app.add_typer(checkpoint_app, name="checkpoint")


class Output(StrEnum):
    TEXT = "text"
    JSON = "json"


VERIFY_HELP = (
    "Recompute every audit chain and name the first bad entry; exit 4 when one is broken, "
    "0 when all verify.\n\n"
    "Each entry's hash is recomputed from its content and the previous entry's hash, the "
    "sequence is checked for gaps, the chain's end is compared with its head, and every "
    "signed checkpoint is compared with the chain.\n\n"
    "Limitation: someone who can write to the database can rewrite the tail of a chain and "
    "recompute every hash after the change. The chain alone cannot reveal that. Only signed "
    "checkpoints kept outside the database (written by `rxt audit checkpoint export`, given "
    "here with --checkpoints) catch it, and only up to the newest exported checkpoint."
)

OutputOption = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]


@app.command("verify", help=VERIFY_HELP)
def verify_command(
    *,
    tenant: Annotated[str, typer.Option(help="Verify only this tenant's chain.")] = "",
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Also check against checkpoints exported earlier to this file."),
    ] = None,
    output: OutputOption = Output.TEXT,
) -> None:
    try:
        outside = read_exported(checkpoints) if checkpoints else []
        store = open_configured_store()
    except RxtError as error:
        raise fail(error) from error
    try:
        reports = verify_chains(
            store.database, public_key=store.key.public, tenant=tenant or None, exported=outside
        )
    finally:
        store.close()
    if output is Output.JSON:
        typer.echo(json.dumps([_report_json(report) for report in reports], indent=2))
    else:
        for report in reports:
            typer.echo(_report_text(report))
        if not reports:
            typer.echo("no audit entries yet; nothing to verify")
    if not all(report.ok for report in reports):
        raise typer.Exit(EXIT_CHAIN_BROKEN)


def _report_text(report: ChainReport) -> str:
    if report.problem is not None:
        return f"{report.tenant}: BROKEN at entry {report.problem.seq}: {report.problem.reason}"
    return (
        f"{report.tenant}: ok, {report.entries} entries, head {report.last_seq} "
        f"({report.last_hash[:12]}), {report.checkpoints} stored and "
        f"{report.exported} exported checkpoints matched"
    )


def _report_json(report: ChainReport) -> dict[str, Any]:
    document = asdict(report)
    document["ok"] = report.ok
    return document


@app.command("log")
def log_command(
    *,
    tenant: Annotated[str, typer.Option(help="Only this tenant.")] = "",
    object_: Annotated[
        str, typer.Option("--object", help="Only objects whose name contains this.")
    ] = "",
    actor: Annotated[str, typer.Option(help="Only this actor.")] = "",
    since: Annotated[str, typer.Option(help="From this time (ISO 8601, UTC if no zone).")] = "",
    until: Annotated[str, typer.Option(help="Before this time (ISO 8601).")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 100,
    output: OutputOption = Output.TEXT,
) -> None:
    """Print audit entries, newest first, filtered by tenant, object, actor and time."""
    try:
        query = LogFilter(
            tenant=tenant,
            object=object_,
            actor=actor,
            since=_parse_time("--since", since),
            until=_parse_time("--until", until),
            limit=limit,
        )
        store = open_configured_store()
    except RxtError as error:
        raise fail(error) from error
    try:
        entries = store.audit.entries(query)
    finally:
        store.close()
    if output is Output.JSON:
        typer.echo(json.dumps([_entry_json(entry) for entry in entries], indent=2))
        return
    for entry in entries:
        typer.echo(_entry_text(entry))


def _parse_time(option: str, value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise ConfigError(
            f"{option} {value!r} is not a time",
            hint="write it as ISO 8601, e.g. 2026-12-03T09:30:00Z",
        ) from error
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _entry_json(entry: StoredEntry) -> dict[str, Any]:
    document = body_object(entry.fields)
    document["prev_hash"], document["hash"] = entry.prev_hash, entry.hash
    return document


def _entry_text(entry: StoredEntry) -> str:
    fields = entry.fields
    where = f" commit {fields.commit[:12]}" if fields.commit else ""
    plan = f" plan {fields.plan_id}" if fields.plan_id else ""
    return (
        f"{fields.at.isoformat(timespec='seconds')} {fields.tenant} #{fields.seq} "
        f"{fields.actor} {fields.action} {fields.object}{where}{plan}"
    )


@checkpoint_app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="Where to write the checkpoints (JSON).")],
    tenant: Annotated[str, typer.Option(help="Only this tenant's checkpoints.")] = "",
) -> None:
    """Write every signed checkpoint and the public key to FILE.

    Keep the file where the database's owner cannot rewrite it (a Git ref, WORM storage) and
    give it to `rxt audit verify --checkpoints FILE`.
    """
    try:
        store = open_configured_store()
    except RxtError as error:
        raise fail(error) from error
    try:
        with store.database.read() as session:
            checkpoints = stored_checkpoints(session, tenant=tenant or None)
        count = export_checkpoints(file, checkpoints, public_key=store.key.public)
    finally:
        store.close()
    typer.echo(f"wrote {count} checkpoints to {file}")


def register(root: typer.Typer) -> None:
    """Add ``rxt audit`` to the command line."""
    root.add_typer(app, name="audit")
