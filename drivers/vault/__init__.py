"""The Vault/OpenBao secrets driver (hvac). Not built yet."""
