"""The image-fakes detector on real hashes of drawn pictures: a known fake reposted (even
recompressed or resized) is reported under the fake's key; a cropped or recaptioned copy of a
known original is reported as possibly altered; the original itself, unrelated pictures and
digests of other kinds are not; malformed hashes are reported as failures."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from PIL import Image, ImageDraw

from qorgau.detect.detectors.image_fakes import DETECTOR, ImageFakesConfig
from qorgau.detect.media_hashes import hash_image
from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def drawing(seed: int) -> Image.Image:
    rnd = random.Random(seed)
    image = Image.new("RGB", (360, 270), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(9):
        x, y = rnd.randrange(360), rnd.randrange(270)
        box = [x, y, x + rnd.randint(30, 180), y + rnd.randint(30, 180)]
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


def with_caption(image: Image.Image, text: str) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle([0, 200, 360, 270], fill=(0, 0, 0))
    draw.text((12, 225), text, fill=(255, 255, 255))
    return out


def cropped(image: Image.Image, fraction: float = 0.06) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * fraction / 2), int(h * fraction / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def hashes_of(image: Image.Image, quality: int = 80) -> list[str]:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return list(hash_image(out.getvalue()).strings())


PHOTO = drawing(11)
FAKE = with_caption(PHOTO, "I resign and apologise. - the Editor")
UNRELATED = drawing(12)

MEDIA: dict[str, Any] = {
    "items": [
        {
            "id": "press-photo",
            "label": "original",
            "title": "Editor at the press conference",
            "url": "https://example.kz/news/4512",
            "date": "2025-03-01",
            "hashes": hashes_of(PHOTO, 95),
        },
        {
            "id": "fake-resignation",
            "label": "fake",
            "title": "Fake resignation statement",
            "url": "https://factcheck.example.kz/fake-resignation",
            "date": "2025-03-03",
            "notes": "caption added to the press photo",
            "hashes": hashes_of(FAKE, 95),
            "subjects": ["Editor Name"],
        },
    ]
}


def observation(n: int, hashes: list[str], platform: str = "telegram") -> Observation:
    return Observation(
        id=f"tg:{n}",
        source="telegram",
        platform=platform,
        time=T0 + timedelta(minutes=n),
        media_hashes=tuple(hashes),
    )


@pytest.fixture(scope="module")
def config() -> ImageFakesConfig:
    return DETECTOR.spec.parse_config({"media": MEDIA, "people": [], "registry": {}})


def test_a_reposted_fake_is_reported_under_the_fakes_key(config: ImageFakesConfig) -> None:
    assert config.registry_problems == ()
    small = FAKE.resize((180, 135))
    batch = [
        observation(1, hashes_of(FAKE, 60)),
        observation(2, [*hashes_of(small), "sha256:" + "c" * 64], platform="facebook"),
    ]
    result = DETECTOR.detect(batch, config, {})
    assert result.failures == ()
    [finding] = result.findings
    assert finding.key == "image-fake:fake-resignation"
    assert finding.severity == "high" and finding.attack_type == "deepfake"
    assert finding.observation_ids == ("tg:1", "tg:2")
    assert finding.subjects == ("Editor Name",)
    assert finding.at == T0 + timedelta(minutes=1)
    assert '"Fake resignation statement"' in finding.title
    assert "factcheck.example.kz" in finding.explanation
    assert finding.details["known"]["id"] == "fake-resignation"
    json.dumps(finding.to_json())


def test_an_altered_copy_of_an_original_names_where_and_when_it_was_published(
    config: ImageFakesConfig,
) -> None:
    altered = cropped(PHOTO)
    result = DETECTOR.detect([observation(3, hashes_of(altered))], config, {})
    [finding] = result.findings
    assert finding.key == "altered-original:press-photo"
    assert finding.severity == "medium"
    assert finding.explanation.startswith(
        "1 observation on telegram carries a picture close to, but not the same as, the "
        'original "Editor at the press conference" published on 2025-03-01 at '
        "https://example.kz/news/4512:"
    )
    [match] = finding.details["matches"]
    assert match["observation_id"] == "tg:3" and match["same_picture"] is False


def test_the_original_itself_unrelated_pictures_and_other_digests_are_not_reported(
    config: ImageFakesConfig,
) -> None:
    batch = [
        observation(4, hashes_of(PHOTO, 50)),  # the original, recompressed
        observation(5, hashes_of(PHOTO.resize((240, 180)))),  # the original, resized
        observation(6, hashes_of(UNRELATED)),
        observation(7, ["sha256:" + "a" * 64, "md5:" + "b" * 32]),
        observation(8, []),
    ]
    assert DETECTOR.detect(batch, config, {}).findings == ()


def test_a_malformed_hash_is_a_failure_and_the_others_still_count(
    config: ImageFakesConfig,
) -> None:
    ob = observation(9, ["pdq:not-hex", *hashes_of(FAKE)])
    result = DETECTOR.detect([ob], config, {})
    [failure] = result.failures
    assert failure.observation_id == "tg:9" and "pdq" in failure.error
    assert [f.key for f in result.findings] == ["image-fake:fake-resignation"]


def test_without_a_registry_nothing_is_reported() -> None:
    empty = DETECTOR.spec.parse_config({"people": []})
    assert DETECTOR.detect([observation(1, hashes_of(FAKE))], empty, {}).findings == ()


def test_conflicting_registry_entries_are_kept_aside_with_their_reasons() -> None:
    items = [*MEDIA["items"], {**MEDIA["items"][0], "id": "photo-as-fake", "label": "fake"}]
    parsed = DETECTOR.spec.parse_config({"media": {"items": items}})
    assert [p.entry_id for p in parsed.registry_problems] == ["press-photo", "photo-as-fake"]
    assert [e.id for e in parsed.registry.entries] == ["fake-resignation"]


def test_tighter_thresholds_are_applied(config: ImageFakesConfig) -> None:
    strict = DETECTOR.spec.parse_config({"media": MEDIA, "thresholds": {"phash": 0, "dhash": 0}})
    assert strict.registry.thresholds["phash"] == 0 and strict.registry.thresholds["pdq"] == 31
    altered = [observation(3, hashes_of(cropped(PHOTO, 0.1)))]
    [finding] = DETECTOR.detect(altered, config, {}).findings
    assert finding.key == "altered-original:press-photo"
    assert DETECTOR.detect(altered, strict, {}).findings == ()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"colour": 1}, "colour"),
        ({"thresholds": {"phash": 40}}, "thresholds.phash"),
        ({"thresholds": {"sha1": 3}}, "thresholds.sha1"),
        ({"thresholds": {"pdq": "31"}}, "thresholds.pdq"),
        ({"media": {"items": [], "extra": 1}}, "media.extra"),
        ({"people": [{"name": "Editor", "phones": "not a list"}]}, "people[0].phones"),
    ],
)
def test_bad_configuration_is_refused_by_parser_and_schema_alike(
    raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        DETECTOR.spec.parse_config(raw)
    assert field in str(refused.value)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, DETECTOR.spec.config_schema)


def test_the_schema_accepts_what_the_parser_accepts() -> None:
    jsonschema.Draft202012Validator.check_schema(DETECTOR.spec.config_schema)
    good = {"media": MEDIA, "thresholds": {"pdq": 24}, "people": [], "registry": {"x": []}}
    jsonschema.validate(good, DETECTOR.spec.config_schema)
    DETECTOR.spec.parse_config(good)
