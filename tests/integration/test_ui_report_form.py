"""The public reporting form and report tracking, driven through the real pages on SQLite and
PostgreSQL: what a report filed in Kazakh with files becomes in the store (one incident, its
attachments in the evidence vault), the receipt code following it, errors next to their
fields with every typed value kept, CSRF, a double send filed once, escaping of hostile text,
files refused by name while the report is kept, and an unknown code that reveals nothing.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from qorgau.desk import CaseDesk
from qorgau.i18n import gettext
from qorgau.response_desk import ResponseDesk
from qorgau.store.attachments import AttachmentLimits
from qorgau.store.store import Store
from qorgau.store.tables import incidents
from qorgau.vault_desk import VaultDesk
from qorgau.web.app import create_app
from qorgau.web.ui.public_pages import DESCRIBE, REFUSED_MESSAGES, UNKNOWN_CODE
from tests.conftest import Account

HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'
RECEIPT = re.compile(r'<p class="receipt">([^<]+)</p>')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def tiny_png() -> bytes:
    """A real 1×1 PNG, built by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xc0\x10\x20")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def web(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.settings, store), headers={"accept": "text/html"}) as c:
        yield c


def open_form(c: TestClient, lang: str = "kk") -> dict[str, str]:
    """Load the form as a browser does (the form cookie comes with it): its hidden fields."""
    c.headers["accept-language"] = lang
    page = c.get("/report")
    assert page.status_code == 200
    csrf, nonce = CSRF.search(page.text), NONCE.search(page.text)
    assert csrf and nonce
    return {"csrf": csrf.group(1), "nonce": nonce.group(1)}


def incident_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())


def receipt_of(html: str) -> str:
    found = RECEIPT.search(html)
    assert found, "the page shows no receipt code"
    return found.group(1).strip()


def field_block(html: str, name: str) -> str:
    """The markup of one form field (label, hint, error, input), to check what sits next to it."""
    start = html.index(f'<label for="f-{name}"')
    end = html.index("</div>", start)
    return html[start:end]


def test_report_in_kazakh_with_two_files_is_one_incident_with_evidence_and_tracks(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    form = open_form(web, "kk-KZ,kk;q=0.9,ru;q=0.5")
    png = tiny_png()
    letter = "Сізді жұмысыңыз үшін жазалаймыз. Ескерту.".encode()
    sent = web.post(
        "/report",
        data={
            **form,
            "description": "Orda.kz сайтына DDoS-шабуыл, редакторға қоқан-лоқы хаттар келді.",
            "started_on": "2025-05-06",
            "ongoing": "yes",
            "attack_types": ["ddos", "threats"],
            "target_kind": "outlet",
            "target_name": "Orda.kz",
            "target_host": "https://orda.kz/news",
            "contact_name": "Айгерім",
            "contact_phone": "+7 701 123 4567",
            "contact_channel": "signal",
        },
        files=[
            ("files", ("screenshot.png", png, "image/png")),
            ("files", ("threat.txt", letter, "text/plain")),
        ],
    )
    assert sent.status_code == 200, sent.text
    assert '<html lang="kk">' in sent.text
    assert gettext("kk", "Your receipt code") in sent.text
    assert gettext("kk", "Files kept as evidence: {n}.", n=2) in sent.text
    code = receipt_of(sent.text)
    assert code not in str(sent.url)  # a page, not a redirect carrying the code

    desk = CaseDesk(store)
    public_id, status, _ = desk.track(code)
    assert status == "new" and incident_count(store) == 1
    responder = accounts["responder"].principal
    incident = desk.get(responder, public_id)
    assert set(incident.attack_types) == {"ddos", "threats"}
    assert incident.ongoing and incident.started_at is not None
    assert incident.started_at.date().isoformat() == "2025-05-06"
    assert incident.language == "kk"
    assert ("website", "https://orda.kz/news") in {(t.kind, t.identifier) for t in incident.targets}
    assert not any(t.consent_public for t in incident.targets)  # consent defaults to no
    assert incident.reporter.phone == "+7 701 123 4567"
    assert incident.reporter.preferred_channel == "signal"

    files = ResponseDesk(desk).attachments(responder, public_id)
    assert sorted((a.filename, a.media_type, a.size) for a in files) == [
        ("screenshot.png", "image/png", len(png)),
        ("threat.txt", "text/plain", len(letter)),
    ]
    shot = next(a for a in files if a.filename == "screenshot.png")
    assert ResponseDesk(desk).attachment_content(responder, public_id, shot.sha256)[1] == png
    evidence = VaultDesk(desk).items(responder, public_id)
    assert {item.sha256 for item, _ in evidence} == {a.sha256 for a in files}

    # Followed with the code typed carelessly: small letters, spaces, O for 0 and I for 1.
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "i")
    tracked = web.post("/track", data={"csrf": form["csrf"], "code": typed})
    assert tracked.status_code == 200
    assert gettext("kk", "New") in tracked.text and public_id in tracked.text
    assert gettext("kk", "Received. A responder has not read it yet.") in tracked.text


