"""Alembic migrations of the state store, run from Python by ``state.migrating``."""
