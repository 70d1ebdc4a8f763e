"""Rules that span fields or files, each error pointing at the node that breaks it.

The models check each field alone; here the ports named by ``expose``, ``dependsOn`` cycles,
placement against compliance, the environment's sites and load-balancer virtual IPs. Called by
``planner.loading``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ManifestError
from planner.diagnostics import did_you_mean, dotted
from planner.manifests import DNS_LABEL, Application, Environment
from planner.quantities import parse_bytes, parse_cpu_millicores
from planner.sourcemap import PathKey, SourceMap

VM_ONLY_COMPLIANCE = ("pci-dss", "hipaa")
_DNS_LABEL = re.compile(DNS_LABEL)
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Checked:
    """A model with the source map of the file it came from."""

    model: Application | Environment
    source: SourceMap


def _error(
    source: SourceMap, where: PathKey, message: str, hint: str = "", *, key: bool = False
) -> ManifestError:
    return ManifestError(message, location=source.at(where, key=key), hint=hint)


def _first_seen(source: SourceMap, where: PathKey) -> str:
    return f"first at line {source.at(where).line}"


def _ports(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    names: dict[str, int] = {}
    numbers: dict[tuple[int, str], int] = {}
    for index, port in enumerate(app.spec.ports):
        if port.name in names:
            first = _first_seen(source, ("spec", "ports", names[port.name], "name"))
            yield _error(
                source,
                ("spec", "ports", index, "name"),
                f"port name '{port.name}' is declared twice ({first})",
                "give each port its own name",
            )
        if (port.port, port.protocol) in numbers:
            first = _first_seen(source, ("spec", "ports", numbers[(port.port, port.protocol)]))
            yield _error(
                source,
                ("spec", "ports", index, "port"),
                f"port {port.port}/{port.protocol} is declared twice ({first})",
                "remove the repeated port",
            )
        names.setdefault(port.name, index)
        numbers.setdefault((port.port, port.protocol), index)


def _named_ports(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    declared = [port.name for port in app.spec.ports]
    for field, value in (("expose", app.spec.expose), ("health", app.spec.health)):
        if value is not None and value.port not in declared:
            hint = did_you_mean(value.port, declared) if declared else "declare it in spec.ports"
            yield _error(
                source,
                ("spec", field, "port"),
                f"{field}.port '{value.port}' is not the name of a port of this application",
                hint,
            )


def _volumes(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    names: dict[str, int] = {}
    mounts: dict[str, int] = {}
    for index, volume in enumerate(app.spec.volumes):
        for field, key, seen in (
            ("name", volume.name, names),
            ("mountPath", volume.mount_path, mounts),
        ):
            if key in seen:
                first = _first_seen(source, ("spec", "volumes", seen[key], field))
                yield _error(
                    source,
                    ("spec", "volumes", index, field),
                    f"volume {field} '{key}' is used twice ({first})",
                    f"give each volume its own {field}",
                )
            seen.setdefault(key, index)


def _quantities(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    checks: list[tuple[PathKey, str | None, Callable[[str], int], int, str]] = [
        (("spec", "resources", "cpu"), app.spec.resources.cpu, parse_cpu_millicores, 1,
         "is zero; ask for 1m or more"),
        (("spec", "resources", "memory"), app.spec.resources.memory, parse_bytes, _MIB,
         "is less than 1 MiB; use a binary suffix such as 512Mi ('m' means thousandths)"),
        *((("spec", "volumes", i, "size"), v.size, parse_bytes, _MIB,
           "is less than 1 MiB; use a binary suffix such as 4Gi ('m' means thousandths)")
          for i, v in enumerate(app.spec.volumes)),
    ]  # fmt: skip
    for where, text, parse, least, problem in checks:
        if text is None:
            continue
        name = dotted(where[1:])
        try:
            too_small = parse(text) < least
        except ValueError:  # the syntax passed the model: only its length can be at fault
            yield _error(source, where, f"{name} '{text[:20]}…' is too long", "shorten it")
            continue
        if too_small:
            message, _, hint = problem.partition("; ")
            yield _error(source, where, f"{name} '{text}' {message}", hint)


def _autoscale(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    scale = app.spec.autoscale
    if scale is not None and scale.min > scale.max:
        yield _error(
            source,
            ("spec", "autoscale", "min"),
            f"autoscale.min ({scale.min}) is greater than autoscale.max ({scale.max})",
            "make min at most max",
        )


def _secret_refs(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    for name, value in app.spec.env.items():
        if isinstance(value, str):
            continue
        segments = value.secret_ref.path.split("/")
        if any(segment in (".", "..") for segment in segments):
            yield _error(
                source,
                ("spec", "env", name, "secretRef", "path"),
                f"secretRef path '{value.secret_ref.path}' of {name} contains '.' or '..'",
                "name the secret by its plain path under the tenant's mount, e.g. payments/db",
            )


def _egress(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    for index, rule in enumerate(app.spec.network.egress):
        network, _, port = rule.partition(":")
        try:
            ipaddress.IPv4Network(network, strict=False)
            valid_port = not port or 1 <= int(port) <= 65535
        except ValueError:
            valid_port = False
        if not valid_port:
            yield _error(
                source,
                ("spec", "network", "egress", index),
                f"egress rule '{rule}' is not a valid IPv4 network with an optional port",
                'write "10.20.0.0/16" or "10.20.0.0/16:5432" (octets up to 255, port 1-65535)',
            )


def _compliance(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    placement = app.spec.placement
    strict = [c for c in placement.compliance if c in VM_ONLY_COMPLIANCE]
    if placement.target == "kubernetes" and strict:
        yield _error(
            source,
            ("spec", "placement", "target"),
            f"compliance '{strict[0]}' requires a VM, but placement.target is 'kubernetes'",
            f"set placement.target to vm or auto, or remove '{strict[0]}' from compliance",
        )


def _self_dependency(app: Application, source: SourceMap) -> Iterable[ManifestError]:
    for index, name in enumerate(app.spec.depends_on):
        if name == app.metadata.name:
            yield _error(
                source,
                ("spec", "dependsOn", index),
                f"application '{name}' depends on itself",
                "remove it from dependsOn",
            )


_APP_RULES = (
    _ports, _named_ports, _volumes, _quantities, _autoscale, _secret_refs, _egress,
    _compliance, _self_dependency,
)  # fmt: skip


def check_application(app: Application, source: SourceMap) -> list[ManifestError]:
    """Every rule of one ``deploy.yaml`` that needs no other file."""
    return [error for rule in _APP_RULES for error in rule(app, source)]


def check_environment(env: Environment, source: SourceMap) -> list[ManifestError]:
    """Rules of one ``environment.yaml`` that need no other file."""
    errors: list[ManifestError] = []
    packs = env.spec.policy.packs
    for pack in env.spec.policy.enforcement:
        if pack not in packs:
            errors.append(
                _error(
                    source,
                    ("spec", "policy", "enforcement", pack),
                    f"enforcement is set for pack '{pack}', which is not in policy.packs",
                    f"add '{pack}' to policy.packs or remove its enforcement",
                    key=True,
                )
            )
    return errors


def check_folder_name(checked: Checked, *, folder: str) -> list[ManifestError]:
    """An environment or app lives in a folder of its own name, so paths and names agree."""
    name = checked.model.metadata.name
    if name == folder:
        return []
    noun = "environment" if isinstance(checked.model, Environment) else "application"
    return [
        _error(
            checked.source,
            ("metadata", "name"),
            f"{noun} name '{name}' differs from its folder '{folder}'",
            f"rename the folder to '{name}' or set metadata.name to '{folder}'",
        )
    ]


def _unknown_names(
    names: Any, *, field: str, where: PathKey, source: SourceMap, known: set[str]
) -> Iterable[ManifestError]:
    """Entries of a list of app names that name no app of the environment. Entries that are
    not DNS labels are skipped: the model has already reported them."""
    for index, name in enumerate(names if isinstance(names, list) else []):
        if isinstance(name, str) and _DNS_LABEL.match(name) and name not in known:
            yield _error(
                source,
                (*where, index),
                f"{field} names '{name}', which is not an application of this environment",
                did_you_mean(name, sorted(known)) if known else "add the application first",
            )


def _references(app: Checked, *, known: set[str]) -> Iterable[ManifestError]:
    assert isinstance(app.model, Application)
    spec = app.model.spec
    yield from _unknown_names(
        spec.depends_on, field="dependsOn", where=("spec", "dependsOn"), source=app.source,
        known=known,
    )  # fmt: skip
    yield from _unknown_names(
        spec.network.allow_from, field="allowFrom", where=("spec", "network", "allowFrom"),
        source=app.source, known=known,
    )  # fmt: skip


def check_raw_references(data: Any, source: SourceMap, *, known: set[str]) -> list[ManifestError]:
    """``dependsOn`` and ``allowFrom`` of an application whose file the model refused, read
    from the raw data, so that a wrong name there shows up in the same run."""
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return []
    network = spec.get("network")
    allow_from = network.get("allowFrom") if isinstance(network, dict) else None
    return [
        *_unknown_names(
            spec.get("dependsOn"), field="dependsOn", where=("spec", "dependsOn"),
            source=source, known=known,
        ),
        *_unknown_names(
            allow_from, field="allowFrom", where=("spec", "network", "allowFrom"),
            source=source, known=known,
        ),
    ]  # fmt: skip


def _cycles(apps: Mapping[str, Checked]) -> Iterable[ManifestError]:
    """One cycle per tangle of mutually dependent apps, reported at the edge that closes it."""
    graph = {
        name: sorted({d for d in app.model.spec.depends_on if d in apps and d != name})
        for name, app in apps.items()
        if isinstance(app.model, Application)
    }
    for component in _tangles(graph):
        cycle = _shortest_cycle(min(component), graph, within=component)
        last, closing = cycle[-1], cycle[0]
        checked = apps[last]
        assert isinstance(checked.model, Application)
        index = checked.model.spec.depends_on.index(closing)
        yield _error(
            checked.source,
            ("spec", "dependsOn", index),
            "dependsOn forms a cycle: " + " -> ".join([*cycle, closing]),
            "remove one of these dependencies; applications must start in some order",
        )


def _reachable(start: str, graph: Mapping[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for following in graph.get(todo.pop(), []):
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return seen


def _tangles(graph: Mapping[str, list[str]]) -> list[set[str]]:
    """Strongly connected groups of two or more apps, sorted by their first name.

    Quadratic in the number of apps, which stays in the hundreds for one environment.
    """
    reach = {name: _reachable(name, graph) for name in graph}
    groups: list[set[str]] = []
    for name in sorted(graph):
        if any(name in group for group in groups):
            continue
        group = {other for other in reach[name] if name in reach[other]}
        if len(group) > 1:
            groups.append(group)
    return groups


def _shortest_cycle(start: str, graph: Mapping[str, list[str]], *, within: set[str]) -> list[str]:
    """The shortest path from ``start`` back to it inside one tangle (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following_frontier: list[str] = []
        for node in frontier:
            for following in graph[node]:
                if following == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1]
                if following in within and following not in previous:
                    previous[following] = node
                    following_frontier.append(following)
        frontier = following_frontier
    raise AssertionError(f"{start} is in a tangle but no cycle returns to it")