def test_missing_description_is_said_next_to_it_and_every_typed_value_is_kept(
    web: TestClient, store: Store
) -> None:
    form = open_form(web, "ru")
    sent = web.post(
        "/report",
        data={
            **form,
            "description": "   ",
            "started_on": "06.05.2025",
            "threat_to_life": "yes",
            "attack_types": ["doxxing", "phishing"],
            "target_kind": "outlet",
            "target_name": "Редакция Orda",
            "target_phone": "+7 701 765 4321",
            "consent_public": "yes",
            "contact_email": "aigerim@example.kz",
            "contact_channel": "telegram",
        },
        files=[("files", ("photo.png", tiny_png(), "image/png"))],
    )
    assert sent.status_code == 422
    html = sent.text
    assert '<html lang="ru">' in html
    description = field_block(html, "description")
    assert gettext("ru", DESCRIBE) in description and 'id="e-description"' in description
    assert 'aria-invalid="true"' in description
    assert 'value="06.05.2025"' in field_block(html, "started_on")
    assert 'value="Редакция Orda"' in field_block(html, "target_name")
    assert 'value="+7 701 765 4321"' in field_block(html, "target_phone")
    assert 'value="aigerim@example.kz"' in field_block(html, "contact_email")
    assert re.search(r'value="telegram" selected', html)
    for ticked in ("f-threat_to_life", "f-consent_public", "f-at-doxxing", "f-at-phishing"):
        assert re.search(rf'id="{ticked}"[^>]* checked', html), ticked
    assert not re.search(r'id="f-at-ddos"[^>]* checked', html)
    assert re.search(r'id="f-kind-outlet"[^>]* checked', html)
    assert f'name="nonce" value="{form["nonce"]}"' in html  # the same report when re-sent
    # Files cannot survive a re-rendered form; the page says to choose them again.
    assert (
        gettext(
            "ru",
            "Files cannot be kept while the form is corrected: choose your files "
            "again before sending.",
        )
        in html
    )
    assert incident_count(store) == 0


