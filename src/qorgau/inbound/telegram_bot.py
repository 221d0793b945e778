"""Reports through a Telegram bot: the messenger most journalists in Kazakhstan already use.

A report is a short conversation: text, photos and documents pile up in a draft, and ``/send``
files it. The draft lives in the database, encrypted, under a keyed hash of the chat id, so a
restart loses nothing and a stolen database says neither who is writing nor what.

Exactly-once: every update is recorded in ``inbound_messages`` (channel ``telegram-update``) in
the same transaction as its effect on the draft or the filing, so an update Telegram delivers
again is recognised and skipped, and the polling offset survives restarts (it is the newest
recorded update id plus one). Network work (downloads, replies) happens outside transactions;
a reply lost after a commit is the only thing a crash can cost.

The Bot API is reached with aiogram over HTTPS, or over plain HTTP to a local Bot API server
(``telegram_api_base``); tests use a local fake implementing the few methods used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
    User,
)
from aiogram.utils.token import TokenValidationError

from qorgau.desk import CaseDesk
from qorgau.domain.model import ReporterContact, ReportFields, Status
from qorgau.errors import ConfigurationError, InvalidInput, NotFound
from qorgau.inbound.filing import (
    FilingResult,
    InboundReport,
    already_received,
    default_attack_type,
    fit_text,
    guess_language,
    platform_or_none,
    prepare_filing,
    record_received,
    write_filing,
)
from qorgau.security.archive_check import archive_refusal
from qorgau.security.rate_limit import RECEIPT, RateLimiter
from qorgau.security.uploads import stored_media_type
from qorgau.store.attachments import (
    DEFAULT_LIMITS,
    AttachmentLimits,
    BlobRef,
    clean_filename,
    clean_media_type,
    screen,
)
from qorgau.store.blobs import BlobStore
from qorgau.store.store import Store
from qorgau.store.tables import inbound_drafts, inbound_messages

log = logging.getLogger(__name__)

CHANNEL = "telegram"
UPDATE_CHANNEL = "telegram-update"
DRAFT_CONTEXT = "inbound_drafts.body"
CHAT_CONTEXT = "telegram.chat"
MESSAGE_CONTEXT = "telegram.message"
ALLOWED_UPDATES = ["message", "edited_message"]
# Update rows only guard against redelivery, which Telegram does for at most 24 hours.
UPDATE_ROWS_KEPT = timedelta(days=7)
PRUNE_EVERY = 500

T = TypeVar("T")

# -- what the bot says ---------------------------------------------------------------------
# English originals (msgids once these move to the gettext catalogue) are the "en" entries;
# "ru" and "kk" are their translations. Placeholders use str.format.

TEXTS: dict[str, dict[str, str]] = {
    # English originals
    "en": {
        "greeting": (
            "Hello. This is Qorgau, the rapid-response desk for journalists and media in "
            "Kazakhstan facing digital attacks.\n\n"
            "To report an attack:\n"
            "1. Describe what happened in one or more messages: what, when, where (which "
            "platform or site) and who is affected.\n"
            "2. Add screenshots, photos or documents as evidence (up to {max_file} each).\n"
            "3. Send /send when you are done. You will get a receipt code to follow your case "
            "with /status <code>.\n"
            "/cancel deletes what you have written so far.\n\n"
            "How your data is protected: your messages and files are stored encrypted on the "
            "desk's own server, and only its responders can read them. We do not store your "
            "Telegram chat number; your @username is kept, encrypted, so that a responder can "
            "contact you. Telegram itself can see this chat: if that is a risk for you, report "
            "through the web form or by e-mail instead."
        ),
        "added_text": (
            "Added to your report. Send more text, photos or documents, then /send to submit "
            "it (or /cancel)."
        ),
        "added_file": (
            "File received ({count} in your report so far). Send more, or /send to submit."
        ),
        "nothing_to_send": (
            "There is nothing to send yet. Describe what happened in a message, add evidence "
            "if you have it, then /send."
        ),
        "filed": (
            "Your report has been received: case {public_id}.\n"
            "Your receipt code: {receipt}\n"
            "Write it down or keep this message: with it you can follow the case with "
            "/status {receipt}.\n"
            "What happens next: a responder will read your report as soon as possible and "
            "contact you if you left a way to reach you (your @username, if you have one, is "
            "kept for that). If you are in immediate danger, first contact people you trust "
            "and the emergency services."
        ),
        "cancelled": "Your unsent report has been deleted. Nothing was filed.",
        "nothing_to_cancel": "There is no unsent report to cancel.",
        "status": "Case {public_id}: {status}. Last updated {updated}.",
        "status_usage": (
            "Send /status followed by your receipt code, for example: "
            "/status ABCDE-FGHJK-MNPQR-STVWX"
        ),
        "status_not_found": (
            "No report has this receipt code. Check it letter by letter (O and 0, I and 1 "
            "count as the same)."
        ),
        "status_too_many": (
            "Too many receipt codes from this chat matched no report. Wait {minutes} min, "
            "then send /status with the code exactly as it was given."
        ),
        "unknown_command": (
            "I don't know the command {command}. I understand /start, /send, /cancel and "
            "/status <code>."
        ),
        "unsupported": (
            "I can't keep this kind of message. Send text, photos, documents, voice messages "
            "or videos; for anything else, take a screenshot or send it as a file."
        ),
        "file_too_large": (
            "The file {name} is {size}; I can accept files of at most {limit}. It was not "
            "added. Send a smaller file, split it, or send a link to it."
        ),
        "too_many_files": (
            "A report can hold at most {limit} files; this one was not added. Send /send now "
            "and start a new report for the rest."
        ),
        "report_too_large": (
            "The files of one report may total at most {limit}; this one was not added. Send "
            "/send now and start a new report for the rest."
        ),
        "download_failed": "I could not download this file from Telegram. Please send it again.",
        "edit_ignored": (
            "Edits to messages already sent are not picked up. Send the correction as a new "
            "message."
        ),
        "private_only": (
            "For your safety, I take reports only in a private chat. Write to me directly."
        ),
        "invalid_report": (
            "The report could not be filed: {details}. Your draft is kept; correct it and send "
            "/send again."
        ),
        "internal_error": (
            "Something went wrong on our side and your last message was not saved. Please "
            "send it again in a few minutes."
        ),
        "fallback_title": "Report via Telegram",
        "status_new": "new, not yet reviewed",
        "status_triaged": "reviewed, waiting for a responder",
        "status_in_progress": "being worked on",
        "status_waiting_on_reporter": "waiting for information from you",
        "status_resolved": "resolved",
        "status_closed": "closed",
        "status_rejected": "not taken up",
        "status_merged": "merged with another report of the same attack",
    },
    "ru": {
        "greeting": (
            "Здравствуйте. Это Qorgau — служба быстрого реагирования для журналистов и "
            "редакций Казахстана, столкнувшихся с цифровыми атаками.\n\n"
            "Как сообщить об атаке:\n"
            "1. Опишите одним или несколькими сообщениями, что произошло: что, когда, где "
            "(какая платформа или сайт) и кто пострадал.\n"
            "2. Приложите скриншоты, фото или документы как доказательства (до {max_file} "
            "каждый).\n"
            "3. Когда закончите, отправьте /send. Вы получите код квитанции, по которому можно "
            "следить за делом: /status <код>.\n"
            "/cancel удаляет всё, что вы успели написать.\n\n"
            "Как защищены ваши данные: сообщения и файлы хранятся в зашифрованном виде на "
            "собственном сервере службы, и прочитать их могут только её специалисты. Мы не "
            "храним номер вашего чата в Telegram; ваш @username сохраняется в зашифрованном "
            "виде, чтобы специалист мог с вами связаться. Сам Telegram видит эту переписку: "
            "если это для вас опасно, сообщите через веб-форму или по электронной почте."
        ),
        "added_text": (
            "Добавлено в ваше сообщение. Можете прислать ещё текст, фото или документы, затем "
            "отправьте /send (или /cancel для отмены)."
        ),
        "added_file": (
            "Файл получен (в вашем сообщении файлов: {count}). Пришлите ещё или отправьте /send."
        ),
        "nothing_to_send": (
            "Пока нечего отправлять. Опишите в сообщении, что произошло, приложите "
            "доказательства, если они есть, и отправьте /send."
        ),
        "filed": (
            "Ваше сообщение принято: дело {public_id}.\n"
            "Ваш код квитанции: {receipt}\n"
            "Запишите его или сохраните это сообщение: по нему можно следить за делом "
            "командой /status {receipt}.\n"
            "Что дальше: специалист прочитает ваше сообщение как можно скорее и свяжется с "
            "вами, если вы оставили способ связи (для этого сохраняется ваш @username, если он "
            "есть). Если вам угрожает непосредственная опасность, сначала обратитесь к людям, "
            "которым доверяете, и в экстренные службы."
        ),
        "cancelled": "Неотправленное сообщение удалено. Ничего не было отправлено.",
        "nothing_to_cancel": "Нет неотправленного сообщения, которое можно отменить.",
        "status": "Дело {public_id}: {status}. Последнее обновление: {updated}.",
        "status_usage": (
            "Отправьте /status и код квитанции, например: /status ABCDE-FGHJK-MNPQR-STVWX"
        ),
        "status_not_found": (
            "Сообщения с таким кодом квитанции нет. Проверьте код по буквам (O и 0, I и 1 "
            "считаются одинаковыми)."
        ),
        "status_too_many": (
            "Из этого чата пришло слишком много кодов квитанции, которые не подходят ни к "
            "одному сообщению. Подождите {minutes} мин., затем отправьте /status с кодом точно "
            "так, как он был выдан."
        ),
        "unknown_command": (
            "Команда {command} мне неизвестна. Я понимаю /start, /send, /cancel и /status <код>."
        ),
        "unsupported": (
            "Такое сообщение я сохранить не могу. Присылайте текст, фото, документы, "
            "голосовые сообщения или видео; всё остальное — скриншотом или файлом."
        ),
        "file_too_large": (
            "Файл {name} весит {size}, а я принимаю файлы не больше {limit}. Он не добавлен. "
            "Пришлите файл поменьше, разделите его на части или пришлите ссылку на него."
        ),
        "too_many_files": (
            "В одном сообщении может быть не больше {limit} файлов; этот файл не добавлен. "
            "Отправьте /send сейчас, а остальное — новым сообщением."
        ),
        "report_too_large": (
            "Общий объём файлов одного сообщения — не больше {limit}; этот файл не добавлен. "
            "Отправьте /send сейчас, а остальное — новым сообщением."
        ),
        "download_failed": (
            "Не удалось загрузить этот файл из Telegram. Пожалуйста, отправьте его ещё раз."
        ),
        "edit_ignored": (
            "Изменения в уже отправленных сообщениях не учитываются. Пришлите исправление "
            "новым сообщением."
        ),
        "private_only": (
            "Ради вашей безопасности я принимаю сообщения только в личном чате. Напишите мне "
            "напрямую."
        ),
        "invalid_report": (
            "Сообщение не удалось оформить: {details}. Черновик сохранён; исправьте его и "
            "снова отправьте /send."
        ),
        "internal_error": (
            "У нас произошла ошибка, и ваше последнее сообщение не сохранилось. Пожалуйста, "
            "отправьте его ещё раз через несколько минут."
        ),
        "fallback_title": "Сообщение через Telegram",
        "status_new": "новое, ещё не рассмотрено",
        "status_triaged": "рассмотрено, ожидает специалиста",
        "status_in_progress": "в работе",
        "status_waiting_on_reporter": "ждём от вас дополнительной информации",
        "status_resolved": "решено",
        "status_closed": "закрыто",
        "status_rejected": "не принято в работу",
        "status_merged": "объединено с другим сообщением о той же атаке",
    },
    "kk": {
        "greeting": (
            "Сәлеметсіз бе! Бұл — Qorgau, цифрлық шабуылға ұшыраған Қазақстандағы журналистер "
            "мен редакцияларға жедел көмек көрсету қызметі.\n\n"
            "Шабуыл туралы қалай хабарлауға болады:\n"
            "1. Не болғанын бір немесе бірнеше хабарламамен сипаттаңыз: не болды, қашан, қайда "
            "(қай платформада не сайтта) және кім зардап шекті.\n"
            "2. Дәлел ретінде скриншот, фото немесе құжат қосыңыз (бір файлдың ең үлкен "
            "көлемі — {max_file}).\n"
            "3. Аяқтаған соң /send жіберіңіз. Сіз түбіртек кодын аласыз, ол арқылы ісіңізді "
            "бақылай аласыз: /status <код>.\n"
            "/cancel осы уақытқа дейін жазғаныңыздың бәрін өшіреді.\n\n"
            "Деректеріңіз қалай қорғалады: хабарламалар мен файлдар қызметтің өз серверінде "
            "шифрланған түрде сақталады және оларды тек қызмет мамандары ғана оқи алады. Біз "
            "Telegram-дағы чат нөміріңізді сақтамаймыз; маман сізбен байланыса алуы үшін "
            "@username-іңіз шифрланған түрде сақталады. Бұл хат алмасуды Telegram-ның өзі "
            "көреді: егер бұл сіз үшін қауіпті болса, веб-форма немесе электрондық пошта "
            "арқылы хабарлаңыз."
        ),
        "added_text": (
            "Хабарламаңызға қосылды. Тағы мәтін, фото немесе құжат жібере аласыз, содан кейін "
            "/send басыңыз (бас тарту үшін /cancel)."
        ),
        "added_file": (
            "Файл қабылданды (хабарламаңыздағы файлдар саны: {count}). Тағы жіберіңіз немесе "
            "/send басыңыз."
        ),
        "nothing_to_send": (
            "Әзірге жіберетін ештеңе жоқ. Не болғанын хабарламада сипаттаңыз, дәлеліңіз болса, "
            "қосыңыз, содан кейін /send жіберіңіз."
        ),
        "filed": (
            "Хабарламаңыз қабылданды: іс {public_id}.\n"
            "Түбіртек кодыңыз: {receipt}\n"
            "Оны жазып алыңыз немесе осы хабарламаны сақтаңыз: ол арқылы /status {receipt} "
            "командасымен ісіңізді бақылай аласыз.\n"
            "Әрі қарай не болады: маман хабарламаңызды мүмкіндігінше тез оқиды және байланыс "
            "тәсілін қалдырған болсаңыз, сізбен хабарласады (ол үшін @username-іңіз, егер бар "
            "болса, сақталады). Егер сізге тікелей қауіп төніп тұрса, алдымен өзіңіз сенетін "
            "адамдарға және төтенше қызметтерге хабарласыңыз."
        ),
        "cancelled": "Жіберілмеген хабарламаңыз өшірілді. Ештеңе тіркелген жоқ.",
        "nothing_to_cancel": "Бас тартатын жіберілмеген хабарлама жоқ.",
        "status": "Іс {public_id}: {status}. Соңғы жаңарту: {updated}.",
        "status_usage": (
            "/status командасын түбіртек кодымен бірге жіберіңіз, мысалы: "
            "/status ABCDE-FGHJK-MNPQR-STVWX"
        ),
        "status_not_found": (
            "Мұндай түбіртек коды бар хабарлама жоқ. Кодты әріп бойынша тексеріңіз (O мен 0, "
            "I мен 1 бірдей саналады)."
        ),
        "status_too_many": (
            "Бұл чаттан ешбір хабарламаға сәйкес келмейтін тым көп түбіртек коды келді. "
            "{minutes} мин күтіңіз, содан кейін /status командасын кодпен дәл берілгендей "
            "жіберіңіз."
        ),
        "unknown_command": (
            "{command} командасын білмеймін. Мен /start, /send, /cancel және /status <код> "
            "командаларын түсінемін."
        ),
        "unsupported": (
            "Мұндай хабарламаны сақтай алмаймын. Мәтін, фото, құжат, дауыстық хабарлама немесе "
            "бейне жіберіңіз; басқасын скриншот не файл ретінде жіберіңіз."
        ),
        "file_too_large": (
            "{name} файлының көлемі — {size}, ал қабылданатын файлдың ең үлкен көлемі — "
            "{limit}. Файл қосылмады. Кішірек файл жіберіңіз, оны бөліктерге бөліңіз немесе "
            "оған сілтеме жіберіңіз."
        ),
        "too_many_files": (
            "Бір хабарламада көп дегенде {limit} файл болуы мүмкін; бұл файл қосылмады. Қазір "
            "/send жіберіңіз де, қалғанын жаңа хабарламамен жіберіңіз."
        ),
        "report_too_large": (
            "Бір хабарламадағы файлдардың ең үлкен жалпы көлемі — {limit}; бұл файл "
            "қосылмады. Қазір /send жіберіңіз де, қалғанын жаңа хабарламамен жіберіңіз."
        ),
        "download_failed": "Бұл файлды Telegram-нан жүктеп алу мүмкін болмады. Қайта жіберіңіз.",
        "edit_ignored": (
            "Жіберілген хабарламалардағы өзгерістер ескерілмейді. Түзетуді жаңа хабарлама "
            "ретінде жіберіңіз."
        ),
        "private_only": (
            "Қауіпсіздігіңіз үшін хабарламаларды тек жеке чатта қабылдаймын. Маған тікелей жазыңыз."
        ),
        "invalid_report": (
            "Хабарламаны тіркеу мүмкін болмады: {details}. Жобаңыз сақталды; оны түзетіп, "
            "/send қайта жіберіңіз."
        ),
        "internal_error": (
            "Біз жақта қате орын алды, соңғы хабарламаңыз сақталмады. Бірнеше минуттан кейін "
            "қайта жіберіңіз."
        ),
        "fallback_title": "Telegram арқылы хабарлама",
        "status_new": "жаңа, әлі қаралмаған",
        "status_triaged": "қаралды, маманды күтуде",
        "status_in_progress": "жұмыс үстінде",
        "status_waiting_on_reporter": "сізден қосымша ақпарат күтілуде",
        "status_resolved": "шешілді",
        "status_closed": "жабылды",
        "status_rejected": "жұмысқа алынбады",
        "status_merged": "сол шабуыл туралы басқа хабарламамен біріктірілді",
    },
}


def language_of(user: User | None) -> str:
    """kk or ru when Telegram's interface language says so, else English."""
    code = (user.language_code or "").lower() if user else ""
    for lang in ("kk", "ru"):
        if code == lang or code.startswith(lang + "-"):
            return lang
    return "en"