def decide_target(app: Application) -> tuple[str, str, PathKey]:
    """Target, the rule that decided it, and the node that made it so.

    A local copy of rules 1-4 of the placement matrix, used only to check that the
    environment has a site for the target; ``planner.placement`` is the authority, and a
    test holds the two to the same answers.
    """
    placement, spec = app.spec.placement, app.spec
    if placement.target != "auto":
        return placement.target, "explicit-target", ("spec", "placement", "target")
    if any(c in VM_ONLY_COMPLIANCE for c in placement.compliance):
        return "vm", "compliance-requires-vm", ("spec", "placement", "compliance")
    if placement.stateful:
        return "vm", "stateful-requires-vm", ("spec", "placement", "stateful")
    if spec.volumes:
        return "vm", "stateful-requires-vm", ("spec", "volumes")
    return "kubernetes", "default-kubernetes", ("spec", "placement")


def _sites(env: Checked, app: Checked) -> Iterable[ManifestError]:
    assert isinstance(env.model, Environment)
    assert isinstance(app.model, Application)
    target, rule, where = decide_target(app.model)
    site = "vsphere" if target == "vm" else "kubernetes"
    if getattr(env.model.spec.sites, site) is not None:
        return
    other = "kubernetes" if target == "vm" else "vm"
    yield _error(
        app.source,
        where,
        f"application '{app.model.metadata.name}' goes to {target} (rule {rule}), but environment "
        f"'{env.model.metadata.name}' has no sites.{site}",
        f"add sites.{site} to {env.source.path}, or place the application on {other}"
        " if its compliance allows",
    )


