"""web interface: two-factor sign-in and saved views of the case queue

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The TOTP secrets are encrypted like any personal field: a copy of the database alone
    # must not let anyone produce a staff member's codes.
    op.add_column("users", sa.Column("totp_secret", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("totp_pending", sa.Text(), nullable=True))
    op.add_column(
        "users", sa.Column("totp_enabled_at", qorgau.store.types.UTCDateTime(), nullable=True)
    )
    op.add_column("users", sa.Column("totp_last_counter", sa.BigInteger(), nullable=True))
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),
    )
    # The desk queue narrowed by assignee: counted and paged from the index alone.
    op.create_index(
        "ix_incidents_queue",
        "incidents",
        ["org_id", "assignee_id", "status", "reported_at", "id"],
    )
    # The case page reads what was merged into the case; without it, a scan of every incident.
    op.create_index(
        "ix_incidents_merged_into",
        "incidents",
        ["merged_into_id"],
        sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        postgresql_where=sa.text("merged_into_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_merged_into", table_name="incidents")
    op.drop_index("ix_incidents_queue", table_name="incidents")
    op.drop_table("saved_views")
    for column in ("totp_last_counter", "totp_enabled_at", "totp_pending", "totp_secret"):
        op.drop_column("users", column)
