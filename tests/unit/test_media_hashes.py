"""Perceptual hashes: string form, distances, robustness to re-encoding, refusal of files that
do not decode or are too large, and video key frames matching the frames they were made from."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from qorgau.detect.media_hashes import (
    MAX_PIXELS,
    MediaHash,
    UndecodableMedia,
    hamming,
    hash_image,
    hash_picture,
    hash_video,
    is_video,
    known_hashes,
    parse_hash,
)
from qorgau.detect.media_registry import THRESHOLDS
from qorgau.errors import InvalidInput


def drawing(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    rnd = random.Random(seed)
    image = Image.new("RGB", size, tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    w, h = size
    for _ in range(8):
        x, y = rnd.randrange(w), rnd.randrange(h)
        box = [x, y, x + rnd.randint(30, 160), y + rnd.randint(30, 160)]
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_the_string_form_round_trips_and_unknown_forms_are_left_alone() -> None:
    hashes = hash_image(encoded(drawing(1)))
    for h in hashes.all():
        assert parse_hash(str(h)) == h
        assert str(h).startswith(f"{h.algorithm}:")
    assert len(str(hashes.pdq)) == len("pdq:") + 64
    assert parse_hash("sha256:" + "ab" * 32) is None
    assert parse_hash("d41d8cd98f00b204e9800998ecf8427e") is None
    assert parse_hash("PHASH:" + str(hashes.phash)[6:].upper()) == hashes.phash


@pytest.mark.parametrize("text", ["phash:123", "pdq:" + "zz" * 32, "dhash:" + "0" * 17])
def test_a_known_prefix_with_a_broken_value_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="hex digits"):
        parse_hash(text)
    good, broken = known_hashes([text, "sha1:abc", "phash:" + "f" * 16])
    assert [str(h) for h in good] == ["phash:" + "f" * 16]
    assert len(broken) == 1 and text in broken[0]


def test_hamming_counts_differing_bits_within_one_algorithm() -> None:
    a = MediaHash("phash", bytes(8))
    b = MediaHash("phash", bytes([0b1010_0000, 0, 0, 0, 0, 0, 0, 1]))
    assert hamming(a, b) == 3 == b.distance(a)
    assert hamming(a, a) == 0
    with pytest.raises(ValueError, match="cannot compare"):
        hamming(a, MediaHash("dhash", bytes(8)))
    with pytest.raises(ValueError, match="256 bits"):
        MediaHash("pdq", bytes(8))


def test_recompression_keeps_hashes_close_and_unrelated_pictures_stay_far() -> None:
    original = drawing(7)
    same = hash_image(encoded(original))
    recompressed = hash_image(encoded(original, "JPEG", quality=60))
    unrelated = hash_image(encoded(drawing(8)))
    for a, b, c in zip(same.all(), recompressed.all(), unrelated.all(), strict=True):
        assert hamming(a, b) <= THRESHOLDS[a.algorithm] // 2, a.algorithm
        assert hamming(a, c) > THRESHOLDS[a.algorithm], a.algorithm
    assert 0 <= same.pdq_quality <= 100


def test_exif_orientation_is_applied_before_hashing() -> None:
    picture = drawing(3)
    upright = hash_picture(picture)
    exif = Image.Exif()
    exif[0x0112] = 3  # stored upside down, "rotate 180 to display"
    stored = encoded(picture.rotate(180), "JPEG", quality=95, exif=exif.tobytes())  # type: ignore[arg-type]
    assert hamming(hash_image(stored).phash, upright.phash) <= 4


def test_undecodable_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "statement.jpg"
    junk.write_bytes(b"this is not a picture at all")
    with pytest.raises(UndecodableMedia) as refused:
        hash_image(junk)
    assert "statement.jpg" in str(refused.value) and "not an image format" in str(refused.value)

    truncated = encoded(drawing(2), "PNG")[:300]
    with pytest.raises(UndecodableMedia, match=r"upload\.png: is damaged or truncated"):
        hash_image(truncated, name="upload.png")

    with pytest.raises(UndecodableMedia, match="check the path"):
        hash_image(tmp_path / "missing.png")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size in a few dozen bytes: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [int(MAX_PIXELS**0.5) + 10, 60_000])
def test_oversized_pictures_are_refused_before_decoding(side: int) -> None:
    with pytest.raises(UndecodableMedia, match=r"bomb\.png: .*too large to decode safely"):
        hash_image(_png_header_only(side, side), name="bomb.png")


def _frame_picture(second: int) -> Image.Image:
    return drawing(100 + second, (160, 120))


def _make_video(path: Path, seconds: int = 2, fps: int = 10) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.gop_size = fps  # one key frame a second
        stream.bit_rate = 2_000_000
        for i in range(seconds * fps):
            array = np.asarray(_frame_picture(i // fps))
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_video_key_frames_match_the_pictures_they_were_made_from(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    _make_video(video)
    assert is_video(video) and not is_video(encoded(drawing(1)))
    frames = hash_video(video)
    assert [round(f.seconds) for f in frames] == [0, 1]
    assert all(f.key_frame for f in frames)
    sources = [hash_picture(_frame_picture(s)) for s in (0, 1)]
    for frame, source, other in zip(frames, sources, reversed(sources), strict=True):
        assert hamming(frame.hashes.pdq, source.pdq) <= THRESHOLDS["pdq"]
        assert hamming(frame.hashes.phash, source.phash) <= THRESHOLDS["phash"]
        assert hamming(frame.hashes.pdq, other.pdq) > THRESHOLDS["pdq"]


def test_video_sampling_by_interval_and_the_frame_cap(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    _make_video(video)
    sampled = hash_video(video.read_bytes(), every_seconds=0.5)
    assert [f.seconds for f in sampled] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert len(hash_video(video, every_seconds=0.1, max_frames=3)) == 3
    with pytest.raises(InvalidInput, match="positive"):
        hash_video(video, every_seconds=0)


def test_broken_videos_and_playlists_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    with pytest.raises(UndecodableMedia, match=r"clip\.mp4: "):
        hash_video(fake)
    playlist = tmp_path / "list.m3u8"
    (tmp_path / "secret.mp4").write_bytes(b"")
    playlist.write_text("#EXTM3U\n#EXTINF:1,\nsecret.mp4\n")
    with pytest.raises(UndecodableMedia, match=r"list\.m3u8: is not a video"):
        hash_video(playlist)


def test_a_truncated_picture_is_refused_even_when_pillow_is_told_to_pad() -> None:
    """WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import; hashing must not
    quietly hash a padded half-picture."""
    from PIL import ImageFile

    truncated = encoded(drawing(2), "PNG")[:300]
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(UndecodableMedia, match="damaged or truncated"):
            hash_image(truncated, name="upload.png")
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # left as the other library set it
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
