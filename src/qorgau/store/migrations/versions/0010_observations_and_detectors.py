"""observations, watchlist, detector state and findings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import qorgau.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detector_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=60), nullable=False),
        sa.Column("obs_key", sa.String(length=400), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_detector_failures_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detector_failures")),
        sa.UniqueConstraint(
            "org_id",
            "detector",
            "obs_key",
            name=op.f("uq_detector_failures_org_id_detector_obs_key"),
        ),
    )
    op.create_table(
        "detector_state",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=60), nullable=False),
        sa.Column("partition", sa.String(length=300), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_detector_state_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("org_id", "detector", "partition", name=op.f("pk_detector_state")),
    )
    op.create_table(
        "observation_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("revoked_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_observation_sources_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_sources")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_observation_sources_org_id_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_observation_sources_token_hash")),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("obs_key", sa.String(length=400), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("platform", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=True),
        sa.Column("observed_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("stored_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("processed_at", qorgau.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_observations_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint("org_id", "obs_key", name=op.f("uq_observations_org_id_obs_key")),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observations_pending", ["org_id", "processed_at", "observed_at"], unique=False
        )

    op.create_table(
        "watchlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_index", sa.String(length=64), nullable=False),
        sa.Column("created_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_watchlist_entries_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_entries")),
        sa.UniqueConstraint(
            "org_id",
            "kind",
            "value_index",
            name=op.f("uq_watchlist_entries_org_id_kind_value_index"),
        ),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=60), nullable=False),
        sa.Column("campaign_key", sa.String(length=300), nullable=False),
        sa.Column("attack_type", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("first_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_at", qorgau.store.types.UTCDateTime(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("linked_finding_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_findings_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_findings_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "org_id",
            "detector",
            "campaign_key",
            name=op.f("uq_findings_org_id_detector_campaign_key"),
        ),
    )
    op.create_table(
        "finding_observations",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("vault_item_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name=op.f("fk_finding_observations_finding_id_findings"),
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name=op.f("fk_finding_observations_observation_id_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["vault_item_id"],
            ["vault_items.id"],
            name=op.f("fk_finding_observations_vault_item_id_vault_items"),
        ),
        sa.PrimaryKeyConstraint(
            "finding_id", "observation_id", name=op.f("pk_finding_observations")
        ),
    )


def downgrade() -> None:
    op.drop_table("finding_observations")
    op.drop_table("findings")
    op.drop_table("watchlist_entries")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index("ix_observations_pending")

    op.drop_table("observations")
    op.drop_table("observation_sources")
    op.drop_table("detector_state")
    op.drop_table("detector_failures")
