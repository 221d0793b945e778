"""Consent, retention and panic-lock rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qorgau.domain.model import Role, Target
from qorgau.domain.privacy import (
    DEFAULT_RETENTION,
    Answer,
    Consent,
    RecordKind,
    check_reason,
    may_see_locked,
    named_targets,
    parse_consent,
    parse_retention,
    refusal_to_share,
)
from qorgau.errors import InvalidInput

PERSON = Target("person", "Aigerim", None, "aigerim", False, "journalist")
PHONE = Target("phone_number", "mobile", "+77000000101", "+77000000101", False)


def test_parse_consent_takes_a_list_none_or_nothing() -> None:
    assert parse_consent(None, None, None) == Consent(Answer.NOT_ASKED, Answer.NOT_ASKED, None)
    assert parse_consent("yes", "yes", [" cert-kz ", "jfj", "cert-kz"]).partners == (
        "cert-kz",
        "jfj",
    )
    assert parse_consent("no", "yes", "none").partners == ()


@pytest.mark.parametrize(
    ("name", "share", "partners", "message"),
    [
        ("maybe", "yes", None, "name_publicly: answer yes, no or not_asked"),
        ("yes", "yes", "all", 'share: give a list|partners: give a list of partner ids, or "none"'),
        ("yes", "no", ["jfj"], 'partners are named only when share is "yes"'),
        ("yes", "yes", [""], "partners: at most 50 partner ids"),
    ],
)
def test_parse_consent_refuses_with_what_to_do(
    name: str, share: str, partners: object, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_consent(name, share, partners)  # type: ignore[arg-type]
    assert any(part in str(caught.value) for part in message.split("|"))


def test_sharing_follows_the_latest_consent() -> None:
    assert refusal_to_share(None, "jfj") is None
    assert refusal_to_share(Consent(share=Answer.NOT_ASKED), None) is None
    assert refusal_to_share(Consent(share=Answer.YES), None) is None
    assert "with anyone" in (refusal_to_share(Consent(share=Answer.NO), "jfj") or "")
    named = Consent(share=Answer.YES, partners=("cert-kz",))
    assert refusal_to_share(named, "cert-kz") is None
    assert "not consent to sharing with jfj; consented: cert-kz" in (
        refusal_to_share(named, "jfj") or ""
    )
    assert "only with named partners" in (refusal_to_share(named, None) or "")
    assert "no partner" in (refusal_to_share(Consent(share=Answer.YES, partners=()), "x") or "")


def test_naming_consent_overrides_the_form_but_never_publishes_a_phone() -> None:
    targets = (PERSON, PHONE)
    assert named_targets(None, targets) == targets
    assert named_targets(Consent(name_publicly=Answer.NOT_ASKED), targets) == targets
    yes = named_targets(Consent(name_publicly=Answer.YES), targets)
    assert [t.consent_public for t in yes] == [True, False]
    granted = (PERSON.__class__(**{**PERSON.__dict__, "consent_public": True}),)
    assert named_targets(Consent(name_publicly=Answer.NO), granted)[0].consent_public is False


def test_only_admins_see_locked_cases() -> None:
    assert may_see_locked(Role.ADMIN)
    assert not any(may_see_locked(r) for r in Role if r is not Role.ADMIN)
    assert not may_see_locked(None)


def test_reasons() -> None:
    assert check_reason("  because  ", required=True) == "because"
    assert check_reason("", required=False) is None
    with pytest.raises(InvalidInput, match="say why"):
        check_reason(" ", required=True)
    with pytest.raises(InvalidInput, match="at most"):
        check_reason("x" * 2001, required=False)


def test_retention_document_changes_only_what_it_names() -> None:
    policy = parse_retention('{"notes": 30, "evidence": 3650, "audit": null}')
    assert policy.days[RecordKind.NOTES] == 30
    assert policy.days[RecordKind.AUDIT] is None
    assert (
        policy.days[RecordKind.REPORTER_CONTACT] == DEFAULT_RETENTION[RecordKind.REPORTER_CONTACT]
    )
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert policy.cutoff(RecordKind.NOTES, now) == now - timedelta(days=30)
    assert policy.cutoff(RecordKind.AUDIT, now) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "an object"),
        ("{", "not JSON"),
        ('{"photos": 3}', "photos: not a kind of record"),
        ('{"notes": 0}', "notes: days from 1"),
        ('{"notes": true}', "notes: days from 1"),
        ('{"notes": "30"}', "notes: days from 1"),
    ],
)
def test_retention_document_refuses_bad_values(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_retention(text)