def _missing_vip(env: Checked, app: Checked) -> Iterable[ManifestError]:
    assert isinstance(env.model, Environment)
    assert isinstance(app.model, Application)
    expose, sites = app.model.spec.expose, env.model.spec.sites
    if expose is None or expose.vip is not None or sites.nsx is None:
        return
    # Without sites.vsphere, _sites already reports that the app cannot be placed.
    if decide_target(app.model)[0] != "vm" or sites.vsphere is None:
        return
    yield _error(
        app.source,
        ("spec", "expose"),
        f"application '{app.model.metadata.name}' is exposed from VMs, so its NSX load balancer"
        " needs a virtual IP, but expose.vip is not set",
        "set expose.vip to an IPv4 address reserved for it on the tenant's load-balancer"
        " service, e.g. vip: 192.0.2.10",
    )


def _shared_vips(apps: Mapping[str, Checked]) -> Iterable[ManifestError]:
    owners: dict[str, str] = {}
    for name in sorted(apps):
        app = apps[name].model
        assert isinstance(app, Application)
        vip = app.spec.expose.vip if app.spec.expose is not None else None
        if vip is None:
            continue
        if vip in owners:
            yield _error(
                apps[name].source,
                ("spec", "expose", "vip"),
                f"expose.vip {vip} is already the virtual IP of application '{owners[vip]}'",
                "give each exposed application of the environment its own virtual IP",
            )
        owners.setdefault(vip, name)


def check_together(
    env: Checked | None, apps: Mapping[str, Checked], *, known: set[str]
) -> list[ManifestError]:
    """Rules across the files of one environment.

    Args:
        env: the parsed environment.yaml, or None when it did not parse.
        apps: the applications that parsed, by name.
        known: every application folder, parsed or not, so a broken file does not make its
            dependents report it as unknown.
    """
    errors = [e for app in apps.values() for e in _references(app, known=known)]
    errors += _cycles(apps)
    errors += _shared_vips(apps)
    if env is not None:
        errors += [e for app in apps.values() for e in (*_sites(env, app), *_missing_vip(env, app))]
    return errors
