"""One file checked end to end: decoded, hashed, matched against the registry and its content
credentials verified, with a verdict a responder can read first."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from qorgau.detect.content_credentials import parse_trust_anchors
from qorgau.detect.media_check import describe_media_file
from qorgau.detect.media_hashes import UndecodableMedia, hash_image
from qorgau.detect.media_registry import parse_media_registry
from tests.unit.test_content_credentials import make_authority, picture, sign


def test_a_signed_copy_of_a_registered_original(tmp_path: Path) -> None:
    authority = make_authority("Test Newsroom")
    original = picture()
    registry, _ = parse_media_registry(
        {
            "items": [
                {
                    "id": "press-photo",
                    "label": "original",
                    "title": "Press conference",
                    "url": "https://example.kz/4512",
                    "date": "2025-03-01",
                    "hashes": list(hash_image(original).strings()),
                }
            ]
        }
    )
    path = tmp_path / "received.jpg"
    path.write_bytes(sign(original, authority))
    check = describe_media_file(path, registry, parse_trust_anchors(authority.ca_pem))
    assert check.kind == "image" and check.file == "received.jpg"
    assert check.credentials.state == "trusted"
    assert [m.entry.id for m in check.matches] == ["press-photo"]
    assert check.verdict.startswith(
        'This is the original "Press conference" published on 2025-03-01 at https://example.kz/4512'
    )
    assert check.hash_strings()[0] == f"sha256:{check.sha256}"
    assert check.picture is not None and str(check.picture.pdq) in check.hash_strings()
    assert check.to_json()["credentials"]["state"] == "trusted"


def test_an_unregistered_video_is_hashed_by_key_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            array = np.full((48, 64, 3), i * 40, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    registry, _ = parse_media_registry({"items": []})
    check = describe_media_file(path, registry)
    assert check.kind == "video" and check.picture is None and len(check.frames) >= 1
    assert check.matches == () and check.credentials.state == "none"
    assert check.verdict.startswith("No registered picture matches")


def test_an_undecodable_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "statement.png"
    out = io.BytesIO()
    Image.new("RGB", (50, 50)).save(out, "PNG")
    path.write_bytes(out.getvalue()[:60])
    registry, _ = parse_media_registry({"items": []})
    with pytest.raises(UndecodableMedia, match=r"statement\.png: is damaged"):
        describe_media_file(path, registry)


def test_a_mirrored_known_fake_is_still_recognised(tmp_path: Path) -> None:
    fake = Image.new("RGB", (120, 90), (200, 200, 200))
    draw = ImageDraw.Draw(fake)
    draw.rectangle([5, 5, 50, 80], fill=(160, 20, 20))
    draw.ellipse([70, 20, 110, 60], fill=(20, 20, 160))
    out = io.BytesIO()
    fake.save(out, "PNG")
    registry, _ = parse_media_registry(
        {
            "items": [
                {
                    "id": "fake-quote",
                    "label": "fake",
                    "title": "Fake quote",
                    "hashes": list(hash_image(out.getvalue()).strings()),
                }
            ]
        }
    )
    path = tmp_path / "flipped.png"
    ImageOps.mirror(fake).save(path)
    check = describe_media_file(path, registry)
    assert check.matches == ()
    assert [m.entry.id for m in check.mirrored] == ["fake-quote"]
    assert check.verdict.startswith("This is a mirrored (flipped left to right) copy of the known")
