"""The organisation's registry of known media: originals it can point to, fakes already debunked.

When a doctored "statement" in an editor's name circulates, the responder needs two answers
fast: "this is a crop of the photo published on <date> at <url>" or "this is the fake we
debunked last week". Both need a list of pictures whose perceptual hashes are known, labelled
``original`` or ``fake``, with where and when each was published.

A registry is only useful if it cannot contradict itself: a picture listed both as an original
and as a fake would make every match wrong one way or the other. So entries whose hashes are the
same picture (within ``SAME_PICTURE`` bits) under opposite labels, and entries sharing an id,
are reported and left out, and the rest is kept. A fake made *from* an original (a recaption,
a crop) is usually further apart than that and is a legitimate pair of entries.

Lookups compare a hash with every stored hash at once (XOR and popcount over packed 64-bit
words with numpy), which for 100 000 hashes takes about a millisecond: simpler and faster in
Python than a BK-tree, whose pruning is weak at the distances used here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from qorgau.detect.media_hashes import ALGORITHMS, BITS, MediaHash, parse_hash
from qorgau.errors import InvalidInput

LABELS = ("original", "fake")

# Largest Hamming distance still counted as the same picture, edited.
# PDQ: 31 of 256 bits is the threshold its authors publish for matching, with a false-match
# rate around one in a hundred million on unrelated photos. pHash and dHash (64 bits): 10 keeps
# crops of a few percent, recompression and recolouring while unrelated pictures, which differ
# by about 32 bits on average, almost never come that close. benchmarks/media_hashes.py
# measures both rates per edit.
THRESHOLDS: Mapping[str, int] = MappingProxyType({"phash": 10, "dhash": 10, "pdq": 31})
# Largest distance at which two hashes are the same picture, only re-encoded (recompressed,
# resized): the tolerance that separates "a copy of the original" from "an altered copy", and
# the distance at which an original and a fake in the registry contradict each other.
# Measured (benchmarks/media_hashes.py): JPEG quality 55 moves pHash by 0-2 bits and dHash by
# 0-5; halving the size moves them by 0-2; a caption or a 5 % crop moves pHash by 2-26.
SAME_PICTURE: Mapping[str, int] = MappingProxyType({"phash": 2, "dhash": 5, "pdq": 10})
# Upper bounds on configurable thresholds: beyond these, unrelated pictures start to match.
MAX_THRESHOLDS: Mapping[str, int] = MappingProxyType({"phash": 16, "dhash": 16, "pdq": 70})

_FIELDS = ("id", "label", "title", "url", "date", "notes", "hashes", "subjects")
_ID = re.compile(r"^[\w.:-]{1,120}$")

MEDIA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items"],
    "additionalProperties": False,
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "label", "hashes"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": _ID.pattern},
                    "label": {"enum": list(LABELS)},
                    "title": {"type": "string"},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "date": {"type": "string", "format": "date"},
                    "notes": {"type": "string"},
                    "hashes": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "pattern": "^(phash|dhash|pdq):[0-9a-fA-F]+$"},
                    },
                    "subjects": {"type": "array", "items": {"type": "string", "minLength": 1}},
                },
            },
        }
    },
}


@dataclass(frozen=True)
class KnownMedia:
    """One registered picture. ``subjects`` are the protected people it concerns (the editor
    in whose name a fake statement was made), so findings can name them."""

    id: str
    label: str
    hashes: tuple[MediaHash, ...]
    title: str = ""
    url: str | None = None
    date: date | None = None
    notes: str = ""
    subjects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "hashes": [str(h) for h in self.hashes],
        }
        if self.title:
            out["title"] = self.title
        if self.url:
            out["url"] = self.url
        if self.date:
            out["date"] = self.date.isoformat()
        if self.notes:
            out["notes"] = self.notes
        if self.subjects:
            out["subjects"] = list(self.subjects)
        return out


@dataclass(frozen=True)
class RegistryProblem:
    """Why one entry was left out: its position, its id if it had one, the field at fault."""

    index: int
    entry_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        who = f"items[{self.index}]" + (f" (id {self.entry_id!r})" if self.entry_id else "")
        return f"{who}, {self.field}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.entry_id,
            "field": self.field,
            "reason": self.reason,
        }


def is_same_picture(distances: Mapping[str, int]) -> bool:
    """Whether best distances per algorithm say "the same picture, only re-encoded".

    Decided by the 64-bit hashes where both sides have them: recompression and resizing
    leave pHash and dHash within a few bits, while PDQ moves by up to about 30 bits when a
    picture is halved in size, which would make every resized repost look "altered". PDQ
    decides only for pictures hashed with PDQ alone."""
    small = {a: d for a, d in distances.items() if a != "pdq"}
    return all(d <= SAME_PICTURE[a] for a, d in (small or distances).items())


@dataclass(frozen=True)
class HashMatch:
    """One stored hash within the threshold of a queried hash."""

    entry: KnownMedia
    algorithm: str
    distance: int


@dataclass(frozen=True)
class EntryMatch:
    """A registered picture that matches, with the best distance per algorithm that matched."""

    entry: KnownMedia
    distances: Mapping[str, int]  # best distance per algorithm both sides have, matched or not
    thresholds: Mapping[str, int]

    @property
    def same_picture(self) -> bool:
        """Whether it is the registered picture itself, only re-encoded, rather than an edit."""
        return is_same_picture(self.distances)

    @property
    def closeness(self) -> float:
        """0 for identical, 1 at the threshold: comparable across algorithms."""
        return min(d / max(self.thresholds[a], 1) for a, d in self.distances.items())

    @property
    def overall(self) -> float:
        """The mean of the same ratios over every shared algorithm: breaks ties in closeness,
        so a picture matching at the threshold on one hash but far on the others ranks after
        one that is near on all of them."""
        ratios = [d / max(self.thresholds[a], 1) for a, d in self.distances.items()]
        return sum(ratios) / len(ratios)

    @property
    def matched(self) -> tuple[str, ...]:
        """The algorithms whose distance is within their threshold."""
        return tuple(a for a, d in self.distances.items() if d <= self.thresholds[a])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.entry.id,
            "label": self.entry.label,
            "title": self.entry.title,
            "url": self.entry.url,
            "date": None if self.entry.date is None else self.entry.date.isoformat(),
            "distances": dict(self.distances),
            "matched": list(self.matched),
            "same_picture": self.same_picture,
        }


@dataclass
class _Index:
    """All stored hashes of one algorithm as rows of 64-bit words, and whose each row is."""

    words: npt.NDArray[np.uint64]
    owners: npt.NDArray[np.int64]


class MediaRegistry:
    """Known media and the matcher over their hashes. Immutable once built."""

    def __init__(
        self, entries: Iterable[KnownMedia], thresholds: Mapping[str, int] = THRESHOLDS
    ) -> None:
        self.entries: tuple[KnownMedia, ...] = tuple(entries)
        self.thresholds: Mapping[str, int] = MappingProxyType({**THRESHOLDS, **thresholds})
        self._by_id = {e.id: e for e in self.entries}
        self._index = {a: _build_index(self.entries, a) for a in ALGORITHMS}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> KnownMedia | None:
        return self._by_id.get(entry_id)

    def with_thresholds(self, thresholds: Mapping[str, int]) -> MediaRegistry:
        return MediaRegistry(self.entries, thresholds)

    def nearest(self, query: MediaHash, limit: int = 10) -> list[HashMatch]:
        """Stored hashes within the threshold of ``query``, closest first (at most one per
        entry, at most ``limit``)."""
        index = self._index[query.algorithm]
        if not len(index.owners):
            return []
        distances = _distances(index.words, query)
        within = np.flatnonzero(distances <= self.thresholds[query.algorithm])
        order = within[np.argsort(distances[within], kind="stable")]
        out: list[HashMatch] = []
        seen: set[int] = set()
        for row in order:
            owner = int(index.owners[row])
            if owner in seen:
                continue
            seen.add(owner)
            out.append(HashMatch(self.entries[owner], query.algorithm, int(distances[row])))
            if len(out) >= limit:
                break
        return out

    def match(self, hashes: Sequence[MediaHash], limit: int = 10) -> list[EntryMatch]:
        """Registered pictures matching any of ``hashes`` (several pictures' hashes may be
        given, e.g. a video's key frames), closest first."""
        matched: dict[str, KnownMedia] = {}
        for query in hashes:
            for hit in self.nearest(query, limit):
                matched.setdefault(hit.entry.id, hit.entry)
        matches = [
            EntryMatch(entry, MappingProxyType(_best_distances(entry, hashes)), self.thresholds)
            for entry in matched.values()
        ]
        matches.sort(key=lambda m: (m.closeness, m.overall, m.entry.id))
        return matches[:limit]

    def to_json(self) -> dict[str, Any]:
        """The kept entries as a registry document, ordered by id."""
        return {"items": [e.to_json() for e in sorted(self.entries, key=lambda e: e.id)]}


def _best_distances(entry: KnownMedia, hashes: Sequence[MediaHash]) -> dict[str, int]:
    best: dict[str, int] = {}
    for stored in entry.hashes:
        for query in hashes:
            if query.algorithm == stored.algorithm:
                d = stored.distance(query)
                if d < best.get(stored.algorithm, d + 1):
                    best[stored.algorithm] = d
    return best


def canonical_json(registry: MediaRegistry) -> str:
    """The kept document as canonical JSON (sorted keys, no spaces), so a store keeps only the
    valid entries and the same registry always serialises, and hashes, the same."""
    return json.dumps(registry.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _build_index(entries: Sequence[KnownMedia], algorithm: str) -> _Index:
    rows: list[bytes] = []
    owners: list[int] = []
    for position, entry in enumerate(entries):
        for h in entry.hashes:
            if h.algorithm == algorithm:
                rows.append(h.value)
                owners.append(position)
    width = BITS[algorithm] // 64
    words = np.frombuffer(b"".join(rows), dtype=">u8").astype(np.uint64).reshape(-1, width)
    return _Index(words, np.asarray(owners, dtype=np.int64))


def _distances(words: npt.NDArray[np.uint64], query: MediaHash) -> npt.NDArray[np.int64]:
    q = np.frombuffer(query.value, dtype=">u8").astype(np.uint64)
    differing = np.bitwise_xor(words, q)
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.asarray(np.bitwise_count(differing).sum(axis=1, dtype=np.int64))
    as_bytes = differing.view(np.uint8).reshape(len(differing), -1)
    return np.asarray(_BYTE_POPCOUNT[as_bytes].sum(axis=1, dtype=np.int64))


# Bits set in each byte value, for numpy versions without a popcount.
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def parse_media_registry(
    raw: Any,
    existing: MediaRegistry | None = None,
    field_name: str = "media",
    thresholds: Mapping[str, int] | None = None,
) -> tuple[MediaRegistry, list[RegistryProblem]]:
    """The entries of a registry document that can be used, and a problem for every one that
    cannot. A document that is not a registry at all raises InvalidInput.

    With ``existing`` (what a store already holds), entries that conflict with stored ones are
    the ones left out: importing a file never changes what was already registered."""
    if not isinstance(raw, Mapping):
        raise InvalidInput.single(field_name, "type", 'give an object with an "items" list')
    unknown = sorted(set(raw) - {"items"})
    if unknown:
        raise InvalidInput.single(
            f"{field_name}.{unknown[0]}", "unknown", "no such key; entries go under items"
        )
    items = raw.get("items", [])
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise InvalidInput.single(f"{field_name}.items", "type", "items is a list of entries")
    problems: list[RegistryProblem] = []
    candidates: list[tuple[int, KnownMedia]] = []
    for index, item in enumerate(items):
        parsed = _parse_entry(index, item)
        if isinstance(parsed, RegistryProblem):
            problems.append(parsed)
        else:
            candidates.append((index, parsed))
    old = existing.entries if existing is not None else ()
    rejected = _duplicate_ids(candidates, {e.id for e in old})
    rejected.update(_label_conflicts([c for c in candidates if c[0] not in rejected], old))
    problems.extend(rejected.values())
    problems.sort(key=lambda p: p.index)
    kept = [entry for index, entry in candidates if index not in rejected]
    if thresholds is None:
        thresholds = existing.thresholds if existing is not None else THRESHOLDS
    return MediaRegistry((*old, *kept), thresholds), problems


def _parse_entry(index: int, item: Any) -> KnownMedia | RegistryProblem:
    if not isinstance(item, Mapping):
        return RegistryProblem(index, None, "entry", "each entry is an object")
    raw_id = item.get("id")
    entry_id = raw_id.strip() if isinstance(raw_id, str) else None

    def problem(field_name: str, reason: str) -> RegistryProblem:
        return RegistryProblem(index, entry_id or None, field_name, reason)

    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        return problem(unknown[0], f"no such field; the fields are {', '.join(_FIELDS)}")
    if not entry_id or not _ID.match(entry_id):
        return problem("id", "give an id of 1-120 letters, digits, '.', ':', '_' or '-'")
    label = item.get("label")
    if label not in LABELS:
        return problem("label", f"label is 'original' or 'fake', not {label!r}")
    texts = {}
    for name in ("title", "notes", "url"):
        value = item.get(name, "")
        if not isinstance(value, str):
            return problem(name, f"{name} is text")
        texts[name] = value.strip()
    url = texts["url"] or None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return problem("url", f"{url!r} is not an http(s) address")
    published: date | None = None
    if item.get("date") is not None:
        try:
            published = date.fromisoformat(str(item["date"]))
        except ValueError:
            return problem("date", f"{item['date']!r} is not a date; write YYYY-MM-DD")
    raw_hashes = item.get("hashes")
    if not isinstance(raw_hashes, Sequence) or isinstance(raw_hashes, str) or not raw_hashes:
        return problem("hashes", "give a non-empty list such as ['pdq:<64 hex digits>']")
    hashes: list[MediaHash] = []
    for position, text in enumerate(raw_hashes):
        where = f"hashes[{position}]"
        if not isinstance(text, str):
            return problem(where, "each hash is text such as 'phash:<16 hex digits>'")
        try:
            parsed = parse_hash(text, where)
        except InvalidInput as bad:
            return problem(where, bad.problems[0].message)
        if parsed is None:
            return problem(where, f"{text!r} is not a phash:, dhash: or pdq: hash")
        if parsed not in hashes:
            hashes.append(parsed)
    subjects = item.get("subjects", [])
    if (
        not isinstance(subjects, Sequence)
        or isinstance(subjects, str)
        or not all(isinstance(s, str) and s.strip() for s in subjects)
    ):
        return problem("subjects", "subjects is a list of names")
    return KnownMedia(
        id=entry_id,
        label=str(label),
        hashes=tuple(hashes),
        title=texts["title"],
        url=url,
        date=published,
        notes=texts["notes"],
        subjects=tuple(s.strip() for s in subjects),
    )


def _duplicate_ids(
    candidates: Sequence[tuple[int, KnownMedia]], stored_ids: set[str]
) -> dict[int, RegistryProblem]:
    """Every entry whose id is already stored, or repeated in the document: with two entries
    under one id there is no telling which is meant, so neither is kept."""
    positions: dict[str, list[int]] = {}
    for index, entry in candidates:
        positions.setdefault(entry.id, []).append(index)
    out: dict[int, RegistryProblem] = {}
    for index, entry in candidates:
        if entry.id in stored_ids:
            out[index] = RegistryProblem(
                index, entry.id, "id", "an entry with this id is already registered"
            )
        elif len(positions[entry.id]) > 1:
            others = ", ".join(f"items[{i}]" for i in positions[entry.id] if i != index)
            out[index] = RegistryProblem(
                index, entry.id, "id", f"the same id is used by {others}; give each entry its own"
            )
    return out


@dataclass
class _Buckets:
    """Pigeonhole index for near-same hashes: two hashes within distance d agree exactly on at
    least one of d + 1 disjoint slices, so only hashes sharing a slice need comparing."""

    slices: list[tuple[int, int]]
    table: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    @classmethod
    def for_algorithm(cls, algorithm: str) -> _Buckets:
        n = SAME_PICTURE[algorithm] + 1
        bounds = [round(i * BITS[algorithm] / n) for i in range(n + 1)]
        return cls([(bounds[i], bounds[i + 1]) for i in range(n)])

    def keys(self, h: MediaHash) -> list[tuple[int, int]]:
        value = int.from_bytes(h.value, "big")
        return [
            (i, (value >> lo) & ((1 << (hi - lo)) - 1)) for i, (lo, hi) in enumerate(self.slices)
        ]

    def add(self, h: MediaHash, position: int) -> None:
        for key in self.keys(h):
            self.table.setdefault(key, []).append(position)

    def near(self, h: MediaHash) -> set[int]:
        return {p for key in self.keys(h) for p in self.table.get(key, ())}


class _ConflictIndex:
    """Finds the earlier entries that could be the same picture as a new one, looking only
    where ``is_same_picture`` decides: pairs sharing a pHash are decided by it (so dHash is
    consulted only against entries without one, whose short slices would otherwise bring
    thousands of candidates), pairs sharing neither 64-bit hash by PDQ."""

    def __init__(self) -> None:
        self.phash = _Buckets.for_algorithm("phash")
        self.dhash = _Buckets.for_algorithm("dhash")
        self.dhash_without_phash = _Buckets.for_algorithm("dhash")
        self.pdq = _Buckets.for_algorithm("pdq")

    def candidates(self, entry: KnownMedia) -> set[int]:
        has_phash = any(h.algorithm == "phash" for h in entry.hashes)
        found: set[int] = set()
        for h in entry.hashes:
            if h.algorithm == "phash":
                found |= self.phash.near(h)
            elif h.algorithm == "dhash":
                found |= (self.dhash_without_phash if has_phash else self.dhash).near(h)
            else:
                found |= self.pdq.near(h)
        return found

    def add(self, entry: KnownMedia, position: int) -> None:
        has_phash = any(h.algorithm == "phash" for h in entry.hashes)
        for h in entry.hashes:
            if h.algorithm == "phash":
                self.phash.add(h, position)
            elif h.algorithm == "dhash":
                self.dhash.add(h, position)
                if not has_phash:
                    self.dhash_without_phash.add(h, position)
            else:
                self.pdq.add(h, position)


def _label_conflicts(
    candidates: Sequence[tuple[int, KnownMedia]], stored: Sequence[KnownMedia]
) -> dict[int, RegistryProblem]:
    """Entries with opposite labels that are the same picture (by the rule ``same_picture``
    applies to matches). Between two new entries both are left out (either label could be the
    mistake); against a stored entry, the new one."""
    everyone: list[tuple[int | None, KnownMedia]] = [(None, e) for e in stored]
    everyone.extend(candidates)
    index = _ConflictIndex()
    conflicts: dict[int, dict[int, Mapping[str, int]]] = {}
    for position, (_, entry) in enumerate(everyone):
        nearby = index.candidates(entry)
        index.add(entry, position)
        for other_position in sorted(nearby - {position}):
            other = everyone[other_position][1]
            if other.label == entry.label:
                continue
            distances = _best_distances(other, entry.hashes)
            if distances and is_same_picture(distances):
                conflicts.setdefault(position, {})[other_position] = distances
                conflicts.setdefault(other_position, {})[position] = distances
    out: dict[int, RegistryProblem] = {}
    for position, found in conflicts.items():
        index_in_doc, entry = everyone[position]
        if index_in_doc is None:
            continue  # stored entries stay; the new entries that contradict them go
        described = "; ".join(
            f"{everyone[p][1].label} {everyone[p][1].id!r} "
            f"({'already registered, ' if everyone[p][0] is None else ''}"
            + ", ".join(f"{a} distance {distances[a]}" for a in ALGORITHMS if a in distances)
            + ")"
            for p, distances in sorted(found.items())
        )
        out[index_in_doc] = RegistryProblem(
            index_in_doc,
            entry.id,
            "label",
            f"the same picture is registered as {described}; a picture cannot be both an "
            "original and a fake: correct the label of one and import again",
        )
    return out
