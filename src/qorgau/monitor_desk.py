"""Monitor use cases: take in measurements (OONI's public ones today, Qorgau's agents next),
track each host per network, open an incident when a host becomes blocked — with the
measurement kept in the evidence vault — and publish the register of blocked resources."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, ReportFields, Role, TargetInput
from qorgau.errors import InvalidInput
from qorgau.monitor.classify import classify
from qorgau.monitor.fingerprints import Fingerprints, load_default
from qorgau.monitor.model import Measurement, Verdict, VerdictKind
from qorgau.monitor.ooni import parse_records
from qorgau.store import incidents as incidents_repo
from qorgau.store import monitor as monitor_repo
from qorgau.store import vault as vault_repo
from qorgau.store.blobs import BlobStore
from qorgau.store.intake import store_report
from qorgau.store.monitor import RegisterEntry

LIVE_WINDOW = timedelta(hours=24)


@dataclass
class ImportReport:
    read: int = 0
    new: int = 0
    already_known: int = 0
    became_blocked: int = 0
    became_down: int = 0
    verdicts: list[str] = field(default_factory=list)  # of the measurements stored, in order
    incidents_updated: list[int] = field(default_factory=list)
    incidents_opened: list[str] = field(default_factory=list)
    problems: list[InvalidInput] = field(default_factory=list)


class MonitorDesk:
    def __init__(
        self,
        case_desk: CaseDesk,
        fingerprints: Fingerprints | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self.cases = case_desk
        self.store = case_desk.store
        self.fingerprints = fingerprints or _configured_fingerprints(self.store.settings)
        self.blobs = blobs or BlobStore.for_settings(self.store.settings)

    def import_ooni(self, principal: Principal, paths: list[Path]) -> ImportReport:
        access.authorize(principal, Action.MONITOR_WRITE)
        report = ImportReport()
        for path in paths:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                if f.suffix not in (".json", ".jsonl", ".jsonc") or f.name.startswith(
                    ("analysis", "observations")
                ):
                    continue  # OONI's own analysis outputs sit beside measurements
                records, problems = parse_records(f)
                report.problems.extend(problems)
                for rec in records:
                    report.read += 1
                    raw = json.dumps(rec.raw, ensure_ascii=False, sort_keys=True).encode()
                    self._take(principal, rec.measurement, raw, report)
        return report

    def take_ooni(self, principal: Principal, raw: dict[str, Any]) -> ImportReport:
        """One uploaded measurement in OONI's Web Connectivity format."""
        from qorgau.monitor.ooni import parse_measurement

        access.authorize(principal, Action.MONITOR_WRITE)
        m = parse_measurement(raw, origin=Path("upload"), line=1)
        data = json.dumps(raw, ensure_ascii=False, sort_keys=True).encode()
        return self.take(principal, m, data)

    def take(
        self,
        principal: Principal,
        m: Measurement,
        raw: bytes,
        *,
        source_id: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> ImportReport:
        """One measurement from any source (an agent's upload, a lab run).

        ``source_id`` identifies it across retries (an agent's own result id); by default the
        SHA-256 of ``raw`` does. ``notes`` are added to the verdict's evidence (a clock
        correction, the control it was paired with)."""
        access.authorize(principal, Action.MONITOR_WRITE)
        report = ImportReport(read=1)
        self._take(principal, m, raw, report, source_id=source_id, notes=notes)
        return report

    def _take(
        self,
        principal: Principal,
        m: Measurement,
        raw: bytes,
        report: ImportReport,
        *,
        source_id: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        host = (urlsplit(m.url).hostname or "").lower()
        if not host:
            report.problems.append(
                InvalidInput.single("url", "host", f"{m.url!r} names no host; not recorded")
            )
            return
        # The measurement's own bytes identify it: importing the same file twice, or two
        # measurements sharing a report id, are told apart exactly.
        sha = hashlib.sha256(raw).hexdigest()
        m = replace(m, source_id=source_id or f"sha256:{sha}")
        with self.store.read() as conn:
            if monitor_repo.is_known(conn, principal.org_id, m):
                report.already_known += 1
                return  # a re-import classifies and stores nothing again
        verdict = classify(m, self.fingerprints)
        if notes:
            verdict = replace(verdict, evidence=(*verdict.evidence, *notes))
        now = self.store.now()
        self.blobs.put(raw)
        with self.store.write() as conn:
            recorded = monitor_repo.record(conn, principal.org_id, m, verdict, host, now)
            if recorded is None:
                report.already_known += 1
                return
            report.new += 1
            report.verdicts.append(str(verdict.kind))
            incident_id = monitor_repo.open_incident_for(conn, principal.org_id, host)
            public_id = None
            live = now - m.started_at < LIVE_WINDOW
            # A host found down in last year's public data was an outage then; only a live one
            # is a case to answer (blocking is recorded either way: it is the register's fact).
            if recorded.became_blocked or (recorded.changed_to == "down" and live):
                if recorded.became_blocked:
                    report.became_blocked += 1
                else:
                    report.became_down += 1
                if incident_id is None:
                    job = self.cases.prepare_report(
                        principal,
                        _report_fields(m, verdict, host),
                        tag="incident:opened:monitor",
                    )
                    # A block seen today gets clocks and pages the on-call responder; one
                    # found in last year's public data is recorded without waking anyone.
                    job = replace(job, respond=live)
                    stored = store_report(conn, self.store, job, now)
                    incident_id, public_id = stored.id, stored.public_id
                    report.incidents_opened.append(stored.public_id)
                else:
                    # One host, one incident: a new network blocking it, or the host going
                    # down everywhere, is news for the case already open, not a second case.
                    incidents_repo.insert_note(
                        conn,
                        self.store.cipher,
                        incident_id,
                        None,
                        _state_note(m, verdict, host, recorded.changed_to),
                        False,
                        now,
                    )
                    report.incidents_updated.append(incident_id)
                monitor_repo.link_incident(conn, recorded.host_id, incident_id)
            if incident_id is not None and public_id is None:
                public_id = self._public_id(conn, incident_id)
            # Every observation is evidence: kept in the vault, with its case once there is one.
            items, _ = vault_repo.add_items(
                conn,
                self.store.cipher,
                vault_repo.signing_keys(self.store),
                [
                    vault_repo.NewItem(
                        org_id=principal.org_id,
                        sha256=sha,
                        size=len(raw),
                        media_type="application/json",
                        method="measurement",
                        collector_id=principal.user_id,
                        collector_name=principal.username,
                        collected_at=now,
                        incident_id=incident_id,
                        incident_public_id=public_id,
                        source=f"{m.source}:{m.url}",
                        details={
                            "verdict": str(verdict.kind),
                            "confirmed": verdict.confirmed,
                            "evidence": list(verdict.evidence),
                            "network": monitor_repo.network_of(m),
                            "measured_at": m.started_at.isoformat(),
                        },
                    )
                ],
                now,
            )
            monitor_repo.link_evidence(conn, recorded.observation_id, items[0].id)

    @staticmethod
    def _public_id(conn: Any, incident_id: int) -> str | None:
        from qorgau.store import incidents as repo

        return repo.public_ids(conn, [incident_id]).get(incident_id)

    def set_legal_basis(
        self,
        principal: Principal,
        host: str,
        basis: str,
        reference: str | None,
        address: str | None = None,
    ) -> None:
        """A court order or administrative order, once known, is part of the public record."""
        from qorgau.errors import NotFound
        from qorgau.store import audit
        from qorgau.store.audit import Actor

        access.authorize(principal, Action.MONITOR_WRITE)
        if basis not in monitor_repo.LEGAL_BASES:
            raise InvalidInput.single(
                "basis", "choice", f"unknown legal basis {basis!r}", monitor_repo.LEGAL_BASES
            )
        ref = (reference or "").strip() or None
        if basis != "none_known" and not ref:
            raise InvalidInput.single(
                "reference", "required", "name the order (court, number, date) it rests on"
            )
        with self.store.write() as conn:
            if not monitor_repo.set_legal_basis(conn, principal.org_id, host.lower(), basis, ref):
                raise NotFound(f"{host} is not in the register of blocked resources")
            audit.record(
                conn,
                audit.audit_row(
                    Actor.of(principal, address),
                    "register:legal_basis:set",
                    "register",
                    host[:32],
                    at=self.store.now(),
                    after={"basis": basis, "reference": ref},
                ),
            )

    def add_target(self, principal: Principal, outlet: str, url: str) -> bool:
        """Watch one of an outlet's addresses (its main site, each language subdomain...)."""
        access.authorize(principal, Action.MONITOR_WRITE)
        name = outlet.strip()
        if not name:
            raise InvalidInput.single("outlet", "required", "name the outlet the host belongs to")
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput.single(
                "url",
                "url",
                f"{url!r} is not an http(s) address with a host, e.g. https://orda.kz/",
            )
        with self.store.write() as conn:
            return monitor_repo.add_target(
                conn,
                principal.org_id,
                name[:200],
                url.strip(),
                parts.hostname.lower(),
                self.store.now(),
            )

    def outlets(self, principal: Principal) -> list[tuple[str, int]]:
        access.authorize(principal, Action.MONITOR_READ)
        with self.store.read() as conn:
            return monitor_repo.outlets(conn, principal.org_id)

    def outlet_status(self, principal: Principal, outlet: str) -> list[monitor_repo.HostStatus]:
        access.authorize(principal, Action.MONITOR_READ)
        with self.store.read() as conn:
            found = monitor_repo.outlet_status(conn, principal.org_id, outlet)
        if not found:
            from qorgau.errors import NotFound

            raise NotFound(f"no outlet {outlet!r} is monitored; add its hosts first")
        return found

    def host_timeline(
        self, principal: Principal, host: str, limit: int = 200
    ) -> list[dict[str, Any]]:
        access.authorize(principal, Action.MONITOR_READ)
        with self.store.read() as conn:
            return monitor_repo.host_timeline(conn, principal.org_id, host.lower(), limit)

    def register(self, principal: Principal) -> list[RegisterEntry]:
        access.authorize(principal, Action.REGISTER_READ)
        org = None if principal.role is Role.ADMIN else principal.org_id
        with self.store.read() as conn:
            return monitor_repo.register(conn, org)

    def register_observation(
        self, principal: Principal, host: str, observation_id: int
    ) -> dict[str, Any]:
        """One measurement the register cites, as the public may see it (never who took it)."""
        from qorgau.errors import NotFound

        access.authorize(principal, Action.REGISTER_READ)
        # The register's own rule: an admin reads every organisation's, anyone else their own
        # organisation's (the anonymous public: the default organisation's).
        org = None if principal.role is Role.ADMIN else principal.org_id
        with self.store.read() as conn:
            found = monitor_repo.public_observation(conn, org, host.lower(), observation_id)
        if found is None:
            raise NotFound(f"observation {observation_id} of {host} is not in the register")
        return found


def _configured_fingerprints(settings: Settings) -> Fingerprints:
    """The shipped seed plus the files the installation names (QORGAU_MONITOR_FINGERPRINTS)."""
    from qorgau.monitor.fingerprints import load_toml

    found = load_default()
    for path in settings.monitor_fingerprint_files:
        found = found + load_toml(path)
    return found


def _report_fields(m: Measurement, v: Verdict, host: str) -> ReportFields:
    throttled = v.kind is VerdictKind.THROTTLING
    down = v.kind is VerdictKind.DOWN_EVERYWHERE
    network = m.vantage.network_name or m.vantage.asn or "a monitored network"
    if down:
        title = f"{host} unreachable from everywhere (outage or DDoS)"
        kinds: tuple[str, ...] = ("ddos",)
    else:
        title = f"{host} {'throttled' if throttled else 'blocked'} on {network}"
        kinds = ("throttling",) if throttled else ("website_blocking",)
    return ReportFields(
        title=title[:300],
        description="\n".join(v.evidence)[:20_000],
        started_at=m.started_at,
        reported_at=m.started_at,
        attack_types=kinds,
        platform="isp_network",
        ongoing=True,
        targets=(TargetInput("website", host, host),),
        external_ref=f"monitor:{host}"[:200],
    )


def _state_note(m: Measurement, v: Verdict, host: str, state: str | None) -> str:
    network = monitor_repo.network_of(m)
    what = (
        "unreachable from the control too (outage or DDoS)"
        if state == "down"
        else f"blocked ({v.kind})"
    )
    lines = [f"Monitor: {host} is now {what} on {network} since {m.started_at.isoformat()}."]
    return "\n".join([*lines, *v.evidence])[:20_000]


def register_csv(entries: list[RegisterEntry]) -> str:
    import csv
    import io

    from qorgau.security.csv_cells import safe_row

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "host",
            "first_seen",
            "last_seen",
            "currently_blocked",
            "methods",
            "networks",
            "legal_basis",
            "legal_reference",
            "observations",
        ]
    )
    for e in entries:
        w.writerow(
            safe_row(  # a legal reference is typed by a person
                [
                    e.host,
                    e.first_seen.isoformat(),
                    e.last_seen.isoformat(),
                    "yes" if e.currently_blocked else "no",
                    " ".join(e.methods),
                    "; ".join(n["network"] for n in e.networks),
                    e.legal_basis,
                    e.legal_reference or "",
                    " ".join(str(i) for i in e.observations),
                ]
            )
        )
    return buf.getvalue()
