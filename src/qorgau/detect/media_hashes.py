"""Perceptual hashes of pictures and video key frames.

A doctored "statement" rarely travels as the file it was made from: it is screenshotted,
recompressed by every messenger, cropped, recoloured. A cryptographic digest changes with the
first of those; a perceptual hash changes by a few bits, so the Hamming distance between two
hashes says whether two files show the same picture. Three hashes are computed because they
fail differently: pHash (DCT, 64 bits) survives recompression and recolouring, dHash
(gradients, 64 bits) is cheap and survives resizing, PDQ (256 bits, the hash platforms use to
exchange known harmful media) is the most discriminating and comes with a quality score that
says when a picture is too flat to hash reliably.

Hashes travel as short strings (``phash:<hex>``, ``dhash:<hex>``, ``pdq:<hex>``) so that an
observation's ``media_hashes`` can carry them next to digests of other kinds, which are left
alone. Files come from attackers: image size and the number of video frames read are capped,
video containers are limited to ordinary formats (a playlist must not make the decoder open
other files), and a file that does not decode is refused with its name."""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import imagehash
import numpy as np
import pdqhash  # type: ignore[import-untyped]
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from qorgau.errors import FieldProblem, InvalidInput

ALGORITHMS = ("phash", "dhash", "pdq")
BITS = {"phash": 64, "dhash": 64, "pdq": 256}

# A 12 000 x 8 000 photograph is 96 megapixels; anything larger is not a picture anyone
# posted but a decompression bomb (a few kilobytes that unpack to gigabytes).
MAX_PIXELS = 100_000_000
# Image files are read whole; no posted picture comes near this.
MAX_IMAGE_BYTES = 200 * 1024 * 1024
# Frames decoded from one video, and frames hashed: a key frame every two seconds of a
# ten-minute clip is 300; beyond that the clip is checked in parts.
MAX_FRAMES_DECODED = 20_000
MAX_FRAMES_HASHED = 300
# PDQ's own guidance: below this quality the picture is too uniform for its hash to mean much.
PDQ_MIN_QUALITY = 50

# Demuxers allowed to open a video. Playlists and concatenation lists (hls, concat) are left
# out on purpose: they make the decoder open further files or addresses named inside the file.
VIDEO_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ogg,asf"


class UndecodableMedia(InvalidInput):
    """A file that is not a picture or video this installation can read (or is too large)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__([FieldProblem("file", "decode", f"{name}: {reason}")])
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class MediaHash:
    """One perceptual hash. ``value`` holds the bits packed most significant first."""

    algorithm: str
    value: bytes

    def __post_init__(self) -> None:
        if self.algorithm not in BITS:
            raise ValueError(f"unknown hash algorithm {self.algorithm!r}")
        if len(self.value) * 8 != BITS[self.algorithm]:
            raise ValueError(f"a {self.algorithm} hash has {BITS[self.algorithm]} bits")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value.hex()}"

    def distance(self, other: MediaHash) -> int:
        return hamming(self, other)


def hamming(a: MediaHash, b: MediaHash) -> int:
    """Number of differing bits; only hashes of the same algorithm are comparable."""
    if a.algorithm != b.algorithm:
        raise ValueError(f"cannot compare a {a.algorithm} hash with a {b.algorithm} hash")
    return (int.from_bytes(a.value, "big") ^ int.from_bytes(b.value, "big")).bit_count()


def parse_hash(text: str, field_name: str = "media_hashes") -> MediaHash | None:
    """The hash in ``text``, or None when it is of a kind this module does not compute
    (``sha256:...``, a bare digest): those belong to other checks and are not errors here.
    A known prefix with a malformed value is an error, because it was meant for us."""
    algorithm, sep, value = text.strip().partition(":")
    algorithm = algorithm.lower()
    if not sep or algorithm not in BITS:
        return None
    want = BITS[algorithm] // 4
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(value) != want or len(raw) * 2 != want:
        raise InvalidInput.single(
            field_name,
            "format",
            f"{text!r} is not a {algorithm} hash: write {algorithm}: and {want} hex digits",
        )
    return MediaHash(algorithm, raw)


def known_hashes(texts: Sequence[str]) -> tuple[list[MediaHash], list[str]]:
    """The perceptual hashes among ``texts`` and, separately, the messages for the strings
    that carry a known prefix but a broken value (so a caller can report them)."""
    hashes: list[MediaHash] = []
    problems: list[str] = []
    for text in texts:
        try:
            parsed = parse_hash(text)
        except InvalidInput as bad:
            problems.append(bad.problems[0].message)
            continue
        if parsed is not None:
            hashes.append(parsed)
    return hashes, problems


@dataclass(frozen=True)
class PictureHashes:
    """The three hashes of one picture (an image, or one frame of a video)."""

    phash: MediaHash
    dhash: MediaHash
    pdq: MediaHash
    pdq_quality: int  # 0..100; below PDQ_MIN_QUALITY the PDQ hash is unreliable

    def all(self) -> tuple[MediaHash, ...]:
        return (self.phash, self.dhash, self.pdq)

    def strings(self) -> tuple[str, ...]:
        return tuple(str(h) for h in self.all())

    def to_json(self) -> dict[str, Any]:
        return {
            "phash": str(self.phash),
            "dhash": str(self.dhash),
            "pdq": str(self.pdq),
            "pdq_quality": self.pdq_quality,
        }


@dataclass(frozen=True)
class FrameHashes:
    """A video frame's hashes and where it is in the video."""

    seconds: float
    key_frame: bool
    hashes: PictureHashes


