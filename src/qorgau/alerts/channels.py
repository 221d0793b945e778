"""Addresses on alert channels: checked when a user registers them, in one canonical form.

A wrong address found at registration is a message to the person typing it; found at delivery
time it is a dead letter nobody reads, during an attack. So every rule a sender relies on
(an integer chat id, an http(s) URL, a secret long enough to resist guessing) is enforced here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from qorgau.domain.identifiers import normalize_email
from qorgau.errors import InvalidInput
from qorgau.store.deliveries import ADDRESSED_CHANNELS, CHANNELS

MIN_WEBHOOK_SECRET = 16
MAX_EMAIL_CHARS = 254
_CHAT_ID = re.compile(r"^-?\d{1,20}$")
_CHANNEL_NAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str


def webhook_address(url: str, secret: str) -> str:
    """The stored form of a webhook address (one encrypted text holds URL and secret)."""
    return json.dumps({"url": url, "secret": secret}, sort_keys=True, ensure_ascii=False)


def parse_webhook_address(address: str, field_name: str = "address") -> WebhookTarget:
    try:
        data = json.loads(address)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidInput.single(
            field_name,
            "webhook",
            'a webhook address must be a JSON object such as {"url": "https://...",'
            ' "secret": "..."}; give the URL and the shared secret',
        )
    url, secret = data.get("url"), data.get("secret")
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput.single(
            f"{field_name}.url", "required", "the webhook needs a URL; give its https:// address"
        )
    if not isinstance(secret, str):
        raise InvalidInput.single(
            f"{field_name}.secret",
            "required",
            f"the webhook needs a shared secret of at least {MIN_WEBHOOK_SECRET} characters"
            " to sign its requests; give one",
        )
    return WebhookTarget(url.strip(), secret)


def _email(address: str, field_name: str) -> str:
    try:
        value = normalize_email(address, field_name)
    except InvalidInput:
        value = ""
    if not value or len(value) > MAX_EMAIL_CHARS:
        raise InvalidInput.single(
            field_name,
            "email",
            f"{address!r} is not an e-mail address; write it as name@example.org",
        )
    return value


def _telegram(address: str, field_name: str) -> str:
    value = address.strip()
    if _CHAT_ID.match(value):
        return str(int(value))
    if _CHANNEL_NAME.match(value):
        return value
    raise InvalidInput.single(
        field_name,
        "telegram_chat",
        f"{address!r} is not a Telegram chat; give the numeric chat id (such as 123456789"
        " or -1001234567890) or a public channel name such as @ourchannel",
    )


def _webhook(address: str, field_name: str) -> str:
    target = parse_webhook_address(address, field_name)
    parts = urlsplit(target.url)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput.single(
            f"{field_name}.url",
            "url",
            f"{target.url!r} is not a web address; give an http:// or https:// URL with a host",
        )
    if any(ch.isspace() for ch in target.url):
        raise InvalidInput.single(
            f"{field_name}.url", "url", "the webhook URL contains spaces; remove them"
        )
    if len(target.secret) < MIN_WEBHOOK_SECRET:
        raise InvalidInput.single(
            f"{field_name}.secret",
            "length",
            f"the webhook secret is {len(target.secret)} characters long; use at least"
            f" {MIN_WEBHOOK_SECRET} random characters",
        )
    return webhook_address(target.url, target.secret)


def validate_channel(kind: str, address: str, field_name: str = "address") -> str:
    """Check an address for a channel kind and return its normalised form.

    ``address`` is an e-mail address, a Telegram chat id or @channel, or a webhook's JSON text
    ``{"url": ..., "secret": ...}`` (see ``webhook_address``).
    """
    if kind not in CHANNELS:
        raise InvalidInput.single(
            "kind",
            "choice",
            f"{kind!r} is not an alert channel; use one of {', '.join(ADDRESSED_CHANNELS)}",
            ADDRESSED_CHANNELS,
        )
    if kind == "inapp":
        raise InvalidInput.single(
            "kind",
            "choice",
            "in-app alerts reach every account without an address; to add an address choose"
            f" one of {', '.join(ADDRESSED_CHANNELS)}",
            ADDRESSED_CHANNELS,
        )
    if not isinstance(address, str) or not address.strip():
        raise InvalidInput.single(
            field_name, "required", f"a {kind} channel needs an address; give one"
        )
    if kind == "email":
        return _email(address, field_name)
    if kind == "telegram":
        return _telegram(address, field_name)
    return _webhook(address, field_name)
