"""One sender per alert channel, all behind ``async send(delivery)``.

Senders only talk to the outside world and classify what went wrong: ``DeliveryFailed`` with
``permanent=True`` means retrying cannot help (the address is wrong, the receiver refuses us)
and the delivery goes straight to the dead letters; anything else is retried with back-off.
They never touch the database, so the same senders serve the in-process dispatcher and the
broker workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import json
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Protocol

import aiosmtplib
import httpx

from qorgau.alerts.channels import parse_webhook_address
from qorgau.config import Settings
from qorgau.errors import InvalidInput
from qorgau.store.deliveries import ClaimedDelivery

if TYPE_CHECKING:
    from aiogram import Bot

TELEGRAM_MAX_CHARS = 4096
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "Qorgau-Alerts/1"


class DeliveryFailed(Exception):
    """An attempt failed; ``reason`` is kept as the row's ``last_error``."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, delivery: ClaimedDelivery) -> None: ...

    async def aclose(self) -> None: ...


def _subject(delivery: ClaimedDelivery) -> str:
    subject = str(delivery.payload.get("subject") or delivery.event)
    # A header must stay one line whatever the alert text contains.
    return " ".join(subject.split())


def _text(delivery: ClaimedDelivery) -> str:
    return str(delivery.payload.get("text") or "")


# -- e-mail -------------------------------------------------------------------------------


class EmailSender:
    """Plain-text UTF-8 mail through the configured SMTP relay, one connection per message.

    A fresh connection per alert keeps the sender stateless (no half-dead pooled connection to
    detect after the relay restarts); on a local relay it costs a few milliseconds.
    """

    def __init__(
        self,
        host: str | None,
        port: int = 25,
        sender: str = "qorgau@localhost",
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailSender:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )

    def message(self, delivery: ClaimedDelivery) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = delivery.address or ""
        msg["Subject"] = _subject(delivery)
        msg["Date"] = format_datetime(datetime.now(UTC))
        domain = self.sender.rpartition("@")[2] or "localhost"
        msg["Message-ID"] = make_msgid(f"qorgau.{delivery.id}.{delivery.attempts}", domain)
        msg["X-Qorgau-Delivery"] = str(delivery.id)
        msg["X-Qorgau-Event"] = delivery.event
        msg.set_content(_text(delivery), charset="utf-8")
        return msg

    async def send(self, delivery: ClaimedDelivery) -> None:
        if not self.host:
            raise DeliveryFailed(
                "no SMTP server is configured; set QORGAU_SMTP_HOST so e-mail alerts can be sent"
            )
        if not delivery.address:
            raise DeliveryFailed("the delivery has no e-mail address", permanent=True)
        try:
            message = self.message(delivery)
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header value
            raise DeliveryFailed(
                f"the alert cannot be written as an e-mail: {exc}", permanent=True
            ) from exc
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            permanent = bool(codes) and all(500 <= c < 600 for c in codes)
            detail = "; ".join(f"{e.code} {e.message}" for e in exc.recipients)
            raise DeliveryFailed(
                f"the mail server refused the recipient: {detail}", permanent=permanent
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"the mail server answered {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"could not reach the mail server {self.host}:{self.port}: {exc}"
            ) from exc

    async def aclose(self) -> None:
        return None


# -- webhook ------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``<timestamp>.<body>``: binding the time stops replays of old
    requests, and signing the raw bytes spares receivers any JSON canonicalisation."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    *,
    tolerance_seconds: float | None = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a webhook receiver runs on ``X-Qorgau-Timestamp``, the raw body and
    ``X-Qorgau-Signature``; false for a wrong secret, altered body or stale timestamp."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if tolerance_seconds is not None:
        current = time.time() if now is None else now
        if abs(current - sent) > tolerance_seconds:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), header.strip())


