"""Export incidents as JSON Lines or CSV (the exchange record; see ``records``).

Exports contain decrypted personal data — they are for moving or backing up a desk — so the
file is created owner-readable only.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from qorgau import read_audit
from qorgau.desk import CaseDesk
from qorgau.domain.model import Incident
from qorgau.io.records import FIELDS, incident_to_record, record_to_csv_row
from qorgau.store.incidents import load_many
from qorgau.store.tables import incidents

CHUNK = 500


def iter_incidents(desk: CaseDesk, *, include_merged: bool = True) -> Iterator[Incident]:
    store = desk.store
    last = 0
    while True:
        with store.read() as conn:
            cond = incidents.c.id > last
            if not include_merged:
                cond = sa.and_(cond, incidents.c.status != "merged")
            rows = (
                conn.execute(sa.select(incidents).where(cond).order_by(incidents.c.id).limit(CHUNK))
                .mappings()
                .all()
            )
            if not rows:
                return
            batch = load_many(conn, store.cipher, store.taxonomy, rows, reveal=True)
        yield from batch
        last = rows[-1]["id"]


def _open_private(path: Path) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def export(desk: CaseDesk, path: Path, fmt: str) -> int:
    count = 0
    groups: set[str] = set()
    taxonomy = desk.store.taxonomy
    with _open_private(path) as fh:
        if fmt == "csv":
            writer = csv.DictWriter(fh, fieldnames=list(FIELDS))
            writer.writeheader()
            for incident in iter_incidents(desk, include_merged=False):
                groups |= read_audit.incident_groups(incident, taxonomy)
                writer.writerow(record_to_csv_row(incident_to_record(incident)))
                count += 1
        else:
            for incident in iter_incidents(desk, include_merged=False):
                groups |= read_audit.incident_groups(incident, taxonomy)
                fh.write(
                    json.dumps(incident_to_record(incident), ensure_ascii=False, sort_keys=True)
                )
                fh.write("\n")
                count += 1
    try:
        # One event for the whole file; an export that cannot be recorded is not kept.
        read_audit.record(
            desk.store,
            desk.system("cli"),
            entity="export",
            entity_id=fmt,
            groups=groups,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return count
