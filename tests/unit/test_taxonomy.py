from __future__ import annotations

import pytest

from qorgau.domain.taxonomy import LANGUAGES, load_taxonomy, parse_taxonomy
from qorgau.errors import ConfigurationError, InvalidInput


def test_shipped_taxonomy_has_the_five_article19_categories_and_seed_legal_refs() -> None:
    tax = load_taxonomy()
    assert set(tax.ids("category")) == {
        "expression",
        "privacy",
        "infrastructure",
        "protests",
        "safety",
    }
    assert {"kz-cc-158", "kz-cc-255", "kz-cc-115", "kz-cc-274", "kz-ac-73-6"} <= set(
        tax.ids("legal_reference")
    )
    for section in tax.sections.values():
        for term in section.values():
            assert all(term.labels[lang] for lang in LANGUAGES), term.id


def test_unknown_value_is_refused_with_the_allowed_list() -> None:
    tax = load_taxonomy()
    with pytest.raises(InvalidInput) as exc:
        tax.check("attack_type", "attack_types[0]", "alien_invasion")
    problem = exc.value.problems[0]
    assert problem.field == "attack_types[0]"
    assert problem.rule == "taxonomy"
    assert "ddos" in problem.allowed


def test_retired_terms_are_refused_for_new_data_but_still_labelled() -> None:
    text = load_taxonomy.__wrapped__(None)  # type: ignore[attr-defined]
    assert text.version
    base = (
        _minimal() + '\n[[attack_type]]\nid="old"\ncategory="safety"\nretired=true\n'
        'en="Old"\nru="Старое"\nkk="Ескі"\n'
    )
    tax = parse_taxonomy(base, "test")
    assert "old" not in tax.ids("attack_type")
    assert tax.terms("attack_type")["old"].label("ru") == "Старое"
    with pytest.raises(InvalidInput):
        tax.check("attack_type", "attack_types[0]", "old")


@pytest.mark.parametrize(
    "broken, message",
    [
        ("version = 1", "version"),
        ('version = "x"\n[[category]]\nid="a"\nen="A"\n', "lacks labels"),
    ],
)
def test_broken_taxonomy_files_name_the_problem(broken: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_taxonomy(broken, "broken.toml")


def test_attack_type_must_point_at_a_known_category() -> None:
    bad = _minimal().replace('category="safety"', 'category="nowhere"')
    with pytest.raises(ConfigurationError, match="unknown category"):
        parse_taxonomy(bad, "t")


def _minimal() -> str:
    parts = ['version = "t1"']
    for section, extra in [
        ("category", ""),
        ("attack_type", 'category="safety"\n'),
        ("legal_reference", ""),
        ("target_kind", ""),
        ("perpetrator_type", ""),
        ("platform", ""),
        ("region", ""),
    ]:
        ident = "safety" if section == "category" else "x"
        parts.append(f'[[{section}]]\nid="{ident}"\n{extra}en="E"\nru="Р"\nkk="Қ"\n')
    return "\n".join(parts)
