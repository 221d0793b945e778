"""The Orda.kz week, end to end through the running app: reports in, triage, playbooks
attached, alerts delivered to a real SMTP server and a signed webhook on loopback, a breached
deadline escalated to the coordinator, a referral recorded and a statement drafted, approved
and published. Names, numbers and domains are made up (``.example``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qorgau.alerts.senders import verify_signature
from qorgau.store.store import Store
from qorgau.web.app import create_app
from tests.conftest import Account
from tests.support.loopback import SmtpServer, WebhookServer, wait_for

ALWAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SECRET = "orda-week-webhook-signing-secret"

FAKE_ADS = {
    "title": "Fake classified ads with the editor's and the owner's numbers",
    "description": "Ads 'selling equipment and animals' on two ad sites; calls all night.",
    "attack_types": ["phone_flooding"],
    "platform": "classifieds",
    "ongoing": True,
    "language": "kk",
    "targets": [
        {"kind": "person", "name": "Editor"},
        {"kind": "person", "name": "Owner"},
        {"kind": "phone_number", "name": "editor", "identifier": "+7 700 000 0101"},
        {"kind": "phone_number", "name": "owner", "identifier": "8 (701) 000-02-02"},
    ],
    "reporter": {"email": "security@orda.example"},
}
BLOCKING = {
    "title": "Main site blocked inside the country; kk and en hosts reachable",
    "attack_types": ["website_blocking"],
    "platform": "isp_network",
    "ongoing": True,
    "language": "ru",
    "targets": [{"kind": "website", "name": "orda.example", "identifier": "orda.example"}],
}
DEEPFAKE = {
    "title": "Fake invitation to a march 'from the editor'",
    "attack_types": ["fake_statement", "deepfake"],
    "platform": "instagram",
    "ongoing": True,
    "language": "kk",
    "targets": [{"kind": "outlet", "name": "Orda.kz"}],
}


@pytest.fixture
def peers() -> Iterator[tuple[SmtpServer, WebhookServer]]:
    with SmtpServer() as smtp, WebhookServer() as hook:
        yield smtp, hook


def test_orda_week(
    store: Store, accounts: dict[str, Account], peers: tuple[SmtpServer, WebhookServer]
) -> None:
    smtp, hook = peers
    settings = replace(store.settings, smtp_host="127.0.0.1", smtp_port=smtp.port)
    admin, coord = accounts["admin"], accounts["coordinator"]
    responder, reporter = accounts["responder"], accounts["reporter"]
    with TestClient(create_app(settings, store)) as client:

        def call(method: str, path: str, who: Account | None, body: Any = None) -> Any:
            r = client.request(
                method, f"/api/v1{path}", json=body, headers=who.headers if who else {}
            )
            assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
            return r.json() if r.content else None

        # -- the desk is set up: who is on call, where they are paged, the newsroom webhook
        call(
            "PUT",
            "/response/documents/roster",
            admin,
            {
                "timezone": "Asia/Almaty",
                "shift": [
                    {
                        "user": responder.principal.username,
                        "languages": ["kk", "ru", "en"],
                        "days": ALWAYS,
                        "from": "00:00",
                        "to": "24:00",
                    },
                    {
                        "user": coord.principal.username,
                        "tier": "coordinator",
                        "languages": ["kk", "ru", "en"],
                        "days": ALWAYS,
                        "from": "00:00",
                        "to": "24:00",
                    },
                ],
            },
        )
        call(
            "PUT",
            "/response/documents/channels",
            admin,
            {"webhook": [{"name": "newsroom", "url": hook.url, "secret": SECRET}]},
        )
        call("PUT", "/me/channels/email", responder, {"address": "duty@desk.example"})
        call("PUT", "/me/channels/email", coord, {"address": "coordinator@desk.example"})

        # -- Mon 18:40: phone flooding via fake ads, reported anonymously
        posted = time.monotonic()
        ads = call("POST", "/reports", None, FAKE_ADS)
        mail = wait_for(lambda: smtp.mailbox.to("duty@desk.example"), timeout=5)
        assert ads["public_id"] in str(mail[0]["subject"])
        assert "+7 700" not in mail[0].get_content() and "Editor" not in mail[0].get_content()
        arrived = smtp.mailbox.messages[0][0]
        assert arrived - posted < 2.0  # the on-call responder hears within seconds
        new_hook = wait_for(lambda: [c for c in hook.calls if ads["public_id"] in c.body.decode()])
        h = new_hook[0].headers
        assert h["x-qorgau-event"] == "incident.new"
        assert verify_signature(
            SECRET, h["x-qorgau-timestamp"], new_hook[0].body, h["x-qorgau-signature"]
        )
        assert not verify_signature(
            "wrong-secret-of-sixteen",
            h["x-qorgau-timestamp"],
            new_hook[0].body,
            h["x-qorgau-signature"],
        )

        case = call("GET", f"/incidents/{ads['public_id']}", admin)
        assert (
            case["severity"] == "high" and case["triage"]["reasons"][0]["rule"] == "phone-flooding"
        )
        tasks = call("GET", f"/incidents/{ads['public_id']}/tasks", responder)
        assert [t["step_id"] for t in tasks][:3] == [
            "preserve-ads",
            "call-log",
            "takedown-requests",
        ]
        # the responder takes it, confirms triage, preserves the ads, refers to legal aid
        call("POST", f"/incidents/{ads['public_id']}/claim", responder)
        call("POST", f"/incidents/{ads['public_id']}/triage", responder, {"severity": "high"})
        call(
            "PUT",
            f"/incidents/{ads['public_id']}/tasks/{tasks[0]['id']}",
            responder,
            {"state": "done"},
        )
        suggestions = call("GET", f"/incidents/{ads['public_id']}/referrals/suggestions", responder)
        assert "adil-soz" in [s["partner"]["id"] for s in suggestions]
        ref = call(
            "POST",
            f"/incidents/{ads['public_id']}/referrals",
            responder,
            {"partner_id": "adil-soz", "need": "legal_aid", "note": "editor agreed"},
        )
        assert ref["state"] == "made"

        # -- Tue 09:00: the main site is blocked (reported by the newsroom's security lead)
        blocked = call("POST", "/reports", reporter, BLOCKING)
        btasks = call("GET", f"/incidents/{blocked['public_id']}/tasks", responder)
        assert "ask-legal-basis" in [t["step_id"] for t in btasks]

        # -- Tue 11:00: a fake statement in the editor's name; a refutation in three languages
        fake = call("POST", "/reports", None, DEEPFAKE)
        drafts = {
            lang: call(
                "POST", f"/incidents/{fake['public_id']}/statements", responder, {"language": lang}
            )
            for lang in ("kk", "ru", "en")
        }
        assert "МӘЛІМДЕМЕ" in drafts["kk"]["body"] and "ЗАЯВЛЕНИЕ" in drafts["ru"]["body"]
        r = client.post(f"/api/v1/statements/{drafts['ru']['id']}/publish", headers=coord.headers)
        assert r.status_code == 409  # nothing goes out unapproved
        call("POST", f"/statements/{drafts['ru']['id']}/approve", coord)
        published = call("POST", f"/statements/{drafts['ru']['id']}/publish", coord)
        assert published["state"] == "published"

        # -- Fri: a critical case filed by the responder from a call two hours ago; its
        #    first-action deadline (1 h) has passed with every step open -> the coordinator
        threat = call(
            "POST",
            "/reports",
            responder,
            {
                "title": "Threat to the editor's family after the ads",
                "attack_types": ["threats"],
                "threat_to_life": True,
                "language": "ru",
                "reported_at": (store.now() - timedelta(hours=2)).isoformat(),
            },
        )
        escalated = wait_for(
            lambda: [
                m
                for m in smtp.mailbox.to("coordinator@desk.example")
                if threat["public_id"] in str(m["subject"])
            ],
            timeout=5,
        )
        assert escalated
        queue = call("GET", "/queue?view=breached", coord)
        assert threat["public_id"] in [q["public_id"] for q in queue]
        assert ads["public_id"] not in [q["public_id"] for q in queue]
        breach_hooks = wait_for(
            lambda: [
                c for c in hook.calls if c.headers.get("x-qorgau-event") == "incident.breached"
            ]
        )
        assert threat["public_id"] in breach_hooks[0].body.decode()

        # -- the case's timeline tells the story in order
        timeline = call("GET", f"/incidents/{ads['public_id']}/timeline", responder)
        kinds = [e["kind"] for e in timeline]
        for k in (
            "incident:reported",
            "alert",
            "incident:claimed",
            "incident:triage:confirmed",
            "incident:task:done",
            "incident:referral:made",
        ):
            assert k in kinds, k
        assert kinds.index("incident:reported") < kinds.index("incident:claimed")
        sent = [e for e in timeline if e["kind"] == "alert" and e["detail"]["channel"] == "email"]
        assert wait_for(
            lambda: all(
                e["detail"]["state"] == "sent"
                for e in call("GET", f"/incidents/{ads['public_id']}/timeline", responder)
                if e["kind"] == "alert"
            )
        )
        assert sent
        payload = json.loads(new_hook[0].body)
        assert payload["event"] == "incident.new"
