"""The committed JSON Schemas: current with the models, described, and in agreement with them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from planner import schemas
from planner.diagnostics import PATTERN_WORDS
from planner.manifests import Application, Environment
from planner.sourcemap import read_yaml
from tests.planner.manifest_samples import EXAMPLE_REPO, app_text, environment_text

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def committed(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return loaded


def schema_accepts(data: Any, name: str) -> bool:
    return jsonschema.Draft202012Validator(committed(name)).is_valid(data)


def model_accepts(data: Any, model: type[BaseModel]) -> bool:
    try:
        model.model_validate(data, strict=True)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_the_committed_schema_matches_the_models(name: str) -> None:
    assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == schemas.rendered()[name], (
        "run `make schemas` and commit the result"
    )


def test_the_check_command_reports_a_stale_schema(tmp_path: Path) -> None:
    assert schemas.main(["--write", str(tmp_path)]) == 0
    assert schemas.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "deploy.schema.json").write_text("{}\n")
    assert schemas.main(["--check", str(tmp_path)]) == 1


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_each_schema_is_valid_draft_2020_12_with_an_id(name: str) -> None:
    schema = committed(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/" + name)


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    bodies = [("(root)", schema), *schema["$defs"].items()]
    return [
        (owner, key, value)
        for owner, body in bodies
        for key, value in body.get("properties", {}).items()
    ]


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_every_field_has_a_description_for_editors(name: str) -> None:
    undescribed = [
        f"{owner}.{key}"
        for owner, key, value in _properties(committed(name))
        if not value.get("description")
    ]
    assert undescribed == []


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_every_pattern_has_words_for_error_messages(name: str) -> None:
    patterns = set(re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', (SCHEMA_DIR / name).read_text()))
    decoded = {json.loads(f'"{pattern}"') for pattern in patterns}
    assert decoded - set(PATTERN_WORDS) == set()


def test_schemas_use_only_what_draft_07_editors_understand() -> None:
    # yaml-language-server validates with draft-07 semantics; these keywords would be ignored.
    for name in schemas.SCHEMAS:
        text = (SCHEMA_DIR / name).read_text()
        for keyword in ("prefixItems", "unevaluatedProperties", "$dynamicRef", "dependentSchemas"):
            assert keyword not in text


def _example_files() -> list[Path]:
    return sorted(EXAMPLE_REPO.rglob("*.yaml"))


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: str(p.relative_to(EXAMPLE_REPO)))
def test_every_example_manifest_names_its_schema_and_passes_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match is not None
    schema_path = (path.parent / match[1]).resolve()
    assert schema_path.parent == SCHEMA_DIR
    data, _ = read_yaml(text, path=str(path))
    assert jsonschema.Draft202012Validator(json.loads(schema_path.read_text())).is_valid(data)


# Documents refused or accepted by both; cross-field rules (ports named by expose and so on)
# are beyond JSON Schema and are not listed here.
APP_PARITY = [
    (app_text(), True),
    (app_text("env:\n  PORT: 8080\n  DEBUG: true\n  RATIO: 0.5"), True),
    (app_text("env:\n  TOKEN: {secretRef: {path: a/b, key: c}}"), True),
    (app_text("expose: null"), True),
    (app_text('replicas: "3"'), False),
    (app_text("replicas: true"), False),
    (app_text("replicas: -1"), False),
    (app_text("env:\n  bad-name: x"), False),
    (app_text("env:\n  TOKEN: [a]"), False),
    (app_text("env:\n  TOKEN: null"), False),
    (app_text("env:\n  TOKEN: {secretRef: {path: a}}"), False),
    (app_text("imagePullPolicy: Always"), False),
    (app_text("placement: {target: bare-metal}"), False),
    (app_text("resources: {memory: 4GB}"), False),
    (app_text("ports:\n  - {name: http, port: 70000}"), False),
    (app_text("ports:\n  - {name: a-very-long-port-name, port: 80}"), False),
    (app_text("volumes:\n  - {name: data, size: 1Gi, mountPath: relative}"), False),
    (app_text(name="x" * 41), False),
    (app_text().replace("deploy.rxt.io/v1", "deploy.rxt.io/v2"), False),
    (app_text().replace("kind: Application", "kind: Environment"), False),
    (app_text("autoscale: {min: 0, max: 3}"), False),
    (app_text("network: {egress: [10.0.0.0/8]}"), True),
    (app_text("network: {egress: [example.com]}"), False),
    (app_text("ignore:\n  - {platform: kubernetes, kind: Deployment, path: spec.replicas}"), True),
    (app_text("ignore:\n  - {platform: aws, kind: Deployment, path: spec.replicas}"), False),
]


@pytest.mark.parametrize(("text", "valid"), APP_PARITY)
def test_schema_and_model_agree_on_applications(text: str, valid: bool) -> None:
    data, _ = read_yaml(text, path="deploy.yaml")
    assert model_accepts(data, Application) is valid
    assert schema_accepts(data, "deploy.schema.json") is valid


ENV_PARITY = [
    (environment_text(), True),
    (environment_text(sites=()).replace("  sites:\n", "  sites: {}\n"), True),
    (
        environment_text().replace("spec:\n  sites:", "spec:\n  drift: {interval: 5d}\n  sites:"),
        False,
    ),
    (
        environment_text().replace("spec:\n  sites:", "spec:\n  drift: {interval: 0}\n  sites:"),
        True,
    ),
    (
        environment_text().replace("spec:\n  sites:", 'spec:\n  drift: {interval: "0"}\n  sites:'),
        True,
    ),
    (environment_text().replace("packs: [baseline]", "packs: [gdpr]"), False),
    (environment_text().replace("tenant: acme", "tenant: ACME"), False),
    (
        environment_text().replace(
            "spec:\n  sites:", "spec:\n  sync: {confirmPrune: [vm, pod]}\n  sites:"
        ),
        False,
    ),
    (environment_text().replace("  policy:", "  syncing: {}\n  policy:"), False),
]


@pytest.mark.parametrize(("text", "valid"), ENV_PARITY)
def test_schema_and_model_agree_on_environments(text: str, valid: bool) -> None:
    data, _ = read_yaml(text, path="environment.yaml")
    assert model_accepts(data, Environment) is valid
    assert schema_accepts(data, "environment.schema.json") is valid
