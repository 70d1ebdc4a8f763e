"""Policy evaluation: Rego deny, warn and forbid rules run in-process by regorus, failing closed.

Called by ``planner.plans`` and ``rxt explain``. Enforcement is per pack: advisory (reported),
soft-mandatory (blocks unless overridden, recording who and why) and hard-mandatory (blocks).
Any load or evaluation error is a hard denial. Placement constraints (``forbid``) may veto the
target the decision matrix chose, never change it.
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from planner.bundles import Bundle, compile_bundle, error_text, release_compiled
from planner.placement import Placement

EVALUATION_ERROR = "policy.evaluation-error"
RULE_KINDS = ("deny", "warn")


class Enforcement(enum.StrEnum):
    """How much a pack's denials weigh."""

    ADVISORY = "advisory"
    SOFT_MANDATORY = "soft-mandatory"
    HARD_MANDATORY = "hard-mandatory"


@dataclass(frozen=True, slots=True)
class PolicyOverride:
    """A person's decision to let a soft-mandatory denial pass: which rule, who, and why."""

    rule: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """One deny or warn result of one rule."""

    pack: str
    rule: str
    message: str
    severity: str
    enforcement: Enforcement
    app: str = ""
    override: PolicyOverride | None = None

    @property
    def blocking(self) -> bool:
        """True when this result stops the plan from being applied."""
        if self.severity != "deny" or self.enforcement is Enforcement.ADVISORY:
            return False
        return self.enforcement is Enforcement.HARD_MANDATORY or self.override is None


@dataclass(frozen=True)
class PolicyReport:
    """Every result of one evaluation, and the digest of the bundle that produced them."""

    results: tuple[PolicyResult, ...]
    bundle_digest: str

    @property
    def denied(self) -> bool:
        """True when any result blocks."""
        return any(result.blocking for result in self.results)

    def count(self, severity: str) -> int:
        """How many results of ``severity`` (deny or warn) there are."""
        return sum(result.severity == severity for result in self.results)


def failure(pack: str, message: str) -> PolicyResult:
    """The denial that stands for a policy that could not be evaluated: fail closed."""
    return PolicyResult(
        pack=pack,
        rule=EVALUATION_ERROR,
        message=message,
        severity="deny",
        enforcement=Enforcement.HARD_MANDATORY,
    )


Answers = dict[str, dict[str, Any]]
"""Each pack's rule values (``deny``, ``warn``, ``forbid`` ...), by pack name."""


def _value(raw: str) -> Any:
    """The value of a query answer, or ``None`` when it is undefined."""
    answer = json.loads(raw)
    rows = answer.get("result", []) if isinstance(answer, dict) else []
    return rows[0]["expressions"][0]["value"] if rows else None


# Engines by bundle digest, one set per thread: an engine is not safe to share between threads,
# and a fresh clone pays several milliseconds on its first query, so each thread keeps its own.
_ENGINES = threading.local()
_ENGINES_KEPT = 16


def release_engines() -> None:
    """Drop this thread's policy engines, compiled and prepared, on this thread.

    A long-lived thread that plans (the reconciler's planning thread) calls this before the
    process ends; otherwise its engines are dropped at interpreter exit from the main thread,
    which regorus refuses with an error on standard error.
    """
    _ENGINES.__dict__.clear()
    release_compiled()


def _engine(bundle: Bundle) -> tuple[Any, str]:
    compiled = compile_bundle(bundle)
    if compiled.engine is None:
        return None, compiled.error
    kept: dict[str, Any] = _ENGINES.__dict__.setdefault("by_digest", {})
    engine = kept.get(bundle.digest)
    if engine is None:
        if len(kept) >= _ENGINES_KEPT:
            kept.clear()
        engine = kept[bundle.digest] = compiled.engine.clone()
    return engine, ""


def prepared(bundle: Bundle, document: Mapping[str, Any]) -> tuple[Any, str]:
    """This thread's engine for the bundle with ``document`` as input, or why there is none."""
    engine, problem = _engine(bundle)
    if engine is None:
        return None, problem
    try:
        engine.set_input(document)
    except (RuntimeError, TypeError, ValueError) as error:
        return None, f"policy input was refused: {error_text(error)}"
    return engine, ""


def answers(engine: Any, bundle: Bundle) -> tuple[Answers, list[PolicyResult]]:
    """Every pack's rules in one query; after a failure, pack by pack, so that the error names
    the pack it came from (and the other packs still answer)."""
    parts = ", ".join(f"{json.dumps(pack)}: {path}" for pack, path in sorted(bundle.packs.items()))
    try:
        value = _value(engine.eval_query_as_json("{" + parts + "}"))
        if isinstance(value, dict):
            return value, []
    except Exception:  # noqa: S110 - retried pack by pack below, where the error is reported
        pass
    found: Answers = {}
    errors: list[PolicyResult] = []
    for pack, path in sorted(bundle.packs.items()):
        try:
            value = _value(engine.eval_query_as_json(path))
            found[pack] = value if isinstance(value, dict) else {}
        except Exception as error:  # any failure of a gate must deny, whatever it is
            errors.append(failure(pack, f"{path} failed: {error_text(error)}"))
    return found, errors


def items(values: Mapping[str, Any], rule: str) -> list[Any]:
    """The results of one set rule of a pack; an undefined rule has none.

    Raises:
        TypeError: the rule is not a set (a policy bug, reported as an evaluation error).
    """
    value = values.get(rule, [])
    if not isinstance(value, list):
        raise TypeError(f"{rule} must be a set of results, got {type(value).__name__}")
    return value