UNITS = {"en": ("bytes", "KB", "MB"), "ru": ("байт", "КБ", "МБ"), "kk": ("байт", "КБ", "МБ")}


def size_text(n: int, lang: str) -> str:
    """A file size as people write it in ``lang`` (decimal comma and Cyrillic units in
    Russian and Kazakh)."""
    b, kb, mb = UNITS.get(lang, UNITS["en"])
    if n < 1024:
        text = f"{n} {b}"
    elif n < 1024 * 1024:
        text = f"{n / 1024:.0f} {kb}"
    else:
        text = f"{n / (1024 * 1024):.1f} {mb}"
    return text if lang == "en" else text.replace(".", ",")


def say(lang: str, key: str, **values: object) -> str:
    texts = TEXTS.get(lang, TEXTS["en"])
    return (texts.get(key) or TEXTS["en"][key]).format(**values)


# -- drafts ----------------------------------------------------------------------------------


@dataclass
class Draft:
    """A report being written: what the sender said and the files already in the blob store."""

    lang: str
    texts: list[str] = field(default_factory=list)
    files: list[BlobRef] = field(default_factory=list)
    contact: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.texts and not self.files

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "lang": self.lang,
                "texts": self.texts,
                "files": [
                    {
                        "sha256": f.sha256,
                        "size": f.size,
                        "media_type": f.media_type,
                        "filename": f.filename,
                    }
                    for f in self.files
                ],
                "contact": self.contact,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Draft:
        raw = json.loads(text)
        return cls(
            lang=str(raw.get("lang") or "en"),
            texts=[str(t) for t in raw.get("texts", [])],
            files=[
                BlobRef(str(f["sha256"]), int(f["size"]), str(f["media_type"]), f.get("filename"))
                for f in raw.get("files", [])
            ],
            contact=raw.get("contact"),
        )


