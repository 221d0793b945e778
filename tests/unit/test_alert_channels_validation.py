"""Alert addresses are checked at registration, with the field and the rule that failed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from qorgau.alerts.channels import parse_webhook_address, validate_channel, webhook_address
from qorgau.alerts.senders import sign, verify_signature
from qorgau.errors import InvalidInput
from qorgau.store.deliveries import RetryPolicy

SECRET = "s3cret-s3cret-s3cret"


def problem(exc: pytest.ExceptionInfo[InvalidInput]) -> tuple[str, str, str]:
    (p,) = exc.value.problems
    return p.field, p.rule, p.message


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_channel("sms", "+77011234567")
    field, rule, message = problem(exc)
    assert (field, rule) == ("kind", "choice")
    assert exc.value.problems[0].allowed == ("email", "webhook", "telegram")
    assert "email, webhook, telegram" in message


def test_inapp_takes_no_address() -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_channel("inapp", "x")
    assert problem(exc)[:2] == ("kind", "choice")


def test_email_is_normalised_and_checked() -> None:
    assert validate_channel("email", "  Aida.K@Orda.KZ ") == "Aida.K@orda.kz"
    for bad in ("aida", "aida@orda", "a b@orda.kz", "x@y.kz\r\nBcc: z@evil.kz"):
        with pytest.raises(InvalidInput) as exc:
            validate_channel("email", bad, field_name="channels.email")
        field, rule, message = problem(exc)
        assert (field, rule) == ("channels.email", "email")
        assert "name@example.org" in message


def test_empty_address_is_required() -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_channel("telegram", "   ")
    assert problem(exc)[:2] == ("address", "required")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("123456789", "123456789"),
        (" -1001234567890 ", "-1001234567890"),
        ("@vlast_kz", "@vlast_kz"),
    ],
)
def test_telegram_chat_ids(given: str, stored: str) -> None:
    assert validate_channel("telegram", given) == stored


@pytest.mark.parametrize("bad", ["12ab", "@ab", "vlast_kz", "+77011234567", "@1abc"])
def test_telegram_rejects_what_is_not_a_chat(bad: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_channel("telegram", bad)
    field, rule, message = problem(exc)
    assert (field, rule) == ("address", "telegram_chat")
    assert "numeric chat id" in message


def test_webhook_round_trips_in_canonical_form() -> None:
    raw = json.dumps({"secret": SECRET, "url": " https://hooks.example.org/qorgau "})
    stored = validate_channel("webhook", raw)
    assert stored == webhook_address("https://hooks.example.org/qorgau", SECRET)
    target = parse_webhook_address(stored)
    assert (target.url, target.secret) == ("https://hooks.example.org/qorgau", SECRET)


@pytest.mark.parametrize(
    ("address", "field", "rule"),
    [
        ("https://hooks.example.org", "address", "webhook"),
        (json.dumps(["https://x.org", SECRET]), "address", "webhook"),
        (json.dumps({"secret": SECRET}), "address.url", "required"),
        (webhook_address("ftp://files.example.org/in", SECRET), "address.url", "url"),
        (webhook_address("https:///no-host", SECRET), "address.url", "url"),
        (webhook_address("https://x.org:99999/", SECRET), "address.url", "url"),
        (webhook_address("hooks.example.org/in", SECRET), "address.url", "url"),
        (json.dumps({"url": "https://x.org"}), "address.secret", "required"),
        (webhook_address("https://x.org/hook", "short"), "address.secret", "length"),
    ],
)
def test_webhook_problems_name_the_part_at_fault(address: str, field: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_channel("webhook", address)
    assert problem(exc)[:2] == (field, rule)


def test_signature_checks_secret_body_and_age() -> None:
    body = '{"event":"incident.created","text":"Қорғау"}'.encode()
    header = sign(SECRET, "1700000000", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, "1700000000", body, header, now=1700000010)
    assert not verify_signature(SECRET, "1700000000", body + b" ", header, now=1700000010)
    assert not verify_signature("another-secret-xx", "1700000000", body, header, now=1700000010)
    # a replay of an old request: right signature, stale timestamp
    assert not verify_signature(SECRET, "1700000000", body, header, now=1700001000)
    assert verify_signature(SECRET, "1700000000", body, header, tolerance_seconds=None)
    assert not verify_signature(SECRET, "soon", body, header)


def test_backoff_grows_is_capped_and_jittered() -> None:
    fixed = RetryPolicy(base_seconds=2, factor=2, cap_seconds=60, jitter=0.0)
    assert [fixed.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert fixed.delay(10) == timedelta(seconds=60)
    low = RetryPolicy(base_seconds=10, jitter=0.2, rng=lambda: 0.0)
    high = RetryPolicy(base_seconds=10, jitter=0.2, rng=lambda: 0.999999)
    assert low.delay(1).total_seconds() == pytest.approx(8.0)
    assert high.delay(1).total_seconds() == pytest.approx(12.0, rel=1e-4)