class WebhookSender:
    """Signed JSON POSTs. Redirects are not followed: a signed alert goes where it was
    registered, not wherever a compromised endpoint points it."""

    def __init__(self, timeout: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self._timeout = timeout
        self._client = client

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    @staticmethod
    def body(delivery: ClaimedDelivery, sent_at: datetime) -> bytes:
        document = {
            "delivery_id": delivery.id,
            "event": delivery.event,
            "payload": delivery.payload,
            "sent_at": sent_at.isoformat(),
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def send(self, delivery: ClaimedDelivery) -> None:
        try:
            target = parse_webhook_address(delivery.address or "")
        except InvalidInput as exc:
            raise DeliveryFailed(f"the webhook address is unusable: {exc}", permanent=True) from exc
        now = datetime.now(UTC)
        body = self.body(delivery, now)
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Qorgau-Event": delivery.event,
            "X-Qorgau-Delivery": str(delivery.id),
            "X-Qorgau-Timestamp": timestamp,
            "X-Qorgau-Signature": sign(target.secret, timestamp, body),
        }
        try:
            response = await self._http().post(target.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"the webhook did not answer in {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"could not reach the webhook: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = f"the webhook answered HTTP {status}"
        if 300 <= status < 400:
            raise DeliveryFailed(
                f"{reason} (a redirect); register the final URL instead", permanent=True
            )
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise DeliveryFailed(reason, permanent=permanent)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


# -- Telegram -----------------------------------------------------------------------------


class TelegramSender:
    """``sendMessage`` through the Bot API (the public one or a self-hosted Bot API server).

    The text goes without a parse mode: alert text can quote attacker-written content, which
    must not be read as markup.
    """

    def __init__(
        self, token: str | None, api_base: str = "https://api.telegram.org", timeout: int = 20
    ) -> None:
        self._token = token
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout
        self._bot: Bot | None = None
        # The first sends of a burst arrive together: one of them builds the bot, the others
        # wait for it (each building its own would leave all but one HTTP session unclosed).
        self._building = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramSender:
        return cls(settings.telegram_bot_token, settings.telegram_api_base)

    async def _get_bot(self) -> Bot:
        # aiogram takes about two seconds to import (hundreds of pydantic models): done on
        # first use and in a thread, so neither start-up nor the event loop pays for it.
        # The bot is built on the loop: its HTTP session belongs to the running event loop.
        async with self._building:
            return await self._build_bot()

    async def _build_bot(self) -> Bot:
        if self._bot is None:
            await asyncio.to_thread(importlib.import_module, "aiogram")
            from aiogram import Bot
            from aiogram.client.session.aiohttp import AiohttpSession
            from aiogram.client.telegram import TelegramAPIServer
            from aiogram.utils.token import TokenValidationError

            session = AiohttpSession(api=TelegramAPIServer.from_base(self._api_base))
            try:
                self._bot = Bot(self._token or "", session=session)
            except TokenValidationError as exc:
                await session.close()
                raise DeliveryFailed(
                    "the Telegram bot token is malformed; set QORGAU_TELEGRAM_BOT_TOKEN to the"
                    " token BotFather gave"
                ) from exc
        return self._bot

    @staticmethod
    def text(delivery: ClaimedDelivery) -> str:
        subject, body = _subject(delivery), _text(delivery)
        text = f"{subject}\n\n{body}" if body else subject
        if len(text) > TELEGRAM_MAX_CHARS:
            text = text[: TELEGRAM_MAX_CHARS - 1] + "…"
        return text

    async def send(self, delivery: ClaimedDelivery) -> None:
        if not self._token:
            raise DeliveryFailed(
                "no Telegram bot is configured; set QORGAU_TELEGRAM_BOT_TOKEN so Telegram"
                " alerts can be sent"
            )
        if not delivery.address:
            raise DeliveryFailed("the delivery has no Telegram chat", permanent=True)
        chat: int | str = delivery.address
        if delivery.address.lstrip("-").isdigit():
            chat = int(delivery.address)
        bot = await self._get_bot()
        from aiogram import exceptions as tg

        try:
            await bot.send_message(
                chat_id=chat,
                text=self.text(delivery),
                parse_mode=None,
                request_timeout=self._timeout,
            )
        except tg.TelegramRetryAfter as exc:
            raise DeliveryFailed(f"Telegram asked to wait {exc.retry_after} s") from exc
        except (tg.TelegramBadRequest, tg.TelegramForbiddenError, tg.TelegramNotFound) as exc:
            # chat not found, bot blocked or removed from the chat: the recipient must act
            raise DeliveryFailed(
                f"Telegram refused the message: {exc.message}", permanent=True
            ) from exc
        except tg.TelegramMigrateToChat as exc:
            raise DeliveryFailed(
                f"the Telegram group moved to chat {exc.migrate_to_chat_id}; register that id",
                permanent=True,
            ) from exc
        except tg.TelegramAPIError as exc:
            raise DeliveryFailed(f"Telegram failed: {exc.message}") from exc
        except (OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"could not reach Telegram: {exc}") from exc

    async def aclose(self) -> None:
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None


# -- in-app -------------------------------------------------------------------------------


class InAppSender:
    """Storing an in-app alert delivers it; this exists so every channel has a sender."""

    async def send(self, delivery: ClaimedDelivery) -> None:
        return None

    async def aclose(self) -> None:
        return None
