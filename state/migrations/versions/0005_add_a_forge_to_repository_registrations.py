"""Let a registration name its own forge (provider, API URL and a reference to its token), so
its pull request previews are posted with the tenant's token rather than the engine's.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite alters a table by copying it; PostgreSQL gets a plain ALTER.
    with op.batch_alter_table("repository_registrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "forge",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("repository_registrations", schema=None) as batch_op:
        batch_op.drop_column("forge")
