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
    # Two-factor sign-in (TOTP): the secret encrypted, a secret being enrolled, and the last
    # accepted time step so that a code seen over a shoulder cannot be replayed.
    sa.Column("totp_secret", sa.Text, nullable=True),
    sa.Column("totp_pending", sa.Text, nullable=True),
    sa.Column("totp_enabled_at", UTCDateTime, nullable=True),
    sa.Column("totp_last_counter", sa.BigInteger, nullable=True),
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
    # Triage: what the rules proposed and why; who confirmed or overrode it and when.
    # (No foreign keys on the columns added later: on SQLite that would rebuild the table and
    # drop the full-text triggers; users are never deleted, only deactivated.)
    sa.Column("proposed_severity", sa.String(10), nullable=True),
    sa.Column("triage", sa.JSON, nullable=True),
    sa.Column("severity_confirmed_at", UTCDateTime, nullable=True),
    sa.Column("severity_confirmed_by", sa.Integer, nullable=True),
    sa.Column("assignee_id", sa.Integer, nullable=True),
    sa.Column("assigned_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Reporting and sharing (0012): who may receive the case (TLP 2.0), DISARM techniques of a
    # disinformation incident, and what the law and the authorities did. The outcome and the
    # two times are derived from legal_events and kept here so statistics read one table.
    sa.Column("tlp", sa.String(12), nullable=False, server_default="amber"),
    sa.Column("disarm_techniques", sa.JSON, nullable=True),
    sa.Column("legal_provision", sa.String(12), nullable=False, server_default="unassessed"),
    sa.Column("legal_outcome", sa.String(24), nullable=False, server_default="not_reported"),
    sa.Column("authorities_reported_at", UTCDateTime, nullable=True),
    sa.Column("official_response_at", UTCDateTime, nullable=True),
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
        # (0012) so that statistics by these answer from the index alone too
        "perpetrator_type",
        "legal_outcome",
        "legal_provision",
        "tlp",
    ),
    # (0012) The few cases put before the authorities, for the advocacy figures; partial, so
    # new reports (never reported yet) add nothing to it.
    sa.Index(
        "ix_incidents_authorities",
        "org_id",
        "reported_at",
        "status",
        "legal_outcome",
        "authorities_reported_at",
        "official_response_at",
        sqlite_where=sa.text("authorities_reported_at IS NOT NULL"),
        postgresql_where=sa.text("authorities_reported_at IS NOT NULL"),
    ),
    sa.Index("ix_incidents_campaign", "campaign_id"),
    sa.Index("ix_incidents_reporter", "reporter_user_id"),
    sa.Index("ix_incidents_external_ref", "org_id", "external_ref"),
    sa.Index("ix_incidents_assignee", "assignee_id"),
    # The desk queue narrowed to "mine" or "unassigned": count and page the open cases of one
    # assignee (or none) from the index alone (188 → 20 ms at 100,000 incidents).
    sa.Index("ix_incidents_queue", "org_id", "assignee_id", "status", "reported_at", "id"),
    # A case page gathers what was merged into it; few rows ever are, so a partial index.
    sa.Index(
        "ix_incidents_merged_into",
        "merged_into_id",
        sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        postgresql_where=sa.text("merged_into_id IS NOT NULL"),
    ),
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
    # Categorical facts for statistics (0012), in clear: "outlet" or a person's role, and a
    # gender only when the person consented to its recording.
    sa.Column("role", sa.String(30), nullable=True),
    sa.Column("gender", sa.String(20), nullable=True),
    sa.Column("target_type", sa.String(30), nullable=True),
    sa.Index("ix_incident_targets_bidx", "bidx", "incident_id"),
    sa.Index("ix_incident_targets_type", "target_type", "incident_id"),
    # (0012) covers statistics by target type and gender from the incident side
    sa.Index("ix_incident_targets_stats", "incident_id", "target_type", "gender"),
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


# -- rapid response ------------------------------------------------------------------------

