"""Perceptual hashes: how fast pictures are hashed, how well each hash survives the edits
doctored pictures go through, and how fast the registry answers at 100 000 hashes.

The pictures are drawn here (gradients, shapes, text, noise; nothing is downloaded), each
edited the ways a fake or a repost is made: JPEG recompression, halving the size, cropping
5-10 %, brightening, adding a caption, mirroring. For every edit and algorithm the benchmark
reports the true-match rate (the edited picture within the threshold of its own original) and
the false-match rate (within the threshold of any *other* original), at the thresholds the
registry uses, and the share of re-encoded copies (recompression, resize) the registry would
call "the same picture" rather than "altered".

Run with ``python benchmarks/media_hashes.py`` (reduced: 40 pictures, 20 000 registry hashes);
``--full`` is 200 pictures and 100 000 hashes."""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from qorgau.detect.media_hashes import ALGORITHMS, MediaHash, PictureHashes, hash_picture
from qorgau.detect.media_registry import (
    THRESHOLDS,
    KnownMedia,
    MediaRegistry,
    parse_media_registry,
)

WORDS = "заявление редакция statement official мәлімдеме resign apology press Astana".split()


def draw(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rnd = random.Random(seed)
    w, h = size
    top = np.array([rnd.randrange(256) for _ in range(3)], dtype=float)
    bottom = np.array([rnd.randrange(256) for _ in range(3)], dtype=float)
    ramp = np.linspace(0, 1, h)[:, None, None]
    pixels = top + (bottom - top) * ramp * np.ones((1, w, 1))
    pixels += np.random.default_rng(seed).normal(0, 6, (h, w, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(image)
    for _ in range(rnd.randint(5, 12)):
        x, y = rnd.randrange(w), rnd.randrange(h)
        box = [x, y, x + rnd.randint(20, w // 2), y + rnd.randint(20, h // 2)]
        colour = tuple(rnd.randrange(256) for _ in range(3))
        shape = rnd.choice(("ellipse", "rectangle", "chord"))
        if shape == "chord":
            d.chord(box, rnd.randrange(360), rnd.randrange(360), fill=colour)
        elif shape == "ellipse":
            d.ellipse(box, fill=colour)
        else:
            d.rectangle(box, fill=colour)
    for _ in range(rnd.randint(2, 6)):
        d.text(
            (rnd.randrange(w - 120), rnd.randrange(h - 20)),
            " ".join(rnd.choices(WORDS, k=3)),
            fill=tuple(rnd.randrange(256) for _ in range(3)),
        )
    return image.filter(ImageFilter.SMOOTH) if rnd.random() < 0.5 else image


def recompress(image: Image.Image) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=55)
    out.seek(0)
    return Image.open(out).convert("RGB")


def crop(fraction: float) -> Callable[[Image.Image], Image.Image]:
    def edit(image: Image.Image) -> Image.Image:
        w, h = image.size
        dx, dy = int(w * fraction / 2), int(h * fraction / 2)
        return image.crop((dx, dy, w - dx, h - dy))

    return edit


def caption(image: Image.Image) -> Image.Image:
    out = image.copy()
    d = ImageDraw.Draw(out)
    w, h = out.size
    d.rectangle([0, int(h * 0.85), w, h], fill=(0, 0, 0))
    d.text((12, int(h * 0.9)), "I resign. Official statement of the editor.", fill=(255, 255, 255))
    return out


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg q55": recompress,
    "resize 50%": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "crop 5%": crop(0.05),
    "crop 10%": crop(0.10),
    "brightness +25%": lambda im: ImageEnhance.Brightness(im).enhance(1.25),
    "caption": caption,
    "mirror": ImageOps.mirror,
}


def throughput(images: list[Image.Image]) -> None:
    start = time.perf_counter()
    for im in images:
        hash_picture(im)
    elapsed = time.perf_counter() - start
    w, h = images[0].size
    print(f"hashing ({w}x{h}, pHash + dHash + PDQ): {len(images) / elapsed:.1f} pictures/s")


def robustness(originals: list[PictureHashes], images: list[Image.Image]) -> None:
    n = len(images)
    print(f"\nrobustness over {n} pictures; thresholds {dict(THRESHOLDS)}")
    print(f"{'edit':<17}" + "".join(f"{a + ' TM / FM / med':>24}" for a in ALGORITHMS) + "  same")
    stacks = {a: np.array([_bits(getattr(o, a)) for o in originals]) for a in ALGORITHMS}
    for name, edit in EDITS.items():
        edited = [hash_picture(edit(im)) for im in images]
        cells = []
        for a in ALGORITHMS:
            queries = np.array([_bits(getattr(e, a)) for e in edited])
            distances = (queries[:, None, :] != stacks[a][None, :, :]).sum(axis=2)
            own = np.diag(distances)
            others = distances[~np.eye(n, dtype=bool)]
            tm = float((own <= THRESHOLDS[a]).mean())
            fm = float((others <= THRESHOLDS[a]).mean())
            cells.append(f"{tm:>8.2f} / {fm:.4f} / {statistics.median(own):>3.0f}")
        registry = MediaRegistry(
            KnownMedia(f"o{i}", "original", o.all()) for i, o in enumerate(originals)
        )
        same = [
            bool(m and m[0].entry.id == f"o{i}" and m[0].same_picture)
            for i, m in enumerate(registry.match(list(e.all()), limit=1) for e in edited)
        ]
        print(f"{name:<17}" + "".join(f"{c:>24}" for c in cells) + f"  {np.mean(same):.2f}")
    print("TM: true-match rate, FM: false-match rate against every other original,")
    print("med: median distance to the own original; same: called 'the same picture'.")


def _bits(h: MediaHash) -> np.ndarray:
    return np.unpackbits(np.frombuffer(h.value, dtype=np.uint8))


def lookup(size: int, queries: int = 200) -> None:
    rnd = random.Random(1)
    entries = [
        KnownMedia(
            f"k{i}",
            "fake" if i % 2 else "original",
            tuple(
                MediaHash(a, rnd.getrandbits(8 * len_).to_bytes(len_, "big"))
                for a, len_ in (("phash", 8), ("dhash", 8), ("pdq", 32))
            ),
        )
        for i in range(size // 3)
    ]
    document = {"items": [e.to_json() for e in entries]}
    start = time.perf_counter()
    registry, problems = parse_media_registry(document)
    parsed = time.perf_counter() - start
    start = time.perf_counter()
    registry = MediaRegistry(entries)
    built = time.perf_counter() - start
    probes = [
        [MediaHash(h.algorithm, h.value) for h in entries[rnd.randrange(len(entries))].hashes]
        for _ in range(queries)
    ]
    timings = []
    for probe in probes:
        t = time.perf_counter()
        registry.match(probe)
        timings.append(time.perf_counter() - t)
    timings.sort()
    total = len(entries) * 3
    print(
        f"\nregistry of {total:,} hashes ({len(entries):,} pictures x pHash, dHash, PDQ): "
        f"document checked (fields, ids, conflicts) in {parsed:.2f} s with "
        f"{len(problems)} problems; index built in {built * 1000:.0f} ms; "
        "match of one picture's 3 hashes: "
        f"median {statistics.median(timings) * 1000:.2f} ms, "
        f"p95 {timings[int(len(timings) * 0.95)] * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/media_hashes.py")
    parser.add_argument("--full", action="store_true", help="200 pictures, 100 000 hashes")
    parser.add_argument("--pictures", type=int, help="pictures drawn (default 40, full 200)")
    parser.add_argument("--registry", type=int, help="registry hashes (default 20 000)")
    args = parser.parse_args()
    pictures = args.pictures or (200 if args.full else 40)
    registry_size = args.registry or (100_000 if args.full else 20_000)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one core used")
    images = [draw(seed) for seed in range(pictures)]
    throughput(images[: min(pictures, 40)])
    originals = [hash_picture(im) for im in images]
    robustness(originals, images)
    lookup(registry_size)


if __name__ == "__main__":
    main()
