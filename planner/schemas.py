"""JSON Schemas of ``deploy.yaml`` and ``environment.yaml``, generated from the manifest models.

``python -m planner.schemas --write schemas`` regenerates the committed files (``make schemas``);
``--check schemas`` fails when they are stale. Editors read them through a modeline such as
``# yaml-language-server: $schema=../../../../schemas/deploy.schema.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from planner.manifests import Application, Environment

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://deploy.rxt.io/schemas/v1/"

SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "deploy.schema.json": (
        Application,
        "An application of an RXT Deploy environment: environments/<env>/apps/<app>/deploy.yaml.",
    ),
    "environment.schema.json": (
        Environment,
        "An RXT Deploy environment: environments/<env>/environment.yaml.",
    ),
}


# Hover text for fields the models leave undescribed. A model's own description always wins;
# these belong in planner.manifests and move there when it next changes.
_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("Application", "apiVersion"): "Always deploy.rxt.io/v1.",
    ("Application", "kind"): "Always Application.",
    ("Application", "metadata"): "The application's name and labels.",
    ("Application", "spec"): "What to run and how to reach it.",
    ("Environment", "apiVersion"): "Always deploy.rxt.io/v1.",
    ("Environment", "kind"): "Always Environment.",
    ("Environment", "metadata"): "The environment's name and tenant.",
    ("Environment", "spec"): "Where the environment's applications go and how they are synced.",
    ("EnvironmentSpec", "sync"): "When changes are applied and whether removals are pruned.",
    ("EnvironmentSpec", "drift"): "How often live objects are compared with the repository.",
    ("EnvironmentSpec", "policy"): "Policy packs evaluated before every apply.",
    (
        "ApplicationSpec",
        "replicas",
    ): "Copies to run (VMs or pods); the starting size when autoscaled.",
    ("ApplicationSpec", "resources"): "CPU and memory of each copy, in Kubernetes quantities.",
    ("ApplicationSpec", "ports"): "Ports the container listens on, each with a name.",
    ("ApplicationSpec", "env"): "Environment variables: text, or a secretRef read from Vault.",
    ("ApplicationSpec", "volumes"): "Persistent volumes; any volume places the app on a VM.",
    ("ApplicationSpec", "expose"): "Publish a port under a host name, with TLS if asked.",
    ("ApplicationSpec", "network"): "Who may connect to the app and where it may connect.",
    ("ApplicationSpec", "health"): "The HTTP check that says a copy is healthy.",
    ("ApplicationSpec", "autoscale"): "Scale between min and max copies on CPU use.",
    ("ApplicationSpec", "dependsOn"): "Apps of this environment to apply and wait for first.",
    ("ApplicationSpec", "placement"): "Where the app runs: decided by the placement rules.",
    ("ApplicationSpec", "vm"): "Sizing when placed on a VM; defaults come from resources.",
    ("ApplicationSpec", "ignore"): "Fields that plans and drift checks leave alone.",
    ("Autoscale", "cpuPercent"): "Target average CPU use, in percent of the request.",
    ("Expose", "path"): "The URL path prefix routed to the app.",
    ("IgnoreRule", "platform"): "The platform the ignored field lives on.",
    ("Placement", "target"): "auto follows the placement rules; vm or kubernetes force one.",
    ("Placement", "compliance"): "Regimes the app falls under; pci-dss and hipaa require a VM.",
    ("Port", "protocol"): "TCP, UDP or SCTP.",
}


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside ``node``, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def _describe(schema: dict[str, Any]) -> None:
    """Fill in the descriptions the models leave out."""
    for definition, body in [(schema["title"], schema), *schema["$defs"].items()]:
        for name, field in body.get("properties", {}).items():
            text = _DESCRIPTIONS.get((definition, name))
            if text is not None and "description" not in field:
                field["description"] = text


def _match_the_loader(schema: dict[str, Any]) -> None:
    """Adjust what pydantic emits to what the loader accepts, so editors and engine agree."""
    for node in _objects(schema):
        # A mapping restricted by key pattern (env) refuses other keys, like the model does.
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
    env_values = schema["$defs"].get("ApplicationSpec", {}).get("properties", {}).get("env", {})
    for value_schema in env_values.get("patternProperties", {}).values():
        # ``PORT: 8080`` and ``DEBUG: true`` become the strings a container receives.
        value_schema["anyOf"].insert(1, {"type": ["number", "boolean"]})
    interval = schema["$defs"].get("Drift", {}).get("properties", {}).get("interval")
    if interval is not None:
        # ``interval: 0`` (a YAML integer) disables drift checks, as the contract says.
        text = {"type": interval.pop("type"), "pattern": interval.pop("pattern")}
        interval["anyOf"] = [text, {"const": 0}]


def build(model: type[BaseModel], *, file_name: str, description: str) -> dict[str, Any]:
    """The JSON Schema of one manifest kind, by the contract's field names."""
    generated = model.model_json_schema(by_alias=True, mode="validation")
    generated["description"] = description
    schema = {"$schema": DIALECT, "$id": ID_BASE + file_name, **generated}
    _match_the_loader(schema)
    _describe(schema)
    return schema


def render(model: type[BaseModel], *, file_name: str, description: str) -> str:
    """The committed text of a schema: indented, key order as generated, a final newline."""
    schema = build(model, file_name=file_name, description=description)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """Every schema file's name and text."""
    return {
        name: render(model, file_name=name, description=description)
        for name, (model, description) in SCHEMAS.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write or check the schema files; exit 1 when ``--check`` finds them stale."""
    parser = argparse.ArgumentParser(prog="python -m planner.schemas", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="DIR", help="write the schemas into DIR")
    action.add_argument("--check", type=Path, metavar="DIR", help="fail if DIR holds stale ones")
    arguments = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        if arguments.write is not None:
            arguments.write.mkdir(parents=True, exist_ok=True)
            (arguments.write / name).write_text(text, encoding="utf-8")
            print(f"wrote {arguments.write / name}")
        else:
            target = arguments.check / name
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target))
    for path in stale:
        print(f"{path} is stale: run `make schemas`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
