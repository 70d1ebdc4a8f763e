"""Each cross-field and field rule of a manifest: its message and the line:column it points at."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ManifestErrors
from planner.loading import load_repository, parse_manifest
from planner.manifests import Application
from planner.placement import place_application
from planner.validation import decide_target
from tests.planner.manifest_samples import app_text, environment_text, write_repo

# (rule, spec lines after the image, message fragment, line, column); spec lines start on line 7.
APP_RULES = [
    (
        "placement target against compliance",
        "placement:\n  target: kubernetes\n  compliance: [pci-dss]",
        "compliance 'pci-dss' requires a VM, but placement.target is 'kubernetes'",
        8,
        13,
    ),
    (
        "expose names a port",
        "ports:\n  - {name: http, port: 8080}\nexpose: {host: shop.example.com, port: htp}",
        "expose.port 'htp' is not the name of a port",
        9,
        42,
    ),
    (
        "health names a port",
        "ports:\n  - {name: http, port: 8080}\nhealth:\n  path: /healthz\n  port: admin",
        "health.port 'admin' is not the name of a port",
        11,
        11,
    ),
    (
        "port names are unique",
        "ports:\n  - {name: http, port: 8080}\n  - {name: http, port: 8081}",
        "port name 'http' is declared twice (first at line 8)",
        9,
        14,
    ),
    (
        "port numbers are unique",
        "ports:\n  - {name: http, port: 8080}\n  - {name: alt, port: 8080}",
        "port 8080/TCP is declared twice (first at line 8)",
        9,
        25,
    ),
    (
        "volume names are unique",
        "volumes:\n  - {name: data, size: 1Gi, mountPath: /a}"
        "\n  - {name: data, size: 1Gi, mountPath: /b}",
        "volume name 'data' is used twice (first at line 8)",
        9,
        14,
    ),
    (
        "mount paths are unique",
        "volumes:\n  - {name: data, size: 1Gi, mountPath: /a}"
        "\n  - {name: logs, size: 1Gi, mountPath: /a}",
        "volume mountPath '/a' is used twice (first at line 8)",
        9,
        42,
    ),
    (
        "autoscale min is at most max",
        "autoscale: {min: 5, max: 2}",
        "autoscale.min (5) is greater than autoscale.max (2)",
        7,
        20,
    ),
    (
        "secretRef paths stay under the mount",
        "env:\n  TOKEN:\n    secretRef: {path: shop/../admin, key: token}",
        "secretRef path 'shop/../admin' of TOKEN contains '.' or '..'",
        9,
        25,
    ),
    (
        "secretRef has a key",
        "env:\n  TOKEN:\n    secretRef: {path: shop/db}",
        "spec.env.TOKEN.secretRef.key is required but missing",
        9,
        7,
    ),
    (
        "env values are text or a secretRef",
        "env:\n  TOKEN: [a, b]",
        "spec.env.TOKEN must be a string or a mapping {secretRef: {path, key}}",
        8,
        12,
    ),
    (
        "env names are valid",
        "env:\n  1PASSWORD: x",
        "spec.env.1PASSWORD must be an environment variable name, not '1PASSWORD'",
        8,
        5,
    ),
    (
        "memory is at least a MiB",
        "resources: {cpu: 500m, memory: 500m}",
        "resources.memory '500m' is less than 1 MiB",
        7,
        34,
    ),
    (
        "volume sizes are at least a MiB",
        "volumes:\n  - {name: data, size: 10k, mountPath: /a}",
        "volumes[0].size '10k' is less than 1 MiB",
        8,
        26,
    ),
    (
        "quantities are not absurdly long",
        "resources: {memory: " + "1" * 70 + "Mi}",
        "resources.memory '11111111111111111111…' is too long",
        7,
        23,
    ),
    ("cpu is not zero", 'resources:\n  cpu: "0"', "resources.cpu '0' is zero", 8, 10),
    (
        "quantities parse",
        "resources: {memory: four}",
        "spec.resources.memory must be a Kubernetes quantity, not 'four'",
        7,
        23,
    ),
    (
        "egress rules are networks",
        'network:\n  egress: ["10.300.0.0/16:5432"]',
        "egress rule '10.300.0.0/16:5432' is not a valid IPv4 network",
        8,
        14,
    ),
    (
        "an app does not depend on itself",
        "dependsOn: [shop]",
        "application 'shop' depends on itself",
        7,
        15,
    ),
    ("unknown fields are refused", "replica: 3", "unknown field 'replica' in spec", 7, 3),
    (
        "required fields are present",
        "ports:\n  - {name: http}",
        "spec.ports[0].port is required but missing",
        8,
        7,
    ),
    ("numbers are not quoted", 'replicas: "3"', "spec.replicas must be an integer, not '3'", 7, 13),
    (
        "choices are from the list",
        "placement: {target: vmm}",
        "spec.placement.target must be one of 'auto', 'vm' or 'kubernetes', not 'vmm'",
        7,
        23,
    ),
    (
        "a virtual IP is an IPv4 address",
        "ports:\n  - {name: http, port: 8080}\nexpose: {host: shop.example.com, port: http,"
        " vip: 192.0.2.300}",
        "spec.expose.vip must be an IPv4 address, not '192.0.2.300'",
        9,
        53,
    ),
    (
        "dependsOn names are DNS labels",
        "dependsOn: [Shop_DB]",
        "spec.dependsOn[0] must be a DNS label, not 'Shop_DB'",
        7,
        15,
    ),
]


@pytest.mark.parametrize(
    ("rule", "extra", "message", "line", "column"), APP_RULES, ids=[row[0] for row in APP_RULES]
)
def test_each_rule_of_one_manifest_names_the_problem_at_its_node(
    rule: str, extra: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(ManifestErrors) as caught:
        parse_manifest(app_text(extra), path="deploy.yaml")
    found = [(e.message, (e.location.line, e.location.column)) for e in caught.value.errors]
    assert any(message in text and where == (line, column) for text, where in found), found
    assert all(e.hint or "must be" in e.message for e in caught.value.errors)


def test_a_valid_manifest_passes_every_rule() -> None:
    extra = """
        replicas: 2
        ports:
          - {name: http, port: 8080}
        expose: {host: shop.example.com, port: http, tls: true}
        health: {path: /healthz, port: http}
        autoscale: {min: 2, max: 4}
        env:
          PORT: 8080
          DEBUG: true
          TOKEN: {secretRef: {path: shop/api, key: token}}
        network: {egress: ["10.0.0.0/8:443"]}
    """
    app = parse_manifest(app_text(extra), path="deploy.yaml")
    assert isinstance(app, Application)
    assert app.spec.env["PORT"] == "8080"
    assert app.spec.env["DEBUG"] == "true"


def _repo_errors(
    tmp_path: Path, apps: dict[str, str], **env: object
) -> list[tuple[str, int, int, str, str]]:
    files = {"environment.yaml": str(env.get("environment", environment_text()))}
    files |= {f"apps/{name}/deploy.yaml": text for name, text in apps.items()}
    write_repo(tmp_path, {str(env.get("folder", "prod")): files})
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    return [
        (e.location.path, e.location.line, e.location.column, e.message, e.hint)
        for e in caught.value.errors
    ]


def test_depends_on_must_name_an_app_of_the_environment(tmp_path: Path) -> None:
    apps = {"shop": app_text("dependsOn: [databse]"), "database": app_text(name="database")}
    errors = _repo_errors(tmp_path, apps)
    assert errors == [
        (
            "environments/prod/apps/shop/deploy.yaml", 7, 15,
            "dependsOn names 'databse', which is not an application of this environment",
            "did you mean 'database'?",
        )
    ]  # fmt: skip


def test_a_dependency_cycle_is_named_once_with_its_members(tmp_path: Path) -> None:
    apps = {
        "a": app_text("dependsOn: [b]", name="a"),
        "b": app_text("dependsOn: [c]", name="b"),
        "c": app_text("dependsOn: [a]", name="c"),
        "d": app_text("dependsOn: [a]", name="d"),
    }
    errors = _repo_errors(tmp_path, apps)
    assert [(path, line, col, message) for path, line, col, message, _ in errors] == [
        ("environments/prod/apps/c/deploy.yaml", 7, 15, "dependsOn forms a cycle: a -> b -> c -> a")
    ]


def test_allow_from_must_name_an_app_of_the_environment(tmp_path: Path) -> None:
    apps = {"shop": app_text("network:\n  allowFrom: [shop, front]")}
    errors = _repo_errors(tmp_path, apps)
    assert [(line, col, message) for _, line, col, message, _ in errors] == [
        (8, 23, "allowFrom names 'front', which is not an application of this environment")
    ]


@pytest.mark.parametrize(
    ("extra", "sites", "message", "position"),
    [
        (
            "placement: {compliance: [hipaa]}",
            ("kubernetes",),
            "application 'shop' goes to vm (rule compliance-requires-vm), but environment "
            "'prod' has no sites.vsphere",
            (7, 27),
        ),
        (
            "placement: {stateful: true}",
            ("kubernetes",),
            "goes to vm (rule stateful-requires-vm)",
            (7, 25),
        ),
        (
            "volumes:\n  - {name: data, size: 1Gi, mountPath: /a}",
            ("kubernetes",),
            "goes to vm (rule stateful-requires-vm)",
            (8, 5),
        ),
        ("placement: {target: vm}", ("kubernetes",), "goes to vm (rule explicit-target)", (7, 23)),
        (
            "replicas: 2",
            ("vsphere",),
            "goes to kubernetes (rule default-kubernetes), but environment 'prod' has no "
            "sites.kubernetes",
            (5, 1),
        ),
    ],
    ids=["compliance", "stateful", "volumes", "target", "default"],
)
def test_an_app_needs_a_site_for_the_target_it_is_placed_on(
    tmp_path: Path, extra: str, sites: tuple[str, ...], message: str, position: tuple[int, int]
) -> None:
    errors = _repo_errors(
        tmp_path, {"shop": app_text(extra)}, environment=environment_text(sites=sites)
    )
    line, column = position
    assert len(errors) == 1
    _, found_line, found_column, found_message, hint = errors[0]
    assert message in found_message
    assert (found_line, found_column) == (line, column)
    assert "environments/prod/environment.yaml" in hint


def _exposed(target: str, vip: str = "") -> str:
    address = f", vip: {vip}" if vip else ""
    return (
        f"placement: {{target: {target}}}\nports:\n  - {{name: http, port: 8080}}\n"
        f"expose: {{host: shop.example.com, port: http{address}}}"
    )


ALL_SITES = ("vsphere", "nsx", "kubernetes")
# (rule, apps by name -> spec lines, sites, expected (app, line, column, message fragment))
VIP_RULES: list[tuple[str, dict[str, str], tuple[str, ...], list[tuple[str, int, int, str]]]] = [
    (
        "an app exposed from VMs behind NSX needs a vip",
        {"shop": _exposed("vm")},
        ALL_SITES,
        [("shop", 10, 11, "application 'shop' is exposed from VMs, so its NSX load balancer")],
    ),
    (
        "compliance places the app on VMs, so it needs a vip",
        {"shop": _exposed("auto").replace("target: auto", "compliance: [pci-dss]")},
        ALL_SITES,
        [("shop", 10, 11, "but expose.vip is not set")],
    ),
    (
        "two apps do not share a vip",
        {"shop": _exposed("vm", "192.0.2.10"), "till": _exposed("vm", "192.0.2.10")},
        ALL_SITES,
        [("till", 10, 53, "expose.vip 192.0.2.10 is already the virtual IP of application 'shop'")],
    ),
    ("distinct vips pass", {"shop": _exposed("vm", "192.0.2.10"),
                            "till": _exposed("vm", "192.0.2.11")}, ALL_SITES, []),
    ("an app on Kubernetes needs no vip", {"shop": _exposed("kubernetes")}, ALL_SITES, []),
    ("without NSX there is no load balancer to address", {"shop": _exposed("vm")},
     ("vsphere", "kubernetes"), []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "apps", "sites", "expected"), VIP_RULES, ids=[row[0] for row in VIP_RULES]
)
def test_each_vip_rule_names_the_problem_at_its_node(
    tmp_path: Path,
    rule: str,
    apps: dict[str, str],
    sites: tuple[str, ...],
    expected: list[tuple[str, int, int, str]],
) -> None:
    texts = {name: app_text(extra, name=name) for name, extra in apps.items()}
    files = {"environment.yaml": environment_text(sites=sites)}
    files |= {f"apps/{name}/deploy.yaml": text for name, text in texts.items()}
    write_repo(tmp_path, {"prod": files})
    if not expected:
        load_repository(tmp_path)
        return
    with pytest.raises(ManifestErrors) as caught:
        load_repository(tmp_path)
    found = [
        (e.location.path.split("/")[-2], e.location.line, e.location.column, e.message)
        for e in caught.value.errors
    ]
    assert len(found) == len(expected), found
    for (app, line, column, text), (f_app, f_line, f_column, f_text) in zip(
        expected, found, strict=True
    ):
        assert (f_app, f_line, f_column) == (app, line, column), found
        assert text in f_text
    assert all(e.hint for e in caught.value.errors)


def test_environment_name_must_match_its_folder(tmp_path: Path) -> None:
    errors = _repo_errors(tmp_path, {}, environment=environment_text("production"))
    assert errors == [
        (
            "environments/prod/environment.yaml", 4, 9,
            "environment name 'production' differs from its folder 'prod'",
            "rename the folder to 'production' or set metadata.name to 'prod'",
        )
    ]  # fmt: skip


def test_app_name_must_match_its_folder(tmp_path: Path) -> None:
    errors = _repo_errors(tmp_path, {"shop": app_text(name="store")})
    assert [(p, line, col, m) for p, line, col, m, _ in errors] == [
        ("environments/prod/apps/shop/deploy.yaml", 4, 9,
         "application name 'store' differs from its folder 'shop'")
    ]  # fmt: skip


def test_enforcement_must_name_an_enabled_pack(tmp_path: Path) -> None:
    text = environment_text().replace(
        "packs: [baseline]\n", "packs: [baseline]\n    enforcement: {hipaa: advisory}\n"
    )
    errors = _repo_errors(tmp_path, {}, environment=text)
    assert [(line, col, m) for _, line, col, m, _ in errors] == [
        (19, 19, "enforcement is set for pack 'hipaa', which is not in policy.packs")
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("placement: {target: kubernetes, stateful: true}", ("kubernetes", "explicit-target")),
        ("placement: {compliance: [pci-dss, soc2]}", ("vm", "compliance-requires-vm")),
        ("placement: {compliance: [soc2]}", ("kubernetes", "default-kubernetes")),
        ("placement: {stateful: true}", ("vm", "stateful-requires-vm")),
        ("volumes:\n  - {name: d, size: 1Gi, mountPath: /d}", ("vm", "stateful-requires-vm")),
        ("", ("kubernetes", "default-kubernetes")),
    ],
)  # fmt: skip
def test_the_local_placement_check_follows_the_matrix_in_order(
    extra: str, expected: tuple[str, str]
) -> None:
    app = parse_manifest(app_text(extra), path="deploy.yaml")
    assert isinstance(app, Application)
    assert decide_target(app)[:2] == expected


@given(
    target=st.sampled_from(["auto", "vm", "kubernetes"]),
    compliance=st.lists(st.sampled_from(["pci-dss", "hipaa", "soc2"]), unique=True),
    stateful=st.booleans(),
    volumes=st.booleans(),
)
def test_the_local_placement_check_agrees_with_the_planner(
    target: str, compliance: list[str], stateful: bool, volumes: bool
) -> None:
    if target == "kubernetes":
        compliance = [c for c in compliance if c == "soc2"]
    listed = ", ".join(compliance)
    extra = f"placement: {{target: {target}, stateful: {str(stateful).lower()}}}"
    extra = extra.replace("}", f", compliance: [{listed}]}}")
    if volumes:
        extra += "\nvolumes:\n  - {name: d, size: 1Gi, mountPath: /d}"
    app = parse_manifest(app_text(extra), path="deploy.yaml")
    assert isinstance(app, Application)
    decided = place_application(app)
    assert decide_target(app)[:2] == (decided.target.value, decided.rule)
