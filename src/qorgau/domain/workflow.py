"""Case workflow: which status may follow which.

Kept as a table so that the web desk can show only the moves that are legal and a test can walk
every pair. ``merged`` is reached only by merging, never by a status change.
"""

from __future__ import annotations

from qorgau.domain.model import Incident, Status
from qorgau.errors import Conflict, InvalidInput

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.TRIAGED, Status.IN_PROGRESS, Status.REJECTED}),
    Status.TRIAGED: frozenset(
        {Status.IN_PROGRESS, Status.WAITING_ON_REPORTER, Status.RESOLVED, Status.REJECTED}
    ),
    Status.IN_PROGRESS: frozenset({Status.WAITING_ON_REPORTER, Status.RESOLVED}),
    Status.WAITING_ON_REPORTER: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.CLOSED: frozenset({Status.IN_PROGRESS}),
    Status.REJECTED: frozenset({Status.TRIAGED}),
    Status.MERGED: frozenset(),
}


def check_transition(current: Status, wanted: Status) -> None:
    if wanted is Status.MERGED:
        raise InvalidInput.single(
            "status", "workflow", "use the merge action to mark a duplicate as merged"
        )
    if wanted == current:
        raise Conflict(f"the incident is already {current}")
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        raise Conflict(f"cannot move from {current} to {wanted}; allowed next: {allowed}")


def check_merge(duplicate: Incident, survivor: Incident) -> None:
    """A duplicate folds into a live incident of the same organisation, never into itself."""
    if duplicate.id == survivor.id:
        raise InvalidInput.single("into", "merge", "an incident cannot be merged into itself")
    if duplicate.org_id != survivor.org_id:
        raise Conflict("incidents of different organisations cannot be merged")
    if duplicate.status is Status.MERGED:
        raise Conflict(f"{duplicate.public_id} is already merged")
    if survivor.status is Status.MERGED:
        raise Conflict(
            f"{survivor.public_id} was itself merged into another incident; merge into that one"
        )