def hash_picture(image: Image.Image) -> PictureHashes:
    """Hashes of a decoded picture. Orientation from EXIF is applied first, so a photo and the
    same photo saved upright by a platform hash alike."""
    rgb = ImageOps.exif_transpose(image).convert("RGB")
    phash = imagehash.phash(rgb)
    dhash = imagehash.dhash(rgb)
    vector, quality = pdqhash.compute(np.asarray(rgb))
    return PictureHashes(
        phash=MediaHash("phash", _pack(phash.hash)),
        dhash=MediaHash("dhash", _pack(dhash.hash)),
        # The reference PDQ implementation writes bit 255 first; reversing the vector makes
        # our hex the same as the hex other PDQ tools exchange.
        pdq=MediaHash("pdq", _pack(np.asarray(vector)[::-1])),
        pdq_quality=int(quality),
    )


def _pack(bits: Any) -> bytes:
    return bytes(np.packbits(np.asarray(bits, dtype=bool).reshape(-1)).tobytes())


_STRICT_LOAD = threading.Lock()


def _load_strictly(image: Image.Image) -> None:
    """Decode every pixel, refusing a truncated file even when another library in the process
    (WeasyPrint does, on import) has told Pillow to pad truncated images silently: a padded
    picture hashes as something it is not."""
    with _STRICT_LOAD:
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def open_image(source: str | os.PathLike[str] | bytes, name: str | None = None) -> Image.Image:
    """A fully decoded picture, or UndecodableMedia naming the file.

    The size is checked from the header before any pixel is decoded, against our own limit
    rather than by changing Pillow's process-wide one."""
    label = name or (str(source) if not isinstance(source, bytes) else "the uploaded file")
    try:
        if not isinstance(source, bytes) and Path(source).stat().st_size > MAX_IMAGE_BYTES:
            raise UndecodableMedia(label, f"is larger than {MAX_IMAGE_BYTES:,} bytes")
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as err:
        raise UndecodableMedia(label, f"cannot be read ({err.strerror}); check the path") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UndecodableMedia(label, _too_large(width, height))
            _load_strictly(image)
    except UndecodableMedia:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UndecodableMedia(label, "is too large to decode safely") from None
    except UnidentifiedImageError:
        raise UndecodableMedia(
            label,
            "is not an image format this installation reads (JPEG, PNG, WebP, GIF, BMP, "
            "TIFF); convert it or send the original file",
        ) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise UndecodableMedia(
            label, f"is damaged or truncated ({err}); ask for the original file"
        ) from None
    return image


