"""Observation use cases: take observations in, run the detectors, turn findings into cases.

The path is the same at every scale. Observations are stored first (once each, by id) and
only then handed to the detectors: in this process on the embedded default, or as row ids over
NATS JetStream to worker processes. Whoever runs the detectors does it in one transaction that
claims the unprocessed rows, loads the detectors' state, records findings, evidence and
incidents, and marks the rows processed — so a worker killed half-way leaves nothing half
done, and a message delivered twice finds its rows already processed.

A finding is deduplicated into its campaign's incident (one campaign, one case, growing as it
grows). A flood of calls that starts within two days of ads carrying the same person's number
joins the ads' case: the responder sees cause and effect in one place."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from qorgau import read_audit
from qorgau.desk import CaseDesk
from qorgau.detect import registry
from qorgau.detect.model import Finding, Observation
from qorgau.detect.pipeline import Configured, configure, run_one
from qorgau.detect.watchlist import parse_people
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, ReportFields, Role, Severity, TargetInput
from qorgau.errors import AuthenticationRequired, InvalidInput, NotFound
from qorgau.store import detections as det_repo
from qorgau.store import incidents as incidents_repo
from qorgau.store import observations as obs_repo
from qorgau.store import registries as registries_repo
from qorgau.store import vault as vault_repo
from qorgau.store.blobs import BlobStore
from qorgau.store.detections import StoredFinding
from qorgau.store.intake import store_report
from qorgau.store.observations import Source, WatchEntry

log = logging.getLogger("qorgau.observations")

SOURCE_TOKEN_PREFIX = "qgo_"
WATCH_KINDS = ("phone", "email", "iin", "address", "plate", "handle")
# Findings about observations older than this are history (a retro-analysis, an old export):
# recorded as cases, without clocks or paging anyone at night.
LIVE_WINDOW = timedelta(hours=24)
# A flood that starts this soon after ads carrying the person's identifiers is their effect.
FLOOD_LINK_WINDOW = timedelta(hours=48)
MAX_BATCH = 1000
# After paging about a flood on a case, further floods on it (texts after calls) page no one
# for this long: they are in the case's notes.
FLOOD_ALERT_QUIET = timedelta(hours=1)
LEAK_DETECTOR = "leaked_identifiers"
FLOOD_DETECTOR = "floods"


@dataclass
class IngestReport:
    read: int = 0
    new: int = 0
    already_known: int = 0
    new_ids: set[str] = field(default_factory=set)  # of the observations stored by this call
    processed: ProcessReport | None = None
    published: int = 0


@dataclass
class ProcessReport:
    observations: int = 0
    findings: int = 0
    failures: int = 0
    incidents_opened: list[str] = field(default_factory=list)
    incidents_updated: list[int] = field(default_factory=list)

    def add(self, other: ProcessReport) -> None:
        self.observations += other.observations
        self.findings += other.findings
        self.failures += other.failures
        self.incidents_opened.extend(other.incidents_opened)
        self.incidents_updated.extend(other.incidents_updated)


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    id: str | None
    status: str  # stored | duplicate | rejected
    reason: str | None = None


# Hands freshly stored rows to workers (JetStream); None processes them in this process.
Publisher = Callable[[int, list[int]], int]


class ObservationDesk:
    def __init__(
        self,
        case_desk: CaseDesk,
        blobs: BlobStore | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.cases = case_desk
        self.store = case_desk.store
        self.blobs = blobs or BlobStore.for_settings(self.store.settings)
        self.publisher = publisher
        self._configured: dict[int, tuple[Any, list[Configured]]] = {}

    @classmethod
    def for_settings(cls, case_desk: CaseDesk) -> ObservationDesk:
        """The desk as configured: detectors in this process, or workers over JetStream."""
        settings = case_desk.store.settings
        publisher: Publisher | None = None
        if settings.detect_workers == "nats" and settings.nats_url:
            from qorgau.detect.stream import StreamPublisher

            publisher = StreamPublisher(settings.nats_url)
        return cls(case_desk, publisher=publisher)

    def close(self) -> None:
        """Drain and close the JetStream publisher, if the desk has one."""
        close = getattr(self.publisher, "close", None)
        if callable(close):
            close()

    # -- sources -----------------------------------------------------------------------------

    def add_source(self, principal: Principal, name: str) -> tuple[Source, str]:
        """A feed that may POST observations; its token is returned once, kept as a hash."""
        access.authorize(principal, Action.OBSERVATION_SOURCES)
        clean = name.strip()
        if not clean or len(clean) > 80 or ":" in clean:
            raise InvalidInput.single(
                "name", "required", "give the source a name of 1 to 80 characters without ':'"
            )
        token = SOURCE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.write() as conn:
            found = obs_repo.add_source(conn, principal.org_id, clean, token, self.store.now())
        if found is None:
            raise InvalidInput.single(
                "name", "unique", f"a source named {clean!r} exists; pick another name"
            )
        return found, token

    def list_sources(self, principal: Principal) -> list[Source]:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            return obs_repo.list_sources(conn, principal.org_id)

    def revoke_source(self, principal: Principal, name: str) -> None:
        access.authorize(principal, Action.OBSERVATION_SOURCES)
        with self.store.write() as conn:
            if not obs_repo.revoke_source(conn, principal.org_id, name, self.store.now()):
                raise NotFound(f"no active source named {name!r}")

    def authenticate(self, token: str | None) -> Source:
        if not token or not token.startswith(SOURCE_TOKEN_PREFIX):
            raise AuthenticationRequired(
                "sources authenticate with their token: 'Authorization: Bearer qgo_…'"
            )
        with self.store.read() as conn:
            found = obs_repo.source_by_token(conn, token)
        if found is None or found.revoked_at is not None:
            raise AuthenticationRequired(
                "this source token is unknown or revoked; ask the desk for a new one"
            )
        return found

    # -- watchlist ---------------------------------------------------------------------------

    def watch(
        self, principal: Principal, person: str, kind: str, value: str, group: str = ""
    ) -> bool:
        """Protect one identifier of a person; False if it is watched already."""
        access.authorize(principal, Action.WATCHLIST_WRITE)
        if kind not in WATCH_KINDS:
            raise InvalidInput.single("kind", "choice", f"unknown kind {kind!r}", WATCH_KINDS)
        # The detectors' own parser checks and normalises it (E.164, IIN check digit...).
        key = "addresses" if kind == "address" else f"{kind}s"
        parsed = parse_people([{"name": person, "group": group, key: [value]}])[0]
        normalised = str(getattr(parsed, "addresses" if kind == "address" else f"{kind}s")[0])
        with self.store.write() as conn:
            added = obs_repo.add_watch(
                conn,
                self.store.cipher,
                principal.org_id,
                parsed.name[:200],
                parsed.group[:200],
                kind,
                normalised,
                self.store.now(),
            )
        return added

    def watch_people(self, principal: Principal, people: Any) -> int:
        """A whole watchlist file at once; every entry checked before any is stored."""
        access.authorize(principal, Action.WATCHLIST_WRITE)
        parsed = parse_people(people)
        added = 0
        with self.store.write() as conn:
            for p in parsed:
                for kind in WATCH_KINDS:
                    for value in getattr(p, "addresses" if kind == "address" else f"{kind}s"):
                        added += obs_repo.add_watch(
                            conn,
                            self.store.cipher,
                            principal.org_id,
                            p.name[:200],
                            p.group[:200],
                            kind,
                            str(value),
                            self.store.now(),
                        )
        return added

    def unwatch(self, principal: Principal, entry_id: int) -> None:
        access.authorize(principal, Action.WATCHLIST_WRITE)
        with self.store.write() as conn:
            if not obs_repo.remove_watch(conn, principal.org_id, entry_id):
                raise NotFound(f"no watchlist entry {entry_id}")

    def watchlist(self, principal: Principal) -> list[WatchEntry]:
        """The watched identifiers, masked: the list itself is what an attacker wants."""
        access.authorize(principal, Action.WATCHLIST_READ)
        with self.store.read() as conn:
            entries = obs_repo.watchlist(conn, self.store.cipher, principal.org_id)
        # Masked values, but the names of the people protected: a read to record.
        read_audit.record(
            self.store,
            principal,
            entity="watchlist",
            entity_id=principal.org_id,
            groups={read_audit.WATCHLIST} if entries else set(),
        )
        return [WatchEntry(e.id, e.person, e.group, e.kind, mask(e.kind, e.value)) for e in entries]

    def people(self, org_id: int, conn: Any) -> list[dict[str, Any]]:
        """The watchlist in the detectors' configuration format."""
        return watchlist_people(conn, self.store.cipher, org_id)

    def configured(self, org_id: int, conn: Any) -> list[Configured]:
        """Every registered detector configured for the organisation.

        Decrypting a large watchlist and compiling its automaton takes seconds, so it is done
        again only when the watchlist or a registry changed — told by the watchlist's size and
        newest entry and the registries' versions, which any worker process reads cheaply from
        the store at every batch."""
        version = (
            obs_repo.watchlist_version(conn, org_id),
            tuple(sorted((k, v[0]) for k, v in registries_repo.versions(conn, org_id).items())),
        )
        cached = self._configured.get(org_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        context: dict[str, Any] = {"people": self.people(org_id, conn)}
        for kind, key in (("protected", "registry"), ("media", "media")):
            doc = registries_repo.load(conn, self.store.cipher, org_id, kind)
            if doc is not None:
                context[key] = doc
        built = [configure(d, context) for d in registry.DETECTORS]
        self._configured[org_id] = (version, built)
        return built

    # -- intake ------------------------------------------------------------------------------

    def ingest(
        self,
        principal: Principal,
        batch: Sequence[Observation],
        *,
        process: bool = True,
    ) -> IngestReport:
        """Store observations (once each) and hand the new ones to the detectors."""
        access.authorize(principal, Action.OBSERVATION_WRITE)
        report = IngestReport(read=len(batch))
        new_rows: list[int] = []
        for i in range(0, len(batch), MAX_BATCH):
            chunk = batch[i : i + MAX_BATCH]
            with self.store.write() as conn:
                stored = obs_repo.store_new(
                    conn, self.store.cipher, principal.org_id, chunk, self.store.now()
                )
            new_rows.extend(r for r, _ in stored)
            report.new_ids.update(k for _, k in stored)
        report.new = len(new_rows)
        report.already_known = report.read - report.new
        if process and new_rows:
            report.published, report.processed = self._dispatch(principal.org_id, new_rows)
        return report

    def import_upload(
        self,
        principal: Principal,
        data: bytes,
        filename: str,
        source: str,
        file_format: str | None,
        owner_phone: str | None,
    ) -> dict[str, Any]:
        """One uploaded export, imported like the CLI imports a file; problems listed by line."""
        import tempfile
        from pathlib import Path

        from qorgau.observe.importers import import_file

        access.authorize(principal, Action.OBSERVATION_WRITE)
        name = Path(filename).name or "upload"
        with tempfile.TemporaryDirectory(prefix="qorgau-upload-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            result = import_file(path, source, format=file_format, owner_phone=owner_phone)
        report = self.ingest(principal, result.observations)
        processed = report.processed
        return {
            "read": report.read,
            "new": report.new,
            "already_known": report.already_known,
            "problems": [
                {"file": p.file, "line": p.line, "reason": p.reason} for p in result.problems
            ],
            "findings": processed.findings if processed else None,
            "incidents_opened": processed.incidents_opened if processed else [],
        }

    def take_batch(
        self, source: Source, items: Sequence[Any], parse: Callable[[Any, str], Observation]
    ) -> tuple[list[ItemOutcome], IngestReport]:
        """An API batch: each item stored or refused on its own, the valid ones kept.

        ``parse`` turns one item into an observation (raising InvalidInput); the source's name
        prefixes every id, so one feed can never overwrite another's observations."""
        if len(items) > MAX_BATCH:
            raise InvalidInput.single(
                "items", "size", f"send at most {MAX_BATCH} observations per batch"
            )
        outcomes: list[ItemOutcome | None] = [None] * len(items)
        good: list[tuple[int, Observation]] = []
        for index, item in enumerate(items):
            try:
                good.append((index, parse(item, source.name)))
            except InvalidInput as exc:
                outcomes[index] = ItemOutcome(index, _item_id(item), "rejected", str(exc))
        principal = Principal(None, Role.ADMIN, source.org_id, f"source:{source.name}")
        report = IngestReport(read=len(items))
        if good:
            report = self.ingest(principal, [ob for _, ob in good])
            report.read = len(items)
            for index, ob in good:
                status = "stored" if ob.id in report.new_ids else "duplicate"
                outcomes[index] = ItemOutcome(index, ob.id, status)
        rejected = sum(1 for o in outcomes if o is not None and o.status == "rejected")
        with self.store.write() as conn:
            obs_repo.count_upload(conn, source.id, len(good), rejected, self.store.now())
        return [o for o in outcomes if o is not None], report

    def _dispatch(self, org_id: int, rows: list[int]) -> tuple[int, ProcessReport | None]:
        if self.publisher is not None:
            try:
                return self.publisher(org_id, rows), None
            except Exception as exc:
                # The rows are stored and unprocessed: a worker's sweep will find them.
                log.warning(
                    "could not hand %d observations to the detector workers (%s); they stay"
                    " stored and the workers' sweep will process them",
                    len(rows),
                    exc,
                )
                return 0, None
        return 0, self.process_pending(org_id)

    # -- detection ---------------------------------------------------------------------------

    def process_pending(self, org_id: int, limit: int = MAX_BATCH) -> ProcessReport:
        """Run the detectors until the organisation has nothing unprocessed left."""
        total = ProcessReport()
        while True:
            step = self.process(org_id, limit=limit)
            total.add(step)
            if step.observations < limit:
                return total

    def process_stale(self, older_than: timedelta, limit: int = MAX_BATCH) -> ProcessReport:
        """Rows of any organisation stored a while ago and still unprocessed: their broker
        message was lost (or never sent). Workers call this now and then."""
        total = ProcessReport()
        while True:
            step = self.process(None, stored_before=self.store.now() - older_than, limit=limit)
            total.add(step)
            if step.observations < limit:
                return total

    def process(
        self,
        org_id: int | None,
        *,
        row_ids: Sequence[int] | None = None,
        stored_before: datetime | None = None,
        limit: int = MAX_BATCH,
    ) -> ProcessReport:
        """One batch through every detector, in one transaction (see the module docstring)."""
        report = ProcessReport()
        with self.store.write() as conn:
            claimed = obs_repo.claim_pending(
                conn,
                self.store.cipher,
                org_id,
                row_ids=row_ids,
                stored_before=stored_before,
                limit=limit,
            )
            if not claimed:
                return report
            now = self.store.now()
            by_org: dict[int, list[obs_repo.StoredObservation]] = {}
            for s in claimed:
                by_org.setdefault(s.org_id, []).append(s)
            for org, stored in by_org.items():
                self._detect(conn, org, stored, now, report)
            obs_repo.mark_processed(conn, [s.row_id for s in claimed], now)
            report.observations = len(claimed)
        return report

    def _detect(
        self,
        conn: Any,
        org_id: int,
        stored: list[obs_repo.StoredObservation],
        now: datetime,
        report: ProcessReport,
    ) -> None:
        batch = [s.observation for s in stored]
        rows = {s.observation.id: s.row_id for s in stored}
        cipher = self.store.cipher
        for c in self.configured(org_id, conn):
            parts = c.partitions(batch)
            state = det_repo.load_states(conn, cipher, org_id, c.name, parts) if parts else {}
            before = {k: dict(v) for k, v in state.items()}
            result = run_one(c, batch, state)
            changed = {k: v for k, v in state.items() if before.get(k) != v}
            if changed:
                det_repo.save_states(conn, cipher, org_id, c.name, changed, now)
            if result.failures:
                det_repo.record_failures(conn, org_id, result.failures, now)
                report.failures += len(result.failures)
            for finding in result.findings:
                self._record(conn, org_id, finding, batch, rows, now, report)
                report.findings += 1

    def _record(
        self,
        conn: Any,
        org_id: int,
        finding: Finding,
        batch: list[Observation],
        rows: dict[str, int],
        now: datetime,
        report: ProcessReport,
    ) -> None:
        cipher = self.store.cipher
        keys = list(finding.observation_ids)
        missing = [k for k in keys if k not in rows]
        if missing:  # earlier observations a stateful detector still cites
            rows = {**rows, **obs_repo.row_ids_of(conn, org_id, missing)}
        in_batch = {ob.id: ob for ob in batch}
        times = [in_batch[k].time for k in keys if k in in_batch] or [finding.at or now]
        first, last = min(times), max(times)
        previous = det_repo.finding_by_key(conn, cipher, org_id, finding.detector, finding.key)
        finding_id = det_repo.save_finding(conn, cipher, org_id, finding, first, last, previous)
        new_rows = det_repo.add_observations(conn, finding_id, [rows[k] for k in keys if k in rows])
        incident_id = previous.incident_id if previous is not None else None
        if incident_id is not None and not self._is_open(conn, incident_id):
            incident_id = None  # the campaign came back after its case was closed: a new case
        live = now - last < LIVE_WINDOW
        principal = Principal(None, Role.ADMIN, org_id, f"detector:{finding.detector}")
        public_id: str | None = None
        linked: StoredFinding | None = None
        if incident_id is None and finding.detector == FLOOD_DETECTOR:
            linked = self._leak_before(conn, org_id, finding, first)
            if linked is not None and linked.incident_id is not None:
                incident_id = linked.incident_id
                det_repo.set_incident(conn, finding_id, incident_id, linked.id)
                incidents_repo.insert_note(
                    conn, cipher, incident_id, None, _link_note(finding, linked), True, now
                )
                report.incidents_updated.append(incident_id)
                if live:
                    self._alert_flood(conn, org_id, incident_id, finding, first, now)
        if incident_id is None:
            job = self.cases.prepare_report(
                principal,
                _report_fields(finding, first),
                tag=f"incident:opened:{finding.detector}",
            )
            job = replace(job, respond=live)
            stored = store_report(conn, self.store, job, now)
            incident_id, public_id = stored.id, stored.public_id
            det_repo.set_incident(conn, finding_id, incident_id)
            report.incidents_opened.append(stored.public_id)
        elif previous is not None and previous.incident_id == incident_id and new_rows:
            incidents_repo.insert_note(
                conn,
                cipher,
                incident_id,
                None,
                _growth_note(finding, len(new_rows)),
                True,
                now,
            )
            report.incidents_updated.append(incident_id)
        if public_id is None:
            public_id = incidents_repo.public_ids(conn, [incident_id]).get(incident_id)
        self._keep_evidence(
            conn, org_id, finding, finding_id, new_rows, rows, in_batch, now, incident_id, public_id
        )

    def _keep_evidence(
        self,
        conn: Any,
        org_id: int,
        finding: Finding,
        finding_id: int,
        new_rows: list[int],
        rows: dict[str, int],
        in_batch: dict[str, Observation],
        now: datetime,
        incident_id: int,
        public_id: str | None,
    ) -> None:
        """The observations behind each step of a finding go into the vault with its case, as
        one JSON Lines item per step: a flood brings hundreds of calls a minute, and one
        signed, timestamped bundle keeps every one of them checkable without a vault entry
        (and a disk sync) per call. Each observation row points at the bundle it is in."""
        if not new_rows:
            return
        wanted = set(new_rows)
        keys = [k for k, r in rows.items() if r in wanted]
        obs = [in_batch[k] for k in keys if k in in_batch]
        absent = [k for k in keys if k not in in_batch]
        if absent:
            obs.extend(obs_repo.load(conn, self.store.cipher, org_id, absent))
        obs.sort(key=lambda ob: (ob.time, ob.id))
        raw = b"".join(
            orjson.dumps(ob.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n" for ob in obs
        )
        sha = self.blobs.put(raw)
        item = vault_repo.NewItem(
            org_id=org_id,
            sha256=sha,
            size=len(raw),
            media_type="application/x-ndjson",
            method="observation",
            collector_id=None,
            collector_name=f"detector:{finding.detector}",
            collected_at=now,
            incident_id=incident_id,
            incident_public_id=public_id,
            source=f"detector:{finding.detector}:finding:{finding_id}",
            details={
                "detector": finding.detector,
                "finding": finding_id,
                "observations": len(obs),
                "first_observed": obs[0].time.isoformat() if obs else None,
                "last_observed": obs[-1].time.isoformat() if obs else None,
                "observation_ids": [ob.id for ob in obs[:1000]],
            },
        )
        (added,), _ = vault_repo.add_items(
            conn, self.store.cipher, vault_repo.signing_keys(self.store), [item], now
        )
        det_repo.set_vault_item(conn, finding_id, [rows[ob.id] for ob in obs], added.id)

    def _alert_flood(
        self,
        conn: Any,
        org_id: int,
        incident_id: int,
        finding: Finding,
        onset: datetime,
        now: datetime,
    ) -> None:
        """The case was opened (and its responder paged) for the ads; the flood they caused is
        news the person on call needs now, not at their next look at the case. Calls and texts
        flooding together are one attack: one page an hour per case is enough."""
        from qorgau.response import alert_text
        from qorgau.store.deliveries import alerted_since
        from qorgau.store.response_plan import alert_on_duty, case_url

        if alerted_since(conn, incident_id, "incident.flood", now - FLOOD_ALERT_QUIET):
            return
        case = incidents_repo.case_state(conn, incident_id)
        assert case is not None  # the finding's own case, in this transaction
        public_id, _, severity, language = case
        lang = language if language in ("ru", "kk") else "en"
        details = finding.details
        alert_on_duty(
            conn,
            self.store,
            org_id=org_id,
            incident_id=incident_id,
            event="incident.flood",
            payload=alert_text.flood(
                lang,
                public_id=public_id,
                severity=severity,
                channel=str(details.get("channel", "calls")),
                onset=finding.at or onset,
                rate=float(details.get("rate_per_hour", 0.0)),
                usual=float(details.get("baseline_per_hour", 0.0)),
                url=case_url(self.store, public_id),
            ),
            severity=Severity(severity),
            language=language,
            now=now,
        )

    @staticmethod
    def _is_open(conn: Any, incident_id: int) -> bool:
        case = incidents_repo.case_state(conn, incident_id)
        return case is not None and case[1] not in ("resolved", "closed", "rejected")

    def _leak_before(
        self, conn: Any, org_id: int, flood: Finding, onset: datetime
    ) -> StoredFinding | None:
        """The planted-identifier finding that explains a flood, if there is one."""
        since = onset - FLOOD_LINK_WINDOW
        for leak in det_repo.recent(
            conn, self.store.cipher, org_id, detector=LEAK_DETECTOR, since=since
        ):
            if (
                leak.first_at <= onset
                and set(leak.subjects) & set(flood.subjects)
                and leak.incident_id is not None
                and self._is_open(conn, leak.incident_id)
            ):
                return leak
        return None

    # -- reading -----------------------------------------------------------------------------

    def findings(self, principal: Principal, limit: int = 100) -> list[StoredFinding]:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            return det_repo.recent(conn, self.store.cipher, principal.org_id, limit=limit)

    def finding_observations(self, principal: Principal, finding_id: int) -> list[str]:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            if not det_repo.exists(conn, principal.org_id, finding_id):
                raise NotFound(f"no finding {finding_id}")
            return det_repo.observation_keys(conn, finding_id)

    def incident_public_ids(self, ids: list[int]) -> dict[int, str]:
        """Case references for findings' links; a case under a panic lock gets none."""
        with self.store.read() as conn:
            return incidents_repo.public_ids(conn, ids, show_locked=False)

    def failures(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            return det_repo.failures(conn, principal.org_id, limit)

    def status(self, principal: Principal) -> dict[str, Any]:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            return {
                "observations": obs_repo.counts(conn, principal.org_id),
                "pending": obs_repo.pending_count(conn, principal.org_id),
            }


def mask(kind: str, value: str) -> str:
    """Enough of an identifier to recognise it, not enough to use it."""
    if kind == "phone" and len(value) > 6:
        return value[:5] + "*" * (len(value) - 7) + value[-2:]
    if kind == "email" and "@" in value:
        local, domain = value.split("@", 1)
        return f"{local[:1]}***@{domain}"
    if kind == "iin":
        return value[:2] + "*" * 8 + value[-2:]
    if len(value) <= 4:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 3)


def _item_id(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("id")
        return None if value is None else str(value)[:200]
    return None


def watchlist_people(conn: Any, cipher: Any, org_id: int) -> list[dict[str, Any]]:
    """The organisation's watchlist, decrypted, in the detectors' configuration format."""
    by_person: dict[str, dict[str, Any]] = {}
    for e in obs_repo.watchlist(conn, cipher, org_id):
        p = by_person.setdefault(e.person, {"name": e.person, "group": e.group})
        key = "addresses" if e.kind == "address" else f"{e.kind}s"
        p.setdefault(key, []).append(e.value)
    return list(by_person.values())


def _report_fields(finding: Finding, started: datetime) -> ReportFields:
    kinds = [finding.attack_type, *finding.details.get("attack_types", ())]
    leaked = set(finding.details.get("identifier_kinds", ()))
    return ReportFields(
        title=finding.title[:300],
        description=finding.explanation[:20_000],
        started_at=started,
        reported_at=started,
        attack_types=tuple(dict.fromkeys(kinds)),
        severity=Severity(finding.severity) if finding.severity else None,
        ongoing=True,
        targets=tuple(TargetInput("person", name[:200]) for name in finding.subjects),
        external_ref=f"detector:{finding.detector}:{finding.key}"[:200],
        home_address_leaked="address" in leaked,
        people_targeted=len(finding.subjects) or None,
    )


def _growth_note(finding: Finding, added: int) -> str:
    return (
        f"Detector {finding.detector}: {added} more observation(s) in this campaign.\n"
        f"{finding.explanation}"
    )[:20_000]


def _link_note(flood: Finding, leak: StoredFinding) -> str:
    return (
        f"Detector {flood.detector}: {flood.title}. It started after the planted identifiers "
        f"found by {leak.detector} (first seen {leak.first_at.isoformat()}), so it is recorded "
        f"in this case.\n{flood.explanation}"
    )[:20_000]
