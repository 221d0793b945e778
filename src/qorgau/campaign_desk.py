"""The desk for campaign evidence that does not arrive as observations: the registries the
detectors read (protected people and outlets; known original and fake media), spyware scan
results, and the platform's own actions against an outlet's accounts with the appeal that
answers them.

Every import here is checked whole before anything is written: a registry file with
conflicting entries keeps what was stored and reports each skipped entry; an MVT folder with a
broken file is reported file by file; a spreadsheet of account actions with a bad row keeps the
good rows and names the bad one."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from qorgau import read_audit
from qorgau.desk import CaseDesk
from qorgau.detect import account_actions as actions_mod
from qorgau.detect import media_registry, mvt_results, protected_registry
from qorgau.detect.appeal_package import AppealPackage, build_appeal
from qorgau.detect.complaint_waves import (
    CoordinationCluster,
    ReportTarget,
    find_calls,
    group_waves,
    targets_from_people,
)
from qorgau.detect.model import Observation
from qorgau.detect.watchlist import parse_people
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal, ReportFields, Severity, TargetInput
from qorgau.errors import InvalidInput
from qorgau.observe.result import ImportProblem
from qorgau.store import account_actions as actions_repo
from qorgau.store import detections as det_repo
from qorgau.store import observations as obs_repo
from qorgau.store import registries as registries_repo
from qorgau.vault_desk import VaultDesk

# Detectors whose findings are coordinated activity an appeal can point to.
COORDINATION_DETECTORS = ("co_sharing", "near_duplicate_texts")
# How far before the first restriction an appeal looks for complaint waves and clusters.
APPEAL_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class RegistryResult:
    kind: str
    version: int | None  # None: nothing was stored
    entries: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class SpywareResult:
    report: mvt_results.SpywareReport
    problems: tuple[mvt_results.MvtProblem, ...]
    case: str | None  # the incident opened, when there were detections
    evidence: tuple[str, ...] = ()  # SHA-256 of each file kept in the vault
    referral: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionsResult:
    added: int
    read: int
    problems: tuple[ImportProblem, ...]


class CampaignDesk:
    def __init__(self, case_desk: CaseDesk, vault: VaultDesk | None = None) -> None:
        self.cases = case_desk
        self.store = case_desk.store
        self.vault = vault or VaultDesk(case_desk)

    # -- registries ---------------------------------------------------------------------------

    def import_registry(
        self, principal: Principal, kind: str, raw: Any, *, replace: bool = False
    ) -> RegistryResult:
        """Add a registry file's entries to what is stored (or replace it with ``replace``).
        Entries that conflict with stored ones, or with each other, are skipped and reported;
        a file with no usable entry changes nothing."""
        access.authorize(principal, Action.WATCHLIST_WRITE)
        if kind not in registries_repo.KINDS:
            raise InvalidInput.single(
                "kind", "choice", f"unknown registry {kind!r}", registries_repo.KINDS
            )
        now = self.store.now()
        with self.store.write() as conn:
            stored = (
                None
                if replace
                else registries_repo.load(conn, self.store.cipher, principal.org_id, kind)
            )
            merge = _merge_protected if kind == "protected" else _merge_media
            document, entries, added, problems = merge(stored, raw)
            if added == 0 and problems:
                raise InvalidInput.single(
                    "registry",
                    "no_valid_entry",
                    "no entry could be kept: " + "; ".join(problems[:5]),
                )
            version = registries_repo.save(
                conn, self.store.cipher, principal.org_id, kind, document, entries, now
            )
        return RegistryResult(kind, version, entries, tuple(problems))

    def registry(self, principal: Principal, kind: str) -> dict[str, Any]:
        access.authorize(principal, Action.WATCHLIST_READ)
        if kind not in registries_repo.KINDS:
            raise InvalidInput.single(
                "kind", "choice", f"unknown registry {kind!r}", registries_repo.KINDS
            )
        with self.store.read() as conn:
            doc = registries_repo.load(conn, self.store.cipher, principal.org_id, kind)
        if kind == "protected" and doc and doc.get("entities"):
            read_audit.record(
                self.store,
                principal,
                entity="registry",
                entity_id=kind,
                groups={read_audit.PROTECTED_REGISTRY},
            )
        return doc or ({"entities": []} if kind == "protected" else {"items": []})

    def media_registry(self, principal: Principal) -> media_registry.MediaRegistry:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            doc = registries_repo.load(conn, self.store.cipher, principal.org_id, "media")
        registry, _ = media_registry.parse_media_registry(doc or {"items": []})
        return registry

    def check_media(
        self, principal: Principal, path: Path, trust_anchors_pem: str | None = None
    ) -> Any:
        """Which known originals or fakes a picture or video matches, and what its content
        credentials say. The file is only read."""
        from qorgau.detect.content_credentials import parse_trust_anchors
        from qorgau.detect.media_check import describe_media_file

        registry = self.media_registry(principal)
        anchors = parse_trust_anchors(trust_anchors_pem) if trust_anchors_pem else None
        return describe_media_file(path, registry, anchors)

    def register_media(
        self,
        principal: Principal,
        path: Path,
        *,
        entry_id: str,
        label: str,
        title: str = "",
        url: str = "",
        date: str = "",
        notes: str = "",
        subjects: tuple[str, ...] = (),
    ) -> RegistryResult:
        """Hash a file and add it to the known-media registry as an original or a fake."""
        from qorgau.detect.media_check import describe_media_file

        checked = describe_media_file(path, media_registry.parse_media_registry({"items": []})[0])
        hashes = [h for h in checked.hash_strings() if not h.startswith("sha256:")]
        entry: dict[str, Any] = {"id": entry_id, "label": label, "hashes": hashes}
        for key, value in (("title", title), ("url", url), ("date", date), ("notes", notes)):
            if value:
                entry[key] = value
        if subjects:
            entry["subjects"] = list(subjects)
        return self.import_registry(principal, "media", {"items": [entry]})

    # -- spyware ------------------------------------------------------------------------------

    def import_spyware(
        self, principal: Principal, paths: list[Path], *, person: str | None = None
    ) -> SpywareResult:
        """Read MVT results; with any detection, open a critical case, keep every file given
        as evidence in the vault with it, and suggest forensic labs. A clean scan opens no
        case (and says so)."""
        access.authorize(principal, Action.VAULT_WRITE)
        return self.import_spyware_files(
            principal, mvt_results.collect_mvt_files(paths), person=person
        )

    def import_spyware_upload(
        self, principal: Principal, data: bytes, filename: str, *, person: str | None = None
    ) -> SpywareResult:
        """One uploaded file: a zip of MVT's output folder, or one of its JSON files."""
        access.authorize(principal, Action.VAULT_WRITE)
        name = Path(filename).name or "mvt-results"
        if name.lower().endswith(".zip"):
            files = dict(mvt_results.unzip_safely(data, name))
        else:
            files = {name: data}
        return self.import_spyware_files(principal, files, person=person)

    def import_spyware_files(
        self, principal: Principal, files: dict[str, bytes], *, person: str | None = None
    ) -> SpywareResult:
        access.authorize(principal, Action.VAULT_WRITE)
        read = mvt_results.read_mvt_files(files)
        report = read.report
        referral = mvt_results.forensic_referral(report).to_json()
        if not mvt_results.warrants_critical_incident(report):
            return SpywareResult(report, read.problems, None, (), referral)
        fields = ReportFields(
            title=_spyware_title(report, person)[:300],
            description=(report.summary() + "\n\n" + _referral_text(referral))[:20_000],
            started_at=min((d.time for d in report.detections if d.time), default=None),
            attack_types=("spyware",),
            severity=Severity.CRITICAL,
            ongoing=True,
            targets=(TargetInput("person", person[:200]),) if person else (),
            external_ref=f"mvt:{_digest(files)}"[:200],
            people_targeted=1 if person else None,
        )
        digest = _digest(files)
        # The same results imported again (a retried upload, a second run of the command)
        # find their case instead of opening another and paging the responder twice.
        stored = self.cases.submit(
            principal, fields, idempotency_key=f"mvt:{digest}", request_digest=digest
        )
        if stored.replayed:
            return SpywareResult(report, read.problems, stored.public_id, (), referral)
        kept: list[str] = []
        for name, data in files.items():
            added = self.vault.add_file(
                principal,
                data,
                filename=name,
                media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                case=stored.public_id,
                method="upload",
                source="mvt",
                details={"mvt_version": report.mvt_version, "role": _role(report, name)},
            )
            kept.extend(item.sha256 for item in added.items)
        return SpywareResult(report, read.problems, stored.public_id, tuple(kept), referral)

    # -- account actions and appeals ----------------------------------------------------------

    def record_action(self, principal: Principal, action: actions_mod.AccountAction) -> bool:
        access.authorize(principal, Action.OBSERVATION_WRITE)
        with self.store.write() as conn:
            return (
                actions_repo.add(
                    conn, self.store.cipher, principal.org_id, [action], self.store.now()
                )
                == 1
            )

    def import_actions(
        self, principal: Principal, path: Path, *, platform: str | None = None
    ) -> ActionsResult:
        access.authorize(principal, Action.OBSERVATION_WRITE)
        if not path.is_file():
            raise InvalidInput.single("file", "exists", f"{path.name} is not a file")
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            read = actions_mod.import_account_actions_jsonl(path, platform=platform)
        else:
            read = actions_mod.import_account_actions_csv(path, platform=platform)
        with self.store.write() as conn:
            added = actions_repo.add(
                conn, self.store.cipher, principal.org_id, read.actions, self.store.now()
            )
        return ActionsResult(added, len(read.actions), tuple(read.problems))

    def actions(
        self, principal: Principal, *, platform: str | None = None, account: str | None = None
    ) -> list[actions_mod.AccountAction]:
        access.authorize(principal, Action.OBSERVATION_READ)
        with self.store.read() as conn:
            return actions_repo.listed(
                conn,
                self.store.cipher,
                principal.org_id,
                platform=platform,
                account=actions_mod.normalize_handle(account) if account else None,
            )

    def appeal(
        self,
        principal: Principal,
        *,
        outlet: str,
        platform: str,
        account: str,
        language: str = "en",
    ) -> AppealPackage:
        """The appeal for one account: its recorded actions, the complaint waves found in the
        observations of the week before, and the coordinated clusters of that time, with the
        vault hashes of the observations cited."""
        access.authorize(principal, Action.VAULT_EXPORT)
        handle = actions_mod.normalize_handle(account)
        cipher = self.store.cipher
        with self.store.read() as conn:
            actions = actions_repo.listed(
                conn, cipher, principal.org_id, platform=platform.strip().lower(), account=handle
            )
            adverse = [a for a in actions if a.adverse]
            if not adverse:
                raise InvalidInput.single(
                    "account",
                    "no_action",
                    f"no strike, restriction or suspension is recorded for {handle} on {platform}; "
                    "record it first ('qorgau accounts action add')",
                )
            start = min(a.at for a in adverse) - APPEAL_LOOKBACK
            end = max(a.at for a in actions)
            people = [
                p
                for p in _people(self.cases, principal.org_id, conn)
                if handle in p.handles or p.group == outlet or p.name == outlet
            ]
            observations = obs_repo.in_window(conn, cipher, principal.org_id, start, end)
            targets = targets_from_people(people)
            if not any(handle in t.handles for t in targets):  # the account itself, always
                targets = (*targets, ReportTarget(outlet, (handle,), (outlet,)))
            waves = group_waves(find_calls(observations, targets), targets)
            callers = {a for w in waves for a in w.accounts}
            names = {outlet, *(p.name for p in people), *(p.group for p in people if p.group)}
            by_id = {o.id: o for o in observations}
            clusters = []
            for detector in COORDINATION_DETECTORS:
                for f in det_repo.recent(
                    conn, cipher, principal.org_id, detector=detector, since=start
                ):
                    if f.first_at > end:
                        continue
                    cluster = _cluster(f, det_repo.observation_keys(conn, f.id))
                    # Only this outlet's: an appeal goes to a platform, and another protected
                    # client's campaign is not this outlet's evidence to share.
                    if _concerns(cluster, f.subjects, callers, names, handle, by_id):
                        clusters.append(cluster)
            cited = sorted(
                {i for w in waves for i in w.observation_ids}
                | {i for c in clusters for i in c.observation_ids}
            )
            hashes = det_repo.evidence_hashes(conn, principal.org_id, cited)
        return build_appeal(
            outlet,
            platform,
            handle,
            actions,
            waves,
            clusters,
            evidence_hashes=hashes,
            prepared_at=self.store.now(),
            language=language,
        )


