"""Indicators, exchange with partners (STIX 2.1, MISP) and public alerts.

Every export goes through ``_bundle``: it applies the TLP ceiling and the naming rules of
``reports.shareable`` before any format sees the data. Every import is validated in full
before anything is written, and written in one transaction: a partner file is imported whole
or not at all, and the same file twice is one import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.intake import validate_report
from qorgau.domain.model import Perpetrator, Principal, ReportFields, Role, Severity, TargetInput
from qorgau.domain.privacy import refusal_to_share
from qorgau.domain.tlp import Tlp
from qorgau.errors import Conflict, FieldProblem, InvalidInput
from qorgau.reports import indicators as indicator_rules
from qorgau.reports.model import Indicator, SharedIncident, SharingBundle, indicator_key
from qorgau.reports.periods import Period
from qorgau.reports.shareable import shared_incident
from qorgau.reports.statistics import StatsFilter
from qorgau.security.tokens import random_base32
from qorgau.store import detections, public_alerts, users
from qorgau.store import incidents as incident_repo
from qorgau.store import indicators as indicator_repo
from qorgau.store import privacy as privacy_repo
from qorgau.store import statistics as stats_repo
from qorgau.store.audit import Actor, audit_row, record
from qorgau.store.incidents import Stored
from qorgau.store.intake import IntakeJob, store_reports
from qorgau.store.public_alerts import PublicAlert
from qorgau.store.store import Store
from qorgau.store.tables import incidents, partner_imports

# What a partner organisation's token may read without anyone choosing for it.
PARTNER_CEILING = Tlp.GREEN
MAX_PARTNER_FILE = 50 * 1024 * 1024


@dataclass(frozen=True)
class ImportResult:
    partner: str
    format: str
    incidents_new: int
    incidents_known: int
    indicators_new: int
    indicators_merged: int
    already_imported: bool = False


class SharingDesk:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- indicators -----------------------------------------------------------------------
    def add_indicator(
        self,
        principal: Principal,
        *,
        kind: str,
        value: str,
        tlp: Tlp = Tlp.AMBER,
        description: str = "",
        incidents_: Sequence[str] = (),
        first_seen: datetime | None = None,
        address: str | None = None,
    ) -> tuple[Indicator, bool]:
        access.authorize(principal, Action.INDICATOR_WRITE)
        k, v = indicator_rules.normalize_indicator(kind, value)
        if len(description) > 2000:
            raise InvalidInput.single("description", "max_length", "at most 2000 characters")
        now = self.store.now()
        seen = first_seen or now
        ind = Indicator(k, v, seen, max(seen, now), tlp, description.strip())
        with self.store.write() as conn:
            ids = [self._incident_id(conn, principal, p) for p in incidents_]
            ind_id, created = indicator_repo.upsert(conn, principal.org_id, ind, ids, now)
            record(
                conn,
                audit_row(
                    Actor.of(principal, address),
                    "indicator:added" if created else "indicator:merged",
                    "indicator",
                    ind_id,
                    at=now,
                    after={"kind": str(k), "tlp": str(tlp), "incidents": list(incidents_)},
                ),
            )
        return ind, created

    def _incident_id(self, conn: sa.Connection, principal: Principal, public_id: str) -> int:
        inc = incident_repo.get_incident(
            conn, self.store.cipher, self.store.taxonomy, public_id, reveal=False
        )
        access.ensure_visible(principal, inc)
        return inc.id

    def indicators(
        self, principal: Principal, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[Indicator], int]:
        access.authorize(principal, Action.INDICATOR_READ)
        with self.store.read() as conn:
            found, total = indicator_repo.list_for_org(
                conn, principal.org_id, limit=limit, offset=offset
            )
        return [i for _, i in found], total

    def harvest(self, principal: Principal, address: str | None = None) -> tuple[int, int]:
        """Turn detector findings attached to cases into indicators: (new, merged)."""
        access.authorize(principal, Action.INDICATOR_WRITE)
        now = self.store.now()
        new = merged = 0
        with self.store.write() as conn:
            found = detections.recent(conn, self.store.cipher, principal.org_id, limit=100_000)
            tlps: dict[int, str] = {
                int(i): str(t)
                for i, t in conn.execute(
                    sa.select(incidents.c.id, incidents.c.tlp).where(
                        incidents.c.id.in_({f.incident_id for f in found if f.incident_id})
                    )
                )
            }
            for f in found:
                if f.incident_id is None:
                    continue
                for kind, value in indicator_rules.from_finding(f.detector, f.details):
                    ind = Indicator(
                        kind,
                        value,
                        f.first_at,
                        f.last_at,
                        Tlp(tlps.get(f.incident_id, "amber")),
                        f"Named by the {f.detector} detector",
                    )
                    _, created = indicator_repo.upsert(
                        conn, principal.org_id, ind, [f.incident_id], now
                    )
                    new, merged = new + created, merged + (not created)
            record(
                conn,
                audit_row(
                    Actor.of(principal, address),
                    "indicator:harvested",
                    "organisation",
                    principal.org_id,
                    at=now,
                    after={"new": new, "merged": merged},
                ),
            )
        return new, merged

    # -- export ---------------------------------------------------------------------------
    def _ceiling(self, principal: Principal, ceiling: Tlp) -> Tlp:
        if principal.role is Role.PARTNER:
            access.authorize(principal, Action.PARTNER_FEED)
            return PARTNER_CEILING if ceiling.rank > PARTNER_CEILING.rank else ceiling
        access.authorize(principal, Action.SHARE_EXPORT)
        if ceiling is Tlp.RED:
            raise InvalidInput.single(
                "tlp",
                "red",
                "TLP:RED is for named recipients only; share it person to person, not as an export",
            )
        return ceiling

    def bundle(
        self,
        principal: Principal,
        ceiling: Tlp,
        period: Period | None = None,
        recipient: str | None = None,
    ) -> SharingBundle:
        """Incidents and indicators a recipient cleared up to ``ceiling`` may receive, and
        only cases whose people consented to sharing with it (``recipient``: a partner's own
        token names it; ``None`` is an export to whoever, so a consent naming partners keeps
        the case out)."""
        ceiling = self._ceiling(principal, ceiling)
        if principal.role is Role.PARTNER:
            recipient = principal.username
        allowed = [str(t) for t in Tlp if t.within(ceiling)]
        flt = StatsFilter(period.start, period.end) if period else StatsFilter()
        with self.store.read() as conn:
            rows = (
                conn.execute(
                    sa.select(incidents)
                    .where(stats_repo.counted(principal.org_id, flt), incidents.c.tlp.in_(allowed))
                    .order_by(incidents.c.reported_at, incidents.c.id)
                )
                .mappings()
                .all()
            )
            found = incident_repo.load_many(
                conn, self.store.cipher, self.store.taxonomy, rows, reveal=True
            )
            consents = privacy_repo.consents_for(conn, [i.id for i in found])
            found = [i for i in found if refusal_to_share(consents.get(i.id), recipient) is None]
            links = indicator_repo.links_for(conn, [i.id for i in found])
            every, _ = indicator_repo.list_for_org(conn, principal.org_id)
            linked_anywhere = indicator_repo.linked_ids(conn, principal.org_id)
            org = users.org_name(conn, principal.org_id)
        shared: list[SharedIncident] = []
        linked_ids: set[int] = set()
        for inc in found:
            keys = []
            for ind_id, ind in links.get(inc.id, []):
                if ind.tlp.within(ceiling):
                    keys.append(indicator_key(ind.kind, ind.value))
                    linked_ids.add(ind_id)
            shared.append(shared_incident(inc, self.store.taxonomy, tuple(sorted(keys))))
        # Indicators of incidents outside the export stay out too, unless they were shared on
        # their own (not linked to any case): a link must not leak a case's existence.
        inds = tuple(
            i
            for ind_id, i in every
            if i.tlp.within(ceiling) and (ind_id in linked_ids or ind_id not in linked_anywhere)
        )
        return SharingBundle(org, self.store.now(), tuple(shared), inds)

    def stix(self, principal: Principal, ceiling: Tlp, period: Period | None = None) -> str:
        from qorgau.reports.stix import stix_bundle

        ceiling = self._ceiling(principal, ceiling)
        return stix_bundle(self.bundle(principal, ceiling, period), ceiling)

    def misp(
        self, principal: Principal, ceiling: Tlp, period: Period | None = None
    ) -> list[dict[str, Any]]:
        from qorgau.reports.misp import misp_events

        ceiling = self._ceiling(principal, ceiling)
        return misp_events(self.bundle(principal, ceiling, period), ceiling)

    def tracker_rows(
        self, principal: Principal, scheme: str, lang: str, period: Period | None = None
    ) -> list[dict[str, str]]:
        """Rows for a public tracker (Council of Europe platform, Mapping Media Freedom): public
        trackers publish what they receive, so only TLP:CLEAR incidents go."""
        from qorgau.reports.schemes import tracker_rows

        access.authorize(principal, Action.SHARE_EXPORT)
        b = self.bundle(principal, Tlp.CLEAR, period, recipient=scheme)
        return tracker_rows(b.incidents, scheme, lang, now=self.store.now())

    # -- import ---------------------------------------------------------------------------
    def import_partner(
        self,
        principal: Principal,
        data: bytes,
        *,
        partner: str,
        fmt: str,
        address: str | None = None,
    ) -> ImportResult:
        access.authorize(principal, Action.SHARE_IMPORT)
        partner = partner.strip()
        if not partner or len(partner) > 200:
            raise InvalidInput.single("partner", "required", "name the partner (1-200 characters)")
        if len(data) > MAX_PARTNER_FILE:
            raise InvalidInput.single(
                "file", "too_large", f"at most {MAX_PARTNER_FILE // (1024 * 1024)} MB per file"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput.single("file", "encoding", "the file is not UTF-8 text") from exc
        bundle = self._parse(text, partner, fmt)  # raises before anything is written
        digest = hashlib.sha256(data).hexdigest()
        now = self.store.now()
        with self.store.write() as conn:
            known = conn.execute(
                sa.select(partner_imports.c.id).where(
                    partner_imports.c.org_id == principal.org_id,
                    partner_imports.c.digest == digest,
                )
            ).first()
            if known is not None:
                return ImportResult(partner, fmt, 0, 0, 0, 0, already_imported=True)
            result = self._write_bundle(conn, principal, bundle, partner, fmt, now, address)
            conn.execute(
                partner_imports.insert(),
                {
                    "org_id": principal.org_id,
                    "partner": partner,
                    "format": fmt,
                    "digest": digest,
                    "incidents": result.incidents_new,
                    "indicators": result.indicators_new,
                    "imported_at": now,
                    "imported_by": principal.user_id,
                },
            )
        return result

    @staticmethod
    def _parse(text: str, partner: str, fmt: str) -> SharingBundle:
        if fmt == "stix":
            from qorgau.reports.stix import parse_stix_bundle

            return parse_stix_bundle(text, partner)
        if fmt == "misp":
            import json

            from qorgau.reports.misp import parse_misp_event

            try:
                data = json.loads(text)
            except ValueError as exc:
                raise InvalidInput.single("event", "json", f"not JSON: {exc}") from exc
            # A MISP export is one event, {"Event": ...}, or a list of them (a feed dump).
            events = data if isinstance(data, list) else [data]
            parsed = [parse_misp_event(e, partner) for e in events]
            return SharingBundle(
                partner,
                parsed[0].produced_at if parsed else datetime.now().astimezone(),
                tuple(i for b in parsed for i in b.incidents),
                tuple(i for b in parsed for i in b.indicators),
            )
        raise InvalidInput.single("format", "choice", "use stix or misp")

    def _write_bundle(
        self,
        conn: sa.Connection,
        principal: Principal,
        bundle: SharingBundle,
        partner: str,
        fmt: str,
        now: datetime,
        address: str | None,
    ) -> ImportResult:
        actor = Actor.of(principal, address)
        jobs: list[IntakeJob] = []
        for inc in bundle.incidents:
            try:
                new = validate_report(self._fields(inc, partner), self.store.taxonomy, now)
            except InvalidInput as exc:
                # Name the partner's incident, so they can fix their file; nothing is stored.
                raise InvalidInput(
                    [
                        FieldProblem(f"incident {inc.uuid}: {p.field}", p.rule, p.message)
                        for p in exc.problems
                    ]
                ) from exc
            jobs.append(
                IntakeJob(
                    new=new,
                    org_id=principal.org_id,
                    reporter_user_id=None,
                    actor=actor,
                    idempotency_key=f"org{principal.org_id}:partner:{inc.uuid}",
                    tag="incident:imported:partner",
                    respond=False,
                )
            )
        outcomes = store_reports(conn, self.store, jobs, now)
        ids: dict[str, int] = {}
        new_incidents = known_incidents = 0
        for inc, outcome in zip(bundle.incidents, outcomes, strict=True):
            if not isinstance(outcome, Stored):
                raise Conflict(f"incident {inc.uuid} from {partner}: {outcome}")
            ids[inc.uuid] = outcome.id
            if outcome.replayed:
                known_incidents += 1
            else:
                new_incidents += 1
        by_key: dict[str, list[int]] = {}
        for inc in bundle.incidents:
            for key in inc.indicator_keys:
                by_key.setdefault(key, []).append(ids[inc.uuid])
        new_ind = merged_ind = 0
        for ind in bundle.indicators:
            try:
                kind, value = indicator_rules.normalize_indicator(ind.kind, ind.value)
            except InvalidInput as exc:
                raise InvalidInput.single(
                    "bundle", "indicator", f"indicator {ind.uuid or ind.value[:60]}: {exc}"
                ) from exc
            clean = Indicator(
                kind,
                value,
                ind.first_seen,
                ind.last_seen,
                ind.tlp,
                ind.description,
                ind.uuid,
                partner,
            )
            _, created = indicator_repo.upsert(
                conn,
                principal.org_id,
                clean,
                by_key.get(indicator_key(ind.kind, ind.value), []),
                now,
            )
            new_ind, merged_ind = new_ind + created, merged_ind + (not created)
        record(
            conn,
            audit_row(
                actor,
                "sharing:imported",
                "organisation",
                principal.org_id,
                at=now,
                after={
                    "partner": partner,
                    "format": fmt,
                    "incidents_new": new_incidents,
                    "indicators_new": new_ind,
                },
            ),
        )
        return ImportResult(partner, fmt, new_incidents, known_incidents, new_ind, merged_ind)

    def _fields(self, inc: SharedIncident, partner: str) -> ReportFields:
        """A partner's incident in our terms; values our taxonomy does not know become
        "other" or are left unset rather than refusing the whole file."""
        tax = self.store.taxonomy

        def known(section: str, value: str | None) -> str | None:
            return value if value and value in tax.ids(section) else None

        types = tuple(a for a in inc.attack_types if known("attack_type", a)) or ("other",)
        targets = tuple(
            TargetInput(
                t.kind if t.kind in ("outlet", "website", "person") else "outlet",
                t.name or "",
                None,
                False,
                known("target_role", t.role) if t.kind == "person" else None,
            )
            for t in inc.targets
            if t.name
        )
        try:
            severity = Severity(inc.severity)
        except ValueError:
            severity = Severity.MEDIUM
        return ReportFields(
            title=(inc.title or f"Incident shared by {partner}")[:300],
            description=inc.summary[:20_000],
            started_at=inc.started_at,
            reported_at=inc.reported_at,
            attack_types=types,
            category=known("category", inc.category),
            platform=known("platform", inc.platform),
            region=known("region", inc.region),
            perpetrator=Perpetrator(known("perpetrator_type", inc.perpetrator_type) or "unknown"),
            severity=severity,
            targets=targets,
            source_urls=tuple(u for u in inc.source_urls if len(u) <= 2000)[:20],
            external_ref=f"{partner}:{inc.uuid}"[:200],
            tlp=inc.tlp,
        )


MAX_ALERT_TITLE = 300
MAX_ALERT_SUMMARY = 5000


class AlertDesk:
    """Public alerts: texts staff write for the public, never a case's own fields."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def publish(
        self,
        principal: Principal,
        texts: dict[str, dict[str, str]],
        incident: str | None = None,
        address: str | None = None,
    ) -> PublicAlert:
        access.authorize(principal, Action.ALERT_PUBLISH)
        from qorgau.i18n import LANGUAGES

        clean: dict[str, dict[str, str]] = {}
        for lang, text in texts.items():
            if lang not in LANGUAGES:
                raise InvalidInput.single(
                    f"texts.{lang}", "choice", f"write alerts in {', '.join(LANGUAGES)}"
                )
            title = (text.get("title") or "").strip()
            summary = (text.get("summary") or "").strip()
            if not title or len(title) > MAX_ALERT_TITLE:
                raise InvalidInput.single(
                    f"texts.{lang}.title", "length", f"1 to {MAX_ALERT_TITLE} characters"
                )
            if len(summary) > MAX_ALERT_SUMMARY:
                raise InvalidInput.single(
                    f"texts.{lang}.summary", "max_length", f"at most {MAX_ALERT_SUMMARY}"
                )
            clean[lang] = {"title": title, "summary": summary}
        if not clean:
            raise InvalidInput.single(
                "texts", "required", "give the alert in at least one language"
            )
        now = self.store.now()
        public_id = "AL-" + random_base32(8)
        with self.store.write() as conn:
            incident_id = None
            if incident:
                inc = incident_repo.get_incident(
                    conn, self.store.cipher, self.store.taxonomy, incident, reveal=False
                )
                access.ensure_visible(principal, inc)
                incident_id = inc.id
            public_alerts.insert(
                conn,
                org_id=principal.org_id,
                public_id=public_id,
                incident_id=incident_id,
                texts=clean,
                at=now,
                actor_id=principal.user_id,
            )
            record(
                conn,
                audit_row(
                    Actor.of(principal, address),
                    "alert:published",
                    "alert",
                    public_id,
                    at=now,
                    after={"languages": sorted(clean), "incident": incident},
                ),
            )
        return PublicAlert(public_id, clean, now)

    def latest(self, principal: Principal, limit: int = 50) -> list[PublicAlert]:
        access.authorize(principal, Action.ALERT_READ)
        if not 1 <= limit <= 200:
            raise InvalidInput.single("limit", "range", "between 1 and 200")
        with self.store.read() as conn:
            return public_alerts.latest(conn, principal.org_id, limit)

    def organisation(self, principal: Principal) -> str:
        with self.store.read() as conn:
            return users.org_name(conn, principal.org_id)
