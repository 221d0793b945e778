"""Look-alike domains and handles: own, imitation (with the technique) or unrelated."""

from __future__ import annotations

import pytest

from qorgau.detect.lookalike import (
    LookalikeIndex,
    build_index,
    domain_permutations,
    handle_permutations,
    host_of,
    host_parts,
    skeleton,
    social_handle,
)
from qorgau.detect.protected_registry import parse_registry

REGISTRY = {
    "entities": [
        {
            "id": "orda",
            "kind": "outlet",
            "name": "Orda.kz",
            "domains": ["orda.kz"],
            "accounts": {"telegram": ["ordakz"], "instagram": ["orda.kz"]},
        },
        {"id": "kursiv", "kind": "outlet", "name": "Kursiv", "domains": ["kz.kursiv.media"]},
        {"id": "tengri", "kind": "outlet", "name": "Tengrinews", "domains": ["tengrinews.kz"]},
        {
            "id": "editor",
            "kind": "person",
            "name": "Editor",
            "outlet": "orda",
            "accounts": {"telegram": ["gbazhkenova"]},
        },
    ]
}


@pytest.fixture(scope="module")
def index() -> LookalikeIndex:
    return build_index(parse_registry(REGISTRY).registry)


def test_skeleton_folds_confusables_and_digit_swaps() -> None:
    assert skeleton("0rda") == skeleton("оrda") == skeleton("ORDA") == skeleton("orda")
    assert skeleton("rnedia") == skeleton("media")
    assert skeleton("kursіv") == skeleton("kursiv") == skeleton("kurs1v")
    assert skeleton("vlast") != skeleton("vlask")


@pytest.mark.parametrize(
    ("seen", "technique"),
    [
        ("0rda.kz", "homoglyph"),
        ("https://orda-kz.com/news/1", "hyphenation"),
        ("orda.kz.example.ru", "subdomain_of_another"),
        ("ordakz.net", "hyphenation"),
        ("оrda.kz", "homoglyph"),  # Cyrillic о
        ("xn--rda-red.kz", "homoglyph"),  # the same, as it appears in a link
        ("or-da.kz", "hyphenation"),
        ("odra.kz", "typo"),
        ("orda.com.kz", "tld_swap"),
        ("orda.kz.com", "subdomain_of_another"),
        ("orda-news.kz", "combo"),
        ("tengrinevs.kz", "typo"),
        ("tengrinews.kz.secure-login.net", "subdomain_of_another"),
        ("kursiv.kz", "tld_swap"),
        ("orda.kz-news.ru", "hyphenation"),  # the dot moved into another domain's name
    ],
)
def test_issue_examples_and_each_technique_are_recognised(
    index: LookalikeIndex, seen: str, technique: str
) -> None:
    verdict = index.classify(seen)
    assert verdict.status == "lookalike", verdict
    assert verdict.techniques[0] == technique
    assert verdict.entity_id in {"orda", "kursiv", "tengri"}


def test_which_entity_is_imitated_is_named(index: LookalikeIndex) -> None:
    assert index.classify("0rda.kz").entity_id == "orda"
    assert index.classify("0rda.kz").target == "orda.kz"
    assert index.classify("kursiv-media.kz").entity_id == "kursiv"
    assert index.classify("tengrinews.com").techniques == ("tld_swap",)
    assert index.classify("orda-kz.com").techniques == ("hyphenation", "tld_swap")


@pytest.mark.parametrize(
    "own",
    [
        "kaz.orda.kz",
        "en.orda.kz",
        "https://www.orda.kz/2025/03/01/x",
        "ORDA.KZ",
        "kz.kursiv.media",
        "kursiv.media",  # same registrable domain as the listed kz.kursiv.media
    ],
)
def test_the_outlets_own_domains_and_subdomains_are_its_own(
    index: LookalikeIndex, own: str
) -> None:
    verdict = index.classify(own)
    assert verdict.status == "own"
    assert verdict.entity_id in {"orda", "kursiv"}


