"""The known-media registry: entries checked one by one, conflicts (duplicate ids, one picture
both original and fake) reported precisely and left out, stored entries never displaced, the
canonical document, and the matcher agreeing with a brute-force comparison."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qorgau.detect.media_hashes import MediaHash, hamming
from qorgau.detect.media_registry import (
    SAME_PICTURE,
    THRESHOLDS,
    KnownMedia,
    MediaRegistry,
    canonical_json,
    parse_media_registry,
)
from qorgau.errors import InvalidInput


def flip(h: str, bits: int, start: int = 0) -> str:
    """The hash string ``h`` with ``bits`` bits flipped, from bit ``start`` on."""
    algorithm, value = h.split(":")
    number = int(value, 16)
    for i in range(start, start + bits):
        number ^= 1 << i
    return f"{algorithm}:{number:0{len(value)}x}"


def random_hash(rnd: random.Random, algorithm: str = "phash") -> str:
    width = {"phash": 16, "dhash": 16, "pdq": 64}[algorithm]
    return f"{algorithm}:{rnd.getrandbits(width * 4):0{width}x}"


RND = random.Random(5)
PHOTO = random_hash(RND)
PHOTO_PDQ = random_hash(RND, "pdq")
FAKE = random_hash(RND)


def entry(entry_id: str, label: str, *hashes: str, **more: Any) -> dict[str, Any]:
    return {"id": entry_id, "label": label, "hashes": list(hashes), **more}


def test_a_valid_document_is_kept_whole_and_read_into_typed_entries() -> None:
    doc = {
        "items": [
            entry(
                "orda-photo-2025-03",
                "original",
                PHOTO,
                PHOTO_PDQ,
                title="Editor at the press conference",
                url="https://orda.kz/photo/123",
                date="2025-03-02",
                subjects=["Gulnara Bazhkenova"],
            ),
            entry("fake-resignation", "fake", FAKE, notes="debunked 2025-03-04"),
        ]
    }
    registry, problems = parse_media_registry(doc)
    assert problems == []
    photo = registry.get("orda-photo-2025-03")
    assert photo is not None and photo.date == date(2025, 3, 2)
    assert [str(h) for h in photo.hashes] == [PHOTO, PHOTO_PDQ]
    assert photo.subjects == ("Gulnara Bazhkenova",)
    assert len(registry) == 2


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ({"id": "x1", "hashes": [PHOTO]}, "label", "original' or 'fake"),
        (entry("x1", "original", PHOTO, url="ftp://example.org/a"), "url", "http(s)"),
        (entry("x1", "original", PHOTO, date="2 March"), "date", "YYYY-MM-DD"),
        (entry("x1", "original", "phash:12"), "hashes[0]", "16 hex digits"),
        (entry("x1", "original", PHOTO, "sha256:" + "a" * 64), "hashes[1]", "not a phash"),
        (entry("x1", "original"), "hashes", "non-empty"),
        (entry("x1", "original", PHOTO, lable="fake"), "lable", "no such field"),
        (entry("no spaces allowed", "fake", PHOTO), "id", "letters, digits"),
        ("just text", "entry", "object"),
    ],
)
def test_a_broken_entry_is_reported_precisely_and_the_rest_kept(
    bad: Any, field: str, words: str
) -> None:
    doc = {"items": [entry("good", "original", PHOTO), bad]}
    registry, problems = parse_media_registry(doc)
    assert [e.id for e in registry.entries] == ["good"]
    [problem] = problems
    assert (problem.index, problem.field) == (1, field)
    assert words in problem.reason
    assert str(problem).startswith("items[1]")


def test_duplicate_ids_are_left_out_on_both_sides() -> None:
    doc = {
        "items": [
            entry("same", "original", PHOTO),
            entry("other", "original", FAKE),
            entry("same", "original", flip(PHOTO, 20)),
        ]
    }
    registry, problems = parse_media_registry(doc)
    assert [e.id for e in registry.entries] == ["other"]
    assert [(p.index, p.field) for p in problems] == [(0, "id"), (2, "id")]
    assert "items[2]" in problems[0].reason and "items[0]" in problems[1].reason


@pytest.mark.parametrize("distance", [0, 2])
def test_one_picture_registered_as_original_and_as_fake_is_a_conflict(distance: int) -> None:
    doc = {
        "items": [
            entry("photo", "original", PHOTO),
            entry("unrelated", "fake", FAKE),
            entry("photo-as-fake", "fake", flip(PHOTO, distance)),
        ]
    }
    registry, problems = parse_media_registry(doc)
    assert [e.id for e in registry.entries] == ["unrelated"]
    assert [(p.index, p.entry_id, p.field) for p in problems] == [
        (0, "photo", "label"),
        (2, "photo-as-fake", "label"),
    ]
    assert f"fake 'photo-as-fake' (phash distance {distance})" in problems[0].reason
    assert "correct the label" in problems[1].reason


def test_a_fake_made_from_an_original_is_a_legitimate_pair() -> None:
    """A recaptioned copy differs by more than re-encoding: both entries stay."""
    doc = {"items": [entry("photo", "original", PHOTO), entry("recaption", "fake", flip(PHOTO, 8))]}
    registry, problems = parse_media_registry(doc)
    assert problems == [] and len(registry) == 2


def test_a_conflict_needs_every_shared_hash_to_agree() -> None:
    """A caption can leave pHash almost unchanged; dHash then tells the two pictures apart."""
    dhash = random_hash(random.Random(9), "dhash")
    doc = {
        "items": [
            entry("photo", "original", PHOTO, dhash),
            entry("captioned", "fake", flip(PHOTO, 2), flip(dhash, 12)),
            entry("recompressed", "fake", flip(PHOTO, 2), flip(dhash, 4)),
        ]
    }
    registry, problems = parse_media_registry(doc)
    assert [e.id for e in registry.entries] == ["captioned"]
    assert "phash distance 2, dhash distance 4" in problems[0].reason


def test_stored_entries_win_over_imported_ones() -> None:
    stored, _ = parse_media_registry({"items": [entry("photo", "original", PHOTO, title="A")]})
    incoming = {
        "items": [
            entry("photo", "original", FAKE, title="B"),
            entry("new-fake", "fake", flip(PHOTO, 1)),
            entry("fresh", "fake", FAKE),
        ]
    }
    merged, problems = parse_media_registry(incoming, existing=stored)
    assert [e.id for e in merged.entries] == ["photo", "fresh"]
    photo = merged.get("photo")
    assert photo is not None and photo.title == "A"
    assert [(p.index, p.field) for p in problems] == [(0, "id"), (1, "label")]
    assert "already registered" in problems[0].reason
    assert "original 'photo' (already registered, phash distance 1)" in problems[1].reason
    assert [e.id for e in stored.entries] == ["photo"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [([], "media"), ({"items": "x"}, "media.items"), ({"entries": []}, "media.entries")],
)
def test_a_document_that_is_not_a_registry_is_refused(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_media_registry(raw)
    assert refused.value.problems[0].field == field


def test_the_canonical_document_holds_only_kept_entries_and_reads_back_the_same() -> None:
    doc = {
        "items": [
            entry("b-photo", "original", PHOTO, url="https://example.kz/b", date="2025-01-05"),
            entry("broken", "original", "phash:zz"),
            entry("a-fake", "fake", FAKE, title="Фейк: заявление"),
        ]
    }
    registry, problems = parse_media_registry(doc)
    assert len(problems) == 1
    text = canonical_json(registry)
    assert [i["id"] for i in json.loads(text)["items"]] == ["a-fake", "b-photo"]
    assert "Фейк" in text and " " not in text.replace("Фейк: заявление", "")
    again, none = parse_media_registry(json.loads(text))
    assert none == [] and canonical_json(again) == text
    assert set(again.entries) == set(registry.entries)


def test_nearest_finds_hashes_within_the_threshold_closest_first() -> None:
    near, nearer, far = flip(PHOTO, 7), flip(PHOTO, 2, start=30), flip(PHOTO, 11)
    doc = {
        "items": [
            entry("near", "original", near),
            entry("nearer", "original", nearer),
            entry("far", "original", far),
        ]
    }
    registry, _ = parse_media_registry(doc)
    query = MediaHash("phash", bytes.fromhex(PHOTO.split(":")[1]))
    found = registry.nearest(query)
    assert [(m.entry.id, m.distance) for m in found] == [("nearer", 2), ("near", 7)]
    strict = registry.with_thresholds({"phash": 3})
    assert [m.entry.id for m in strict.nearest(query)] == ["nearer"]


def test_match_reports_every_shared_algorithm_and_tells_copies_from_edits() -> None:
    registry, _ = parse_media_registry(
        {"items": [entry("photo", "original", PHOTO, PHOTO_PDQ), entry("fake", "fake", FAKE)]}
    )
    copy = [_h(flip(PHOTO, 1)), _h(flip(PHOTO_PDQ, 25))]
    [found] = registry.match(copy)
    assert found.entry.id == "photo" and dict(found.distances) == {"phash": 1, "pdq": 25}
    assert found.same_picture  # resizing moves PDQ, not pHash: still the same picture
    edited = [_h(flip(PHOTO, 9)), _h(flip(PHOTO_PDQ, 40))]
    [found] = registry.match(edited)
    assert found.matched == ("phash",) and not found.same_picture
    assert registry.match([_h(flip(FAKE, 12))]) == []


def _h(text: str) -> MediaHash:
    algorithm, value = text.split(":")
    return MediaHash(algorithm, bytes.fromhex(value))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), algorithm=st.sampled_from(["phash", "dhash", "pdq"]))
def test_the_matcher_agrees_with_brute_force(seed: int, algorithm: str) -> None:
    rnd = random.Random(seed)
    query = random_hash(rnd, algorithm)
    threshold = THRESHOLDS[algorithm]
    hashes = [flip(query, rnd.randint(0, threshold * 2), rnd.randint(0, 10)) for _ in range(60)]
    hashes += [random_hash(rnd, algorithm) for _ in range(60)]
    entries = [KnownMedia(f"e{i}", "original", (_h(h),)) for i, h in enumerate(hashes)]
    registry = MediaRegistry(entries)
    q = _h(query)
    expected = sorted(
        (hamming(q, e.hashes[0]), e.id) for e in entries if hamming(q, e.hashes[0]) <= threshold
    )
    got = [(m.distance, m.entry.id) for m in registry.nearest(q, limit=1000)]
    assert sorted(got) == expected
    assert [d for d, _ in got] == sorted(d for d, _ in got)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_conflicts_agree_with_brute_force(seed: int) -> None:
    """Entries with any mix of algorithms, many of them variants of a few pictures."""
    rnd = random.Random(seed)
    bases = [{a: random_hash(rnd, a) for a in ("phash", "dhash", "pdq")} for _ in range(3)]
    items = []
    for i in range(30):
        base = rnd.choice(bases)
        algorithms = rnd.sample(["phash", "dhash", "pdq"], rnd.randint(1, 3))
        hashes = [
            flip(base[a], rnd.choice([0, 1, 2, 3, 5, 6, 9, 12]), rnd.randint(0, 8))
            for a in algorithms
        ]
        items.append(entry(f"e{i}", rnd.choice(["original", "fake"]), *hashes))
    _, problems = parse_media_registry({"items": items})
    parsed = [[_h(h) for h in item["hashes"]] for item in items]

    def same(a: list[MediaHash], b: list[MediaHash]) -> bool:
        best: dict[str, int] = {}
        for x in a:
            for y in b:
                if x.algorithm == y.algorithm:
                    best[x.algorithm] = min(best.get(x.algorithm, 999), hamming(x, y))
        small = {k: v for k, v in best.items() if k != "pdq"} or best
        return bool(best) and all(v <= SAME_PICTURE[k] for k, v in small.items())

    expected = {
        i
        for i in range(30)
        for j in range(30)
        if i != j and items[i]["label"] != items[j]["label"] and same(parsed[i], parsed[j])
    }
    assert {p.index for p in problems} == expected
