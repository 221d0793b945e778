"""security keys (WebAuthn) as a second factor

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A public key and its credential id reveal nothing a thief could sign in with, so they
    # are stored in clear; the label a person gives a key is theirs and stays short.
    op.create_table(
        "security_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.UniqueConstraint("credential_id", name="uq_security_keys_credential"),
    )
    op.create_index("ix_security_keys_user", "security_keys", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_security_keys_user", table_name="security_keys")
    op.drop_table("security_keys")
