"""Threats-and-abuse classifier: held-out precision, recall and macro-F1, and speed.

    python benchmarks/abuse_classifier.py              # shipped model, 1,000 held-out texts a set
    python benchmarks/abuse_classifier.py --full       # every held-out text
    python benchmarks/abuse_classifier.py --train      # retrain on the full training splits,
                                                       # write src/qorgau/detect/models/abuse-v1.*
    python benchmarks/abuse_classifier.py --train --out /tmp/model   # ... somewhere else

The public sets are read in place from the shared data folder beside the checkout
(ru-distorted-toxicity, en-davidson-hate-offensive); the project's own examples come with the
package. The held-out split is fixed by a hash of each normalised text
(``qorgau.detect.abuse_training.split``), so every run scores the same texts. The public sets
say abusive or not, so they are scored as abusive (threat or abuse) against the rest; threats
are scored on the project's held-out sentences, per language.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qorgau.detect import abuse_training as training
from qorgau.detect.abuse_model import LABELS, AbuseModel, default_paths, load_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _subset(examples: Sequence[training.Example], limit: int | None) -> list[training.Example]:
    """A deterministic part of a held-out set: every k-th text, keeping the mix of labels."""
    if limit is None or len(examples) <= limit:
        return list(examples)
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]


def _public_rows(model: AbuseModel, limit: int | None) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    sets = (
        (
            "ru-distorted-toxicity (ru)",
            training.load_ru_toxicity,
            training.RU_FOLDER,
            training.RU_FILE,
        ),
        (
            "en-davidson-hate-offensive (en)",
            training.load_davidson,
            training.EN_FOLDER,
            training.EN_FILE,
        ),
    )
    for title, load, folder, name in sets:
        _, held = training.split(load(SHARED / folder / name))
        rows.append((title, training.evaluate_public(model, _subset(held, limit))))
    return rows


def _print_report(model: AbuseModel, limit: int | None) -> None:
    print("## Abusive (threat or abuse) against the rest, public held-out splits\n")
    print("| set | texts | abusive | precision | recall | macro-F1 | recall on disguised |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for title, m in _public_rows(model, limit):
        disguised = (
            f"{m['distorted_recall']:.3f} (n={m['distorted_n']})" if "distorted_n" in m else "-"
        )
        print(
            f"| {title} | {m['n']} | {m['positives']} | {m['precision']:.3f} | "
            f"{m['recall']:.3f} | {m['macro_f1']:.3f} | {disguised} |"
        )
    _, held = training.split(training.load_project_examples())
    project = training.evaluate_project(model, held)
    print("\n## Project sentences, held-out split, per language\n")
    print(
        "| lang | texts | threat precision | threat recall | 4-label macro-F1 | "
        "threat ranked above abuse | criticism called threat |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for lang, m in project.items():
        above = "-" if m["threat_above_abuse"] is None else f"{m['threat_above_abuse']:.3f}"
        print(
            f"| {lang} | {m['n']} | {m['threat_precision']:.3f} | {m['threat_recall']:.3f} | "
            f"{m['macro_f1']:.3f} | {above} | {m['criticism_called_threat']} |"
        )
    print("\n## Confusion, project held-out, all languages (rows: truth, columns: predicted)\n")
    print("| truth \\ predicted | " + " | ".join(LABELS) + " |")
    print("|---|" + "---:|" * len(LABELS))
    for truth in LABELS:
        counts = [sum(m["confusion"][truth][pred] for m in project.values()) for pred in LABELS]
        print(f"| {truth} | " + " | ".join(str(c) for c in counts) + " |")


def _speed(model: AbuseModel) -> float:
    texts = [ex.text for ex in training.load_project_examples()] * 10
    began = time.perf_counter()
    model.classify(texts)
    return len(texts) / (time.perf_counter() - began)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", action="store_true", help="retrain and write the model")
    parser.add_argument("--out", type=Path, help="where --train writes (default: the package)")
    parser.add_argument("--full", action="store_true", help="score every held-out text")
    parser.add_argument("--limit", type=int, default=1000, help="held-out texts per public set")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(
            f"The shared data folder is not at {SHARED}: it holds ru-distorted-toxicity and "
            "en-davidson-hate-offensive and sits beside the checkout.",
            file=sys.stderr,
        )
        return 2
    if args.train:
        out = args.out or default_paths()[0].parent
        began = time.perf_counter()
        model, card = training.build(SHARED, out)
        print(f"Trained in {time.perf_counter() - began:.1f} s; wrote {out}/{card['name']}.npz")
        print(f"and its card; abuse thresholds {card['thresholds']['abuse']}\n")
    else:
        model = load_model(*default_paths())
    _print_report(model, None if args.full else args.limit)
    print(f"\nSpeed: {_speed(model):,.0f} texts a second on one core (short comments).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
