"""Alerts on real channels: e-mail, signed webhooks, Telegram and in-app.

The queue lives in the database (``qorgau.store.deliveries``); ``dispatcher`` works it inside
the server process (the embedded default), ``broker`` and ``worker`` hand it to separate worker
processes over NATS JetStream (the scale path). This module stays import-light: the store
imports ``alerts.channels`` for address checks and must not pull in the HTTP and SMTP clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from qorgau.config import Settings

if TYPE_CHECKING:
    from qorgau.alerts.senders import Sender


def build_senders(settings: Settings) -> dict[str, Sender]:
    """One sender per channel, configured from settings.

    A channel whose server is not configured still gets a sender: its deliveries fail as
    retryable and end as dead letters that can be requeued once it is configured, never lost.
    """
    from qorgau.alerts.senders import EmailSender, InAppSender, TelegramSender, WebhookSender

    return {
        "email": EmailSender.from_settings(settings),
        "webhook": WebhookSender(),
        "telegram": TelegramSender.from_settings(settings),
        "inapp": InAppSender(),
    }


async def close_senders(senders: Mapping[str, Sender]) -> None:
    """Release the senders' connections (HTTP clients, the Telegram session)."""
    for sender in senders.values():
        await sender.aclose()
