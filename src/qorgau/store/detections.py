"""Detector state, failures and findings, in the store.

Findings are keyed by (detector, campaign key): a campaign seen again grows its row and its
incident. Their text names protected people, so title, explanation and details are encrypted
like the observations they rest on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from qorgau.detect.model import DetectorFailure, Finding
from qorgau.security.fields import FieldCipher
from qorgau.store.observations import insert_ignore
from qorgau.store.tables import (
    detector_failures,
    detector_state,
    finding_observations,
    findings,
    observations,
)

STATE_AAD = "detector_state.state"
FINDING_AAD = "findings.body"
KEY_INDEX = "findings.campaign_key"


def campaign_index(cipher: FieldCipher, detector: str, key: str) -> str:
    """Campaign keys name protected people ("flood:<person>:calls:..."): only a keyed hash of
    them is stored in clear, the key itself sits in the encrypted body."""
    return cipher.blind_index(f"{detector}\x00{key}", KEY_INDEX)


def load_states(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    detector: str,
    partitions: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """The saved state of each partition, locked until this transaction ends (PostgreSQL)."""
    wanted = sorted(set(partitions))  # a fixed order: two workers never lock in a cycle
    s = detector_state.c
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), 500):
        query = sa.select(s.partition, s.state).where(
            s.org_id == org_id, s.detector == detector, s.partition.in_(wanted[i : i + 500])
        )
        if conn.dialect.name == "postgresql":
            query = query.order_by(s.partition).with_for_update()
        for part, blob in conn.execute(query):
            found[part] = orjson.loads(cipher.decrypt(blob, STATE_AAD) or "{}")
    return found


def save_states(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    detector: str,
    states: Mapping[str, dict[str, Any]],
    now: datetime,
) -> None:
    rows = [
        {
            "org_id": org_id,
            "detector": detector,
            "partition": part,
            "state": cipher.encrypt(orjson.dumps(value).decode(), STATE_AAD),
            "updated_at": now,
        }
        for part, value in sorted(states.items())  # one lock order for every writer
    ]
    if not rows:
        return
    keys = ["org_id", "detector", "partition"]
    upsert: sa.Executable
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(detector_state)
        upsert = pg.on_conflict_do_update(
            index_elements=keys,
            set_={"state": pg.excluded.state, "updated_at": pg.excluded.updated_at},
        )
    else:
        lite = sqlite.insert(detector_state)
        upsert = lite.on_conflict_do_update(
            index_elements=keys,
            set_={"state": lite.excluded.state, "updated_at": lite.excluded.updated_at},
        )
    conn.execute(upsert, rows)


def record_failures(
    conn: sa.Connection, org_id: int, failures: Sequence[DetectorFailure], now: datetime
) -> None:
    insert_ignore(
        conn,
        detector_failures,
        [
            {
                "org_id": org_id,
                "detector": f.detector,
                "obs_key": f.observation_id[:400],
                "error": f.error[:2000],
                "at": now,
            }
            for f in failures
        ],
    )


def failures(conn: sa.Connection, org_id: int, limit: int = 100) -> list[dict[str, Any]]:
    f = detector_failures.c
    rows = conn.execute(
        sa.select(f.detector, f.obs_key, f.error, f.at)
        .where(f.org_id == org_id)
        .order_by(f.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class StoredFinding:
    id: int
    detector: str
    campaign_key: str
    attack_type: str
    severity: str | None
    title: str
    explanation: str
    subjects: tuple[str, ...]
    details: dict[str, Any]
    first_at: datetime
    last_at: datetime
    observations: int
    incident_id: int | None
    linked_finding_id: int | None


def _stored(cipher: FieldCipher, row: Any) -> StoredFinding:
    body = orjson.loads(cipher.decrypt(row.body, FINDING_AAD) or "{}")
    return StoredFinding(
        id=row.id,
        detector=row.detector,
        campaign_key=body.get("key", ""),
        attack_type=row.attack_type,
        severity=row.severity,
        title=body.get("title", ""),
        explanation=body.get("explanation", ""),
        subjects=tuple(body.get("subjects", ())),
        details=body.get("details") or {},
        first_at=row.first_at,
        last_at=row.last_at,
        observations=row.observations,
        incident_id=row.incident_id,
        linked_finding_id=row.linked_finding_id,
    )


def finding_by_key(
    conn: sa.Connection, cipher: FieldCipher, org_id: int, detector: str, key: str
) -> StoredFinding | None:
    f = findings.c
    row = conn.execute(
        sa.select(findings).where(
            f.org_id == org_id,
            f.detector == detector,
            f.campaign_key == campaign_index(cipher, detector, key),
        )
    ).first()
    return None if row is None else _stored(cipher, row)


def save_finding(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    finding: Finding,
    first: datetime,
    last: datetime,
    previous: StoredFinding | None,
) -> int:
    """Insert the finding, or fold a re-emission into the stored row; its row id.

    ``first`` and ``last`` are when the observations behind it happened (not when a worker got
    to them): linking a flood to the ads before it compares these."""
    body = {
        "key": finding.key,
        "title": finding.title,
        "explanation": finding.explanation,
        "subjects": list(finding.subjects),
        "details": dict(finding.details),
    }
    sealed = cipher.encrypt(orjson.dumps(body, default=str).decode(), FINDING_AAD)
    if previous is None:
        done = conn.execute(
            findings.insert().values(
                org_id=org_id,
                detector=finding.detector,
                campaign_key=campaign_index(cipher, finding.detector, finding.key),
                attack_type=finding.attack_type[:40],
                severity=finding.severity,
                body=sealed,
                first_at=first,
                last_at=last,
                observations=0,
            )
        )
        pk = done.inserted_primary_key
        assert pk is not None
        return int(pk[0])
    conn.execute(
        findings.update()
        .where(findings.c.id == previous.id)
        .values(
            body=sealed,
            first_at=min(previous.first_at, first),
            last_at=max(previous.last_at, last),
            severity=_higher(previous.severity, finding.severity),
        )
    )
    return previous.id


_RANK = {None: 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _higher(a: str | None, b: str | None) -> str | None:
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b


def add_observations(conn: sa.Connection, finding_id: int, row_ids: Sequence[int]) -> list[int]:
    """Attach observations to a finding; the ids that were not attached before."""
    fo = finding_observations.c
    before: set[int] = set()
    for i in range(0, len(row_ids), 500):
        before.update(
            conn.execute(
                sa.select(fo.observation_id).where(
                    fo.finding_id == finding_id, fo.observation_id.in_(list(row_ids[i : i + 500]))
                )
            ).scalars()
        )
    new = [r for r in dict.fromkeys(row_ids) if r not in before]
    insert_ignore(
        conn,
        finding_observations,
        [{"finding_id": finding_id, "observation_id": r} for r in new],
    )
    if new:
        conn.execute(
            findings.update()
            .where(findings.c.id == finding_id)
            .values(observations=findings.c.observations + len(new))
        )
    return new


def set_vault_item(
    conn: sa.Connection, finding_id: int, row_ids: Sequence[int], item_id: int
) -> None:
    fo = finding_observations.c
    for i in range(0, len(row_ids), 500):
        conn.execute(
            finding_observations.update()
            .where(fo.finding_id == finding_id, fo.observation_id.in_(list(row_ids[i : i + 500])))
            .values(vault_item_id=item_id)
        )


def set_incident(
    conn: sa.Connection, finding_id: int, incident_id: int, linked: int | None = None
) -> None:
    values: dict[str, Any] = {"incident_id": incident_id}
    if linked is not None:
        values["linked_finding_id"] = linked
    conn.execute(findings.update().where(findings.c.id == finding_id).values(**values))


def recent(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    *,
    detector: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[StoredFinding]:
    f = findings.c
    query = sa.select(findings).where(f.org_id == org_id)
    if detector is not None:
        query = query.where(f.detector == detector)
    if since is not None:
        query = query.where(f.last_at >= since)
    rows = conn.execute(query.order_by(f.last_at.desc(), f.id.desc()).limit(limit))
    return [_stored(cipher, r) for r in rows]


def exists(conn: sa.Connection, org_id: int, finding_id: int) -> bool:
    """Whether the organisation has this finding (another organisation's is as good as none)."""
    f = findings.c
    query = sa.select(f.id).where(f.org_id == org_id, f.id == finding_id)
    return conn.execute(query).first() is not None


def observation_keys(conn: sa.Connection, finding_id: int) -> list[str]:
    fo, o = finding_observations.c, observations.c
    return list(
        conn.execute(
            sa.select(o.obs_key)
            .join(finding_observations, fo.observation_id == o.id)
            .where(fo.finding_id == finding_id)
            .order_by(o.observed_at, o.id)
        ).scalars()
    )


def evidence_hashes(conn: sa.Connection, org_id: int, keys: Sequence[str]) -> dict[str, str]:
    """Observation id -> SHA-256 of the vault bundle that preserved it, for the observations
    a finding has put in the vault (an appeal lists them so a platform can ask for the copy)."""
    from qorgau.store.tables import vault_items

    fo, o, v = finding_observations.c, observations.c, vault_items.c
    out: dict[str, str] = {}
    for i in range(0, len(keys), 500):
        rows = conn.execute(
            sa.select(o.obs_key, v.sha256)
            .join(finding_observations, fo.observation_id == o.id)
            .join(vault_items, v.id == fo.vault_item_id)
            .where(o.org_id == org_id, o.obs_key.in_(list(keys[i : i + 500])))
        )
        out.update({key: sha for key, sha in rows})
    return out
