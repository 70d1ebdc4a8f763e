"""Run every ``benchmarks/bench_*.py`` module and print one table of bars."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks.harness import Row


def main(selected: list[str]) -> int:
    console = Console()
    rows: list[Row] = []
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        if selected and not any(name in info.name for name in selected):
            continue
        console.print(f"[bold]running {info.name}[/]")
        try:
            module = importlib.import_module(f"benchmarks.{info.name}")
            rows.extend(module.run())
        except Exception:  # a broken benchmark is reported as a failed row, the rest still run
            console.print(traceback.format_exc())
            rows.append(Row(info.name, "crashed", "see the traceback above", "-", passed=False))
    table = Table(title="RXT Deploy benchmarks")
    for column in ("bar", "what", "figures", "target", "met"):
        table.add_column(column)
    for row in rows:
        met = "[green]yes[/]" if row.passed else "[red]no[/]"
        table.add_row(row.bar, row.what, row.figures, row.target, met)
    console.print(table)
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
