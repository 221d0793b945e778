"""Copies of images without what the camera wrote about the person who took them.

A photo a journalist sends carries EXIF: GPS coordinates of their home, the phone's serial
number, the time. Handlers need the picture, not that; the vault keeps the original untouched
(its hash is in the signed log) and hands it out only on an explicit, audited request. The copy
is re-encoded by Pillow from the pixels alone, turned upright first so that dropping the
orientation tag does not turn the picture on its side.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from qorgau.errors import Conflict
from qorgau.i18n import N_

# Formats Pillow can both read and write; anything else is handed back unchanged.
STRIPPABLE = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/tiff": "TIFF",
    "image/gif": "GIF",
}
# Phone-camera formats that carry EXIF (location) but that Pillow cannot re-encode here.
CAMERA_FORMATS_NOT_HANDLED = frozenset({"image/heic", "image/heif", "image/avif"})
NOT_CLEANABLE = N_(
    "this picture cannot be cleaned of its metadata (such as where it was taken): it is "
    "damaged or in a format Qorgau cannot re-encode; someone who may export evidence can "
    "download the original, which is recorded"
)
# What Pillow reports that says nothing about a person; anything else (EXIF, XMP, IPTC,
# comments, PNG text chunks) is metadata to drop.
HARMLESS_INFO = frozenset(
    "dpi jfif jfif_version jfif_unit jfif_density gamma icc_profile transparency loop "
    "background duration progressive progression adobe adobe_transform interlace srgb aspect "
    "chromaticity version extension optimize compression resolution".split()
)


def has_metadata(im: Image.Image) -> bool:
    """TIFF always counts: its tags are where cameras write, and are re-encoded regardless."""
    if (im.format or "").upper() == "TIFF":
        return True
    return bool(im.getexif()) or any(k not in HARMLESS_INFO for k in im.info)


def strip_metadata(data: bytes, media_type: str) -> bytes | None:
    """The image re-encoded without EXIF, GPS, XMP, IPTC or comments (the same bytes when it
    carries none: no needless loss of quality); None when the bytes are not an image of a
    format handled here or cannot be decoded (the caller then decides)."""
    fmt = STRIPPABLE.get(media_type)
    if fmt is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if (im.format or "").upper() != fmt:
                    return None
                if not has_metadata(im):
                    return data
                icc = im.info.get("icc_profile")
                upright = ImageOps.exif_transpose(im) if fmt != "GIF" else im
                clean = upright.copy()  # a plain Image: no TIFF tags, no cached EXIF
                transparency = im.info.get("transparency")
                clean.info = {}
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return None
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc  # colour, not identity: keeps the picture true
    if fmt == "JPEG":
        options["quality"] = 95
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
    elif fmt == "WEBP":
        options["quality"] = 95
    elif fmt == "TIFF":
        options["compression"] = "tiff_lzw"
    elif fmt == "GIF" and transparency is not None:
        options["transparency"] = transparency
    out = io.BytesIO()
    clean.save(out, fmt, **options)
    return out.getvalue()


def staff_copy(data: bytes) -> tuple[bytes, bool]:
    """What staff get by default: images without their metadata, anything else as stored.
    The flag says whether the bytes differ from the original (for the custody record)."""
    from qorgau.security.uploads import detect

    kind = detect(data) or ""
    clean = strip_metadata(data, kind)
    if clean is None:
        if kind in STRIPPABLE or kind in CAMERA_FORMATS_NOT_HANDLED:
            # Fail closed: a photo whose location cannot be removed is not handed out as if
            # it had been cleaned. The original stays available to evidence exporters.
            raise Conflict(NOT_CLEANABLE)
        return data, False
    return clean, clean != data