response_clocks = sa.Table(
    "response_clocks",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    # Due times already include every pause so far; an open pause is added when it ends.
    sa.Column("response_due", UTCDateTime, nullable=False),
    sa.Column("action_due", UTCDateTime, nullable=False),
    sa.Column("responded_at", UTCDateTime, nullable=True),
    sa.Column("acted_at", UTCDateTime, nullable=True),
    sa.Column("paused_since", UTCDateTime, nullable=True),
    sa.Column("paused_seconds", sa.Integer, nullable=False),
    sa.Column("response_escalated_at", UTCDateTime, nullable=True),
    sa.Column("action_escalated_at", UTCDateTime, nullable=True),
    sa.Column("stopped_at", UTCDateTime, nullable=True),
    sa.Index("ix_response_clocks_due", "stopped_at", "response_due", "action_due"),
    sa.Index("ix_response_clocks_org", "org_id", "stopped_at"),
)

case_tasks = sa.Table(
    "case_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("playbook_id", sa.String(64), nullable=True),
    sa.Column("playbook_version", sa.String(32), nullable=True),
    sa.Column("step_id", sa.String(64), nullable=True),
    # {"en": ..., "ru": ..., "kk": ...} from a playbook, or {"custom": ...} added by hand.
    sa.Column("title", sa.JSON, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.Column("done_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.UniqueConstraint("incident_id", "playbook_id", "step_id"),
    sa.Index("ix_case_tasks_incident", "incident_id", "position"),
)

response_documents = sa.Table(
    "response_documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    # roster | channels | clocks | playbook:<id> | referrals | triage
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.UniqueConstraint("org_id", "kind", "version"),
)

user_channels = sa.Table(
    "user_channels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("address_enc", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", "kind"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("address_enc", sa.Text, nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    # pending -> sending -> sent | pending (retry) | dead
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("read_at", UTCDateTime, nullable=True),
    sa.Index("ix_deliveries_due", "state", "next_attempt_at"),
    sa.Index("ix_deliveries_user", "user_id", "channel", "id"),
    sa.Index("ix_deliveries_incident", "incident_id", "id"),
)

referrals = sa.Table(
    "referrals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("partner_id", sa.String(64), nullable=False),
    sa.Column("need", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

statements = sa.Table(
    "statements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("approved_at", UTCDateTime, nullable=True),
    sa.Column("approved_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("published_at", UTCDateTime, nullable=True),
)

hygiene_subjects = sa.Table(
    "hygiene_subjects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    # A person's name is personal data: encrypted like a target's.
    sa.Column("label_enc", sa.Text, nullable=False),
    sa.Column("checklist_id", sa.String(64), nullable=False),
    sa.Column("checklist_version", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

hygiene_items = sa.Table(
    "hygiene_items",
    metadata,
    sa.Column(
        "subject_id",
        sa.Integer,
        sa.ForeignKey("hygiene_subjects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("step_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
)

attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("media_type", sa.String(120), nullable=False),
    sa.Column("filename_enc", sa.Text, nullable=True),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("erased_at", UTCDateTime, nullable=True),  # (0014) bytes and name erased
)

inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("external_id", sa.String(200), nullable=False),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("channel", "external_id"),
)

inbound_drafts = sa.Table(
    "inbound_drafts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(20), nullable=False),
    # Blind index of the sender (chat id, e-mail address): found again without storing it.
    sa.Column("sender_bidx", sa.String(64), nullable=False),
    # The draft so far (text, language, attachment hashes), encrypted.
    sa.Column("body_enc", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("channel", "sender_bidx"),
)

# -- evidence vault ------------------------------------------------------------------------

vault_items = sa.Table(
    "vault_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(120), nullable=False),
    # original | working | redacted | capture-part
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("method", sa.String(20), nullable=False),  # upload, email, telegram, capture...
    sa.Column("original_name_enc", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=True),  # where it was collected (URL, channel)
    sa.Column("collected_at", UTCDateTime, nullable=False),
    sa.Column("collected_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    sa.Column("collector_name", sa.String(64), nullable=False),
    sa.Column("derived_from_id", sa.Integer, sa.ForeignKey("vault_items.id"), nullable=True),
    sa.Column("derivation", sa.Text, nullable=True),
    sa.Column("capture_id", sa.String(32), nullable=True),  # items of one web capture
    sa.Column("details", sa.JSON, nullable=False),  # request headers, resolved IP, warnings
    # Searchable fields of captured posts, ads and messages (visible text, author handle).
    sa.Column("search_text", sa.Text, nullable=True),
    sa.Column("leaf_index", sa.Integer, nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # (0014) when the content was erased: the row and its log entry stay, the bytes go.
    sa.Column("erased_at", UTCDateTime, nullable=True),
    sa.Index("ix_vault_items_incident", "incident_id", "id"),
    sa.Index("ix_vault_items_sha256", "sha256"),
    sa.Index("ix_vault_items_capture", "capture_id"),
)

vault_log = sa.Table(
    "vault_log",
    metadata,
    # The leaf's position in the Merkle tree: 0, 1, 2... without gaps.
    sa.Column("leaf_index", sa.Integer, primary_key=True, autoincrement=False),
    # The leaf entry exactly as hashed (canonical JSON, RFC 8785).
    sa.Column("entry", sa.Text, nullable=False),
    sa.Column("leaf_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

vault_heads = sa.Table(
    "vault_heads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tree_size", sa.Integer, nullable=False),
    sa.Column("root_hash", sa.String(64), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("signature", sa.Text, nullable=False),  # base64
    sa.Column("tsa_token", sa.Text, nullable=True),  # base64 DER, RFC 3161
    sa.Column("tsa_url", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_vault_heads_size", "tree_size"),
)

vault_custody = sa.Table(
    "vault_custody",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("vault_items.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # collected, viewed, exported, derived
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Index("ix_vault_custody_item", "item_id", "id"),
)

# -- reachability monitor ------------------------------------------------------------------

monitor_observations = sa.Table(
    "monitor_observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("network", sa.String(120), nullable=False),  # "KZ AS9198 Kazakhtelecom"
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("verdict", sa.String(24), nullable=False),
    sa.Column("confirmed", sa.Boolean, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # ooni | qorgau
    sa.Column("source_id", sa.String(200), nullable=False),
    sa.Column("vault_item_id", sa.Integer, sa.ForeignKey("vault_items.id"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "source", "source_id"),
    sa.Index("ix_monitor_observations_host", "org_id", "host", "started_at"),
)

monitor_hosts = sa.Table(
    "monitor_hosts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("network", sa.String(120), nullable=False),
    # accessible | blocked | down | unknown: the latest state, with the verdict behind it
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("verdict", sa.String(24), nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("first_blocked_at", UTCDateTime, nullable=True),
    sa.Column("last_blocked_at", UTCDateTime, nullable=True),
    sa.Column("methods", sa.JSON, nullable=False),  # blocking verdicts seen
    # court_order | administrative_order | none_known, and the order's reference when known
    sa.Column("legal_basis", sa.String(24), nullable=False),
    sa.Column("legal_reference", sa.Text, nullable=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.UniqueConstraint("org_id", "host", "network"),
)

monitor_targets = sa.Table(
    "monitor_targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("outlet", sa.String(200), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "url"),
    sa.Index("ix_monitor_targets_outlet", "org_id", "outlet"),
)

# Vantage agents: a probe on a volunteer's laptop or a small server inside a network. The
# enrolment token is kept only as a hash; the agent's Ed25519 public key, bound at its first
# registration, verifies every result it uploads.
monitor_agents = sa.Table(
    "monitor_agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("public_key", sa.String(64), nullable=True),  # base64 of the raw 32 bytes
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("asn", sa.String(16), nullable=True),
    sa.Column("network_name", sa.String(80), nullable=True),
    sa.Column("is_control", sa.Boolean, nullable=False),
    sa.Column("interval_s", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("registered_at", UTCDateTime, nullable=True),
    sa.Column("last_seen_at", UTCDateTime, nullable=True),
    sa.Column("clock_offset_s", sa.Float, nullable=True),  # server minus agent, last upload
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "name"),
)

# What control agents saw of each URL, kept to pair with an in-country measurement that came
# without its own control (the agent could not reach the control helper at the time).
monitor_control_samples = sa.Table(
    "monitor_control_samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("control", sa.JSON, nullable=False),
    sa.Index("ix_monitor_control_samples_url", "org_id", "url", "started_at"),
)

# -- observations and detectors --------------------------------------------------------------

# Who may push observations over the API (a scraper, a newsroom's call-log exporter, a
# partner's feed): a credential per source, kept only as a hash, so one leaked token is revoked
# without touching the others.
observation_sources = sa.Table(
    "observation_sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=True),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "name"),
)

# One row per observation, stored once per (organisation, observation id). What was said and
# by whom is personal data of third parties: it is kept encrypted in ``body``; time, platform
# and kind stay in clear for ordering and counting. ``processed_at`` marks that every detector
# has read it, set in the same transaction as their findings, which is what makes redelivery
# by the broker harmless.
observations = sa.Table(
    "observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("obs_key", sa.String(400), nullable=False),
    sa.Column("source", sa.String(120), nullable=False),
    sa.Column("platform", sa.String(60), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("lang", sa.String(8), nullable=True),
    sa.Column("observed_at", UTCDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("stored_at", UTCDateTime, nullable=False),
    sa.Column("processed_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("org_id", "obs_key"),
    sa.Index("ix_observations_pending", "org_id", "processed_at", "observed_at"),
)

# Protected identifiers: encrypted, with a keyed-hash blind index to find duplicates and answer
# "is this number watched?" without decrypting the list.
watchlist_entries = sa.Table(
    "watchlist_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("person", sa.String(200), nullable=False),
    sa.Column("group_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # encrypted
    sa.Column("value_index", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "kind", "value_index"),
)

# A stateful detector's state for one partition (one person and channel): loaded and saved in
# the transaction that reads the observations, locked per row on PostgreSQL.
detector_state = sa.Table(
    "detector_state",
    metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("detector", sa.String(60), primary_key=True),
    sa.Column("partition", sa.String(300), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # encrypted JSON: it names people's contacts
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

detector_failures = sa.Table(
    "detector_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("detector", sa.String(60), nullable=False),
    sa.Column("obs_key", sa.String(400), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "detector", "obs_key"),
)

# A finding per (detector, campaign key): re-emitted as a campaign grows, it updates this row
# and its incident instead of opening another.
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("detector", sa.String(60), nullable=False),
    sa.Column("campaign_key", sa.String(300), nullable=False),
    sa.Column("attack_type", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # encrypted JSON: title, explanation, details
    sa.Column("first_at", UTCDateTime, nullable=False),
    sa.Column("last_at", UTCDateTime, nullable=False),
    sa.Column("observations", sa.Integer, nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.Column("linked_finding_id", sa.Integer, nullable=True),
    sa.UniqueConstraint("org_id", "detector", "campaign_key"),
)

finding_observations = sa.Table(
    "finding_observations",
    metadata,
    sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id"), primary_key=True),
    sa.Column("observation_id", sa.Integer, sa.ForeignKey("observations.id"), primary_key=True),
    sa.Column("vault_item_id", sa.Integer, sa.ForeignKey("vault_items.id"), nullable=True),
)

# An organisation's registries that detectors read: the protected people and outlets with
# their verified accounts, domains and statements ("protected"), and known original and fake
# media ("media"). One encrypted JSON document each, replaced whole on import after checking,
# with a version the detector workers compare to know when to reconfigure.
detector_registries = sa.Table(
    "detector_registries",
    metadata,
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),  # encrypted JSON
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Strikes, restrictions and suspensions of a protected outlet's social accounts, entered by
# staff or imported: the other half of the brigading picture (the complaint waves are found
# in observations). The platform's wording and reference are encrypted with the notes.
account_actions = sa.Table(
    "account_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("platform", sa.String(60), nullable=False),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # encrypted JSON: reason, reference, notes
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "platform", "account", "action", "at"),
    sa.Index("ix_account_actions_org_at", "org_id", "at"),
)

# Steps the authorities were asked to take and took (0012); ``incidents.legal_outcome`` is
# derived from them (domain.legal). The free-text authority and reference are encrypted: a
# case number can identify a complainant.
legal_events = sa.Table(
    "legal_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("details_enc", sa.Text, nullable=False),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_legal_events_incident", "incident_id", "at"),
)

# Observables an attack left behind (attacker domains, IPs, accounts, hashes of fake media),
# ours or from partners, one row per value: a domain reported by two partners is one indicator.
indicators = sa.Table(
    "indicators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("value", sa.String(2048), nullable=False),
    sa.Column("value_digest", sa.String(64), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("tlp", sa.String(12), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "kind", "value_digest"),
    sa.UniqueConstraint("org_id", "uuid"),
)

indicator_incidents = sa.Table(
    "indicator_incidents",
    metadata,
    sa.Column(
        "indicator_id",
        sa.Integer,
        sa.ForeignKey("indicators.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Index("ix_indicator_incidents_incident", "incident_id"),
)

# Alerts the organisation publishes (Atom feed, partner API): written for the public in up to
# three languages, never the case's own title (which may name people).
public_alerts = sa.Table(
    "public_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("public_id", sa.String(16), nullable=False, unique=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=True),
    sa.Column("texts", sa.JSON, nullable=False),  # {"en": {"title":..., "summary":...}, ...}
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Index("ix_public_alerts_org_published", "org_id", "published_at"),
)

# Every partner bundle or event imported, by digest: the same file twice is one import.
partner_imports = sa.Table(
    "partner_imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("partner", sa.String(200), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("incidents", sa.Integer, nullable=False),
    sa.Column("indicators", sa.Integer, nullable=False),
    sa.Column("imported_at", UTCDateTime, nullable=False),
    sa.Column("imported_by", sa.Integer, nullable=True),
    sa.UniqueConstraint("org_id", "digest"),
)

saved_views = sa.Table(
    "saved_views",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("query", sa.String(2000), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),
)

# WebAuthn credentials: a hardware key or passkey as a phishing-resistant second factor.
security_keys = sa.Table(
    "security_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("credential_id", sa.String(1400), nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("label", sa.String(80), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("credential_id", name="uq_security_keys_credential"),
    sa.Index("ix_security_keys_user", "user_id"),
)

# -- people's control over their data (0014) ----------------------------------------------
# Append-only: a case's latest row is the consent in force, the earlier rows its history.
consent_records = sa.Table(
    "consent_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name_publicly", sa.String(12), nullable=False),  # yes | no | not_asked
    sa.Column("share", sa.String(12), nullable=False),  # yes | no | not_asked
    sa.Column("partners", sa.JSON, nullable=True),  # partner ids; None: any partner
    sa.Column("source", sa.String(24), nullable=False),
    sa.Column("recorded_by", sa.Integer, nullable=True),
    sa.Column("recorded_by_name", sa.String(64), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Index("ix_consent_records_case", "incident_id", "id"),
)
# A row while a case is under a panic lock; lifting deletes it (the audit keeps the history).
case_locks = sa.Table(
    "case_locks",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("locked_at", UTCDateTime, nullable=False),
    sa.Column("locked_by", sa.Integer, nullable=True),
    sa.Column("locked_by_name", sa.String(64), nullable=False),
    sa.Column("source", sa.String(24), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
)
# A row while a case is under legal hold: nothing of it expires or is erased.
legal_holds = sa.Table(
    "legal_holds",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("incidents.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("held_at", UTCDateTime, nullable=False),
    sa.Column("held_by", sa.Integer, nullable=True),
    sa.Column("held_by_name", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)
