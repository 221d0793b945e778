"""Fuzz the whole HTTP API from its OpenAPI document with schemathesis, in-process on SQLite.

Every operation of ``/openapi.json`` is called with generated requests three ways: with an
admin's token, with a reporter's token and with no credentials. Each response is checked: no
5xx, a status code the document lists, a documented content type, and a body that conforms to
the documented schema. The suite runs a reduced form (tests/integration/test_api_fuzz.py);
``make fuzz`` runs at least 10,000 requests and prints the count::

    python -m benchmarks.fuzz_api --requests 10000

Failures are collected per operation (one example each, not only the first to fail) so a run
shows everything that is wrong at once.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qorgau.config import Settings
from qorgau.domain.model import Role
from qorgau.store import migrate, users
from qorgau.store.store import Store, open_store
from qorgau.web.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CALLERS = ("admin", "reporter", "anonymous")


@dataclass
class FuzzResult:
    requests: int = 0
    operations: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    # "METHOD /path as caller" -> the first failure message for it
    failures: dict[str, str] = field(default_factory=dict)


class Callers:
    """An admin and a reporter of a fresh organisation, and a fresh token for each use.

    Generated requests can deactivate a user, change a role or revoke a token (that is part of
    the API); each operation therefore starts from active accounts with their own role and a
    new token, so the rest of the run is not reduced to 401s."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.user_ids: dict[str, int] = {}
        with store.write() as conn:
            org_id = users.ensure_org(conn, "default", "Fuzz desk", store.now())
            for role in (Role.ADMIN, Role.REPORTER):
                user = users.create_user(
                    conn,
                    org_id=org_id,
                    username=f"fuzz-{role}",
                    role=role,
                    password=None,
                    display_name=None,
                    now=store.now(),
                )
                self.user_ids[str(role)] = user.id

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        user_id = self.user_ids[caller]
        with self.store.write() as conn:
            users.set_active(conn, user_id, True)
            users.set_role(conn, user_id, Role(caller))
            token, _ = users.issue_token(
                conn, user_id, "fuzz", self.store.now(), timedelta(hours=4)
            )
        return {"Authorization": f"Bearer {token}"}


@contextmanager
def fuzz_store(data_dir: Path) -> Iterator[Store]:
    """A fresh, migrated SQLite store in ``data_dir``."""
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'fuzz.db'}")
    store = open_store(settings, create_keys=True)
    try:
        migrate.upgrade(store.engine)
        yield store
    finally:
        store.close()


def run(store: Store, per_operation: int, seed: int | None = None) -> FuzzResult:
    """``per_operation`` generated examples for each operation and each caller."""
    callers = Callers(store)
    app = create_app(store.settings, store)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    result = FuzzResult()
    try:
        for op_result in schema.get_all_operations():
            operation = op_result.ok()  # type: ignore[union-attr]
            result.operations += 1
            for caller in CALLERS:
                label = f"{operation.method.upper()} {operation.path} as {caller}"
                headers = callers.headers(caller)
                _fuzz_operation(operation, label, headers, per_operation, seed, result)
    finally:
        asgi.shutdown_lifespans()  # the app's writer, dispatcher and loops stop here
    return result


def _fuzz_operation(
    operation: Any,
    label: str,
    headers: dict[str, str],
    per_operation: int,
    seed: int | None,
    result: FuzzResult,
) -> None:
    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=per_operation,
        deadline=None,
        database=None,
        # No shrinking: every example is a request the count includes, and one failing
        # example per operation is enough to find the route.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def probe(case: schemathesis.Case[Any]) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: it answered 500, then re-raised
            result.requests += 1
            result.by_status[500] = result.by_status.get(500, 0) + 1
            result.failures.setdefault(
                label,
                f"server error {type(exc).__name__}: {exc}\n"
                f"  reproduce: {case.as_curl_command(headers)}",
            )
            return
        result.requests += 1
        result.by_status[response.status_code] = result.by_status.get(response.status_code, 0) + 1
        if label in result.failures:
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as exc:
            result.failures[label] = f"{exc}\n  reproduce: {case.as_curl_command(headers)}"

    if seed is not None:
        probe = hypothesis.seed(seed)(probe)
    probe()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="at least this many")
    parser.add_argument("--seed", type=int, default=None, help="derandomise (same run again)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    total = FuzzResult()
    rounds = 0
    with tempfile.TemporaryDirectory(prefix="qorgau-fuzz-") as tmp, fuzz_store(Path(tmp)) as store:
        app = create_app(store.settings, store)
        operations = sum(len(methods) for methods in app.openapi()["paths"].values())
        while total.requests < args.requests:
            rounds += 1
            # Hypothesis stops early on operations with few distinct inputs, so each round
            # asks for more than the remaining share and the loop tops up what is missing.
            remaining = args.requests - total.requests
            per_operation = max(2, (2 * remaining) // (operations * len(CALLERS)))
            r = run(store, per_operation, args.seed)
            print(f"  round {rounds}: {r.requests} requests, {per_operation} per operation")
            total.requests += r.requests
            total.operations = r.operations
            for status, n in r.by_status.items():
                total.by_status[status] = total.by_status.get(status, 0) + n
            for label, message in r.failures.items():
                total.failures.setdefault(label, message)
    elapsed = time.monotonic() - started
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(total.by_status.items()))
    machine = f"{platform.node()} ({os.cpu_count()} cores), Python {platform.python_version()}"
    print(f"API fuzz, {when}, {machine}")
    print(
        f"{total.requests} generated requests over {total.operations} operations x "
        f"{len(CALLERS)} callers ({rounds} rounds) in {elapsed:.0f} s; statuses {statuses}"
    )
    print(f"{len(total.failures)} failing operation/caller pairs")
    for label, message in sorted(total.failures.items()):
        print(f"\n== {label}\n{message}")
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
