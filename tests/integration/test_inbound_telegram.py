"""Reports through the Telegram bot, against a local server speaking the Bot API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.types import Update

from qorgau.desk import CaseDesk
from qorgau.domain.model import Incident
from qorgau.inbound.telegram_bot import TEXTS, RetryPolicy, TelegramIntakeBot, size_text
from qorgau.store.attachments import MB, AttachmentLimits, list_attachments
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store
from qorgau.store.tables import attachments, inbound_drafts, incidents
from tests.integration.test_encryption_at_rest import database_bytes
from tests.support.telegram_bot_api import FakeBotApi

LIMITS = AttachmentLimits(max_file_bytes=1 * MB, max_report_bytes=3 * MB, max_files=5)
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
CHAT = 5550123987
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF" + os.urandom(40_000) + b"\xff\xd9"
PDF = b"%PDF-1.7\n" + os.urandom(25_000) + b"\n%%EOF\n"
RECEIPT = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")


@pytest.fixture(scope="module")
def api_server() -> Iterator[FakeBotApi]:
    server = FakeBotApi().start()
    yield server
    server.stop()


@pytest.fixture
def api(api_server: FakeBotApi) -> FakeBotApi:
    api_server.reset()
    return api_server


def make_bot(store: Store, desk: CaseDesk, api: FakeBotApi, **kw: Any) -> TelegramIntakeBot:
    return TelegramIntakeBot(
        store, desk, api.base_url, api.token, limits=LIMITS, retry=FAST_RETRY, **kw
    )


def run(bot: TelegramIntakeBot, rounds: int = 1) -> int:
    async def go() -> int:
        try:
            return sum([await bot.run_once() for _ in range(rounds)])
        finally:
            await bot.close()

    return asyncio.run(go())


def count(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def incidents_of(store: Store, desk: CaseDesk) -> list[Incident]:
    with store.read() as conn:
        ids = conn.execute(sa.select(incidents.c.public_id).order_by(incidents.c.id)).scalars()
        public_ids = list(ids)
    return [desk.get(desk.system("test"), p) for p in public_ids]


def queue_full_report(api: FakeBotApi, chat: int = CHAT, lang: str = "ru") -> dict[str, Any]:
    user = api.user(chat, language_code=lang, username="aigerim_reports")
    api.queue_text(
        chat,
        "Третий день в WhatsApp приходят угрозы после публикации о закупках акимата.",
        user=user,
    )
    api.queue_photo(chat, PHOTO, caption="Скриншот одной из угроз", user=user)
    api.queue_document(chat, PDF, file_name="заявление.pdf", mime_type="application/pdf", user=user)
    return api.queue_text(chat, "/send", user=user)


# -- conversation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language_code", "lang", "phrase"),
    [("kk", "kk", "Сәлеметсіз бе"), ("ru", "ru", "Здравствуйте"), ("de", "en", "Hello")],
)
def test_start_greets_in_the_users_language(
    store: Store, desk: CaseDesk, api: FakeBotApi, language_code: str, lang: str, phrase: str
) -> None:
    api.queue_text(CHAT, "/start", user=api.user(CHAT, language_code=language_code))
    assert run(make_bot(store, desk, api)) == 1
    [greeting] = api.messages_to(CHAT)
    assert greeting.startswith(phrase)
    assert greeting == TEXTS[lang]["greeting"].format(max_file=size_text(MB, lang))
    assert ("1.0 MB" if lang == "en" else "1,0 МБ") in greeting
    assert "/send" in greeting and "/status" in greeting


def test_kazakh_texts_are_complete_and_in_cyrillic() -> None:
    assert set(TEXTS["kk"]) == set(TEXTS["en"]) == set(TEXTS["ru"])
    for key, text in TEXTS["kk"].items():
        assert re.search("[әғқңөұүһі]", text, re.IGNORECASE) or key.startswith("status_"), key
        assert set(re.findall(r"\{(\w+)\}", text)) == set(
            re.findall(r"\{(\w+)\}", TEXTS["en"][key])
        )


def test_text_photo_and_document_then_send_file_one_incident_with_both_files(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    queue_full_report(api)
    assert run(make_bot(store, desk, api)) == 4

    [incident] = incidents_of(store, desk)
    assert incident.platform == "telegram"
    assert incident.language == "ru"
    assert incident.attack_types == ("other",)
    assert incident.title.startswith("Третий день в WhatsApp приходят угрозы")
    assert "Скриншот одной из угроз" in incident.description
    assert incident.reporter.name == "@aigerim_reports"
    assert incident.reporter.preferred_channel == "telegram"

    with store.read() as conn:
        files = list_attachments(conn, store.cipher, incident.id, reveal_names=True)
    assert [(f.sha256, f.media_type, f.source) for f in files] == [
        (hashlib.sha256(PHOTO).hexdigest(), "image/jpeg", "telegram"),  # the largest size
        (hashlib.sha256(PDF).hexdigest(), "application/pdf", "telegram"),
    ]
    assert files[1].filename == "заявление.pdf"
    blobs = BlobStore.for_settings(store.settings)
    assert blobs.get(files[0].sha256) == PHOTO
    assert count(store, inbound_drafts) == 0

    replies = api.messages_to(CHAT)
    assert replies[:3] == [
        TEXTS["ru"]["added_text"],
        TEXTS["ru"]["added_file"].format(count=1),
        TEXTS["ru"]["added_file"].format(count=2),
    ]
    code = RECEIPT.search(replies[3])
    assert code is not None, replies[3]
    assert incident.public_id in replies[3]
    public_id, status, _ = desk.track(code.group(0))
    assert (public_id, status) == (incident.public_id, "new")


def test_the_same_update_delivered_twice_files_once(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    send = queue_full_report(api)
    api.queue_update(send)  # Telegram redelivers the /send update
    assert run(make_bot(store, desk, api)) == 5
    assert len(incidents_of(store, desk)) == 1
    assert count(store, attachments) == 2
    assert sum(1 for m in api.messages_to(CHAT) if RECEIPT.search(m)) == 1


def test_a_restarted_bot_continues_after_the_last_update_and_never_refiles(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    send = queue_full_report(api)
    run(make_bot(store, desk, api))
    assert len(incidents_of(store, desk)) == 1
    replies_before = len(api.messages_to(CHAT))

    again = make_bot(store, desk, api)  # a new process: nothing in memory
    assert run(again) == 0
    assert int(api.calls("getUpdates")[-1]["offset"]) == send["update_id"] + 1

    async def redeliver() -> None:
        try:
            await again.handle_update(Update.model_validate(send))
        finally:
            await again.close()

    asyncio.run(redeliver())  # even if the update came back, it is recognised
    assert len(incidents_of(store, desk)) == 1
    assert len(api.messages_to(CHAT)) == replies_before


def test_status_reports_the_case_in_the_users_language(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    queue_full_report(api, lang="kk")
    run(make_bot(store, desk, api))
    code = RECEIPT.search(api.messages_to(CHAT)[-1])
    assert code is not None
    kk = api.user(CHAT, language_code="kk")
    api.queue_text(CHAT, f"/status {code.group(0).lower()}", user=kk)
    api.queue_text(CHAT, "/status 00000-00000-00000-00000", user=kk)
    api.queue_text(CHAT, "/status", user=kk)
    run(make_bot(store, desk, api))
    found, missing, usage = api.messages_to(CHAT)[-3:]
    [incident] = incidents_of(store, desk)
    assert found.startswith(f"Іс {incident.public_id}: {TEXTS['kk']['status_new']}.")
    assert missing == TEXTS["kk"]["status_not_found"]
    assert usage == TEXTS["kk"]["status_usage"]


def test_wrong_status_codes_are_limited_per_chat_and_a_right_one_still_answers(
    store: Store, desk: CaseDesk, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on the web: codes matching no report count per chat, and past the allowance the
    bot says when to try again; the right code is never refused."""
    monkeypatch.setattr(store, "settings", store.settings.with_overrides(receipt_rate_per_minute=2))
    queue_full_report(api, lang="ru")
    run(make_bot(store, desk, api))
    code = RECEIPT.search(api.messages_to(CHAT)[-1])
    assert code is not None
    ru = api.user(CHAT, language_code="ru")
    for n in range(3):
        api.queue_text(CHAT, f"/status 00000-00000-00000-0000{n}", user=ru)
    api.queue_text(CHAT, f"/status {code.group(0)}", user=ru)
    run(make_bot(store, desk, api))
    first, second, third, right = api.messages_to(CHAT)[-4:]
    assert first == second == TEXTS["ru"]["status_not_found"]
    assert third == TEXTS["ru"]["status_too_many"].format(minutes=1)
    [incident] = incidents_of(store, desk)
    assert incident.public_id in right


