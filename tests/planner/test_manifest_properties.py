"""Properties of the manifest loader: round trips, hostile input, schema and model agreement."""

from __future__ import annotations

import io
import json
import os
import string
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML

from core.errors import ManifestError
from core.hashing import digest
from planner.loading import parse_manifest
from planner.manifests import EGRESS_RULE, QUANTITY, Application, Environment

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
# RXT_FUZZ_EXAMPLES raises the number of examples for a long local run.
EXAMPLES = int(os.environ.get("RXT_FUZZ_EXAMPLES", "60"))
QUICK = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow],
)


def dns_label(max_size: int = 63) -> st.SearchStrategy[str]:
    inner = max(max_size - 2, 0)
    return st.from_regex(rf"\A[a-z0-9]([-a-z0-9]{{0,{inner}}}[a-z0-9])?\Z", fullmatch=True)


# Text as users write it, including characters YAML must quote or escape.
free_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\ufeff"), max_size=30
)
env_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z", fullmatch=True)
segment = st.from_regex(r"\A[A-Za-z0-9_-][A-Za-z0-9_.-]{0,10}\Z", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
secret_refs = st.builds(
    lambda parts, key: {"secretRef": {"path": "/".join(parts), "key": key}},
    st.lists(segment, min_size=1, max_size=3),
    segment,
)
env_values = st.one_of(
    free_text, st.integers(), st.booleans(), st.floats(allow_nan=False), secret_refs
)
memory = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(1, 4096), st.sampled_from(["Mi", "Gi"])
)
cpu = st.one_of(st.integers(1, 64).map(str), st.integers(1, 64000).map(lambda n: f"{n}m"))


@st.composite
def applications(draw: st.DrawFn) -> dict[str, Any]:
    """A deploy.yaml that passes every rule, as the data a user writes."""
    name = draw(dns_label(40))
    ports = draw(
        st.lists(
            st.tuples(dns_label(15), st.integers(1, 65535)),
            max_size=3,
            unique_by=(lambda p: p[0], lambda p: p[1]),
        )
    )
    spec: dict[str, Any] = {
        "image": draw(st.from_regex(r"\A[a-z0-9./-]{1,30}(:[a-z0-9.]{1,8})?\Z", fullmatch=True))
    }
    spec["replicas"] = draw(st.integers(0, 1000))
    spec["resources"] = {"cpu": draw(cpu), "memory": draw(memory)}
    spec["ports"] = [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]
    spec["env"] = draw(st.dictionaries(env_names, env_values, max_size=4))
    if ports and draw(st.booleans()):
        spec["expose"] = {
            "host": "shop.example.com",
            "port": ports[0][0],
            "tls": draw(st.booleans()),
        }
        spec["health"] = {"path": "/healthz", "port": ports[-1][0]}
    low = draw(st.integers(1, 20))
    if draw(st.booleans()):
        spec["autoscale"] = {"min": low, "max": low + draw(st.integers(0, 20)), "cpuPercent": 70}
    spec["dependsOn"] = draw(
        st.lists(dns_label(20).filter(lambda d: d != name), max_size=3, unique=True)
    )
    target = draw(st.sampled_from(["auto", "vm", "kubernetes"]))
    compliance = draw(st.lists(st.sampled_from(["pci-dss", "hipaa", "soc2"]), unique=True))
    if target == "kubernetes":
        compliance = [c for c in compliance if c == "soc2"]
    spec["placement"] = {
        "target": target,
        "stateful": draw(st.booleans()),
        "compliance": compliance,
    }
    labels = draw(st.dictionaries(free_text, free_text, max_size=3))
    return {
        "apiVersion": "deploy.rxt.io/v1",
        "kind": "Application",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


@st.composite
def environments(draw: st.DrawFn) -> dict[str, Any]:
    sites: dict[str, Any] = {}
    if draw(st.booleans()):
        sites["kubernetes"] = {"site": draw(dns_label()), "namespace": draw(dns_label())}
    if draw(st.booleans()):
        sites["nsx"] = {"site": draw(dns_label()), "tier1": draw(free_text.filter(bool))}
    packs = draw(st.lists(st.sampled_from(["baseline", "pci-dss", "hipaa", "soc2"]), unique=True))
    levels = st.sampled_from(["advisory", "soft-mandatory", "hard-mandatory"])
    return {
        "apiVersion": "deploy.rxt.io/v1",
        "kind": "Environment",
        "metadata": {"name": draw(dns_label()), "tenant": draw(dns_label())},
        "spec": {
            "sites": sites,
            "sync": {"auto": draw(st.booleans()), "prune": draw(st.booleans())},
            "drift": {
                "interval": draw(st.from_regex(r"\A(0|[1-9][0-9]{0,3}[smh])\Z", fullmatch=True))
            },
            "policy": {"packs": packs, "enforcement": {p: draw(levels) for p in packs}},
        },
    }


def dump(data: Any) -> str:
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # Escaped: ruamel's dumper writes U+0085 raw into single-quoted text, where every YAML
    # reader (its own included) folds it into a space.
    yaml.allow_unicode = False
    # Unwrapped: ruamel's pure dumper can fold a double-quoted line right after a \U escape
    # without the trailing backslash YAML needs there, so the reader sees an extra space.
    yaml.width = 1_000_000
    yaml.dump(data, stream)
    return stream.getvalue()


@QUICK
@given(st.one_of(applications(), environments()))
def test_a_valid_manifest_survives_dump_then_load_unchanged(data: dict[str, Any]) -> None:
    model_class: type[BaseModel] = Application if data["kind"] == "Application" else Environment
    expected = model_class.model_validate(data, strict=True)
    loaded = parse_manifest(dump(data), path="deploy.yaml")
    assert loaded == expected
    assert digest(loaded.model_dump(mode="json", by_alias=True)) == digest(
        expected.model_dump(mode="json", by_alias=True)
    )


@QUICK
@given(st.one_of(applications(), environments()))
def test_a_loaded_manifest_dumps_to_the_same_model(data: dict[str, Any]) -> None:
    first = parse_manifest(dump(data), path="deploy.yaml")
    again = parse_manifest(dump(first.model_dump(mode="json", by_alias=True)), path="deploy.yaml")
    assert again == first


YAML_PIECES = [
    ":", " ", "\n", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!t ", "!!str ", "'", '"', "#",
    "|", ">", "? ", "\t", "---\n", "...\n", "%YAML 1.2\n", "<<: ", "kind: Application\n",
    "apiVersion: deploy.rxt.io/v1\n", "spec:\n", "  image: x\n", "metadata: {name: a}\n",
    "\\", "\x00", "\ud7ff", "0x", "1e9", "~", "null", "é",
]  # fmt: skip
yamlish = st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join)


