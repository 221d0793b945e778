"""Role × page matrix for the web interface, as test_role_matrix does for the API.

The routes come from the app itself (every route outside /api that declares an action), so a
new page is covered without editing this test, and must declare its action. Each page is
called by nobody and by every role through a session cookie: who may not is sent to sign in
or refused; who may gets the page; no state-changing form is accepted without its CSRF token;
nothing answers 500.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from qorgau.domain.access import POLICY, Action
from qorgau.domain.model import Role
from qorgau.store.store import Store
from qorgau.web.app import create_app
from qorgau.web.auth import ACTION_KEY
from tests.conftest import Account
from tests.integration.test_api_intake import ORDA_ADS
from tests.support.web import csrf_for

HTML = {"accept": "text/html"}
CALLERS = [None, *[str(r) for r in Role]]
PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")


def walk(
    routes: list[Any], prefix: str = "", in_schema: bool = True
) -> list[tuple[str, APIRoute, bool]]:
    """Every APIRoute with its full path, through routers included in routers (FastAPI keeps
    included routers as their own objects)."""
    found = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append((prefix + r.path, r, in_schema and r.include_in_schema))
        elif hasattr(r, "original_router"):
            ctx = r.include_context
            found += walk(
                r.original_router.routes,
                prefix + ctx.prefix,
                in_schema and ctx.include_in_schema and r.original_router.include_in_schema,
            )
    return found


def ui_routes(client: TestClient) -> list[tuple[str, str, Action]]:
    found = []
    for path, r, in_schema in walk(client.app.routes):  # type: ignore[attr-defined]
        if path.startswith("/api/") or in_schema:
            continue
        action = (r.openapi_extra or {}).get(ACTION_KEY)
        assert action, f"page {path} declares no access action"
        for method in sorted(r.methods or ()):
            found.append((method, path, Action(action)))
    return found


def fill(path: str, samples: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in samples, f"add a sample value for the page parameter {{{name}}} ({path})"
        return str(samples[name])

    return PARAM.sub(one, path)


@pytest.fixture
def web(store: Store) -> Any:
    with TestClient(create_app(store.settings, store), headers=HTML) as c:
        yield c


def test_every_page_declares_an_action_and_there_are_pages(web: TestClient) -> None:
    routes = ui_routes(web)
    paths = {p for _, p, _ in routes}
    assert {"/login", "/report", "/track", "/desk", "/admin"} <= paths


@pytest.mark.parametrize("caller", CALLERS)
def test_page_matrix(
    web: TestClient, store: Store, accounts: dict[str, Account], caller: str | None
) -> None:
    lead = accounts["coordinator"].headers
    made = web.post(
        "/api/v1/reports", json=ORDA_ADS, headers={**lead, "accept": "application/json"}
    )
    assert made.status_code == 201, made.text
    incident = made.json()["public_id"]
    samples: dict[str, Any] = {
        "public_id": incident,
        "outlet": "orda",
        "host": "orda.kz",
        "task_id": 1,
        "statement_id": 1,
        "referral_id": 1,
        "view_id": 1,
        "user_id": accounts["reporter"].principal.user_id,
        "name": "agent-1",
        "kind": "playbooks",
        "finding_id": 1,
        "item_id": 1,
        "observation_id": 1,
        "sha256": "0" * 64,
        "key_id": 1,
        "session_id": 999_999,  # none of the caller's: ending it must not end the walk
    }
    web.headers.pop("authorization", None)
    token = accounts[caller].token if caller else None
    if token:
        web.cookies.set("qorgau_session", token)
    role = Role(caller) if caller else None
    for method, path, action in ui_routes(web):
        url = fill(path, samples)
        allowed = role in POLICY[action]
        if method == "GET":
            r = web.get(url, follow_redirects=False)
        else:
            r = web.request(method, url, data={"x": "1"}, follow_redirects=False)
        where = f"{caller or 'anonymous'} {method} {url}"
        assert r.status_code != 500, f"{where}: server error"
        if not allowed and role is None:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), where
            continue
        if not allowed:
            assert r.status_code == 403, f"{where}: {r.status_code}"
            continue
        if method != "GET":
            # Allowed, but no CSRF token: refused before anything happens.
            assert r.status_code == 403, f"{where}: accepted without a CSRF token"
            form = {"csrf": csrf_for(store, token) if token else ""}
            if token and path != "/logout":  # signing out would end the rest of the walk
                sent = web.request(method, url, data=form, follow_redirects=False)
                assert sent.status_code < 500, f"{where}: {sent.status_code} with CSRF"
            continue
        assert r.status_code in (200, 303, 404), f"{where}: {r.status_code}"
        if r.status_code == 303:
            assert not r.headers["location"].startswith("/login?next"), f"{where}: sent to sign in"
