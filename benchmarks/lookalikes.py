"""Look-alike domains and handles: precision and recall per technique on a generated set.

Legitimate outlets (real Kazakh media names such as orda.kz, vlast.kz, kz.kursiv.media,
tengrinews.kz, informburo.kz, azattyq.org, and a few invented ones) each get imitations made by
every technique ``qorgau.detect.lookalike`` knows (homoglyph, typo, hyphenation, TLD swap,
subdomain of another domain, combo words), their own subdomains (kaz.orda.kz, en.orda.kz, which
must NOT be flagged) and a set of unrelated domains and handles: real hosts from the Citizen Lab
URL test lists when the shared data folder is present (among them near-names such as
altyn-orda.kz and kyzylorda-news.kz) plus invented ones.

A look-alike counts as found only when it is attributed to the right outlet. Precision per
technique is over what the classifier *labelled* with that technique; recall over what was
*generated* with it. Note that the generator and the classifier live in the same module: the
classifier does not read the generator's output, but both reflect one author's idea of each
technique, so recall here is an upper bound for imitations made some other way.

Run: ``.venv/bin/python benchmarks/lookalikes.py`` (quick: 25 imitations per technique and
outlet, 3,000 unrelated names) or ``--full`` (every generated imitation, 20,000 unrelated).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import DamerauLevenshtein

from qorgau.detect.lookalike import (
    TECHNIQUES,
    build_index,
    domain_permutations,
    handle_permutations,
    host_of,
    host_parts,
)
from qorgau.detect.protected_registry import parse_registry

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

OUTLETS: dict[str, tuple[str, str, str]] = {
    # id: (name, domain, telegram handle)
    "orda": ("Orda.kz", "orda.kz", "ordakz"),
    "vlast": ("Vlast.kz", "vlast.kz", "vlastkz"),
    "kursiv": ("Kursiv", "kz.kursiv.media", "kursivkz"),
    "tengri": ("Tengrinews", "tengrinews.kz", "tengrinewskz"),
    "informburo": ("Informburo", "informburo.kz", "informburo_kz"),
    "azattyq": ("Azattyq", "azattyq.org", "azattyq"),
    # Invented outlets, so the set is not only well-known names.
    "dala": ("Dala News", "dalanews.kz", "dala_news"),
    "qazaqpress": ("Qazaq Press", "qazaqpress.kz", "qazaqpress"),
    "ulytau": ("Ulytau Times", "ulytau-times.kz", "ulytautimes"),
    "kezek": ("Kezek Media", "kezekmedia.kz", "kezek_media"),
}
OWN_PREFIXES = ("www", "kaz", "en", "rus", "m", "amp", "static", "news", "api", "kk")
SYLLABLES = (
    "ka ra al ma ty as ta na sh ym ke nt ak to be ze ly ni ko or ba sa ri mu ga le zh an "
    "er ki bo du ne sy ta po li ve st ar ol in te qa zy ur da on mi"
).split()
TLDS = ("kz", "ru", "com", "org", "net", "info", "kg", "uz", "media", "online", "news")


# Imitations written by hand, several mixing techniques, so that recall is not only measured
# on what the module's own generator makes. (value, outlet id)
HANDWRITTEN_LOOKALIKES = (
    ("0rda-kz.com", "orda"),
    ("orda-kz.online", "orda"),
    ("ordakz.site", "orda"),
    ("ordakz.blogspot.com", "orda"),
    ("orda.kz-news.ru", "orda"),
    ("www.orda.kz.mirror-news.com", "orda"),
    ("оrdа.kz", "orda"),
    ("ordaa.kz", "orda"),
    ("vlast-kz.ru", "vlast"),
    ("vlast.kz.secure.ru", "vlast"),
    ("v1ast.kz", "vlast"),
    ("kursiv-kz.media", "kursiv"),
    ("kz-kursiv.com", "kursiv"),
    ("kursiv.kz", "kursiv"),
    ("tengri-news.kz", "tengri"),
    ("tengrinews-kz.com", "tengri"),
    ("tengrinnews.kz", "tengri"),
    ("teng.rinews.kz", "tengri"),
    ("informbur0.kz", "informburo"),
    ("informburo.com.kz", "informburo"),
    ("informburo-official.kz", "informburo"),
    ("azattyq-news.org", "azattyq"),
    ("azattyq.org.ru", "azattyq"),
    ("azatyq.org", "azattyq"),
    ("dala-news.kz", "dala"),
    ("dalanews.kz.example.com", "dala"),
)


@dataclass(frozen=True)
class Case:
    value: str
    kind: str  # domain | handle
    truth: str  # lookalike | own | unrelated
    entity: str | None = None
    technique: str | None = None


def registry_document() -> dict[str, object]:
    return {
        "entities": [
            {
                "id": eid,
                "kind": "outlet",
                "name": name,
                "domains": [domain],
                "accounts": {"telegram": [handle]},
            }
            for eid, (name, domain, handle) in OUTLETS.items()
        ]
    }


def sample(items: dict[str, str], per_technique: int | None, rng: random.Random) -> dict[str, str]:
    if per_technique is None:
        return items
    by_technique: dict[str, list[str]] = {}
    for value, technique in sorted(items.items()):
        by_technique.setdefault(technique, []).append(value)
    out: dict[str, str] = {}
    for technique, values in by_technique.items():
        for value in rng.sample(values, min(per_technique, len(values))):
            out[value] = technique
    return out


def shared_hosts() -> list[str]:
    folder = SHARED / "citizenlab-test-lists"
    if not folder.exists():
        print(
            f"note: {folder} is absent; unrelated names are invented only "
            "(the shared data folder sits beside the checkout)",
            file=sys.stderr,
        )
        return []
    hosts: set[str] = set()
    for name in ("kz.csv", "ru.csv", "kg.csv", "global.csv"):
        path = folder / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                host = host_of(row.get("url") or "")
                if host:
                    hosts.add(host)
    return sorted(hosts)


def invented_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 5)))


def build_cases(per_technique: int | None, unrelated: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    brands = [host_parts(d).domain for _, d, _ in OUTLETS.values()]
    handles = [h.replace("_", "") for _, _, h in OUTLETS.values()]
    own_registrable = {host_parts(d).registrable: eid for eid, (_, d, _) in OUTLETS.items()}
    for eid, (_, domain, handle) in OUTLETS.items():
        for value, technique in sample(domain_permutations(domain), per_technique, rng).items():
            if host_parts(value).registrable in own_registrable:
                continue  # kz.kursiv.media -> kursiv.media variants share the registrable domain
            cases.append(Case(value, "domain", "lookalike", eid, technique))
        for value, technique in sample(handle_permutations(handle), per_technique, rng).items():
            cases.append(Case(value, "handle", "lookalike", eid, technique))
        registrable = host_parts(domain).registrable
        for prefix in OWN_PREFIXES:
            cases.append(Case(f"{prefix}.{registrable}", "domain", "own", eid))
        cases.append(Case(f"https://{domain}/2025/03/01/news-1", "domain", "own", eid))
        cases.append(Case(handle, "handle", "own", eid))

    for value, eid in HANDWRITTEN_LOOKALIKES:
        cases.append(Case(value, "domain", "lookalike", eid, "hand-written"))

    def clear_of_brands(label: str, names: list[str]) -> bool:
        return all(DamerauLevenshtein.distance(label, b) > 1 for b in names)

    for host in shared_hosts():
        owner = own_registrable.get(host_parts(host).registrable)
        cases.append(Case(host, "domain", "own" if owner else "unrelated", owner))
    seen: set[str] = {c.value for c in cases}
    while sum(c.truth == "unrelated" and c.kind == "domain" for c in cases) < unrelated:
        word = invented_word(rng)
        value = f"{word}.{rng.choice(TLDS)}"
        if value not in seen and clear_of_brands(word, brands):
            seen.add(value)
            cases.append(Case(value, "domain", "unrelated"))
    made = 0
    while made < unrelated:
        word = invented_word(rng)
        value = rng.choice((word, f"{word}_{invented_word(rng)}", f"{word}{rng.randint(1, 99)}"))
        if value not in seen and clear_of_brands(value.replace("_", ""), handles):
            seen.add(value)
            cases.append(Case(value, "handle", "unrelated"))
            made += 1
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="every generated imitation")
    parser.add_argument("--per-technique", type=int, default=25, help="imitations per technique")
    parser.add_argument("--unrelated", type=int, default=3000, help="invented unrelated names")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=8, help="errors to print per kind")
    args = parser.parse_args()
    per_technique = None if args.full else args.per_technique
    unrelated = 20_000 if args.full and args.unrelated == 3000 else args.unrelated

    cases = build_cases(per_technique, unrelated, args.seed)
    parsed = parse_registry(registry_document())
    assert not parsed.problems, parsed.problems
    index = build_index(parsed.registry)

    started = time.perf_counter()
    verdicts = [
        index.classify(c.value)
        if c.kind == "domain"
        else index.classify_handle(c.value, "telegram")
        for c in cases
    ]
    elapsed = time.perf_counter() - started

    generated: Counter[tuple[str, str]] = Counter()
    found: Counter[tuple[str, str]] = Counter()
    agreed: Counter[tuple[str, str]] = Counter()
    labelled: Counter[tuple[str, str]] = Counter()
    correct: Counter[tuple[str, str]] = Counter()
    errors: dict[str, list[str]] = {"missed": [], "false positive on own": [], "false positive": []}
    for case, verdict in zip(cases, verdicts, strict=True):
        flagged = verdict.status == "lookalike"
        right = flagged and case.truth == "lookalike" and verdict.entity_id == case.entity
        if case.truth == "lookalike" and case.technique is not None:
            generated[(case.kind, case.technique)] += 1
            found[(case.kind, case.technique)] += right
            agreed[(case.kind, case.technique)] += right and verdict.techniques[0] == case.technique
            if not right:
                errors["missed"].append(f"{case.value} ({case.technique}) -> {verdict.status}")
        if flagged:
            labelled[(case.kind, verdict.techniques[0])] += 1
            correct[(case.kind, verdict.techniques[0])] += right
            if case.truth == "own":
                errors["false positive on own"].append(f"{case.value} -> {verdict.techniques}")
            elif case.truth == "unrelated":
                errors["false positive"].append(
                    f"{case.value} -> {verdict.entity_id} {verdict.techniques}"
                )

    counts = Counter((c.kind, c.truth) for c in cases)
    print(
        f"cases: {len(cases)} " + ", ".join(f"{k}/{t}: {n}" for (k, t), n in sorted(counts.items()))
    )
    print(f"classified in {elapsed:.2f} s ({len(cases) / elapsed:,.0f} per second, one core)")
    for kind in ("domain", "handle"):
        print(
            f"\n{kind}s: technique            generated  recall  label-agrees  labelled  precision"
        )
        for technique in (*TECHNIQUES, "hand-written"):
            g = generated[(kind, technique)]
            n = labelled[(kind, technique)]
            if not g and not n:
                continue
            recall = f"{found[(kind, technique)] / g:6.3f}" if g else "     -"
            agree = (
                f"{agreed[(kind, technique)] / g:6.3f}"
                if g and technique != "hand-written"
                else "     -"
            )
            precision = f"{correct[(kind, technique)] / n:6.3f}" if n else "     -"
            print(f"  {technique:24s} {g:9d}  {recall}        {agree}  {n:8d}     {precision}")
        g_all = sum(v for (k, _), v in generated.items() if k == kind)
        f_all = sum(v for (k, _), v in found.items() if k == kind)
        n_all = sum(v for (k, _), v in labelled.items() if k == kind)
        c_all = sum(v for (k, _), v in correct.items() if k == kind)
        print(
            f"  {'overall':24s} {g_all:9d}  {f_all / max(g_all, 1):6.3f}"
            f"                {n_all:8d}     {c_all / max(n_all, 1):6.3f}"
        )
    for what, items in errors.items():
        print(f"\n{what}: {len(items)}")
        for item in items[: args.show]:
            print(f"  {item}")


if __name__ == "__main__":
    main()