def _result(pack: str, severity: str, item: Any, level: Enforcement) -> PolicyResult:
    if isinstance(item, str):
        return PolicyResult(pack, pack, item, severity, level)
    if not isinstance(item, dict) or not isinstance(item.get("msg", item.get("message")), str):
        raise TypeError("a result must be a string or an object with rule and msg")
    message = str(item.get("msg", item.get("message")))
    rule = str(item.get("rule") or pack)
    return PolicyResult(pack, rule, message, severity, level, app=str(item.get("app", "")))


def _level(pack: str, enforcement: Mapping[str, str]) -> Enforcement:
    return Enforcement(enforcement.get(pack, Enforcement.HARD_MANDATORY.value))


def _pack_results(pack: str, values: Mapping[str, Any], level: Enforcement) -> list[PolicyResult]:
    found: list[PolicyResult] = []
    for severity in RULE_KINDS:
        try:
            found.extend(_result(pack, severity, item, level) for item in items(values, severity))
        except TypeError as error:
            found.append(failure(pack, f"{pack}.{severity}: {error}"))
    return found


def _apply_overrides(
    results: list[PolicyResult], overrides: Sequence[PolicyOverride]
) -> list[PolicyResult]:
    by_rule = {item.rule: item for item in overrides}
    return [
        replace(result, override=by_rule[result.rule])
        if result.enforcement is Enforcement.SOFT_MANDATORY and result.rule in by_rule
        else result
        for result in results
    ]


def report(
    bundle: Bundle,
    found: Answers,
    *,
    enforcement: Mapping[str, str],
    overrides: Sequence[PolicyOverride] = (),
    errors: Sequence[PolicyResult] = (),
) -> PolicyReport:
    """The deny and warn results of every pack's answers, with enforcement and overrides."""
    results = list(errors)
    for pack in sorted(bundle.packs):
        if pack != "placement":  # placement constraints answer `forbid`, read by forbidden()
            level = _level(pack, enforcement)
            results.extend(_pack_results(pack, found.get(pack, {}), level))
    results = _apply_overrides(results, overrides)
    results.sort(key=lambda r: (r.severity, r.pack, r.rule, r.app, r.message))
    return PolicyReport(tuple(results), bundle.digest)


FORBID = "forbid"


@dataclass(frozen=True, slots=True)
class Forbidden:
    """A constraint's verdict: ``app`` may not run on ``target``, by ``rule``."""

    app: str
    target: str
    rule: str
    message: str
    pack: str


def _parse(item: Any, pack: str) -> Forbidden:
    if not isinstance(item, dict) or not all(
        isinstance(item.get(k), str) for k in ("app", "target")
    ):
        raise TypeError("a forbid result must be an object with app, target, rule and msg")
    message = str(item.get("msg", item.get("message", "")))
    return Forbidden(item["app"], item["target"], str(item.get("rule") or pack), message, pack)


def forbidden(found: Answers) -> tuple[list[Forbidden], list[PolicyResult]]:
    """Every forbid result of every pack's answers; a malformed result denies."""
    verdicts: list[Forbidden] = []
    errors: list[PolicyResult] = []
    for pack in sorted(found):
        try:
            verdicts.extend(_parse(item, pack) for item in items(found[pack], FORBID))
        except TypeError as error:
            errors.append(failure(pack, f"{pack}.{FORBID}: {error}"))
    return verdicts, errors


def constraints_of(
    bundle: Bundle, document: Mapping[str, Any]
) -> tuple[list[Forbidden], list[PolicyResult]]:
    """The forbid verdicts of a bundle on ``document`` alone (``rxt explain`` uses it)."""
    engine, problem = prepared(bundle, document)
    if engine is None:
        return [], [failure("bundle", problem)]
    found, errors = answers(engine, bundle)
    verdicts, malformed = forbidden(found)
    return verdicts, [*errors, *malformed]


def vetoes(placements: Mapping[str, Placement], verdicts: list[Forbidden]) -> list[PolicyResult]:
    """Hard denials for each constraint that forbids the target an app was placed on."""
    found = []
    for item in verdicts:
        placed = placements.get(item.app)
        if placed is None or placed.target.value != item.target:
            continue
        found.append(
            PolicyResult(
                pack=item.pack,
                rule=item.rule,
                message=(
                    f"placement constraint forbids {item.target} for '{item.app}' "
                    f"(placed there by rule {placed.rule}): {item.message}"
                ),
                severity="deny",
                enforcement=Enforcement.HARD_MANDATORY,
                app=item.app,
            )
        )
    return found


def evaluate(
    bundle: Bundle,
    document: Mapping[str, Any],
    *,
    placements: Mapping[str, Placement],
    enforcement: Mapping[str, str],
    overrides: Sequence[PolicyOverride] = (),
) -> PolicyReport:
    """Placement constraints and every pack's deny and warn rules, from one input and one query.

    Args:
        bundle: the Rego files to evaluate.
        document: the policy input (see docs/policies.md).
        placements: where the matrix placed each app, for the constraints to veto.
        enforcement: pack name to level; packs not named are hard-mandatory.
        overrides: approvals of soft-mandatory denials.
    """
    engine, problem = prepared(bundle, document)
    if engine is None:
        return PolicyReport((failure("bundle", problem),), bundle.digest)
    found, errors = answers(engine, bundle)
    verdicts, malformed = forbidden(found)
    vetoed = [*errors, *malformed, *vetoes(placements, verdicts)]
    return report(bundle, found, enforcement=enforcement, overrides=overrides, errors=vetoed)
