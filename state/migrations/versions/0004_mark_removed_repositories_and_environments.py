"""Mark repositories and environments removed through the tenant API instead of deleting them,
so their plans, runs, drift reports and audit entries stay.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("repositories", "environments")


def upgrade() -> None:
    for table in _TABLES:
        # Batch mode: SQLite alters a table by copying it; PostgreSQL gets a plain ALTER.
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("removed_at")
