"""The common layout, for comparison: a plain ``def`` handler with an ORM session per request.

Each request runs in the thread pool, opens a session, adds one object and commits — one
durable commit per request, and SQLite writers contending for the lock. Run:
``uvicorn benchmarks.orm_app:app`` with BARE_DB set to a SQLite path.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from qorgau.store.engine import make_engine

TARGET = os.environ.get("BARE_DB", "orm.db")
engine = make_engine(TARGET if "://" in TARGET else f"sqlite:///{TARGET}")


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "orm_rows"
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    body: Mapped[str] = mapped_column(sa.Text)


Base.metadata.create_all(engine)
app = FastAPI()


@app.post("/api/v1/reports", status_code=201)
def insert(body: dict[str, Any]) -> dict[str, str]:
    row_id = uuid.uuid4().hex
    with Session(engine) as session:
        session.add(Row(id=row_id, body=json.dumps(body)))
        session.commit()
    return {"id": row_id}