def _loads_or_refuses(data: str | bytes) -> None:
    result: object
    try:
        result = parse_manifest(data, path="fuzz.yaml")
    except ManifestError as error:
        result = error.render()
    assert isinstance(result, Application | Environment | str)
    assert result


@settings(max_examples=EXAMPLES * 3, deadline=timedelta(seconds=1))
@given(st.one_of(st.text(), yamlish))
def test_any_text_gives_a_model_or_a_manifest_error(data: str) -> None:
    _loads_or_refuses(data)


@settings(max_examples=EXAMPLES * 3, deadline=timedelta(seconds=1))
@given(st.binary())
def test_any_bytes_give_a_model_or_a_manifest_error(data: bytes) -> None:
    _loads_or_refuses(data)


@QUICK
@given(applications(), st.data())
def test_a_mutated_manifest_is_judged_alike_by_schema_and_model(
    data: dict[str, Any], choice: st.DataObject
) -> None:
    mutated = _mutate(data, choice)
    schema = json.loads((SCHEMA_DIR / "deploy.schema.json").read_text(encoding="utf-8"))
    by_schema = jsonschema.Draft202012Validator(schema).is_valid(mutated)
    try:
        Application.model_validate(mutated, strict=True)
        by_model = True
    except ValidationError:
        by_model = False
    assert by_schema is by_model, mutated


# Values a mutation may plant; no floats, whose 3.0-is-an-integer rule JSON Schema has and
# the strict models do not.
plain_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.text(string.printable, max_size=12),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "name"]), st.integers(), max_size=1),
)  # fmt: skip


@QUICK
@given(applications(), st.data())
def test_a_mutated_manifest_loads_or_is_refused_never_crashes(
    data: dict[str, Any], choice: st.DataObject
) -> None:
    # Edge values that pass the models alone: every cross-field rule must cope with them.
    edges = st.one_of(
        plain_values,
        st.from_regex(QUANTITY, fullmatch=True),
        st.from_regex(EGRESS_RULE, fullmatch=True),
        st.sampled_from(["..", "a/../b", "0", "0m", "999.999.999.999/99:99999"]),
    )
    _loads_or_refuses(dump(_mutate(data, choice, values=edges)))


def _mutate(
    data: dict[str, Any], choice: st.DataObject, *, values: st.SearchStrategy[Any] | None = None
) -> dict[str, Any]:
    """The same document with one value replaced, one key added or one key removed."""
    values = plain_values if values is None else values
    copy = json.loads(json.dumps(data))
    paths = list(_containers(copy))
    container = choice.draw(st.sampled_from(paths))
    if isinstance(container, list):
        if container:
            container[choice.draw(st.integers(0, len(container) - 1))] = choice.draw(values)
        return copy
    action = choice.draw(st.sampled_from(["replace", "add", "remove"]))
    keys = sorted(container)
    if action == "add" or not keys:
        container[choice.draw(st.sampled_from(["extra", "name", "port", "min", "spec"]))] = (
            choice.draw(values)
        )
    elif action == "replace":
        container[choice.draw(st.sampled_from(keys))] = choice.draw(values)
    else:
        del container[choice.draw(st.sampled_from(keys))]
    return copy


def _containers(node: Any) -> Any:
    if isinstance(node, dict | list):
        yield node
        for child in node.values() if isinstance(node, dict) else node:
            yield from _containers(child)
