"""Bar P10 of BENCHMARKS.md: parse, validate and hash a deploy.yaml just under 1 MiB, and
refuse an alias bomb, both through ``planner.loading.parse_manifest``."""

from __future__ import annotations

import os
from collections.abc import Callable

from benchmarks.harness import Row, best_of
from core.errors import ManifestError
from core.hashing import digest
from planner import sourcemap
from planner.loading import parse_manifest
from planner.sourcemap import MAX_BYTES, parser_in_use

HEAD = """\
apiVersion: deploy.rxt.io/v1
kind: Application
metadata:
  name: big
  labels: {team: bench}
spec:
  image: registry.example.com/acme/big@sha256:{digest}
  replicas: 3
  ports:
    - {name: http, port: 8080}
  expose: {host: big.example.com, port: http, tls: true}
  env:
"""
TARGET = MAX_BYTES - 4096  # just under the limit, whatever the last line's length


def big_manifest(*, value_size: int) -> str:
    """A valid deploy.yaml of about ``TARGET`` bytes: env entries with values of one size."""
    head = HEAD.replace("{digest}", "4f1c0e0b" * 8)
    lines = [head]
    size, index = len(head), 0
    while size < TARGET:
        line = f"    VAR_{index}: {'v' * value_size}\n"
        lines.append(line)
        size += len(line)
        index += 1
    return "".join(lines)


def alias_bomb() -> str:
    """Nine levels of nine aliases: a billion strings if anything expanded it."""
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        levels.append(f"a{level}: &a{level} [{refs}]")
    return "apiVersion: deploy.rxt.io/v1\nkind: Application\n" + "\n".join(levels) + "\n"


def _parse_validate_hash(text: str) -> Callable[[], str]:
    def work() -> str:
        model = parse_manifest(text, path="deploy.yaml")
        return digest(model.model_dump(mode="json", by_alias=True))

    return work


def _refuse(text: str) -> None:
    try:
        parse_manifest(text, path="bomb.yaml")
    except ManifestError:
        return
    raise AssertionError("the alias bomb was accepted")


def _pure_python_seconds(text: str) -> float:
    """The same work with ruamel.yaml's pure Python parser: what a machine without
    ruamel.yaml.clib gets."""
    original, sourcemap._C_PARSER = sourcemap._C_PARSER, None
    try:
        return best_of(2, _parse_validate_hash(text))
    finally:
        sourcemap._C_PARSER = original


def _size_row(text: str, *, shape: str, parser: str, compare: bool) -> Row:
    seconds = best_of(5, _parse_validate_hash(text))
    entries = text.count("\n    VAR_")
    figures = (
        f"{len(text.encode())} bytes, {entries} env entries, {seconds * 1000:.1f} ms "
        f"with the {parser} parser"
    )
    if compare and parser != "pure Python":
        figures += f" ({_pure_python_seconds(text) * 1000:.0f} ms with the pure Python one)"
    figures += f"; load average {os.getloadavg()[0]:.1f}"
    return Row(
        "P10",
        f"parse+validate+hash deploy.yaml, {shape}",
        figures,
        "<= 200 ms",
        passed=seconds <= 0.200,
    )


def run() -> list[Row]:
    parser = parser_in_use()
    rows = [
        _size_row(
            big_manifest(value_size=200),
            shape="4.9k env values of 200 chars",
            parser=parser,
            compare=True,
        ),
        # The worst shape for an event parser: as many tiny nodes as 1 MiB can hold.
        _size_row(
            big_manifest(value_size=12),
            shape="37k env values of 12 chars (worst case)",
            parser=parser,
            compare=False,
        ),
    ]
    bomb = alias_bomb()
    seconds = best_of(20, lambda: _refuse(bomb))
    rows.append(
        Row(
            "P10",
            "reject an alias bomb (9 levels x 9 aliases)",
            f"{len(bomb)} bytes, refused in {seconds * 1000:.2f} ms",
            "<= 50 ms",
            passed=seconds <= 0.050,
        )
    )
    return rows
