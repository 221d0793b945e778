"""case desk schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=32), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_events_entity", ["entity", "entity_id", "id"], unique=False)

    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organisations_slug")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_campaigns_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_users_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_tokens_digest")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("started_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.Column("reported_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=True),
        sa.Column("region", sa.String(length=40), nullable=True),
        sa.Column("perpetrator_type", sa.String(length=40), nullable=False),
        sa.Column("perpetrator_description", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("ongoing", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("source_urls", sa.JSON(), nullable=False),
        sa.Column("reporter_user_id", sa.Integer(), nullable=True),
        sa.Column("reporter_enc", sa.Text(), nullable=True),
        sa.Column("reporter_email_bidx", sa.String(length=64), nullable=True),
        sa.Column("reporter_phone_bidx", sa.String(length=64), nullable=True),
        sa.Column("receipt_digest", sa.String(length=64), nullable=True),
        sa.Column("receipt_enc", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_incidents_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["incidents.id"], name=op.f("fk_incidents_merged_into_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_incidents_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"], ["users.id"], name=op.f("fk_incidents_reporter_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_incidents_idempotency_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_incidents_public_id")),
        sa.UniqueConstraint("receipt_digest", name=op.f("uq_incidents_receipt_digest")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_campaign", ["campaign_id"], unique=False)
        batch_op.create_index("ix_incidents_external_ref", ["org_id", "external_ref"], unique=False)
        batch_op.create_index("ix_incidents_org_category", ["org_id", "category"], unique=False)
        batch_op.create_index(
            "ix_incidents_org_reported", ["org_id", "reported_at", "id"], unique=False
        )
        batch_op.create_index("ix_incidents_org_severity", ["org_id", "severity"], unique=False)
        batch_op.create_index("ix_incidents_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index("ix_incidents_reporter", ["reporter_user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_incidents_reporter_email_bidx"), ["reporter_email_bidx"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incidents_reporter_phone_bidx"), ["reporter_phone_bidx"], unique=False
        )

    op.create_table(
        "incident_attack_types",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("attack_type", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_attack_types_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "incident_id", "attack_type", name=op.f("pk_incident_attack_types")
        ),
    )
    with op.batch_alter_table("incident_attack_types", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_attack_types_type", ["attack_type", "incident_id"], unique=False
        )

    op.create_table(
        "incident_legal_refs",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("legal_ref", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_legal_refs_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "legal_ref", name=op.f("pk_incident_legal_refs")),
    )
    op.create_table(
        "incident_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name_clear", sa.String(length=300), nullable=True),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("identifier_clear", sa.String(length=300), nullable=True),
        sa.Column("identifier_enc", sa.Text(), nullable=True),
        sa.Column("bidx", sa.String(length=64), nullable=False),
        sa.Column("consent_public", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_targets_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_targets")),
    )
    with op.batch_alter_table("incident_targets", schema=None) as batch_op:
        batch_op.create_index("ix_incident_targets_bidx", ["bidx", "incident_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_incident_targets_incident_id"), ["incident_id"], unique=False
        )

    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body_clear", sa.Text(), nullable=True),
        sa.Column("body_enc", sa.Text(), nullable=True),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_notes_author_id_users")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_notes_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notes_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_incident_id"))

    op.drop_table("notes")
    with op.batch_alter_table("incident_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_targets_incident_id"))
        batch_op.drop_index("ix_incident_targets_bidx")

    op.drop_table("incident_targets")
    op.drop_table("incident_legal_refs")
    with op.batch_alter_table("incident_attack_types", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_attack_types_type")

    op.drop_table("incident_attack_types")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_reporter_phone_bidx"))
        batch_op.drop_index(batch_op.f("ix_incidents_reporter_email_bidx"))
        batch_op.drop_index("ix_incidents_reporter")
        batch_op.drop_index("ix_incidents_org_status")
        batch_op.drop_index("ix_incidents_org_severity")
        batch_op.drop_index("ix_incidents_org_reported")
        batch_op.drop_index("ix_incidents_org_category")
        batch_op.drop_index("ix_incidents_external_ref")
        batch_op.drop_index("ix_incidents_campaign")

    op.drop_table("incidents")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("campaigns")
    op.drop_table("organisations")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_entity")
        batch_op.drop_index("ix_audit_events_at")

    op.drop_table("audit_events")