@pytest.mark.parametrize(
    "other",
    [
        "google.com",
        "vlast.kz",
        "horde.kz",
        "orca.com",
        "ordabasy.kz",
        "stat.gov.kz",
        "not a url",
        "",
    ],
)
def test_unrelated_domains_are_left_alone(index: LookalikeIndex, other: str) -> None:
    assert index.classify(other).status == "unrelated"


def test_a_short_name_only_counts_as_a_typo_under_its_own_tld(index: LookalikeIndex) -> None:
    assert index.classify("odra.kz").status == "lookalike"
    assert index.classify("odra.pl").status == "unrelated"  # a river, not an imitation


@pytest.mark.parametrize(
    ("handle", "platform", "technique"),
    [
        ("orda_kz", "telegram", "hyphenation"),
        ("0rdakz", "telegram", "homoglyph"),
        ("odrakz", "telegram", "typo"),
        ("ordakz_official", "telegram", "combo"),
        ("ordakz", "instagram", "unverified_copy"),
        ("gbazhkenovа", "telegram", "homoglyph"),  # Cyrillic а at the end
    ],
)
def test_lookalike_handles(
    index: LookalikeIndex, handle: str, platform: str, technique: str
) -> None:
    verdict = index.classify_handle(handle, platform)
    assert verdict.status == "lookalike"
    assert technique in verdict.techniques or verdict.techniques[0] == technique


def test_verified_handles_are_own_and_unlisted_platforms_are_not_judged(
    index: LookalikeIndex,
) -> None:
    assert index.classify_handle("@OrdaKZ", "telegram").status == "own"
    assert index.classify_handle("orda.kz", "instagram").status == "own"
    # Orda lists no account on x: an "ordakz" there may be its own, unlisted.
    assert index.classify_handle("ordakz", "x").status == "unrelated"
    assert index.classify_handle("someone_else", "telegram").status == "unrelated"


def test_links_to_account_pages_are_judged_as_accounts(index: LookalikeIndex) -> None:
    assert social_handle("https://t.me/ordakz_news") == ("telegram", "ordakz_news")
    assert social_handle("tiktok.com/@orda.kz") == ("tiktok", "orda.kz")
    assert social_handle("https://t.me/share/url?x=1") is None
    verdict = index.classify("https://t.me/0rdakz")
    assert (verdict.kind, verdict.platform, verdict.status) == ("account", "telegram", "lookalike")
    assert index.classify("https://t.me/ordakz").status == "own"


def test_keys_are_stable_per_imitation(index: LookalikeIndex) -> None:
    assert index.classify("https://0rda.kz/a").key == index.classify("news.0rda.kz").key
    assert index.classify("orda.kz.example.ru").key != index.classify("vlast.kz.example.ru").key
    assert index.classify_handle("orda_kz", "telegram").key == "account:telegram:orda_kz"


def test_host_parsing_is_offline_and_knows_multi_label_suffixes() -> None:
    assert host_parts("orda.com.kz").registrable == "orda.com.kz"
    assert host_parts("kz.kursiv.media").registrable == "kursiv.media"
    assert host_of("HTTPS://WWW.Orda.KZ:443/path") == "orda.kz"
    assert host_of("xn--rda-red.kz") == "оrda.kz"


def test_generated_domain_permutations_are_all_caught_with_their_technique(
    index: LookalikeIndex,
) -> None:
    generated = domain_permutations("orda.kz")
    techniques = set(generated.values())
    assert {"homoglyph", "typo", "hyphenation", "tld_swap", "subdomain_of_another"} <= techniques
    assert {"0rda.kz", "orda-kz.com", "ordakz.net", "orda.kz.example.ru"} <= set(generated)
    assert "orda.kz" not in generated
    missed = [d for d in generated if index.classify(d).status != "lookalike"]
    assert missed == []
    agree = sum(index.classify(d).techniques[0] == t for d, t in generated.items())
    assert agree / len(generated) > 0.9


def test_generated_handle_permutations_are_caught(index: LookalikeIndex) -> None:
    generated = handle_permutations("ordakz")
    assert {"0rdakz", "orda_kz", "ordakz_official"} <= set(generated)
    missed = [h for h in generated if index.classify_handle(h, "telegram").status != "lookalike"]
    assert missed == []