def load_draft(conn: sa.Connection, store: Store, sender: str) -> Draft | None:
    d = inbound_drafts.c
    body = conn.execute(
        sa.select(d.body_enc).where(d.channel == CHANNEL, d.sender_bidx == sender)
    ).scalar_one_or_none()
    if body is None:
        return None
    return Draft.from_json(store.cipher.decrypt(body, DRAFT_CONTEXT) or "{}")


def save_draft(conn: sa.Connection, store: Store, sender: str, draft: Draft, now: datetime) -> None:
    d = inbound_drafts.c
    body = store.cipher.encrypt(draft.to_json(), DRAFT_CONTEXT)
    updated = conn.execute(
        inbound_drafts.update()
        .where(d.channel == CHANNEL, d.sender_bidx == sender)
        .values(body_enc=body, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(
            inbound_drafts.insert().values(
                channel=CHANNEL, sender_bidx=sender, body_enc=body, created_at=now, updated_at=now
            )
        )


def delete_draft(conn: sa.Connection, sender: str) -> bool:
    d = inbound_drafts.c
    result = conn.execute(
        inbound_drafts.delete().where(d.channel == CHANNEL, d.sender_bidx == sender)
    )
    return bool(result.rowcount)


# -- the Bot API, with retries ---------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for calls to the Bot API: transient failures (network, 5xx, flood control)
    are retried; after ``attempts`` the call gives up and the caller decides."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        d: float = min(self.max_delay, self.base_delay * (2**attempt))
        return d * (0.5 + random.random() / 2)  # jitter: many bots must not retry in step


class _Undownloadable(Exception):
    def __init__(self, too_big: bool) -> None:
        self.too_big = too_big
        super().__init__("the file cannot be downloaded")


class BotApiUnavailable(Exception):
    """The Bot API could not be reached after retries; nothing was lost, try again later."""


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, TelegramEntityTooLarge):
        return False
    if isinstance(exc, TelegramNetworkError | TelegramServerError | TelegramRetryAfter):
        return True
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError)