def _people(cases: CaseDesk, org_id: int, conn: Any) -> list[Any]:
    from qorgau.observation_desk import watchlist_people

    return list(parse_people(watchlist_people(conn, cases.store.cipher, org_id)))


def _cluster(f: det_repo.StoredFinding, observation_ids: list[str]) -> CoordinationCluster:
    accounts = f.details.get("accounts") or []
    return CoordinationCluster(
        id=f"{f.detector}:{f.id}",
        kind=f.detector,
        accounts=tuple(str(a) for a in accounts),
        start=f.first_at,
        end=f.last_at,
        observation_ids=tuple(observation_ids),
    )


def _concerns(
    cluster: CoordinationCluster,
    subjects: tuple[str, ...],
    callers: set[str],
    names: set[str],
    handle: str,
    by_id: dict[str, Observation],
) -> bool:
    """A cluster belongs in an outlet's appeal when it is about the outlet or its people, when
    its accounts also called for complaints, or when its posts name the account."""
    if set(subjects) & names or set(cluster.accounts) & callers:
        return True
    for obs_id in cluster.observation_ids:
        ob = by_id.get(obs_id)
        if ob is not None and handle in (ob.text + " " + " ".join(ob.urls)).lower():
            return True
    return False


def _merge_protected(
    stored: dict[str, Any] | None, raw: Any
) -> tuple[dict[str, Any], int, int, list[str]]:
    """The stored entries first, then the file's, checked together in one pass (so a person
    may name an outlet that is only in the stored registry): a file entry that contradicts a
    stored one is the one skipped. A file entry with a stored entry's id replaces it only when
    it survives the check; otherwise the stored version stays."""
    protected_registry.parse_registry(raw)  # not a registry at all: refused before anything
    items = list(raw.get("entities", []) if isinstance(raw, dict) else [])
    file_ids = {str(i.get("id")) for i in items if isinstance(i, dict)}
    kept_stored = list((stored or {}).get("entities", []))
    old = [e for e in kept_stored if e.get("id") not in file_ids]
    first = protected_registry.parse_registry({"entities": old + items})
    failed = {p.index - len(old) for p in first.problems if p.severity == "error"
              and p.index is not None and p.index >= len(old)}  # fmt: skip
    problems = [
        _file_problem(p, items, len(old), bool(stored))
        for p in first.problems
        if p.severity == "error" and p.index is not None and p.index >= len(old)
    ]
    restored = [
        e
        for e in kept_stored
        if e.get("id") in file_ids
        and any(
            isinstance(items[j], dict) and str(items[j].get("id")) == e.get("id") for j in failed
        )
    ]
    problems += [f"{e.get('id')}: the stored version is kept" for e in restored]
    positions = [j for j in range(len(items)) if j not in failed]
    survivors = [items[j] for j in positions]
    final = protected_registry.parse_registry({"entities": old + restored + survivors})
    offset = len(old) + len(restored)
    problems += [
        _file_problem(p, items, offset, bool(stored), positions)
        for p in final.problems
        if p.index is not None and p.index >= offset
    ]
    document = final.registry.to_json()
    new_ids = {
        str(i.get("id")) for j, i in enumerate(items) if j not in failed and isinstance(i, dict)
    }
    added = len({e["id"] for e in document["entities"]} & new_ids)
    return document, len(document["entities"]), added, list(dict.fromkeys(problems))


