"""The protected-entity registry: valid entries kept, bad or conflicting ones skipped and named."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import jsonschema
import pytest

from qorgau.detect.protected_registry import (
    REGISTRY_SCHEMA,
    import_registry,
    parse_registry,
)
from qorgau.errors import InvalidInput


def orda() -> dict[str, Any]:
    return {
        "id": "orda",
        "kind": "outlet",
        "name": "Orda.kz",
        "names": {"ru": ["Орда"], "en": ["Orda"]},
        "accounts": {"Telegram": ["@OrdaKZ"], "twitter": ["orda_kz"]},
        "domains": ["https://www.Orda.kz/", "kaz.orda.kz"],
        "statements": [
            {
                "text": "Редакция продолжает работу",
                "url": "https://orda.kz/s/1",
                "date": "2025-03-01",
            }
        ],
    }


def editor() -> dict[str, Any]:
    return {
        "id": "editor",
        "kind": "person",
        "name": "Gulnara  Bazhkenova",
        "outlet": "orda",
        "names": {"ru": ["Гульнара Бажкенова"], "kk-latn": ["Gulnar Bajkenova"]},
        "accounts": {"telegram": ["gbazhkenova"]},
    }


def vlast() -> dict[str, Any]:
    return {"id": "vlast", "kind": "outlet", "name": "Vlast.kz", "domains": ["vlast.kz"]}


def test_a_valid_registry_is_read_into_canonical_form() -> None:
    parsed = parse_registry({"entities": [orda(), editor(), vlast()]})
    assert parsed.problems == ()
    outlet = parsed.registry.by_id("orda")
    assert outlet is not None
    assert outlet.accounts == {"telegram": ("ordakz",), "x": ("orda_kz",)}
    assert outlet.domains == ("orda.kz", "kaz.orda.kz")
    assert outlet.statements[0].date == date(2025, 3, 1)
    person = parsed.registry.by_id("editor")
    assert person is not None and person.name == "Gulnara Bazhkenova"
    assert "Gulnar Bajkenova" in person.all_names
    # A person's outlet speaks for the person too.
    assert parsed.registry.verified_accounts(person)["telegram"] == {"gbazhkenova", "ordakz"}
    assert parsed.registry.family(person) == "orda"


def test_the_same_handle_verified_for_two_entries_skips_the_later_one_precisely() -> None:
    thief = vlast() | {"accounts": {"tg": ["ordakz"]}}
    parsed = parse_registry({"entities": [orda(), thief, editor()]})
    assert [e.id for e in parsed.registry.entities] == ["orda", "editor"]
    assert parsed.skipped == (1,)
    (problem,) = parsed.problems
    assert problem.index == 1 and problem.entry == "Vlast.kz"
    assert problem.field == "accounts.telegram[0]"
    assert "entities[0] (Orda.kz)" in problem.reason and "'ordakz'" in problem.reason
    assert str(problem).startswith("entities[1] (Vlast.kz): accounts.telegram[0]:")
    assert str(problem).endswith("(entry skipped)")


def test_a_domain_claimed_by_two_outlets_or_overlapping_one_is_a_conflict() -> None:
    same = vlast() | {"domains": ["orda.kz"]}
    inside = {"id": "kaz", "kind": "outlet", "name": "Fake Kaz", "domains": ["en.orda.kz"]}
    parsed = parse_registry({"entities": [orda(), same, inside]})
    assert [e.id for e in parsed.registry.entities] == ["orda"]
    by_index = {p.index: p for p in parsed.problems}
    assert "the same domain as 'orda.kz'" in by_index[1].reason
    assert "overlaps 'orda.kz'" in by_index[2].reason
    assert by_index[2].field == "domains[0]"


def test_an_outlet_and_its_own_people_may_share_its_domain() -> None:
    parsed = parse_registry({"entities": [orda(), editor() | {"domains": ["orda.kz"]}]})
    assert parsed.problems == ()
    assert len(parsed.registry.entities) == 2


def test_a_shared_name_variant_is_a_warning_and_both_people_are_kept() -> None:
    namesake = {
        "id": "other",
        "kind": "person",
        "name": "Another Person",
        "names": {"ru": ["Гульнара  Бажкенова"]},
    }
    parsed = parse_registry({"entities": [orda(), editor(), namesake]})
    assert [e.id for e in parsed.registry.entities] == ["orda", "editor", "other"]
    (warning,) = parsed.problems
    assert warning.severity == "warning" and warning.index == 2
    assert "entities[1] (Gulnara Bazhkenova)" in warning.reason
    assert str(warning).endswith("(entry kept)")
    assert parsed.skipped == ()


@pytest.mark.parametrize(
    ("change", "field_name", "words"),
    [
        ({"domains": ["not a domain"]}, "domains[0]", "orda.kz"),
        ({"domains": ["orda.kzz"]}, "domains[0]", "top-level domain"),
        ({"kind": "company"}, "kind", "person, outlet"),
        ({"id": "Orda KZ"}, "id", "lower-case"),
        ({"accounts": {"telegram": ["https://t.me/ordakz"]}}, "accounts.telegram[0]", "handle"),
        ({"names": {"de": ["Orda"]}}, "names.de", "ru, kk, kk-latn, en"),
        ({"statements": [{"text": "x", "date": "1 March"}]}, "statements[0].date", "2025-03-01"),
        ({"statements": [{"text": "x", "url": "orda.kz/1"}]}, "statements[0].url", "https://"),
        ({"homepage": "orda.kz"}, "homepage", "check spelling"),
        ({"outlet": "vlast"}, "outlet", "only a person"),
    ],
)
def test_an_invalid_entry_is_skipped_with_its_field_and_the_rest_kept(
    change: dict[str, Any], field_name: str, words: str
) -> None:
    parsed = parse_registry({"entities": [orda() | change, vlast()]})
    assert [e.id for e in parsed.registry.entities] == ["vlast"]
    (problem,) = parsed.problems
    assert (problem.index, problem.field, problem.severity) == (0, field_name, "error")
    assert words in problem.reason


def test_an_id_used_twice_and_a_missing_outlet_are_reported() -> None:
    orphan = editor() | {"outlet": "nowhere"}
    parsed = parse_registry({"entities": [vlast(), vlast() | {"name": "Copy"}, orphan]})
    assert [e.id for e in parsed.registry.entities] == ["vlast", "editor"]
    assert parsed.registry.by_id("editor") is not None
    assert parsed.registry.by_id("editor").outlet is None  # type: ignore[union-attr]
    fields = [(p.index, p.field, p.severity) for p in parsed.problems]
    assert fields == [(1, "id", "error"), (2, "outlet", "warning")]


def test_a_document_that_is_not_a_registry_is_refused() -> None:
    with pytest.raises(InvalidInput, match="registry: the registry is an object"):
        parse_registry([orda()])
    with pytest.raises(InvalidInput, match=r"registry\.people: no such registry field"):
        parse_registry({"people": []})
    with pytest.raises(InvalidInput, match="entities is a list"):
        parse_registry({"entities": "orda"})


def test_import_keeps_only_valid_entries_as_a_canonical_json_document() -> None:
    raw = {"entities": [orda(), vlast() | {"domains": ["orda.kz"]}, editor()]}
    before = copy.deepcopy(raw)
    imported = import_registry(raw)
    assert raw == before  # the input is not altered
    assert [e["id"] for e in imported.document["entities"]] == ["orda", "editor"]
    assert imported.document["entities"][0]["domains"] == ["orda.kz", "kaz.orda.kz"]
    assert [p.index for p in imported.problems] == [1]
    json.dumps(imported.document)  # storable as it is
    # Importing the kept document again changes nothing and reports nothing.
    again = import_registry(imported.document)
    assert again.document == imported.document and again.problems == ()
    jsonschema.validate(imported.document, REGISTRY_SCHEMA)


def test_import_with_no_valid_entry_is_refused_so_the_stored_registry_stays() -> None:
    with pytest.raises(InvalidInput) as refused:
        import_registry({"entities": [orda() | {"domains": ["??"]}, {"kind": "person"}]})
    message = str(refused.value)
    assert "no entry could be kept" in message
    assert "entities[0] (Orda.kz): domains[0]" in message
    assert "entities[1]: id" in message


def test_an_empty_registry_is_valid() -> None:
    assert import_registry({"entities": []}).document == {"entities": []}
    assert parse_registry(None).registry.entities == ()