def test_a_date_after_today_is_refused_next_to_the_date_field(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    form = open_form(web, "en")
    sent = web.post("/report", data={**form, "description": "Blocked.", "started_on": "2999-01-01"})
    assert sent.status_code == 422
    block = field_block(sent.text, "started_on")
    assert "an attack cannot start after it was reported" in block.lower()
    assert 'value="2999-01-01"' in block
    assert "Files cannot be kept" not in sent.text  # no files were chosen
    bad = web.post("/report", data={**form, "description": "Blocked.", "started_on": "soon"})
    assert bad.status_code == 422
    assert "Not a date" in field_block(bad.text, "started_on")
    assert incident_count(store) == 0
    # Just after midnight in Almaty (UTC+5) "today" is tomorrow's date in UTC: not refused.
    local_today = (datetime.now(UTC) + timedelta(days=1)).date()
    ok = web.post(
        "/report",
        data={**form, "description": "Blocked.", "started_on": local_today.isoformat()},
    )
    assert ok.status_code == 200
    public_id, _, _ = CaseDesk(store).track(receipt_of(ok.text))
    started = CaseDesk(store).get(accounts["responder"].principal, public_id).started_at
    assert started is not None and started <= datetime.now(UTC)


def test_a_report_without_its_csrf_token_is_refused_and_nothing_is_stored(
    web: TestClient, store: Store
) -> None:
    form = open_form(web)
    for data in ({"nonce": form["nonce"]}, {"nonce": form["nonce"], "csrf": "forged"}):
        refused = web.post("/report", data={**data, "description": "Hacked"})
        assert refused.status_code == 403
    # Another site's page, even with a valid token.
    cross = web.post(
        "/report",
        data={**form, "description": "Hacked"},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert incident_count(store) == 0


def test_the_same_form_sent_twice_files_one_incident_and_shows_the_same_code(
    web: TestClient, store: Store
) -> None:
    form = open_form(web, "en")
    data: dict[str, Any] = {**form, "description": "Our site is down since morning."}
    png = [("files", ("down.png", tiny_png(), "image/png"))]
    first = web.post("/report", data=data, files=png)
    second = web.post("/report", data=data, files=png)
    assert first.status_code == second.status_code == 200
    assert receipt_of(first.text) == receipt_of(second.text)
    assert "This report had already reached us" in second.text
    assert incident_count(store) == 1
    # The nonce is bound to the browser that drew the form: another browser sending the same
    # nonce files its own report and never sees the first one's receipt.
    with TestClient(create_app(store.settings, store), headers={"accept": "text/html"}) as other:
        theirs = open_form(other, "en")
        sent = other.post("/report", data={**data, "csrf": theirs["csrf"]})
        assert sent.status_code == 200
        assert receipt_of(sent.text) != receipt_of(first.text)
    assert incident_count(store) == 2


def test_hostile_text_is_escaped_on_forms_and_on_the_receipt(web: TestClient, store: Store) -> None:
    form = open_form(web, "en")
    text_fields = ("description", "target_name", "target_host", "target_phone", "contact_name")
    hostile = {name: HOSTILE for name in text_fields}
    again = web.post(
        "/report",
        data={**form, **hostile, "contact_email": HOSTILE, "started_on": HOSTILE},
    )
    assert again.status_code == 422
    assert "<script>alert" not in again.text and "<img src=x" not in again.text
    assert again.text.count("&lt;script&gt;alert(") >= len(text_fields) + 2
    filed = web.post(
        "/report",
        data={**form, "description": HOSTILE, "contact_name": HOSTILE},
        files=[("files", (f"{HOSTILE}.exe", b"MZ\x90\x00", "application/x-msdownload"))],
    )
    assert filed.status_code == 200
    assert "<script>alert" not in filed.text and "<img src=x" not in filed.text
    assert "&lt;script&gt;alert(" in filed.text  # the refused file is named, escaped
    tracked = web.post("/track", data={"csrf": form["csrf"], "code": HOSTILE})
    assert tracked.status_code == 404
    assert "<script>alert" not in tracked.text and "&lt;script&gt;alert(" in tracked.text


def test_files_of_a_forbidden_type_or_too_large_are_refused_by_name_and_the_report_kept(
    web: TestClient, store: Store, accounts: dict[str, Account]
) -> None:
    web.app.state.report_limits = AttachmentLimits(  # type: ignore[attr-defined]
        max_file_bytes=4096, max_report_bytes=50_000, max_files=5
    )
    form = open_form(web, "kk")
    assert 'data-max-bytes="4096"' in web.get("/report").text  # the page says the same limit
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    sent = web.post(
        "/report",
        data={**form, "description": "Фишинг хат келді, тіркемесі күмәнді."},
        files=[
            ("files", ("invoice.exe", b"MZ\x90\x00" * 10, "application/x-msdownload")),
            ("files", ("logo.svg", b"<svg onload=alert(1)/>", "image/svg+xml")),
            ("files", ("video.mp4", b"\x00" * 5000, "video/mp4")),
            ("files", ("letter.pdf", pdf, "application/pdf")),
        ],
    )
    assert sent.status_code == 200
    html = sent.text
    bad_type = REFUSED_MESSAGES["bad_type"]
    assert gettext("kk", bad_type, name="“invoice.exe”") in html
    assert gettext("kk", bad_type, name="“logo.svg”") in html
    too_large = gettext("kk", REFUSED_MESSAGES["file_too_large"], name="“video.mp4”", max="4 КБ")
    assert too_large in html
    public_id, _, _ = CaseDesk(store).track(receipt_of(html))
    responder = accounts["responder"].principal
    kept = ResponseDesk(CaseDesk(store)).attachments(responder, public_id)
    assert [(a.filename, a.size) for a in kept] == [("letter.pdf", len(pdf))]
    # Whoever reads the case sees what was not kept, and why.
    description = CaseDesk(store).get(responder, public_id).description
    assert description.startswith("Фишинг хат келді")
    for name in ("invoice.exe", "logo.svg", "video.mp4"):
        assert f"[Not kept: '{name}'" in description


def test_an_unknown_receipt_code_is_said_next_to_the_field_and_reveals_nothing(
    web: TestClient, store: Store
) -> None:
    form = open_form(web, "ru")
    filed = web.post("/report", data={**form, "description": "Взломали Telegram-канал."})
    real = receipt_of(filed.text)
    public_id, _, _ = CaseDesk(store).track(real)
    wrong = real[:-1] + ("X" if real[-1] != "X" else "Y")
    found = web.post("/track", data={"csrf": form["csrf"], "code": wrong})
    assert found.status_code == 404
    block = field_block(found.text, "code")
    assert gettext("ru", UNKNOWN_CODE) in block and 'aria-invalid="true"' in block
    assert public_id not in found.text and "QG-" not in found.text
    assert gettext("ru", "Last change") not in found.text
    empty = web.post("/track", data={"csrf": form["csrf"], "code": "  "})
    assert empty.status_code == 422
    assert gettext("ru", "This field is required.") in field_block(empty.text, "code")
    assert web.post("/track", data={"code": real}).status_code == 403  # CSRF here too


def test_the_form_loads_only_its_own_two_files_and_weighs_under_100_kb(web: TestClient) -> None:
    """Fit for a Tor onion service and a slow phone: nothing from elsewhere, no inline script
    or style for the CSP to allow, HTML + CSS + JS within 100 KB."""
    page = web.get("/report", headers={"accept-language": "kk"})
    html = page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    loaded = set(re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="([^"]+)"', html))
    assert loaded == {"/static/qorgau.css", "/static/qorgau-upload.js"}
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert " style=" not in html and not re.search(r"\son[a-z]+=", html)
    assert "http://" not in html and "https://" not in html
    weight = len(page.content) + sum(len(web.get(path).content) for path in loaded)
    assert weight <= 100 * 1024, f"/report weighs {weight} bytes"


def test_a_browser_that_keeps_no_cookies_can_still_report_from_this_site_only(
    web: TestClient, store: Store
) -> None:
    """People at risk sometimes turn cookies off: the signed, dated token in the form is then
    accepted with an Origin naming this site, and refused without one or from elsewhere."""
    form = open_form(web, "ru")
    web.cookies.clear()
    data = {**form, "description": "Сайт недоступен с утра."}
    assert web.post("/report", data=data).status_code == 403  # no cookie, no Origin
    elsewhere = web.post("/report", data=data, headers={"origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert incident_count(store) == 0
    web.cookies.clear()  # the refusal pages offered a cookie again; this browser keeps none
    sent = web.post("/report", data=data, headers={"origin": "http://testserver"})
    assert sent.status_code == 200 and receipt_of(sent.text)
    assert incident_count(store) == 1


def test_a_form_token_is_dated_and_bound_to_its_browser(web: TestClient, store: Store) -> None:
    form = open_form(web, "en")
    issued, nonce, _ = form["csrf"].split(".")
    # Re-signed a day and a minute earlier: the server's own signature, but too old.
    old = f"{int(issued) - 24 * 3600 - 60}.{nonce}"
    stale = f"{old}.{store.cipher.blind_index(old, 'web.csrf.form')[:43]}"
    r = web.post("/report", data={**form, "csrf": stale, "description": "Blocked."})
    assert r.status_code == 403
    # A token drawn for another browser's form cookie does not fit this browser's cookie.
    with TestClient(create_app(store.settings, store), headers={"accept": "text/html"}) as other:
        theirs = open_form(other, "en")
    mixed = web.post("/report", data={**form, "csrf": theirs["csrf"], "description": "Blocked."})
    assert mixed.status_code == 403
    assert incident_count(store) == 0


def test_a_trailing_dot_does_not_hide_a_refused_extension() -> None:
    from qorgau.web.ui.public_pages import accepted_type

    assert not accepted_type("x.svg.", "image/png")
    assert not accepted_type("run.exe . ", "application/pdf")
    assert accepted_type("photo.jpg", "image/jpeg")
