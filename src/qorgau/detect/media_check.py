"""One answer about one file: what it is, which known pictures it matches, what its content
credentials say.

This is what a responder runs on a file sent in by a journalist ("is this the photo we
published?"), from the command line or the API, so the three checks that otherwise live apart
(decoding and hashing, registry matching, C2PA verification) give one report with one verdict
line. The file is only read: nothing about it is stored here."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ImageOps

from qorgau.detect.content_credentials import Credentials, TrustAnchors, read_credentials
from qorgau.detect.media_hashes import (
    MAX_IMAGE_BYTES,
    PDQ_MIN_QUALITY,
    FrameHashes,
    PictureHashes,
    UndecodableMedia,
    hash_picture,
    hash_video,
    is_video,
    open_image,
)
from qorgau.detect.media_registry import EntryMatch, MediaRegistry


@dataclass(frozen=True)
class MediaCheck:
    file: str
    kind: str  # image | video
    sha256: str
    size: int
    picture: PictureHashes | None  # for an image
    frames: tuple[FrameHashes, ...]  # for a video: its key frames
    matches: tuple[EntryMatch, ...]
    # Matches of the picture flipped left to right: perceptual hashes do not survive a mirror,
    # and mirroring is a cheap way to slip a known fake past hash matching.
    mirrored: tuple[EntryMatch, ...]
    credentials: Credentials
    verdict: str

    def hash_strings(self) -> tuple[str, ...]:
        """What an observation of this file carries in ``media_hashes``."""
        pictures = [self.picture] if self.picture else [f.hashes for f in self.frames]
        out = [f"sha256:{self.sha256}"]
        for p in pictures:
            out.extend(p.strings())
        return tuple(dict.fromkeys(out))

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "sha256": self.sha256,
            "size": self.size,
            "hashes": None if self.picture is None else self.picture.to_json(),
            "frames": [
                {"seconds": f.seconds, "key_frame": f.key_frame, **f.hashes.to_json()}
                for f in self.frames
            ],
            "matches": [m.to_json() for m in self.matches],
            "mirrored_matches": [m.to_json() for m in self.mirrored],
            "credentials": self.credentials.to_json(),
            "verdict": self.verdict,
        }


def describe_media_file(
    path: str | os.PathLike[str],
    registry: MediaRegistry,
    trust_anchors: TrustAnchors | None = None,
) -> MediaCheck:
    """Decode, hash, match and verify one file. Raises UndecodableMedia (an InvalidInput)
    naming the file when it is neither a picture nor a video this installation reads."""
    name = Path(path).name
    try:
        size = Path(path).stat().st_size
    except OSError as err:
        raise UndecodableMedia(name, f"cannot be read ({err.strerror}); check the path") from None
    if size > MAX_IMAGE_BYTES and not is_video(path):
        raise UndecodableMedia(name, f"is larger than {MAX_IMAGE_BYTES:,} bytes")
    digest = _sha256(Path(path))
    picture: PictureHashes | None = None
    frames: tuple[FrameHashes, ...] = ()
    mirrored: tuple[EntryMatch, ...] = ()
    if is_video(path):
        frames = hash_video(path, name)
        hashes = [h for f in frames for h in f.hashes.all()]
        kind = "video"
    else:
        image = open_image(path, name)
        picture = hash_picture(image)
        hashes = list(picture.all())
        mirrored = tuple(registry.match(hash_picture(ImageOps.mirror(image)).all()))
        kind = "image"
    matches = tuple(registry.match(hashes))
    credentials = read_credentials(path, trust_anchors, name)
    return MediaCheck(
        file=name,
        kind=kind,
        sha256=digest,
        size=size,
        picture=picture,
        frames=frames,
        matches=matches,
        mirrored=mirrored,
        credentials=credentials,
        verdict=_verdict(matches, mirrored, credentials, picture),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verdict(
    matches: tuple[EntryMatch, ...],
    mirrored: tuple[EntryMatch, ...],
    credentials: Credentials,
    picture: PictureHashes | None,
) -> str:
    """The one sentence a responder reads first; the details follow it in the report."""
    sentences: list[str] = []
    if matches or mirrored:
        best = matches[0] if matches else mirrored[0]
        entry = best.entry
        what = f'"{entry.title}"' if entry.title else entry.id
        where = "".join(
            part
            for part in (
                f" on {entry.date.isoformat()}" if entry.date else "",
                f" at {entry.url}" if entry.url else "",
            )
        )
        flipped = "" if matches else "mirrored (flipped left to right) "
        if entry.label == "fake":
            sentences.append(f"This is a {flipped}copy of the known fake {what}, recorded{where}.")
        elif best.same_picture and not flipped:
            sentences.append(f"This is the original {what} published{where}, re-encoded.")
        else:
            sentences.append(
                f"This is an altered {flipped}copy (crop, recolour or edit) of the original "
                f"{what} published{where}."
            )
    else:
        sentences.append("No registered picture matches this file.")
    if credentials.state != "none":
        sentences.append(credentials.summary)
    if picture is not None and picture.pdq_quality < PDQ_MIN_QUALITY:
        sentences.append(
            f"The picture is too plain for a reliable PDQ hash (quality {picture.pdq_quality} "
            f"of 100); rely on the other hashes and on a visual check."
        )
    return " ".join(sentences)
