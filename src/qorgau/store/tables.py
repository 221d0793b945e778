"""Table definitions (SQLAlchemy Core). Alembic migrations are the source of truth for the
schema in a database; these definitions must match the head revision (a test checks it)."""

from __future__ import annotations

import sqlalchemy as sa

from qorgau.store.types import UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("public_id", sa.String(16), nullable=False, unique=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    # Word tokens of title and description, case-folded in Python so that SQLite FTS5 and
    # PostgreSQL tsvector index exactly the same words.
    sa.Column("search_text", sa.Text, nullable=False),
    # SQLite only: whether the row is in the FTS5 index yet (see store.search_index).
    sa.Column("search_indexed", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("reported_at", UTCDateTime, nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("platform", sa.String(40), nullable=True),
    sa.Column("region", sa.String(40), nullable=True),
    sa.Column("perpetrator_type", sa.String(40), nullable=False),
    sa.Column("perpetrator_description", sa.Text, nullable=True),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("ongoing", sa.Boolean, nullable=False),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("source_urls", sa.JSON, nullable=False),
    sa.Column("reporter_user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("reporter_enc", sa.Text, nullable=True),
    sa.Column("reporter_email_bidx", sa.String(64), nullable=True, index=True),
    sa.Column("reporter_phone_bidx", sa.String(64), nullable=True, index=True),
    sa.Column("receipt_digest", sa.String(64), nullable=True, unique=True),
    sa.Column("receipt_enc", sa.Text, nullable=True),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("request_digest", sa.String(64), nullable=True),
    sa.Column("external_ref", sa.String(200), nullable=True),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=True),
    sa.Column("merged_into_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("idempotency_key"),
    # Covers the case list: any mix of these filters, sorted by report time, counted and paged
    # from the index alone.
    sa.Index(
        "ix_incidents_list",
        "org_id",
        "reported_at",
        "id",
        "status",
        "severity",
        "category",
        "region",
        "platform",
    ),
    sa.Index("ix_incidents_campaign", "campaign_id"),
    sa.Index("ix_incidents_reporter", "reporter_user_id"),
    sa.Index("ix_incidents_external_ref", "org_id", "external_ref"),
)

incident_attack_types = sa.Table(
    "incident_attack_types",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("attack_type", sa.String(40), primary_key=True),
    sa.Index("ix_incident_attack_types_type", "attack_type", "incident_id"),
)

incident_legal_refs = sa.Table(
    "incident_legal_refs",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("legal_ref", sa.String(40), primary_key=True),
)

incident_targets = sa.Table(
    "incident_targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    # Sensitive kinds (people, phones, e-mails, accounts) have *_enc set and *_clear empty;
    # outlets and website hosts are public facts and stay searchable in clear.
    sa.Column("name_clear", sa.String(300), nullable=True),
    sa.Column("name_enc", sa.Text, nullable=True),
    sa.Column("identifier_clear", sa.String(300), nullable=True),
    sa.Column("identifier_enc", sa.Text, nullable=True),
    sa.Column("bidx", sa.String(64), nullable=False),
    sa.Column("consent_public", sa.Boolean, nullable=False),
    sa.Index("ix_incident_targets_bidx", "bidx", "incident_id"),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("body_clear", sa.Text, nullable=True),
    sa.Column("body_enc", sa.Text, nullable=True),
    sa.Column("sensitive", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("org_id", sa.Integer, nullable=True),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_name", sa.String(64), nullable=False),
    sa.Column("tag", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("entity_id", sa.String(32), nullable=False),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Index("ix_audit_events_entity", "entity", "entity_id", "id"),
    sa.Index("ix_audit_events_at", "at"),
)
