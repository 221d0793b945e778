"""Image fakes: known fakes circulating again, and altered copies of known originals.

In the cases this is built for, doctored "statements" (a screenshot with a fake caption, a
photo recoloured or cropped, a deepfake still) were spread in the names of an editor and of
officials. The responder's two fastest answers are "this is the fake already debunked" and
"this is a doctored copy of the original published on <date> at <url>"; both need the picture
matched against the organisation's registry of known media (``qorgau.detect.media_registry``)
by perceptual hash, which survives the recompression and resizing every platform applies.

Each observation is decided by the registered picture nearest to it: a fake (severity high), or
an original that is close but not the same picture (an altered copy, severity medium). An
observation that is the same picture as an original (only re-encoded) is the original itself
and is not reported. One finding per registered picture and batch, keyed by its id, so every
repost of one fake grows one incident."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.media_hashes import ALGORITHMS, known_hashes
from qorgau.detect.media_registry import (
    MAX_THRESHOLDS,
    MEDIA_SCHEMA,
    THRESHOLDS,
    EntryMatch,
    KnownMedia,
    MediaRegistry,
    RegistryProblem,
    parse_media_registry,
)
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.watchlist import PEOPLE_SCHEMA, parse_people
from qorgau.errors import InvalidInput

NAME = "image_fakes"
ATTACK_TYPE = "deepfake"

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "people": PEOPLE_SCHEMA,
        "registry": {"description": "the protected-entity registry; not read by this detector"},
        "media": MEDIA_SCHEMA,
        "thresholds": {
            "type": "object",
            "additionalProperties": False,
            "description": "largest Hamming distance still counted as a match, per algorithm",
            "properties": {
                a: {"type": "integer", "minimum": 0, "maximum": MAX_THRESHOLDS[a]}
                for a in ALGORITHMS
            },
        },
    },
}


@dataclass(frozen=True)
class ImageFakesConfig:
    registry: MediaRegistry
    # Entries of the configured registry that were left out, kept so the desk can show them.
    registry_problems: tuple[RegistryProblem, ...] = ()


def parse_config(raw: Mapping[str, Any]) -> ImageFakesConfig:
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("config", "type", "the configuration is an object")
    unknown = sorted(set(raw) - set(CONFIG_SCHEMA["properties"]))
    if unknown:
        raise InvalidInput.single(
            unknown[0], "unknown", "no such setting", tuple(CONFIG_SCHEMA["properties"])
        )
    if "people" in raw:
        parse_people(raw["people"])  # not used here, but a broken watchlist is still refused
    thresholds = _thresholds(raw.get("thresholds", {}))
    media = raw.get("media", {"items": []})
    registry, problems = _registry(
        json.dumps(media, sort_keys=True, default=str), tuple(sorted(thresholds.items()))
    )
    return ImageFakesConfig(registry, problems)


def _thresholds(raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("thresholds", "type", "thresholds is an object per algorithm")
    out = dict(THRESHOLDS)
    for algorithm, value in raw.items():
        where = f"thresholds.{algorithm}"
        if algorithm not in ALGORITHMS:
            raise InvalidInput.single(where, "unknown", "no such hash algorithm", ALGORITHMS)
        limit = MAX_THRESHOLDS[algorithm]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise InvalidInput.single(
                where, "range", f"give a whole number of bits from 0 to {limit}"
            )
        out[algorithm] = value
    return out


@lru_cache(maxsize=4)
def _registry(
    media_json: str, thresholds: tuple[tuple[str, int], ...]
) -> tuple[MediaRegistry, tuple[RegistryProblem, ...]]:
    """Parsed once per registry content: the desk parses the configuration at every batch, and
    a registry of 100 000 hashes takes a moment to check for conflicts."""
    registry, problems = parse_media_registry(json.loads(media_json), thresholds=dict(thresholds))
    return registry, tuple(problems)


@dataclass
class _Group:
    entry: KnownMedia
    hits: list[tuple[Observation, EntryMatch]]


class ImageFakes:
    spec: DetectorSpec[ImageFakesConfig] = DetectorSpec(
        name=NAME,
        help=(
            "Matches the perceptual hashes of pictures and video frames in observations against "
            "the registry of known media: reports known fakes circulating again and copies of "
            "known originals that were cropped, recoloured or recaptioned."
        ),
        attack_types=(ATTACK_TYPE,),
        config_schema=CONFIG_SCHEMA,
        parse_config=parse_config,
        partition_key=None,
    )

    def detect(
        self, batch: Sequence[Observation], config: ImageFakesConfig, state: State
    ) -> BatchResult:
        failures: list[DetectorFailure] = []
        groups: dict[tuple[str, str], _Group] = {}
        if not len(config.registry):
            return BatchResult()
        for ob in batch:
            hashes, broken = known_hashes(ob.media_hashes)
            if broken:
                failures.append(DetectorFailure(NAME, ob.id, "; ".join(broken)))
            if not hashes:
                continue
            matches = config.registry.match(hashes)
            if not matches:
                continue
            nearest = matches[0]
            if nearest.entry.label == "original" and nearest.same_picture:
                continue  # the original itself, re-encoded
            kind = "fake" if nearest.entry.label == "fake" else "altered"
            group = groups.setdefault((kind, nearest.entry.id), _Group(nearest.entry, []))
            group.hits.append((ob, nearest))
        findings = tuple(_finding(kind, group) for (kind, _), group in groups.items())
        return BatchResult(findings, tuple(failures))


def _finding(kind: str, group: _Group) -> Finding:
    entry = group.entry
    obs = [ob for ob, _ in group.hits]
    n = len(obs)
    where = f"{n} observation{'s' if n != 1 else ''}"
    carry = "carries" if n == 1 else "carry"
    platforms = sorted({ob.platform for ob in obs})
    name = f'"{entry.title}"' if entry.title else f"registered as {entry.id}"
    published = _published(entry)
    copies = sum(1 for _, m in group.hits if m.same_picture)
    if kind == "fake":
        key = f"image-fake:{entry.id}"
        title = f"Known fake picture {name} circulating again in {where}"
        lines = [
            f"{where.capitalize()} on {_join(platforms)} {carry} a picture matching the known fake "
            f"{name}{_edited_note(copies, n)}.",
        ]
        if published:
            lines.append(f"It was recorded as a fake {published}.")
        if entry.notes:
            lines.append(f"Notes: {entry.notes}")
        lines.append("Point to the existing debunk and ask the platforms to label or remove it.")
        severity = "high"
    else:
        key = f"altered-original:{entry.id}"
        title = f"Possibly altered copy of the original {name} in {where}"
        lines = [
            f"{where.capitalize()} on {_join(platforms)} {carry} a picture close to, but not the "
            f"same as, the original {name}"
            + (f" {published}" if published else "")
            + ": likely a crop, recolour, changed caption or other edit.",
            "Compare it with the original before answering; if the change alters the meaning, "
            "publish the original side by side.",
        ]
        severity = "medium"
    return Finding(
        detector=NAME,
        key=key,
        title=title,
        explanation=" ".join(lines),
        attack_type=ATTACK_TYPE,
        observation_ids=tuple(ob.id for ob in obs),
        subjects=entry.subjects,
        severity=severity,
        at=min(ob.time for ob in obs),
        details={
            "known": entry.to_json(),
            "platforms": platforms,
            "matches": [
                {
                    "observation_id": ob.id,
                    "distances": dict(m.distances),
                    "same_picture": m.same_picture,
                }
                for ob, m in group.hits
            ],
        },
    )


def _edited_note(copies: int, n: int) -> str:
    if copies == n:
        return ""
    return f" ({n - copies} of them edited further)"


def _published(entry: KnownMedia) -> str:
    parts = []
    if entry.date:
        parts.append(f"on {entry.date.isoformat()}")
    if entry.url:
        parts.append(f"at {entry.url}")
    if not parts:
        return ""
    return ("published " if entry.label == "original" else "") + " ".join(parts)


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


DETECTOR = ImageFakes()
