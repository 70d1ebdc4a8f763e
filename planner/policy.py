"""Policy evaluation: Rego deny and warn rules run in-process by regorus, failing closed.

Called by ``planner.plans`` with the policy input built there. Enforcement is per pack:
advisory (reported), soft-mandatory (blocks unless overridden, recording who and why) and
hard-mandatory (blocks). Any load or evaluation error is a hard denial.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from planner.bundles import Bundle, compile_bundle, error_text

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


def _items(raw: str) -> list[Any]:
    """The value of a query answer; an undefined rule answers ``{}``, which means none."""
    answer = json.loads(raw)
    rows = answer.get("result", []) if isinstance(answer, dict) else []
    if not rows:
        return []
    value = rows[0]["expressions"][0]["value"]
    if not isinstance(value, list):
        raise TypeError(f"expected a set of results, got {type(value).__name__}")
    return value


def _result(pack: str, severity: str, item: Any, level: Enforcement) -> PolicyResult:
    if isinstance(item, str):
        return PolicyResult(pack, pack, item, severity, level)
    if not isinstance(item, dict) or not isinstance(item.get("msg", item.get("message")), str):
        raise TypeError("a result must be a string or an object with rule and msg")
    message = str(item.get("msg", item.get("message")))
    rule = str(item.get("rule") or pack)
    return PolicyResult(pack, rule, message, severity, level, app=str(item.get("app", "")))


def query(engine: Any, path: str, rule: str) -> list[Any]:
    """The items of one set rule (``deny``, ``warn``, ``forbid``) of one package."""
    return _items(engine.eval_query_as_json(f"{path}.{rule}"))


def prepared(bundle: Bundle, document: Mapping[str, Any]) -> tuple[Any, str]:
    """A fresh engine with the bundle and ``document`` as input, or the error that stopped it."""
    compiled = compile_bundle(bundle)
    if compiled.engine is None:
        return None, compiled.error
    engine = compiled.engine.clone()
    try:
        engine.set_input_json(json.dumps(document))
    except (RuntimeError, TypeError, ValueError) as error:
        return None, f"policy input was refused: {error_text(error)}"
    return engine, ""


def _level(pack: str, enforcement: Mapping[str, str]) -> Enforcement:
    return Enforcement(enforcement.get(pack, Enforcement.HARD_MANDATORY.value))


def _evaluate_pack(engine: Any, pack: str, path: str, level: Enforcement) -> list[PolicyResult]:
    found: list[PolicyResult] = []
    for severity in RULE_KINDS:
        try:
            items = query(engine, path, severity)
            found.extend(_result(pack, severity, item, level) for item in items)
        except Exception as error:  # any failure of a gate must deny, whatever it is
            found.append(failure(pack, f"{path}.{severity} failed: {error_text(error)}"))
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


def evaluate(
    bundle: Bundle,
    document: Mapping[str, Any],
    *,
    enforcement: Mapping[str, str],
    overrides: Sequence[PolicyOverride] = (),
    engine: Any = None,
) -> PolicyReport:
    """Run every pack's ``deny`` and ``warn`` rules on ``document``.

    Args:
        bundle: the Rego files to evaluate.
        document: the policy input (see docs/policies.md).
        enforcement: pack name to level; packs not named are hard-mandatory.
        overrides: approvals of soft-mandatory denials.
        engine: an engine ``prepared`` with this bundle and document, to share its input.
    """
    problem = ""
    if engine is None:
        engine, problem = prepared(bundle, document)
    if engine is None:
        return PolicyReport((failure("bundle", problem),), bundle.digest)
    results: list[PolicyResult] = []
    for pack in sorted(bundle.packs):
        if pack == "placement":
            continue  # placement constraints answer `forbid`, read by planner.constraints
        results.extend(_evaluate_pack(engine, pack, bundle.packs[pack], _level(pack, enforcement)))
    results = _apply_overrides(results, overrides)
    results.sort(key=lambda r: (r.severity, r.pack, r.rule, r.app, r.message))
    return PolicyReport(tuple(results), bundle.digest)
