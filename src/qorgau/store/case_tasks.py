"""A case's task list: playbook steps (with the playbook version they came from) and own tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from qorgau.errors import Conflict, InvalidInput, NotFound
from qorgau.response.playbooks import Playbook
from qorgau.store.tables import case_tasks

T = case_tasks.c
MAX_TASK_LENGTH = 500


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Task:
    id: int
    incident_id: int
    position: int
    playbook_id: str | None
    playbook_version: str | None
    step_id: str | None
    title: dict[str, str]
    state: TaskState
    reason: str | None
    created_at: datetime
    created_by: int | None
    done_at: datetime | None
    done_by: int | None

    def label(self, lang: str) -> str:
        return self.title.get("custom") or self.title.get(lang) or self.title.get("en", "")


def _decode(m: Any) -> Task:
    return Task(
        m["id"],
        m["incident_id"],
        m["position"],
        m["playbook_id"],
        m["playbook_version"],
        m["step_id"],
        dict(m["title"]),
        TaskState(m["state"]),
        m["reason"],
        m["created_at"],
        m["created_by"],
        m["done_at"],
        m["done_by"],
    )


def _next_positions(conn: sa.Connection, incident_ids: list[int]) -> dict[int, int]:
    rows = conn.execute(
        sa.select(T.incident_id, sa.func.max(T.position))
        .where(T.incident_id.in_(incident_ids))
        .group_by(T.incident_id)
    )
    found = {i: int(p) + 1 for i, p in rows}
    return {i: found.get(i, 0) for i in incident_ids}


def playbook_rows(
    conn: sa.Connection,
    plans: list[tuple[int, list[Playbook]]],
    user_id: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Rows for the steps of each incident's playbooks that it does not have yet."""
    ids = [i for i, books in plans if books]
    if not ids:
        return []
    have = {
        (i, p, s)
        for i, p, s in conn.execute(
            sa.select(T.incident_id, T.playbook_id, T.step_id).where(T.incident_id.in_(ids))
        )
    }
    positions = _next_positions(conn, ids)
    rows: list[dict[str, Any]] = []
    for incident_id, books in plans:
        for book in books:
            for step in book.step:
                if (incident_id, book.id, step.id) in have:
                    continue
                have.add((incident_id, book.id, step.id))
                rows.append(
                    {
                        "incident_id": incident_id,
                        "position": positions[incident_id],
                        "playbook_id": book.id,
                        "playbook_version": book.version,
                        "step_id": step.id,
                        "title": step.title.as_dict(),
                        "state": str(TaskState.OPEN),
                        "reason": None,
                        "created_at": now,
                        "created_by": user_id,
                        "done_at": None,
                        "done_by": None,
                    }
                )
                positions[incident_id] += 1
    return rows


def insert_rows(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(case_tasks.insert(), rows)


def attach(
    conn: sa.Connection, incident_id: int, book: Playbook, user_id: int | None, now: datetime
) -> int:
    rows = playbook_rows(conn, [(incident_id, [book])], user_id, now)
    if not rows:
        raise Conflict(f"the case already has every step of playbook {book.id}")
    insert_rows(conn, rows)
    return len(rows)


def add_custom(
    conn: sa.Connection, incident_id: int, title: str, user_id: int | None, now: datetime
) -> Task:
    text = title.strip()
    if not text:
        raise InvalidInput.single("title", "required", "describe the task")
    if len(text) > MAX_TASK_LENGTH:
        raise InvalidInput.single("title", "max_length", f"at most {MAX_TASK_LENGTH} characters")
    position = _next_positions(conn, [incident_id])[incident_id]
    new_id = conn.execute(
        case_tasks.insert()
        .values(
            incident_id=incident_id,
            position=position,
            title={"custom": text},
            state=str(TaskState.OPEN),
            created_at=now,
            created_by=user_id,
        )
        .returning(T.id)
    ).scalar_one()
    return get_task(conn, incident_id, int(new_id))


def get_task(conn: sa.Connection, incident_id: int, task_id: int) -> Task:
    m = (
        conn.execute(sa.select(case_tasks).where(T.id == task_id, T.incident_id == incident_id))
        .mappings()
        .first()
    )
    if m is None:
        raise NotFound(f"task {task_id} not found on this case")
    return _decode(m)


def set_state(
    conn: sa.Connection,
    incident_id: int,
    task_id: int,
    state: TaskState,
    reason: str | None,
    user_id: int | None,
    now: datetime,
) -> tuple[Task, Task]:
    before = get_task(conn, incident_id, task_id)
    reason = (reason or "").strip() or None
    if state is TaskState.SKIPPED and not reason:
        raise InvalidInput.single("reason", "required", "say why the step is skipped")
    if before.state is state:
        raise Conflict(f"the task is already {state}")
    done = state is not TaskState.OPEN
    conn.execute(
        case_tasks.update()
        .where(T.id == task_id)
        .values(
            state=str(state),
            reason=reason,
            done_at=now if done else None,
            done_by=user_id if done else None,
        )
    )
    return before, get_task(conn, incident_id, task_id)


def list_tasks(conn: sa.Connection, incident_ids: list[int]) -> list[Task]:
    rows = conn.execute(
        sa.select(case_tasks)
        .where(T.incident_id.in_(incident_ids))
        .order_by(T.incident_id, T.position, T.id)
    ).mappings()
    return [_decode(m) for m in rows]
