"""Social-account actions (strikes, restrictions, suspensions) as stored rows.

The platform's wording and its reference number are encrypted: a notice can quote the
complaint, and a reference number is what an attacker would use to file a fake appeal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa

from qorgau.detect.account_actions import AccountAction
from qorgau.security.fields import FieldCipher
from qorgau.store.observations import insert_ignore
from qorgau.store.tables import account_actions

_AAD = "account_actions.details"


def add(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    actions: Sequence[AccountAction],
    now: datetime,
) -> int:
    """Store the actions not stored yet (the same notice imported twice is kept once);
    returns how many were new."""
    if not actions:
        return 0
    before = _count(conn, org_id)
    insert_ignore(
        conn,
        account_actions,
        [
            {
                "org_id": org_id,
                "platform": a.platform,
                "account": a.account,
                "action": a.action,
                "at": a.at,
                "source": a.source,
                "details": cipher.encrypt(
                    orjson.dumps({"reason": a.reason, "reference": a.reference}).decode(), _AAD
                ),
                "created_at": now,
            }
            for a in actions
        ],
    )
    return _count(conn, org_id) - before


def _count(conn: sa.Connection, org_id: int) -> int:
    a = account_actions.c
    return int(conn.execute(sa.select(sa.func.count()).where(a.org_id == org_id)).scalar_one())


def listed(
    conn: sa.Connection,
    cipher: FieldCipher,
    org_id: int,
    *,
    platform: str | None = None,
    account: str | None = None,
) -> list[AccountAction]:
    a = account_actions.c
    query = sa.select(account_actions).where(a.org_id == org_id)
    if platform:
        query = query.where(a.platform == platform)
    if account:
        query = query.where(a.account == account)
    out = []
    for row in conn.execute(query.order_by(a.at, a.id)):
        details = orjson.loads(cipher.decrypt(row.details, _AAD) or "{}")
        out.append(
            AccountAction(
                platform=row.platform,
                account=row.account,
                action=row.action,
                at=row.at,
                reason=str(details.get("reason", "")),
                reference=str(details.get("reference", "")),
                source=row.source,
            )
        )
    return out