def _too_large(width: int, height: int) -> str:
    return (
        f"is {width} x {height} pixels, too large to decode safely (the limit is "
        f"{MAX_PIXELS:,} pixels); scale it down or send a screenshot"
    )


def hash_image(source: str | os.PathLike[str] | bytes, name: str | None = None) -> PictureHashes:
    """Hashes of an image file or its bytes."""
    return hash_picture(open_image(source, name))


def hash_video(
    source: str | os.PathLike[str] | bytes,
    name: str | None = None,
    every_seconds: float | None = None,
    max_frames: int = MAX_FRAMES_HASHED,
) -> tuple[FrameHashes, ...]:
    """Hashes of a video's key frames, or of one frame every ``every_seconds``.

    Key frames are where encoders put whole pictures (usually at scene changes and every few
    seconds), so decoding only them is fast and still covers what a viewer sees; the interval
    mode is for clips whose key frames are too sparse."""
    label = name or (str(source) if not isinstance(source, bytes) else "the uploaded file")
    if every_seconds is not None and every_seconds <= 0:
        raise InvalidInput.single("every_seconds", "range", "give a positive number of seconds")
    frames = list(_frames(source, label, every_seconds, max_frames))
    if not frames:
        raise UndecodableMedia(label, "has a video stream but no frame could be decoded")
    return tuple(frames)


def _frames(
    source: str | os.PathLike[str] | bytes,
    label: str,
    every_seconds: float | None,
    max_frames: int,
) -> Iterator[FrameHashes]:
    target: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    try:
        container = av.open(target, container_options={"format_whitelist": VIDEO_FORMATS})
    except FileNotFoundError:
        raise UndecodableMedia(label, "does not exist; check the path") from None
    except (av.FFmpegError, OSError, ValueError) as err:
        raise UndecodableMedia(
            label,
            f"is not a video this installation reads ({_first_line(err)}); "
            "send it as MP4, WebM, MKV or AVI",
        ) from None
    with container:
        if not container.streams.video:
            raise UndecodableMedia(label, "has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_PIXELS:
            raise UndecodableMedia(label, _too_large(width, height))
        if every_seconds is None:
            stream.codec_context.skip_frame = "NONKEY"
        next_at = 0.0
        decoded = hashed = 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                if decoded > MAX_FRAMES_DECODED or hashed >= max_frames:
                    break
                seconds = float(frame.time or 0.0)
                if every_seconds is not None:
                    if seconds + 1e-6 < next_at:
                        continue
                    next_at = seconds + every_seconds
                if frame.width * frame.height > MAX_PIXELS:
                    raise UndecodableMedia(label, _too_large(frame.width, frame.height))
                hashed += 1
                yield FrameHashes(seconds, bool(frame.key_frame), hash_picture(frame.to_image()))
        except av.FFmpegError as err:
            if hashed == 0:
                raise UndecodableMedia(
                    label, f"is damaged ({_first_line(err)}); ask for the original file"
                ) from None
            # Frames decoded before the damage are still evidence; the rest is cut off.


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def is_video(source: str | os.PathLike[str] | bytes) -> bool:
    """Whether Pillow cannot read it but it looks like a container we decode as video. Cheap:
    only the first bytes are read (formats are recognised by their signatures)."""
    head = source[:_HEAD] if isinstance(source, bytes) else _head(Path(source))
    return (
        head[4:8] == b"ftyp"  # MP4, MOV, 3GP
        or head[:4] == b"\x1aE\xdf\xa3"  # Matroska, WebM
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head[:3] == b"FLV"
        or head[:4] == b"OggS"
        or (len(head) > 188 and head[0] == head[188] == 0x47)  # MPEG-TS: two sync bytes
        or head[:4] == b"\x30\x26\xb2\x75"  # ASF, WMV
    )


_HEAD = 200


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(_HEAD)
    except OSError:
        return b""
