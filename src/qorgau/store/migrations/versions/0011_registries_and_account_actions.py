"""detector registries and social-account actions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detector_registries",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("updated_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_detector_registries_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("org_id", "kind", name=op.f("pk_detector_registries")),
    )
    op.create_table(
        "account_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=60), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_account_actions_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_actions")),
        sa.UniqueConstraint(
            "org_id",
            "platform",
            "account",
            "action",
            "at",
            name=op.f("uq_account_actions_org_id_platform_account_action_at"),
        ),
    )
    with op.batch_alter_table("account_actions", schema=None) as batch_op:
        batch_op.create_index("ix_account_actions_org_at", ["org_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_account_actions_org_at")
    op.drop_table("account_actions")
    op.drop_table("detector_registries")
