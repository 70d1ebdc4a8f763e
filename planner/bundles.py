"""Policy bundles: the built-in Rego packs an environment enables plus the tenant's own files,
compiled once, and the Rego unit tests (``test_`` rules) that ``rxt policy test`` runs.

Called by ``planner.policy`` and ``rxt policy test``. Built-in packs are found in an installed
wheel (``planner/_policies/rego``) first, then in the source tree (``policies/rego``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import regorus

from core.errors import ConfigError
from planner.fields import spec_digest

BUILTIN_PACKS = ("baseline", "pci-dss", "hipaa", "soc2", "placement")
TEST_SUFFIX = "_test.rego"
# A package line names where a file's rules live; tenant files are grouped by it.
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][A-Za-z0-9_.]*)", re.MULTILINE)


def builtin_directory() -> Path:
    """The directory holding the built-in packs.

    Raises:
        ConfigError: neither the wheel's copy nor the source tree's is present.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_policies" / "rego", here.parent / "policies" / "rego"):
        if (candidate / "baseline.rego").is_file():
            return candidate
    raise ConfigError(
        "the built-in Rego policies are missing (planner/_policies/rego or policies/rego)",
        hint="reinstall rxt-deploy; the wheel must include its policies",
    )


def package_path(pack: str) -> str:
    """The Rego data path of a built-in pack: ``pci-dss`` lives at ``data.rxt.pci_dss``."""
    return "data.rxt." + pack.replace("-", "_")


def packages_of(source: str) -> list[str]:
    """The ``data.`` paths of the packages a Rego file declares."""
    return ["data." + name for name in _PACKAGE.findall(source)]


@dataclass(frozen=True)
class Bundle:
    """The Rego sources of one evaluation and where their rules live.

    Attributes:
        files: file name to Rego source, built-in packs under ``builtin/``, the tenant's under
            ``tenant/``.
        packs: pack name to its data path; tenant packages are named ``tenant:<package>``.
    """

    files: Mapping[str, str]
    packs: Mapping[str, str]

    @cached_property
    def digest(self) -> str:
        """The digest recorded in each plan: any edit to any file changes it."""
        return spec_digest(dict(self.files))


def _read_pack(directory: Path, pack: str) -> str:
    path = directory / f"{pack}.rego"
    if not path.is_file():
        raise ConfigError(
            f"policy pack '{pack}' has no file {pack}.rego", hint="name a built-in pack"
        )
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=16)
def _builtin_sources(packs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    directory = builtin_directory()
    return tuple((f"builtin/{pack}.rego", _read_pack(directory, pack)) for pack in packs)


def build_bundle(packs: Iterable[str], tenant_files: Mapping[str, str]) -> Bundle:
    """The bundle for an environment: its packs (placement always) and the tenant's files.

    Tenant files whose names end in ``_test.rego`` are Rego tests and are left out.
    """
    chosen = tuple(dict.fromkeys(["placement", *packs]))
    files = dict(_builtin_sources(chosen))
    where = {pack: package_path(pack) for pack in chosen}
    for name in sorted(tenant_files):
        if name.endswith(TEST_SUFFIX):
            continue
        source = tenant_files[name]
        files[f"tenant/{name}"] = source
        for path in packages_of(source):
            if path not in where.values():  # rules added to a built-in pack count with it
                where.setdefault(f"tenant:{path.removeprefix('data.')}", path)
    return Bundle(files=files, packs=where)


@dataclass(frozen=True)
class Compiled:
    """An engine with a bundle loaded, or the error that stopped it loading."""

    engine: regorus.Engine | None
    error: str


def error_text(error: BaseException) -> str:
    """A regorus error without the native backtrace, short enough for a plan."""
    text = str(error).split("Stack backtrace:")[0].strip()
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines)[:400] or type(error).__name__


# Compiled engines, one cache per thread. A regorus engine belongs to the thread that made it:
# using or even dropping it on another thread panics inside the extension. Keeping each
# thread's engines in its own thread-local cache means no engine ever crosses threads, and a
# thread's engines are dropped with it, on it.
_COMPILED = threading.local()
_COMPILED_KEPT = 32


def _compile(items: tuple[tuple[str, str], ...]) -> Compiled:
    kept: dict[tuple[tuple[str, str], ...], Compiled] = _COMPILED.__dict__.setdefault("kept", {})
    compiled = kept.get(items)
    if compiled is None:
        if len(kept) >= _COMPILED_KEPT:
            kept.clear()
        compiled = kept[items] = _compile_now(items)
    return compiled


def release_compiled() -> None:
    """Drop this thread's compiled engines, on this thread (see ``policy.release_engines``)."""
    _COMPILED.__dict__.clear()


def _compile_now(items: tuple[tuple[str, str], ...]) -> Compiled:
    engine = regorus.Engine()
    try:
        for name, source in items:
            engine.add_policy(name, source)
    except RuntimeError as error:
        return Compiled(None, f"policy files do not load: {error_text(error)}")
    return Compiled(engine, "")


def compile_bundle(bundle: Bundle) -> Compiled:
    """The bundle's engine, compiled once per distinct set of sources and cloned per use."""
    return _compile(tuple(sorted(bundle.files.items())))


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
