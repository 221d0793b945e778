"""The ceiling to compare against: a minimal ``async`` endpoint inserting one row.

No validation, no encryption, no audit — only "parse JSON, insert, commit durably, answer",
with the same durability settings as Qorgau (SQLite WAL + synchronous=FULL; PostgreSQL
defaults). Run: ``uvicorn benchmarks.bare_app:app`` with BARE_DB set to a SQLite path or a
PostgreSQL URL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TARGET = os.environ.get("BARE_DB", "bare.db")
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    if TARGET.startswith("postgresql"):
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            TARGET.replace("+psycopg", ""), min_size=4, max_size=16, open=False
        )
        await pool.open()
        async with pool.connection() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bare (id text primary key, body jsonb not null)"
            )
        state["pool"] = pool
        yield
        await pool.close()
    else:
        conn = sqlite3.connect(TARGET, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS bare (id text primary key, body text not null)")
        state["sqlite"] = conn
        yield
        conn.close()


app = FastAPI(lifespan=lifespan)


@app.post("/api/v1/reports", status_code=201)
async def insert(request: Request) -> JSONResponse:
    body = await request.json()
    row_id = uuid.uuid4().hex
    if "pool" in state:
        async with state["pool"].connection() as conn:
            await conn.execute(
                "INSERT INTO bare (id, body) VALUES (%s, %s)", (row_id, json.dumps(body))
            )
    else:
        state["sqlite"].execute(
            "INSERT INTO bare (id, body) VALUES (?, ?)", (row_id, json.dumps(body))
        )
    return JSONResponse({"id": row_id}, status_code=201)
