"""The manifest contract, version 1: pydantic models of ``environment.yaml`` and ``deploy.yaml``.

Field names are fixed by the contract (docs/manifest-reference.md). These models check each field
on its own; rules that span fields (a port named by ``expose``, ``dependsOn`` cycles, placement
against compliance) live in ``planner.validation`` so that each error points at its own line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

API_VERSION = "deploy.rxt.io/v1"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Kubernetes quantity syntax: a decimal number and an optional binary or decimal suffix.
QUANTITY = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
# A duration such as 90s, 10m, 1h or 0 (which disables the schedule).
DURATION = r"^(0|[1-9][0-9]*(s|m|h))$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
EGRESS_RULE = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?(:[0-9]{1,5})?$"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_ADDRESS = rf"^{_OCTET}(\.{_OCTET}){{3}}$"

DnsLabel = Annotated[
    str, Field(min_length=1, max_length=63, pattern=DNS_LABEL, description="A DNS label.")
]
Quantity = Annotated[str, Field(pattern=QUANTITY, description="A Kubernetes quantity.")]


def _scalar_to_text(value: Any) -> Any:
    """Let ``PORT: 8080`` or ``DEBUG: true`` stand for the strings a container receives."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Model(BaseModel):
    """Every manifest model: unknown fields are errors, names are the contract's camelCase."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Metadata(_Model):
    name: DnsLabel = Field(description="The environment's name, a DNS label.")
    tenant: DnsLabel = Field(description="The tenant; must match the tenant of the repository.")


class VsphereSite(_Model):
    site: DnsLabel = Field(description="The name of a vSphere connection configured in the engine.")
    datacenter: str = Field(min_length=1, description="The vSphere datacenter.")
    cluster: str = Field(min_length=1, description="The compute cluster VMs are placed on.")
    folder: str = Field(min_length=1, description="The VM folder of this environment.")
    network: str = Field(min_length=1, description="The network VMs attach to.")
    template: str = Field(min_length=1, description="The VM template clones are made from.")


class NsxSite(_Model):
    site: DnsLabel = Field(description="The name of an NSX connection configured in the engine.")
    tier1: str = Field(min_length=1, description="The tier-1 gateway segments connect to.")


class KubernetesSite(_Model):
    site: DnsLabel = Field(description="The name of a Kubernetes cluster configured in the engine.")
    namespace: DnsLabel = Field(description="The namespace of this environment.")


class Sites(_Model):
    vsphere: VsphereSite | None = Field(default=None, description="Where VMs go.")
    nsx: NsxSite | None = Field(default=None, description="Where NSX objects go.")
    kubernetes: KubernetesSite | None = Field(default=None, description="Where pods go.")


PruneKind = Literal[
    "vm", "volume", "namespace", "deployment", "service", "ingress", "secret",
    "segment", "firewall", "load-balancer",
]  # fmt: skip


class Sync(_Model):
    auto: bool = Field(default=True, description="Apply on push; false means plan only.")
    prune: bool = Field(default=False, description="Delete what the repository no longer declares.")
    confirm_prune: list[PruneKind] = Field(
        default_factory=lambda: list[PruneKind](["vm", "volume"]),
        alias="confirmPrune",
        description="Kinds whose deletion needs an explicit approval.",
    )


class Drift(_Model):
    interval: Annotated[str, BeforeValidator(_scalar_to_text)] = Field(
        default="10m", pattern=DURATION, description="Schedule, e.g. 10m; 0 disables."
    )
    mode: Literal["report", "heal"] = Field(
        default="report", description="report records drift; heal reverts it through policy."
    )


Enforcement = Literal["advisory", "soft-mandatory", "hard-mandatory"]
PackName = Literal["baseline", "pci-dss", "hipaa", "soc2"]


class PolicySettings(_Model):
    packs: list[PackName] = Field(
        default_factory=lambda: list[PackName](["baseline"]),
        description="Built-in policy packs to evaluate.",
    )
    enforcement: dict[PackName, Enforcement] = Field(
        default_factory=dict,
        description="Enforcement level per pack; packs not named are hard-mandatory.",
    )


class EnvironmentSpec(_Model):
    sites: Sites = Field(description="Names of platform connections configured in the engine.")
    sync: Sync = Field(default_factory=Sync)
    drift: Drift = Field(default_factory=Drift)
    policy: PolicySettings = Field(default_factory=PolicySettings)


class Environment(_Model):
    """``environments/<env>/environment.yaml``."""

    api_version: Literal["deploy.rxt.io/v1"] = Field(alias="apiVersion")
    kind: Literal["Environment"]
    metadata: Metadata
    spec: EnvironmentSpec


class AppMetadata(_Model):
    name: str = Field(
        min_length=1, max_length=40, pattern=DNS_LABEL, description="DNS label, ≤ 40 characters."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form labels.")


class Resources(_Model):
    cpu: Quantity | None = Field(default=None, description='CPU, e.g. "2" or "500m".')
    memory: Quantity | None = Field(default=None, description='Memory, e.g. "4Gi".')


class Port(_Model):
    name: str = Field(
        min_length=1, max_length=15, pattern=DNS_LABEL, description="A port name (≤ 15)."
    )
    port: int = Field(ge=1, le=65535, description="The container port.")
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(default="TCP")


class SecretKeyRef(_Model):
    path: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        description="Path under the tenant's Vault KV v2 mount, e.g. payments/db.",
    )
    key: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Key at that path.")


class SecretValue(_Model):
    secret_ref: SecretKeyRef = Field(alias="secretRef", description="A Vault KV v2 reference.")


EnvValue = Annotated[str | SecretValue, BeforeValidator(_scalar_to_text)]


class Volume(_Model):
    name: DnsLabel
    size: Quantity = Field(description='Size, e.g. "50Gi".')
    mount_path: str = Field(alias="mountPath", pattern=r"^/", description="Absolute mount path.")


class Expose(_Model):
    host: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        description="The public host name.",
    )
    path: str = Field(default="/", pattern=r"^/")
    port: str = Field(min_length=1, description="The name of one of the app's ports.")
    tls: bool = Field(default=False, description="Serve HTTPS with a certificate.")
    vip: str | None = Field(
        default=None,
        pattern=IPV4_ADDRESS,
        description="The virtual IP of the NSX load balancer, for apps placed on VMs; ignored on"
        " Kubernetes, where the Ingress serves the host.",
    )


class Network(_Model):
    allow_from: list[DnsLabel] = Field(
        default_factory=list, alias="allowFrom", description="Apps that may connect."
    )
    egress: list[Annotated[str, Field(pattern=EGRESS_RULE)]] = Field(
        default_factory=list, description='Allowed destinations, "CIDR" or "CIDR:port".'
    )


class HealthCheck(_Model):
    path: str = Field(pattern=r"^/", description="The HTTP path that answers 200 when healthy.")
    port: str = Field(min_length=1, description="The name of one of the app's ports.")


class Autoscale(_Model):
    min: int = Field(ge=1, description="Fewest replicas.")
    max: int = Field(ge=1, description="Most replicas.")
    cpu_percent: int = Field(default=70, ge=1, le=100, alias="cpuPercent")


Compliance = Literal["pci-dss", "hipaa", "soc2"]


class Placement(_Model):
    target: Literal["auto", "vm", "kubernetes"] = Field(default="auto")
    stateful: bool = Field(default=False, description="Keeps state on local disks.")
    compliance: list[Compliance] = Field(default_factory=list)


class VmSizing(_Model):
    cpu: int | None = Field(default=None, ge=1, le=768, description="vCPUs.")
    memory_mib: int | None = Field(default=None, ge=128, alias="memoryMiB", description="MiB.")
    disk_gib: int | None = Field(default=None, ge=1, alias="diskGiB", description="Boot disk.")


class IgnoreRule(_Model):
    platform: Literal["kubernetes", "vsphere", "nsx"]
    kind: str = Field(min_length=1, description="The resource kind, e.g. Deployment or VM.")
    path: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="A dotted field path, e.g. spec.replicas.",
    )


class ApplicationSpec(_Model):
    image: str = Field(min_length=1, description="The container image; a digest is recommended.")
    replicas: int = Field(default=1, ge=0, le=1000)
    resources: Resources = Field(default_factory=Resources)
    ports: list[Port] = Field(default_factory=list)
    env: dict[Annotated[str, Field(pattern=ENV_NAME)], EnvValue] = Field(default_factory=dict)
    volumes: list[Volume] = Field(default_factory=list)
    expose: Expose | None = None
    network: Network = Field(default_factory=Network)
    health: HealthCheck | None = None
    autoscale: Autoscale | None = None
    depends_on: list[DnsLabel] = Field(default_factory=list, alias="dependsOn")
    placement: Placement = Field(default_factory=Placement)
    vm: VmSizing = Field(default_factory=VmSizing)
    ignore: list[IgnoreRule] = Field(default_factory=list)


class Application(_Model):
    """``environments/<env>/apps/<app>/deploy.yaml``."""

    api_version: Literal["deploy.rxt.io/v1"] = Field(alias="apiVersion")
    kind: Literal["Application"]
    metadata: AppMetadata
    spec: ApplicationSpec
