"""Leaked-identifier matcher: throughput against a large phone watchlist, recall on disguised
numbers and false positives on numbers one digit away from a watched one.

The scenario is the 2025 attack on Orda.kz: watched numbers planted in classified ads written
every way a human (or a script dodging filters) writes a phone number. The corpus is seeded
Russian / Kazakh / English ad-like and post-like text full of prices, dates, areas and other
people's numbers; into some texts a watched number is injected in one of many disguises (the
ground truth), into others a number one digit off a watched one.

Measured, on one core: (a) plain Aho-Corasick over the same text with the same numbers as plain
strings — the ceiling of a matcher that understands no formatting — and (b) the full scan, in
batches of 1,000 texts as the pipeline hands them over. Targets: >= 50 MB/s for (b), recall
>= 0.95, no hit on a one-digit-off number.

Run with ``python -m benchmarks.identifiers`` (about 60 MB of text; ``--quick`` about 8 MB).
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from benchmarks.driver import machine
from qorgau.detect.identifier_scan import IdentifierMatcher
from qorgau.detect.watchlist import ProtectedPerson

OPERATORS = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778")
BATCH = 1000
WATCHED: set[str] = set()  # filled in main(); noise numbers stay clear of it

RU_WORDS = (
    "продам квартиру срочно звоните цена торг уместен район центр рядом школа садик парк "
    "новый ремонт мебель техника хозяин без посредников сдаётся комната посуточно недорого "
    "семье работа требуется водитель опыт оплата график доставка бесплатно гарантия качество "
    "объявление машина пробег состояние отличное обмен вопросы пишите в личку телефон город"
).split()
KK_WORDS = (
    "сатылады пәтер үй бағасы келісімді хабарласыңыз жұмыс қажет жүргізуші тәжірибе жалақы "
    "қала орталығы мектеп балабақша жаңа жөндеу жиһаз көлік жақсы күйде айырбас сұрақтар "
    "жазыңыз тегін жеткізу кепілдік отбасына тәулігіне арзан иесі делдалсыз аудан"
).split()
EN_WORDS = (
    "for sale apartment urgent call price negotiable near school park new renovation "
    "furniture owner no agents room for rent daily cheap family job driver needed experience "
    "salary delivery free warranty quality car mileage condition excellent exchange questions "
    "write message phone city center"
).split()
CITIES = ("Алматы", "Астана", "Шымкент", "Караганда", "Актобе", "Almaty", "Astana", "Қарағанды")


def kz_mobile(rng: random.Random) -> str:
    """A made-up Kazakh mobile number, national significant part (10 digits)."""
    return rng.choice(OPERATORS) + f"{rng.randrange(10_000_000):07d}"


# --- how a number is written ------------------------------------------------------------------


def _g(n: str) -> tuple[str, str, str, str]:
    return n[:3], n[3:6], n[6:8], n[8:10]


LOOK = {"0": "ОoO", "1": "lI|", "3": "Зз", "5": "S", "6": "б", "8": "ВB"}


def _lookalike(rng: random.Random, digits: str) -> str:
    """Swap one to three digits for look-alike letters."""
    chars = list(digits)
    spots = [i for i, c in enumerate(chars) if c in LOOK]
    for i in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
        chars[i] = rng.choice(LOOK[chars[i]])
    return "".join(chars)


FORMATS: dict[str, Callable[[random.Random, str], str]] = {
    "+7 701 123 45 67": lambda r, n: "+7 {} {} {} {}".format(*_g(n)),
    "8 (701) 123-45-67": lambda r, n: "8 ({}) {}-{}-{}".format(*_g(n)),
    "87011234567": lambda r, n: "8" + n,
    "+77011234567": lambda r, n: "+7" + n,
    "+7 701 1234567": lambda r, n: f"+7 {n[:3]} {n[3:]}",
    "8-701-123-45-67": lambda r, n: "8-{}-{}-{}-{}".format(*_g(n)),
    "8.701.123.45.67": lambda r, n: "8.{}.{}.{}.{}".format(*_g(n)),
    "8/701/123/45/67": lambda r, n: "8/{}/{}/{}/{}".format(*_g(n)),
    "+7 (701) 123 45 67": lambda r, n: "+7 ({}) {} {} {}".format(*_g(n)),
    "7011234567": lambda r, n: n,
    "701 звоните 123 45 67": lambda r, n: "{} звоните {} {} {}".format(*_g(n)),
    "701 call me 1234567": lambda r, n: f"{n[:3]} call me {n[3:]}",
    "8 701 қоңырау 123 45 67": lambda r, n: "8 {} қоңырау {} {} {}".format(*_g(n)),
    "8 701 123 ватсап 45 67": lambda r, n: "8 {} {} ватсап {} {}".format(*_g(n)),
    "+7 7О1 l23 45 67 (look-alikes)": lambda r, n: (
        "+7 " + " ".join(_lookalike(r, g) for g in (n[:3], n[3:6], n[6:8], n[8:]))
    ),
    "87О1l234567 (look-alikes)": lambda r, n: "8" + _lookalike(r, n),
}


def off_by_one(rng: random.Random, n: str) -> str:
    """The watched number with one digit changed, added or dropped."""
    i = rng.randrange(len(n))
    how = rng.randrange(3)
    if how == 0:
        return n[:i] + rng.choice([d for d in "0123456789" if d != n[i]]) + n[i + 1 :]
    if how == 1:
        return n[:i] + rng.choice("0123456789") + n[i:]
    return n[:i] + n[i + 1 :]


def write_variant(rng: random.Random, v: str) -> str:
    """A one-digit-off number written like a phone number (its groups are uneven on purpose
    where the length is off)."""
    style = rng.randrange(5)
    if style == 0:
        return "8" + v
    if style == 1:
        return f"+7 {v[:3]} {v[3:6]} {v[6:8]} {v[8:]}"
    if style == 2:
        return f"8 ({v[:3]}) {v[3:6]}-{v[6:8]}-{v[8:]}"
    if style == 3:
        return f"{v[:3]} звоните {v[3:6]} {v[6:8]} {v[8:]}"
    return "+7" + _lookalike(rng, v)


# --- the corpus ---------------------------------------------------------------------------------


def filler(rng: random.Random, words: Sequence[str], n: int) -> str:
    return " ".join(rng.choices(words, k=n))


def noise_number(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return f"{rng.randrange(5, 900)} {rng.randrange(1000):03d} тг"
    if kind == 1:
        return f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.20{rng.randrange(15, 26)}"
    if kind == 2:
        return f"{rng.randrange(20, 200)} м²"
    if kind == 3:
        return f"{rng.randrange(1, 6)}-комн., {rng.randrange(1, 16)}/{rng.randrange(5, 20)} эт."
    if kind == 4:  # someone else's number
        n = kz_mobile(rng)
        while n in WATCHED:
            n = kz_mobile(rng)
        return rng.choice(["+7 {} {} {} {}", "8 ({}) {}-{}-{}"]).format(*_g(n))
    if kind == 5:
        return f"{rng.randrange(1_000_000, 99_000_000)} ₸"
    if kind == 6:
        return f"ID {rng.randrange(10**8, 10**9)}"
    return f"{rng.randrange(1990, 2025)} г.в."


def document(rng: random.Random, planted: str = "") -> str:
    words = rng.choice((RU_WORDS, RU_WORDS, KK_WORDS, EN_WORDS))
    pieces = [rng.choice(CITIES) + "."]
    for _ in range(rng.randint(3, 9)):
        pieces.append(filler(rng, words, rng.randint(4, 14)).capitalize())
        pieces.append(noise_number(rng))
    if planted:
        pieces.insert(rng.randrange(1, len(pieces) + 1), rng.choice(["тел.", "Тел:", "", "☎"]))
        pieces.insert(rng.randrange(1, len(pieces) + 1), planted)
    return " ".join(pieces) + "\n"


@dataclass
class Corpus:
    texts: list[str] = field(default_factory=list)
    truth: dict[int, tuple[str, str]] = field(default_factory=dict)  # text -> (e164, format)
    variants: set[int] = field(default_factory=set)  # texts holding a one-digit-off number
    size: int = 0  # UTF-8 bytes


def corpus(rng: random.Random, watched: list[str], megabytes: float) -> Corpus:
    watched_set = set(watched)
    out = Corpus()
    names = list(FORMATS)
    while out.size < megabytes * 1e6:
        roll = rng.random()
        if roll < 0.02:
            n = rng.choice(watched)
            fmt = rng.choice(names)
            out.truth[len(out.texts)] = ("+7" + n, fmt)
            text = document(rng, FORMATS[fmt](rng, n))
        elif roll < 0.04:
            v = off_by_one(rng, rng.choice(watched))
            written = write_variant(rng, v)
            full = "7" + v
            if any(full[i : i + 10] in watched_set for i in range(len(full) - 9)):
                continue  # by chance another watched number: not a one-digit-off case
            out.variants.add(len(out.texts))
            text = document(rng, written)
        else:
            text = document(rng)
        out.texts.append(text)
        out.size += len(text.encode())
    return out


# --- measuring ----------------------------------------------------------------------------------


def plain_aho(watched: Sequence[str], texts: Sequence[str]) -> tuple[float, int]:
    automaton = _plain_automaton(tuple(watched))
    whole = "".join(texts)
    started = time.perf_counter()
    hits = sum(1 for _ in automaton.iter(whole))
    return time.perf_counter() - started, hits


@functools.lru_cache(maxsize=1)
def _plain_automaton(watched: tuple[str, ...]) -> Any:
    automaton = ahocorasick.Automaton()
    for n in watched:
        automaton.add_word("+7" + n, n)
    automaton.make_automaton()
    return automaton


def full_scan(matcher: IdentifierMatcher, texts: Sequence[str]) -> tuple[float, list[set[str]]]:
    found: list[set[str]] = []
    started = time.perf_counter()
    for at in range(0, len(texts), BATCH):
        outcome = matcher.scan(texts[at : at + BATCH])
        found.extend({h.target.value for h in hits} for hits in outcome.hits)
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="about 8 MB instead of 60 MB")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--watched", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    megabytes = 8.0 if args.quick else 60.0

    watched: list[str] = []
    seen: set[str] = set()
    while len(watched) < args.watched:
        n = kz_mobile(rng)
        if n not in seen:
            seen.add(n)
            watched.append(n)
    WATCHED.update(watched)
    people = tuple(
        ProtectedPerson(name=f"person {i // 2}", phones=("+7" + n,)) for i, n in enumerate(watched)
    )

    started = time.perf_counter()
    data = corpus(rng, watched, megabytes)
    generated = time.perf_counter() - started
    mb = data.size / 1e6

    started = time.perf_counter()
    matcher = IdentifierMatcher(people)
    compiled = time.perf_counter() - started

    # best of three: other processes on the machine only ever slow a run down
    plain_runs = [plain_aho(watched, data.texts) for _ in range(3)]
    plain_s, plain_hits = min(plain_runs)
    full_runs = [full_scan(matcher, data.texts) for _ in range(3)]
    full_s = min(seconds for seconds, _ in full_runs)
    found = full_runs[0][1]

    by_format: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for index, (e164, fmt) in data.truth.items():
        by_format[fmt] += 1
        caught[fmt] += e164 in found[index]
    recall = sum(caught.values()) / max(sum(by_format.values()), 1)
    false_on_variants = sum(1 for i in data.variants if found[i])
    stray = sum(
        1 for i, f in enumerate(found) if f and i not in data.truth and i not in data.variants
    )
    extra_in_truth = sum(1 for i, (e164, _) in data.truth.items() if found[i] - {e164})

    print(f"machine: {machine()}")
    print(f"command: python -m benchmarks.identifiers {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"corpus: {len(data.texts):,} texts, {mb:.1f} MB UTF-8 (generated in {generated:.0f} s);"
        f" {len(watched):,} watched Kazakh mobiles; {len(data.truth):,} disguised injections;"
        f" {len(data.variants):,} one-digit-off numbers"
    )
    print(f"compile: {compiled:.1f} s for {matcher.size:,} identifiers")
    print(
        f"(a) plain Aho-Corasick, E.164 strings, one pass over the joined text: "
        f"{plain_s:.2f} s = {mb / plain_s:.0f} MB/s ({plain_hits} hits)"
    )
    print(
        f"(b) full scan, batches of {BATCH}: {full_s:.2f} s = {mb / full_s:.0f} MB/s"
        f" ({(mb / full_s) / (mb / plain_s):.2f} x plain)"
    )
    print(f"recall on disguised injections: {recall:.4f}")
    for fmt in FORMATS:
        if by_format[fmt]:
            print(f"    {caught[fmt]:>5}/{by_format[fmt]:<5} {fmt}")
    print(f"false positives on one-digit-off numbers: {false_on_variants} of {len(data.variants)}")
    print(
        f"other texts flagged: {stray}; injected texts with an extra identifier: {extra_in_truth}"
    )


if __name__ == "__main__":
    main()
