from __future__ import annotations

import pytest

from qorgau.domain.identifiers import (
    normalize_email,
    normalize_host,
    normalize_identifier,
    normalize_phone,
)
from qorgau.errors import InvalidInput


@pytest.mark.parametrize(
    "written",
    [
        "+7 701 123 45 67",
        "87011234567",
        "8 (701) 123-45-67",
        "+77011234567",
        "7011234567",
    ],
)
def test_the_same_kazakh_mobile_written_many_ways_is_one_number(written: str) -> None:
    assert normalize_phone(written, "phone") == "+77011234567"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalize_phone("+44 20 7946 0958", "p") == "+442079460958"


@pytest.mark.parametrize("bad", ["call me", "+7 701", "123"])
def test_non_numbers_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalize_phone(bad, "targets[0].identifier")
    assert exc.value.problems[0].field == "targets[0].identifier"
    assert exc.value.problems[0].rule == "phone"


def test_hosts_are_reduced_from_urls_and_idna_encoded() -> None:
    assert normalize_host("https://Orda.KZ/kz/news?x=1", "h") == "orda.kz"
    assert normalize_host("қорғау.kz", "h") == "xn--80aaa5e2bzd.kz".replace(
        "xn--80aaa5e2bzd", "қорғау".encode("idna").decode()
    )
    with pytest.raises(InvalidInput):
        normalize_host("not a host", "h")


def test_email_domain_is_case_folded_but_local_part_kept() -> None:
    assert normalize_email("Editor@Orda.KZ", "e") == "Editor@orda.kz"


def test_handles_and_names_fold_case_and_spacing() -> None:
    assert normalize_identifier("social_account", "@Orda_KZ", "h") == "orda_kz"
    assert normalize_identifier("person", "  Гульнар   БАЖКЕНОВА ", "n") == "гульнар бажкенова"
