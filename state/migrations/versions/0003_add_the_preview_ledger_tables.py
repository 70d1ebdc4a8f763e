"""Add the preview ledger: previewed plans, merges the forges announced, and the verdict on each
merged commit's plan.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant(table: str) -> list[sa.Column[Any] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("tenant_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "previewed_plans",
        sa.Column("id", _ID, nullable=False),
        *_tenant("previewed_plans"),
        sa.Column("environment", sa.String(length=128), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("head_commit", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=80), nullable=False),
        sa.Column("desired_digest", sa.String(length=80), nullable=False),
        sa.Column("observed_fingerprint", sa.String(length=80), nullable=False),
        sa.Column("policy_digest", sa.String(length=80), nullable=False),
        sa.Column("comment_id", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_previewed_plans")),
    )
    with op.batch_alter_table("previewed_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_previewed_plans_tenant_id_environment_repository_number"),
            ["tenant_id", "environment", "repository", "number"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_previewed_plans_tenant_id_head_commit"),
            ["tenant_id", "head_commit"],
            unique=False,
        )

    op.create_table(
        "review_merges",
        sa.Column("id", _ID, nullable=False),
        *_tenant("review_merges"),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("merge_commit", sa.String(length=64), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_merges")),
        sa.UniqueConstraint(
            "tenant_id",
            "merge_commit",
            "repository",
            "number",
            name=op.f("uq_review_merges_tenant_id_merge_commit_repository_number"),
        ),
    )
    op.create_table(
        "merge_verdicts",
        sa.Column("id", _ID, nullable=False),
        *_tenant("merge_verdicts"),
        sa.Column("environment", sa.String(length=128), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("matches", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("repository", sa.String(length=512), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=80), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_verdicts")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment",
            "commit",
            name=op.f("uq_merge_verdicts_tenant_id_environment_commit"),
        ),
    )


def downgrade() -> None:
    op.drop_table("merge_verdicts")
    op.drop_table("review_merges")
    with op.batch_alter_table("previewed_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_previewed_plans_tenant_id_head_commit"))
        batch_op.drop_index(
            batch_op.f("ix_previewed_plans_tenant_id_environment_repository_number")
        )
    op.drop_table("previewed_plans")
