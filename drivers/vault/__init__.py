"""The Vault/OpenBao secret source (hvac, KV v2): reads at apply time, wraps values for VMs."""

from drivers.vault.layout import SecretLocation, VaultLayout
from drivers.vault.redaction import register_value, safe_text, scrub_exception
from drivers.vault.source import VaultSecretSource

__all__ = [
    "SecretLocation",
    "VaultLayout",
    "VaultSecretSource",
    "register_value",
    "safe_text",
    "scrub_exception",
]