# -- the bot ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _File:
    file_id: str
    size: int | None
    filename: str | None
    media_type: str


class TelegramIntakeBot:
    """Long-polling intake bot. ``run_forever`` for a service, ``run_once`` for one round."""

    def __init__(
        self,
        store: Store,
        desk: CaseDesk,
        api_base: str,
        token: str,
        *,
        limits: AttachmentLimits = DEFAULT_LIMITS,
        blobs: BlobStore | None = None,
        poll_timeout: int = 25,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.store = store
        self.desk = desk
        self.limits = limits
        self.blobs = blobs or BlobStore.for_settings(store.settings)
        self.poll_timeout = poll_timeout
        self.retry = retry
        self.receipt_limit = RateLimiter.for_settings(store.settings)
        try:
            self.bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
        except TokenValidationError as exc:
            raise ConfigurationError(
                "the Telegram bot token is not valid; it looks like 123456789:AA... "
                "(from @BotFather)"
            ) from exc
        self._offset: int | None = None
        self._stopping = False
        self._poll: asyncio.Future[list[Update]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._since_prune = 0

    @classmethod
    def from_settings(cls, store: Store, desk: CaseDesk, **kw: Any) -> TelegramIntakeBot:
        token = store.settings.telegram_bot_token
        if not token:
            raise ConfigurationError("set QORGAU_TELEGRAM_BOT_TOKEN to run the Telegram bot")
        return cls(store, desk, store.settings.telegram_api_base, token, **kw)

    # -- running ------------------------------------------------------------------------------
    async def run_once(self, timeout: int = 0) -> int:
        """One getUpdates round (long-polling up to ``timeout`` seconds); returns how many
        updates were handled. Raises ``BotApiUnavailable`` when the Bot API stays out of
        reach, and database errors as they come: the round's remaining updates stay
        unconfirmed at Telegram and come back next time."""
        self._loop = asyncio.get_running_loop()
        if self._offset is None:
            self._offset = await asyncio.to_thread(self._load_offset)
        offset = self._offset
        self._poll = asyncio.ensure_future(
            self._call(
                lambda: self.bot.get_updates(
                    offset=offset,
                    timeout=timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=timeout + 15,
                )
            )
        )
        try:
            updates = await self._poll
        except asyncio.CancelledError:
            if self._stopping:
                return 0
            raise
        finally:
            self._poll = None
        for update in sorted(updates, key=lambda u: u.update_id):
            await self.handle_update(update)
            self._offset = max(self._offset or 0, update.update_id + 1)
        return len(updates)

    async def run_forever(self) -> None:
        """Poll until ``stop()``; every failure is logged and retried with growing delays,
        so a Bot API or database outage pauses intake instead of ending it. A stopped bot is
        not started again: make a new one."""
        failures = 0
        try:
            while not self._stopping:
                try:
                    await self.run_once(self.poll_timeout)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("Telegram intake round failed; retrying")
                    delay = self.retry.delay(min(failures, 10))
                    failures += 1
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wait_stop(), delay)
        finally:
            await self.close()

    async def _wait_stop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Ask ``run_forever`` to finish; safe to call from another thread."""
        self._stopping = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._interrupt_poll)

    def _interrupt_poll(self) -> None:
        if self._poll is not None and not self._poll.done():
            self._poll.cancel()

    async def close(self) -> None:
        self.receipt_limit.close()
        await self.bot.session.close()

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.retry.attempts):
            try:
                return await make()
            except Exception as exc:
                if not _transient(exc) or attempt + 1 == self.retry.attempts:
                    if _transient(exc):
                        raise BotApiUnavailable(f"Telegram Bot API unavailable: {exc}") from exc
                    raise
                wait = (
                    float(exc.retry_after)
                    if isinstance(exc, TelegramRetryAfter)
                    else self.retry.delay(attempt)
                )
                log.warning("Bot API call failed (%s); retrying in %.1fs", exc, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _reply(self, chat_id: int, text: str) -> None:
        """Send a reply; a reply that cannot be delivered is logged, never fatal — the
        update it answers is already committed."""
        try:
            await self._call(lambda: self.bot.send_message(chat_id=chat_id, text=text))
        except (BotApiUnavailable, TelegramAPIError) as exc:
            log.warning("could not deliver a reply to a Telegram user: %s", exc)

    # -- durable offset ---------------------------------------------------------------------
    def _load_offset(self) -> int | None:
        m = inbound_messages.c
        with self.store.read() as conn:
            ids = conn.execute(
                sa.select(m.external_id)
                .where(m.channel == UPDATE_CHANNEL)
                .order_by(m.id.desc())
                .limit(100)
            ).scalars()
            known = [int(i) for i in ids if i.isdigit()]
        return max(known) + 1 if known else None

    def _seen(self, update_id: int) -> bool:
        with self.store.read() as conn:
            return already_received(conn, UPDATE_CHANNEL, str(update_id))

    def _commit(
        self, update_id: int, effect: Callable[[sa.Connection], T]
    ) -> tuple[bool, T | None]:
        """Record the update and apply its effect in one transaction; (False, None) when
        another process recorded it first."""
        now = self.store.now()
        try:
            with self.store.write() as conn:
                if already_received(conn, UPDATE_CHANNEL, str(update_id)):
                    return False, None
                record_received(conn, UPDATE_CHANNEL, str(update_id), None, now)
                result = effect(conn)
                self._prune(conn, now)
                return True, result
        except sa.exc.IntegrityError:
            if self._seen(update_id):
                return False, None
            raise

    def _prune(self, conn: sa.Connection, now: datetime) -> None:
        self._since_prune += 1
        if self._since_prune < PRUNE_EVERY:
            return
        self._since_prune = 0
        m = inbound_messages.c
        newest = sa.select(sa.func.max(m.id)).where(m.channel == UPDATE_CHANNEL).scalar_subquery()
        conn.execute(
            inbound_messages.delete().where(
                m.channel == UPDATE_CHANNEL,
                m.received_at < now - UPDATE_ROWS_KEPT,
                m.id < newest,
            )
        )

    # -- handling updates -------------------------------------------------------------------
    async def handle_update(self, update: Update) -> None:
        """Handle one update at most once, however often it is delivered."""
        uid = update.update_id
        if await asyncio.to_thread(self._seen, uid):
            return
        msg = update.message or update.edited_message
        if msg is None:
            await asyncio.to_thread(self._commit, uid, lambda conn: None)
            return
        lang = language_of(msg.from_user)
        try:
            reply = await self._dispatch(uid, msg, lang, edited=update.message is None)
        except (BotApiUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError):
            raise  # outage: leave the update unconfirmed, it comes back
        except Exception:
            log.exception("a Telegram update could not be handled")
            done, _ = await asyncio.to_thread(self._commit, uid, lambda conn: None)
            reply = say(lang, "internal_error") if done else None
        if reply:
            await self._reply(msg.chat.id, reply)

    async def _dispatch(self, uid: int, msg: Message, lang: str, *, edited: bool) -> str | None:
        def only_record(conn: sa.Connection) -> None:
            return None

        if msg.chat.type != "private":
            done, _ = await asyncio.to_thread(self._commit, uid, only_record)
            return say(lang, "private_only") if done else None
        if edited:
            done, _ = await asyncio.to_thread(self._commit, uid, only_record)
            return say(lang, "edit_ignored") if done else None
        text = msg.text
        if text is not None and text.startswith("/"):
            return await self._command(uid, msg, lang, text)
        incoming = _file_of(msg)
        if incoming is not None:
            return await self._add_file(uid, msg, lang, incoming)
        if text is not None and text.strip():
            return await self._add_texts(uid, msg, lang, [_with_origin(msg, text)])
        done, _ = await asyncio.to_thread(self._commit, uid, only_record)
        return say(lang, "unsupported") if done else None

    def _sender(self, msg: Message) -> str:
        """The chat, as a keyed hash: enough to find the draft again, useless to a thief."""
        return self.store.cipher.blind_index(str(msg.chat.id), CHAT_CONTEXT)

    def _read_draft(self, sender: str) -> Draft | None:
        with self.store.read() as conn:
            return load_draft(conn, self.store, sender)

    def _fresh_draft(self, msg: Message, lang: str) -> Draft:
        user = msg.from_user
        contact = None
        if user is not None:
            contact = f"@{user.username}" if user.username else (user.full_name or None)
        return Draft(lang=lang, contact=contact)

    async def _add_texts(self, uid: int, msg: Message, lang: str, texts: list[str]) -> str | None:
        sender = self._sender(msg)

        def effect(conn: sa.Connection) -> None:
            draft = load_draft(conn, self.store, sender) or self._fresh_draft(msg, lang)
            draft.texts.extend(texts)
            save_draft(conn, self.store, sender, draft, self.store.now())

        done, _ = await asyncio.to_thread(self._commit, uid, effect)
        return say(lang, "added_text") if done else None

    async def _add_file(self, uid: int, msg: Message, lang: str, f: _File) -> str | None:
        sender = self._sender(msg)
        current = await asyncio.to_thread(self._read_draft, sender)
        held = current.files if current else []
        refusal = self._refusal(lang, f, f.size, held)
        data: bytes | None = None
        if refusal is None:
            try:
                data = await self._download(f.file_id)
            except _Undownloadable as exc:
                refusal = (
                    say(
                        lang,
                        "file_too_large",
                        name=_name(f, lang),
                        size=size_text(f.size or self.limits.max_file_bytes + 1, lang),
                        limit=size_text(self.limits.max_file_bytes, lang),
                    )
                    if exc.too_big
                    else say(lang, "download_failed")
                )
            if data is not None:
                refusal = self._refusal(lang, f, len(data), held)
                if refusal is None:  # archive bombs and path tricks, named back to the sender
                    refusal = await asyncio.to_thread(archive_refusal, lang, _name(f, lang), data)
        if refusal is not None or data is None:
            # Refused files are answered, not dropped: the caption still joins the draft.
            caption = msg.caption

            def refuse(conn: sa.Connection) -> None:
                if caption:
                    draft = load_draft(conn, self.store, sender) or self._fresh_draft(msg, lang)
                    draft.texts.append(_with_origin(msg, caption))
                    save_draft(conn, self.store, sender, draft, self.store.now())

            done, _ = await asyncio.to_thread(self._commit, uid, refuse)
            return (refusal or say(lang, "download_failed")) if done else None
        sha = await asyncio.to_thread(self.blobs.put, data)
        ref = BlobRef(sha, len(data), stored_media_type(data, f.media_type), f.filename)

        def effect(conn: sa.Connection) -> int:
            draft = load_draft(conn, self.store, sender) or self._fresh_draft(msg, lang)
            if msg.caption:
                draft.texts.append(_with_origin(msg, msg.caption))
            draft.files.append(ref)
            save_draft(conn, self.store, sender, draft, self.store.now())
            return len(draft.files)

        done, count = await asyncio.to_thread(self._commit, uid, effect)
        return say(lang, "added_file", count=count) if done else None

    def _refusal(self, lang: str, f: _File, size: int | None, held: list[BlobRef]) -> str | None:
        if size is None:
            return None
        probe = BlobRef("0" * 64, size, f.media_type, f.filename)
        _, refused = screen(
            [probe],
            self.limits,
            count_so_far=len(held),
            bytes_so_far=sum(h.size for h in held),
        )
        if not refused:
            return None
        rule = refused[0].rule
        if rule == "file_too_large":
            return say(
                lang,
                "file_too_large",
                name=_name(f, lang),
                size=size_text(size, lang),
                limit=size_text(self.limits.max_file_bytes, lang),
            )
        if rule == "too_many_files":
            return say(lang, "too_many_files", limit=self.limits.max_files)
        return say(lang, "report_too_large", limit=size_text(self.limits.max_report_bytes, lang))

    async def _download(self, file_id: str) -> bytes:
        """The file's bytes; ``_Undownloadable`` when Telegram refuses it for good (too big
        for bots, expired), ``BotApiUnavailable`` when it cannot be reached right now."""
        try:
            info = await self._call(lambda: self.bot.get_file(file_id))
        except TelegramBadRequest as exc:
            raise _Undownloadable(too_big="too big" in str(exc).lower()) from exc
        except TelegramAPIError as exc:
            if isinstance(exc, TelegramNetworkError):
                raise
            raise _Undownloadable(too_big=False) from exc
        if not info.file_path:
            raise _Undownloadable(too_big=False)
        path = info.file_path

        async def fetch() -> bytes:
            buf = io.BytesIO()
            await self.bot.download_file(path, destination=buf, timeout=120)
            return buf.getvalue()

        try:
            return await self._call(fetch)
        except aiohttp.ClientResponseError as exc:  # 4xx on the file link: gone or refused
            raise _Undownloadable(too_big=exc.status == 413) from exc

    # -- commands ---------------------------------------------------------------------------
    async def _command(self, uid: int, msg: Message, lang: str, text: str) -> str | None:
        head, _, rest = text.strip().partition(" ")
        if "\n" in head:
            head, _, more = head.partition("\n")
            rest = f"{more} {rest}".strip()
        command = head[1:].split("@", 1)[0].lower()
        args = rest.strip()

        def only_record(conn: sa.Connection) -> None:
            return None

        if command in ("start", "help"):
            done, _ = await asyncio.to_thread(self._commit, uid, only_record)
            return (
                say(lang, "greeting", max_file=size_text(self.limits.max_file_bytes, lang))
                if done
                else None
            )
        if command == "cancel":
            sender = self._sender(msg)
            done, deleted = await asyncio.to_thread(
                self._commit, uid, lambda conn: delete_draft(conn, sender)
            )
            if not done:
                return None
            return say(lang, "cancelled" if deleted else "nothing_to_cancel")
        if command == "status":
            done, _ = await asyncio.to_thread(self._commit, uid, only_record)
            sender = self._sender(msg)
            return await asyncio.to_thread(self._status, lang, args, sender) if done else None
        if command == "send":
            return await asyncio.to_thread(self._send, uid, msg, lang)
        done, _ = await asyncio.to_thread(self._commit, uid, only_record)
        return say(lang, "unknown_command", command=head[:40]) if done else None

    def _status(self, lang: str, code: str, sender: str) -> str:
        """A right code always answers; codes matching no report count per chat, as on the
        web (``QORGAU_RECEIPT_RATE_PER_MINUTE``), and past the allowance the bot says when
        to try again."""
        if not code:
            return say(lang, "status_usage")
        try:
            public_id, status, updated_at = self.desk.track(code)
        except NotFound:
            wait = self.receipt_limit.hit(RECEIPT, f"telegram:{sender}")
            if wait is not None:
                return say(lang, "status_too_many", minutes=max(1, -(-wait // 60)))
            return say(lang, "status_not_found")
        label = say(lang, f"status_{Status(status).value}")
        updated = f"{updated_at:%Y-%m-%d %H:%M} UTC" if updated_at else "-"
        return say(lang, "status", public_id=public_id, status=label, updated=updated)

    def _send(self, uid: int, msg: Message, lang: str) -> str | None:
        """File the draft: incident, attachments, the message's inbound row, the update row
        and the draft's deletion commit together or not at all."""
        sender = self._sender(msg)
        draft = self._read_draft(sender)
        if draft is None or draft.is_empty:
            done, _ = self._commit(uid, lambda conn: None)
            return say(draft.lang if draft else lang, "nothing_to_send") if done else None
        lang = draft.lang
        try:
            prepared = prepare_filing(
                self.store, self.desk, self._report(msg, draft), self.blobs, self.limits
            )
        except InvalidInput as exc:
            done, _ = self._commit(uid, lambda conn: None)
            return say(lang, "invalid_report", details=str(exc)) if done else None

        def effect(conn: sa.Connection) -> FilingResult:
            result = write_filing(conn, self.store, prepared, self.store.now())
            delete_draft(conn, sender)
            return result

        done, result = self._commit(uid, effect)
        if not done or result is None:
            return None
        return say(lang, "filed", public_id=result.public_id, receipt=result.receipt_code)

    def _report(self, msg: Message, draft: Draft) -> InboundReport:
        taxonomy = self.store.taxonomy
        body = "\n\n".join(draft.texts)
        title, description, extra = fit_text("", body, say(draft.lang, "fallback_title"))
        fields = ReportFields(
            title=title,
            description=description,
            attack_types=(default_attack_type(taxonomy),),
            platform=platform_or_none(taxonomy, "telegram"),
            language=guess_language(body) if body.strip() else draft.lang,
            reporter=ReporterContact(name=draft.contact, preferred_channel="telegram"),
        )
        # The chat id never reaches the database in clear: the message's identity is hashed.
        external_id = self.store.cipher.blind_index(
            f"{msg.chat.id}:{msg.message_id}", MESSAGE_CONTEXT
        )
        return InboundReport(CHANNEL, external_id, fields, files=extra, stored=list(draft.files))


