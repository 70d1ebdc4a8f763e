"""Rego unit tests: every ``test_`` rule of the ``*_test.rego`` files, run in-process by regorus.

Called by ``rxt policy test`` and the test suite, for the built-in packs and a tenant's policies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import regorus

from planner.bundles import TEST_SUFFIX, builtin_directory, error_text, packages_of

_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]+)\b", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RegoTest:
    """The outcome of one test rule."""

    file: str
    rule: str
    passed: bool
    error: str = ""


def read_directory(directory: Path) -> dict[str, str]:
    """Every ``.rego`` file of a directory, by file name."""
    return {
        path.name: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.rego"))
    }


def builtin_sources() -> dict[str, str]:
    """The built-in packs and their tests."""
    return read_directory(builtin_directory())


def _run_one(engine: regorus.Engine, package: str, rule: str) -> tuple[bool, str]:
    try:
        answer = json.loads(engine.eval_query_as_json(f"{package}.{rule}"))
    except RuntimeError as error:
        return False, error_text(error)
    rows = answer.get("result", []) if isinstance(answer, dict) else []
    if rows and rows[0]["expressions"][0]["value"] is True:
        return True, ""
    return False, "the rule is not true"


def run_tests(sources: Mapping[str, str]) -> list[RegoTest]:
    """Load every file of ``sources`` together and run the test rules of the test files.

    A file that does not load fails as one test named ``(load)``.
    """
    engine = regorus.Engine()
    for name in sorted(sources):
        try:
            engine.add_policy(name, sources[name])
        except RuntimeError as error:
            return [RegoTest(name, "(load)", passed=False, error=error_text(error))]
    outcomes = []
    for name in sorted(sources):
        if not name.endswith(TEST_SUFFIX):
            continue
        source = sources[name]
        packages = packages_of(source)
        if len(packages) != 1:
            outcomes.append(RegoTest(name, "(package)", passed=False, error="one package per file"))
            continue
        for rule in dict.fromkeys(_TEST_RULE.findall(source)):
            passed, problem = _run_one(engine, packages[0], rule)
            outcomes.append(RegoTest(name, rule, passed, problem))
    return outcomes
