"""people's control over their data: consent records, legal holds, erasure marks, panic locks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Append-only: the latest row of a case is its consent in force, earlier rows its history.
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name_publicly", sa.String(length=12), nullable=False),
        sa.Column("share", sa.String(length=12), nullable=False),
        sa.Column("partners", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_by_name", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_consent_records_case", "consent_records", ["incident_id", "id"])
    # A row while the case is locked; lifting deletes it (the audit keeps the history).
    op.create_table(
        "case_locks",
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("locked_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("locked_by", sa.Integer(), nullable=True),
        sa.Column("locked_by_name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_table(
        "legal_holds",
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("held_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("held_by", sa.Integer(), nullable=True),
        sa.Column("held_by_name", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    # Erased content: the row (and its log entry) stays so that hashes still verify.
    op.add_column(
        "vault_items", sa.Column("erased_at", qorgau.store.types.UTCDateTime(), nullable=True)
    )
    op.add_column(
        "attachments", sa.Column("erased_at", qorgau.store.types.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("attachments", "erased_at")
    op.drop_column("vault_items", "erased_at")
    op.drop_table("legal_holds")
    op.drop_table("case_locks")
    op.drop_index("ix_consent_records_case", table_name="consent_records")
    op.drop_table("consent_records")