def _name(f: _File, lang: str) -> str:
    if f.filename:
        return f"'{f.filename}'"
    return {"en": "(unnamed)", "ru": "(без имени)", "kk": "(атауы жоқ)"}.get(lang, "(unnamed)")


def _file_of(msg: Message) -> _File | None:
    """The one file a message carries, if any; a photo is taken at its largest size."""
    if msg.photo:
        best = max(msg.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        return _File(best.file_id, best.file_size, f"photo-{msg.message_id}.jpg", "image/jpeg")
    for obj, default_name, default_type in (
        (msg.document, None, "application/octet-stream"),
        (msg.video, "video.mp4", "video/mp4"),
        (msg.audio, "audio.mp3", "audio/mpeg"),
        (msg.voice, "voice.ogg", "audio/ogg"),
        (msg.video_note, "video-note.mp4", "video/mp4"),
        (msg.animation, "animation.mp4", "video/mp4"),
    ):
        if obj is None:
            continue
        name = getattr(obj, "file_name", None) or default_name
        mime = getattr(obj, "mime_type", None) or default_type
        return _File(obj.file_id, obj.file_size, clean_filename(name), clean_media_type(mime))
    return None


def _with_origin(msg: Message, text: str) -> str:
    """Forwarded messages are often the threat itself: say who sent it originally and when."""
    origin = msg.forward_origin
    if origin is None:
        return text
    who = "unknown sender"
    if isinstance(origin, MessageOriginUser):
        u = origin.sender_user
        who = f"@{u.username}" if u.username else u.full_name
    elif isinstance(origin, MessageOriginHiddenUser):
        who = origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        who = origin.sender_chat.title or "a group"
    elif isinstance(origin, MessageOriginChannel):
        who = origin.chat.title or "a channel"
        if origin.chat.username:
            who += f" (@{origin.chat.username}, message {origin.message_id})"
    when = f"{origin.date:%Y-%m-%d %H:%M} UTC"
    return f"[Forwarded from {who}, originally sent {when}]\n{text}"
