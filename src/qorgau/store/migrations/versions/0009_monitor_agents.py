"""monitor: vantage agents and control samples

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("asn", sa.String(length=16), nullable=True),
        sa.Column("network_name", sa.String(length=80), nullable=True),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("registered_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.Column("clock_offset_s", sa.Float(), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("revoked_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_monitor_agents_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_agents")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_monitor_agents_org_id_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_monitor_agents_token_hash")),
    )
    op.create_table(
        "monitor_control_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("started_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("control", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_monitor_control_samples_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_control_samples")),
    )
    with op.batch_alter_table("monitor_control_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitor_control_samples_url", ["org_id", "url", "started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_control_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_control_samples_url")
    op.drop_table("monitor_control_samples")
    op.drop_table("monitor_agents")
