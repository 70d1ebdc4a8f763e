"""Platform drivers and the secret source built from the engine's configuration, by site name.

``reconciler.wiring.engine`` calls ``connect``; drivers are closed with ``close_all``.
"""

from __future__ import annotations

from kubernetes.client import ApiClient, Configuration

from core.resources import Platform
from drivers.kubernetes import KubernetesDriver
from drivers.kubernetes.rest import retry_policy
from drivers.nsx import NsxDriver, NsxSettings
from drivers.vault import VaultSecretSource
from drivers.vsphere import VsphereDriver
from reconciler.sites import Sites
from reconciler.wiring.config import EngineConfig, KubernetesConnection


def _kubernetes(connection: KubernetesConnection, sites: Sites) -> KubernetesDriver:
    if connection.kubeconfig is not None:
        return KubernetesDriver.from_kubeconfig(connection.kubeconfig, secrets=sites.secrets)
    configuration = Configuration()
    configuration.host = connection.url
    configuration.retries = retry_policy()
    return KubernetesDriver(ApiClient(configuration), secrets=sites.secrets)


def connect(config: EngineConfig) -> Sites:
    """One driver per configured site, sharing the Vault secret source when there is one."""
    sites = Sites()
    if config.vault is not None:
        sites.secrets = VaultSecretSource(config.vault.address, token=config.vault.token)
    for name, kube in config.kubernetes.items():
        sites.add(Platform.KUBERNETES, _kubernetes(kube, sites), site=name)
    for name, vc in config.vsphere.items():
        driver = VsphereDriver(
            vc.host, port=vc.port, user=vc.user, password=vc.password, protocol=vc.protocol,
            verify_tls=vc.verify_tls, secrets=sites.secrets,
            vault_address=config.vault.address if config.vault else "",
        )  # fmt: skip
        sites.add(Platform.VSPHERE, driver, site=name)
    for name, nsx in config.nsx.items():
        settings = NsxSettings(
            url=nsx.url,
            username=nsx.username,
            password=nsx.password,
            verify=nsx.verify,
            poll_seconds=nsx.realization_poll_seconds,
        )
        sites.add(Platform.NSX, NsxDriver(settings), site=name)
    return sites


def close_all(sites: Sites) -> None:
    """Close every driver that holds connections."""
    for driver in sites.drivers.values():
        close = getattr(driver, "close", None)
        if callable(close):
            close()
