"""Import incidents from JSON Lines or CSV — the same path for users' files and the demo data.

Every row is checked before anything is written: by default one bad row stops the import with
a list of every problem (line, field, rule), and nothing is stored; ``skip_invalid`` stores the
good rows and reports the rest. Re-running an import never duplicates: each row carries an
idempotency key made from its public id, external reference or content.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qorgau.desk import CaseDesk
from qorgau.domain.model import Principal, Role
from qorgau.errors import InvalidInput, QorgauError
from qorgau.io.profiles import Profile, apply_profile
from qorgau.io.records import csv_row_to_record, record_to_import
from qorgau.store.intake import IntakeJob, store_reports
from qorgau.store.search_index import index_pending

BATCH = 500
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    read: int = 0
    created: int = 0
    already_present: int = 0
    errors: list[RowError] = field(default_factory=list)
    stored: bool = False


def detect_format(path: Path, explicit: str | None) -> str:
    fmt = explicit or {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(
        path.suffix.lower()
    )
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput.single(
            "format",
            "enum",
            f"cannot tell the format of {path.name}; pass --format",
            ("jsonl", "csv"),
        )
    return fmt


def read_rows(path: Path, fmt: str, profile: Profile | None) -> Iterator[tuple[int, Any]]:
    """(line number, exchange record or the exception that made it unreadable)."""
    if fmt == "jsonl":
        with path.open(encoding="utf-8-sig") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield n, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield n, InvalidInput.single("line", "json", f"not valid JSON: {exc.msg}")
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = set(reader.fieldnames or [])
        if profile is not None:
            missing = sorted(profile.columns() - header)
            if missing:
                raise InvalidInput.single(
                    "header",
                    "columns",
                    f"the profile {profile.name} needs columns missing from the file: "
                    f"{', '.join(missing)}",
                )
        for row in reader:
            n = reader.line_num
            try:
                yield n, apply_profile(profile, row) if profile else csv_row_to_record(row)
            except InvalidInput as exc:
                yield n, exc


def _idempotency_key(rec: dict[str, Any]) -> str:
    if rec.get("public_id"):
        return f"import:id:{rec['public_id']}"
    if rec.get("external_ref"):
        return f"import:ref:{rec['external_ref']}"
    digest = hashlib.sha256(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()
    return f"import:sha:{digest}"


def import_file(
    desk: CaseDesk,
    path: Path,
    *,
    fmt: str | None = None,
    profile: Profile | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    fmt = detect_format(path, fmt)
    importer = Principal(None, Role.ADMIN, desk.default_org_id, f"import:{path.name}"[:64])
    report = ImportReport()
    jobs: list[IntakeJob] = []
    for line, rec in read_rows(path, fmt, profile):
        report.read += 1
        try:
            if isinstance(rec, QorgauError):
                raise rec
            parsed = record_to_import(rec)
            job = desk.prepare_report(
                importer,
                parsed.fields,
                tag="incident:imported",
                idempotency_key=_idempotency_key(rec),
            )
            new = replace(job.new, status=parsed.status)
            jobs.append(
                replace(
                    job,
                    new=new,
                    respond=False,
                    public_id=parsed.public_id,
                    created_at=parsed.created_at,
                    updated_at=parsed.updated_at,
                    with_receipt=False,
                    idempotency_key=_idempotency_key(rec),
                )
            )
        except InvalidInput as exc:
            report.errors.extend(RowError(line, p.field, p.message) for p in exc.problems)
    if report.errors and not skip_invalid:
        return report
    total = len(jobs)
    done = 0
    store = desk.store
    for start in range(0, total, BATCH):
        chunk = jobs[start : start + BATCH]
        with store.write() as conn:
            for outcome in store_reports(conn, store, chunk, store.now()):
                if isinstance(outcome, QorgauError):
                    raise outcome
                if outcome.replayed:
                    report.already_present += 1
                else:
                    report.created += 1
        done += len(chunk)
        if progress:
            progress(done, total)
    with store.write() as conn:
        index_pending(conn)
    report.stored = True
    return report