def _file_problem(
    p: protected_registry.RegistryProblem,
    items: list[Any],
    offset: int,
    has_stored: bool,
    positions: list[int] | None = None,
) -> str:
    """A problem worded in the imported file's own terms (its entry number and id)."""
    index = (p.index or 0) - offset
    if positions is not None and 0 <= index < len(positions):
        index = positions[index]
    item = items[index] if 0 <= index < len(items) else {}
    entry_id = item.get("id", "") if isinstance(item, dict) else ""
    outcome = "entry skipped" if p.severity == "error" else "entry kept"
    against = (
        f"; entities[0..{offset - 1}] are the stored registry" if has_stored and offset else ""
    )
    return f"entities[{index}] {entry_id} ({p.entry}): {p.field}: {p.reason}{against} ({outcome})"


def _merge_media(
    stored: dict[str, Any] | None, raw: Any
) -> tuple[dict[str, Any], int, int, list[str]]:
    existing = None
    if stored is not None:
        existing, _ = media_registry.parse_media_registry(stored)
    added, problems = media_registry.parse_media_registry(raw, existing=existing)
    entries = {e["id"]: e for e in (stored or {}).get("items", [])}
    new = 0
    for item in added.to_json()["items"]:
        if item["id"] not in entries:
            entries[item["id"]] = item
            new += 1
    document = {"items": [entries[k] for k in sorted(entries)]}
    return document, len(document["items"]), new, [str(p) for p in problems]


def _digest(files: dict[str, bytes]) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()[:32]


def _role(report: mvt_results.SpywareReport, name: str) -> str:
    for f in report.files:
        if f.name == name:
            return f.role
    return "other"


def _spyware_title(report: mvt_results.SpywareReport, person: str | None) -> str:
    found = ", ".join(report.collections) or "known spyware"
    who = f" on {person}'s phone" if person else " on a phone"
    return f"Spyware indicators ({found}){who}: {len(report.detections)} detection(s)"


def _referral_text(referral: dict[str, Any]) -> str:
    labs = "; ".join(
        f"{lab.get('name')} ({lab.get('contact', '')})" for lab in referral.get("labs", [])
    )
    return f"{referral.get('advice', '')}\nForensic labs: {labs}".strip()
