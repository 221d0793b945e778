"""reporting and sharing: TLP, legal outcomes, target roles, indicators, public alerts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LIST_COLUMNS = [
    "org_id",
    "reported_at",
    "id",
    "status",
    "severity",
    "category",
    "region",
    "platform",
]
STATS_COLUMNS = ["perpetrator_type", "legal_outcome", "legal_provision", "tlp"]


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): on SQLite a table rebuild would drop the full-text triggers.
    op.add_column(
        "incidents", sa.Column("tlp", sa.String(length=12), server_default="amber", nullable=False)
    )
    op.add_column("incidents", sa.Column("disarm_techniques", sa.JSON(), nullable=True))
    op.add_column(
        "incidents",
        sa.Column(
            "legal_provision", sa.String(length=12), server_default="unassessed", nullable=False
        ),
    )
    op.add_column(
        "incidents",
        sa.Column(
            "legal_outcome", sa.String(length=24), server_default="not_reported", nullable=False
        ),
    )
    op.add_column(
        "incidents",
        sa.Column("authorities_reported_at", qorgau.store.types.UTCDateTime(), nullable=True),
    )
    op.add_column(
        "incidents",
        sa.Column("official_response_at", qorgau.store.types.UTCDateTime(), nullable=True),
    )
    # The case list's covering index also covers the statistics' columns: counting by
    # perpetrator or outcome then reads the index, not 100,000 table rows.
    op.drop_index("ix_incidents_list", table_name="incidents")
    op.create_index("ix_incidents_list", "incidents", [*LIST_COLUMNS, *STATS_COLUMNS])
    op.add_column("incident_targets", sa.Column("role", sa.String(length=30), nullable=True))
    op.add_column("incident_targets", sa.Column("gender", sa.String(length=20), nullable=True))
    op.add_column("incident_targets", sa.Column("target_type", sa.String(length=30), nullable=True))
    op.execute(
        "UPDATE incident_targets SET target_type = CASE "
        "WHEN kind IN ('outlet', 'website') THEN 'outlet' "
        "WHEN kind = 'person' THEN 'person' END"
    )
    op.create_index("ix_incident_targets_type", "incident_targets", ["target_type", "incident_id"])
    op.create_index(
        "ix_incident_targets_stats", "incident_targets", ["incident_id", "target_type", "gender"]
    )
    op.create_index(
        "ix_incidents_authorities",
        "incidents",
        [
            "org_id",
            "reported_at",
            "status",
            "legal_outcome",
            "authorities_reported_at",
            "official_response_at",
        ],
        sqlite_where=sa.text("authorities_reported_at IS NOT NULL"),
        postgresql_where=sa.text("authorities_reported_at IS NOT NULL"),
    )
    op.create_table(
        "legal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("details_enc", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_legal_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_legal_events_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_events")),
    )
    op.create_index("ix_legal_events_incident", "legal_events", ["incident_id", "at"])
    op.create_table(
        "indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        sa.Column("value_digest", sa.String(length=64), nullable=False),
        sa.Column("first_seen", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("tlp", sa.String(length=12), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_indicators_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators")),
        sa.UniqueConstraint(
            "org_id", "kind", "value_digest", name=op.f("uq_indicators_org_id_kind_value_digest")
        ),
        sa.UniqueConstraint("org_id", "uuid", name=op.f("uq_indicators_org_id_uuid")),
    )
    op.create_table(
        "indicator_incidents",
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_indicator_incidents_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_indicator_incidents_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("indicator_id", "incident_id", name=op.f("pk_indicator_incidents")),
    )
    op.create_index("ix_indicator_incidents_incident", "indicator_incidents", ["incident_id"])
    op.create_table(
        "public_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("published_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_public_alerts_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_public_alerts_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_alerts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_public_alerts_public_id")),
    )
    op.create_index("ix_public_alerts_org_published", "public_alerts", ["org_id", "published_at"])
    op.create_table(
        "partner_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("indicators", sa.Integer(), nullable=False),
        sa.Column("imported_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_partner_imports_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_imports")),
        sa.UniqueConstraint("org_id", "digest", name=op.f("uq_partner_imports_org_id_digest")),
    )


def downgrade() -> None:
    op.drop_table("partner_imports")
    op.drop_index("ix_public_alerts_org_published", table_name="public_alerts")
    op.drop_table("public_alerts")
    op.drop_index("ix_indicator_incidents_incident", table_name="indicator_incidents")
    op.drop_table("indicator_incidents")
    op.drop_table("indicators")
    op.drop_index("ix_legal_events_incident", table_name="legal_events")
    op.drop_table("legal_events")
    op.drop_index("ix_incidents_authorities", table_name="incidents")
    op.drop_index("ix_incident_targets_stats", table_name="incident_targets")
    op.drop_index("ix_incident_targets_type", table_name="incident_targets")
    # DROP COLUMN one by one (SQLite 3.35+ supports it) keeps the full-text triggers.
    for column in ("target_type", "gender", "role"):
        op.drop_column("incident_targets", column)
    op.drop_index("ix_incidents_list", table_name="incidents")
    op.create_index("ix_incidents_list", "incidents", LIST_COLUMNS)
    for column in (
        "official_response_at",
        "authorities_reported_at",
        "legal_outcome",
        "legal_provision",
        "disarm_techniques",
        "tlp",
    ):
        op.drop_column("incidents", column)
