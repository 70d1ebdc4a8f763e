"""The state store: SQLAlchemy models and migrations, leases, the outbox, the audit chain."""