def test_cancel_drops_the_draft_and_send_then_has_nothing(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    api.queue_text(CHAT, "Черновик, который я передумал отправлять")
    api.queue_text(CHAT, "/cancel")
    api.queue_text(CHAT, "/cancel")
    api.queue_text(CHAT, "/send")
    run(make_bot(store, desk, api))
    assert api.messages_to(CHAT)[1:] == [
        TEXTS["en"]["cancelled"],
        TEXTS["en"]["nothing_to_cancel"],
        TEXTS["en"]["nothing_to_send"],
    ]
    assert count(store, incidents) == 0
    assert count(store, inbound_drafts) == 0


# -- refusals get a clear reply ----------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_with_a_reply_and_the_report_goes_on(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    user = api.user(CHAT, language_code="ru")
    big = os.urandom(LIMITS.max_file_bytes + 300_000)
    api.queue_document(
        CHAT, big, file_name="запись.mp4", mime_type="video/mp4", caption="Видео", user=user
    )
    api.queue_text(CHAT, "/send", user=user)
    run(make_bot(store, desk, api))
    refused, filed = api.messages_to(CHAT)
    assert refused == TEXTS["ru"]["file_too_large"].format(
        name="'запись.mp4'", size="1,3 МБ", limit="1,0 МБ"
    )
    assert RECEIPT.search(filed)
    [incident] = incidents_of(store, desk)
    assert incident.title == "Видео"  # the caption was kept
    assert count(store, attachments) == 0
    assert not api.calls("getFile")  # refused before downloading anything


def test_file_that_lies_about_its_size_is_checked_after_download(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    big = os.urandom(LIMITS.max_file_bytes + 10)
    api.queue_document(CHAT, big, file_name="a.bin", mime_type="application/zip", declared_size=10)
    run(make_bot(store, desk, api))
    assert api.messages_to(CHAT)[0].startswith("The file 'a.bin' is 1.0 MB")
    assert count(store, inbound_drafts) == 0


def test_unknown_commands_groups_edits_and_stickers_get_an_answer(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    api.queue_text(CHAT, "/delete_everything")
    group_msg = {
        "message_id": 77,
        "from": api.user(CHAT),
        "chat": {"id": -100123, "type": "supergroup", "title": "Newsroom"},
        "date": 1_700_000_000,
        "text": "hello bot",
    }
    api.queue_message(group_msg)
    edited = {**group_msg, "chat": {"id": CHAT, "type": "private"}, "edit_date": 1_700_000_100}
    api.queue_message(edited, kind="edited_message")
    sticker = {
        "file_id": "CAACAgIAAxkBAAE",
        "file_unique_id": "AgADAQAD",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    sticker_msg = {**group_msg, "chat": {"id": CHAT, "type": "private"}, "sticker": sticker}
    del sticker_msg["text"]
    api.queue_message(sticker_msg)
    run(make_bot(store, desk, api))
    assert api.messages_to(CHAT) == [
        TEXTS["en"]["unknown_command"].format(command="/delete_everything"),
        TEXTS["en"]["edit_ignored"],
        TEXTS["en"]["unsupported"],
    ]
    assert api.messages_to(-100123) == [TEXTS["en"]["private_only"]]
    assert count(store, incidents) == 0


# -- resilience --------------------------------------------------------------------------------


def test_bot_api_errors_are_retried_with_back_off(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    api.queue_text(CHAT, "/start")
    api.fail_next(2)  # getUpdates fails twice, then works
    assert run(make_bot(store, desk, api)) == 1
    assert len(api.messages_to(CHAT)) == 1


def test_the_polling_loop_survives_a_long_outage_and_stops_on_request(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    api.queue_text(CHAT, "/start")
    api.fail_next(10)  # more than one round's attempts: run_once gives up, the loop does not
    bot = make_bot(store, desk, api, poll_timeout=1)

    async def go() -> None:
        task = asyncio.create_task(bot.run_forever())
        for _ in range(300):
            if api.messages_to(CHAT):
                break
            await asyncio.sleep(0.02)
        bot.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(go())
    assert len(api.messages_to(CHAT)) == 1
    assert len(api.calls("getUpdates")) >= 11


# -- privacy -----------------------------------------------------------------------------------


def test_the_chat_id_never_reaches_the_database_in_clear(
    store: Store, desk: CaseDesk, api: FakeBotApi
) -> None:
    queue_full_report(api)
    other_chat = 5550777123
    api.queue_text(
        other_chat, "Черновик в процессе", user=api.user(other_chat, username="x_pending")
    )
    run(make_bot(store, desk, api))
    assert count(store, incidents) == 1 and count(store, inbound_drafts) == 1
    dump = database_bytes(store)
    for secret in (str(CHAT), str(other_chat), "aigerim_reports", "x_pending", "Черновик"):
        assert secret.encode() not in dump, secret
