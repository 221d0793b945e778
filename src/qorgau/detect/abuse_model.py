"""The shipped threats-and-abuse classifier: load it, score texts, say why.

The model is three logistic-regression heads (abuse, threat, criticism) over hashed character
and word n-grams of the normalised text. It is stored as plain numpy arrays (``.npz``, read
with pickling refused) and a JSON card, never as a pickle: a pickle runs code when loaded, and
the people who use this tool are the targets of well-resourced attackers. The feature extractor
is stateless (a hashing vectorizer with fixed parameters), so no vocabulary is stored and the
same code computes the features at training and at run time.

A text's label is decided in a fixed order so that threats are ranked first: a threat (the
threat head combined with the lexical cues of ``qorgau.detect.threat_cues``), else abuse (the
abuse head combined with a list of strong insults), else criticism, else neutral. Without a
strong insult, abuse must also outscore criticism: the abuse head learnt much of its English
from tweets where nearly everything addressed to "you" is offensive, and harsh criticism of a
newsroom ("your article is lies, I will sue you") must not be reported as abuse.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]

from qorgau.detect.abuse_text import normalize, script
from qorgau.detect.threat_cues import CueMatch, find_cues, find_insults
from qorgau.errors import ConfigurationError

LABELS = ("threat", "abuse", "criticism", "neutral")
SCRIPTS = ("cyrillic", "latin")
LEGAL_DAMPING = 0.5  # the threat head's score in a text about courts or complaints
HEADS = ("abuse", "threat", "criticism")
MODEL_NAME = "abuse-v1"
CHAR_FEATURES = 2**18
WORD_FEATURES = 2**17
N_FEATURES = CHAR_FEATURES + WORD_FEATURES
FEATURES_DESCRIPTION: Mapping[str, Any] = {
    "normalizer": "qorgau.detect.abuse_text.normalize",
    "char": {"analyzer": "char_wb", "ngram_range": [2, 5], "n_features": CHAR_FEATURES},
    "word": {"analyzer": "word", "ngram_range": [1, 2], "n_features": WORD_FEATURES},
    "hashing": "scikit-learn HashingVectorizer, alternate_sign=False, l2 norm per block",
}


@lru_cache(maxsize=1)
def _vectorizers() -> tuple[Any, Any]:
    """The character and word hashers, built on first use: importing scikit-learn costs about
    two seconds, which every server start and CLI command would otherwise pay."""
    from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
        HashingVectorizer,
    )

    char = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 5),
        n_features=CHAR_FEATURES,
        alternate_sign=False,
        lowercase=False,
        norm="l2",
    )
    word = HashingVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        token_pattern=r"(?u)\b\w+\b",
        n_features=WORD_FEATURES,
        alternate_sign=False,
        lowercase=False,
        norm="l2",
    )
    return char, word


def features(normalized_texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed n-gram features of texts already passed through ``abuse_text.normalize``."""
    docs = list(normalized_texts)
    char, word = _vectorizers()
    return sp.hstack([char.transform(docs), word.transform(docs)], format="csr")


@dataclass(frozen=True)
class AbuseVerdict:
    label: str  # threat | abuse | criticism | neutral
    threat_score: float  # 0..1, model and lexical cues combined
    abuse_score: float  # 0..1
    criticism_score: float  # 0..1, how much a non-abusive text reads as criticism
    cues: tuple[CueMatch, ...]  # the threat phrases found, for the responder's explanation
    insults: tuple[CueMatch, ...] = ()  # the strong insults found

    @property
    def cue_categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.category for c in self.cues))


@dataclass(frozen=True)
class AbuseModel:
    weights: Mapping[str, np.ndarray]  # head -> float32 vector of N_FEATURES
    intercepts: Mapping[str, float]
    threat_threshold: float
    abuse_thresholds: Mapping[str, float]  # per script, see abuse_text.script
    card: Mapping[str, Any]

    def scores(self, normalized_texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Each head's probability for each text."""
        x = features(normalized_texts)
        out: dict[str, np.ndarray] = {}
        for head in HEADS:
            margin = x @ self.weights[head] + self.intercepts[head]
            out[head] = 1.0 / (1.0 + np.exp(-np.asarray(margin, dtype=np.float64)))
        return out

    def classify(
        self, texts: Sequence[str], aimed: Sequence[bool] | None = None
    ) -> list[AbuseVerdict]:
        """Labels ``texts``. ``aimed[i]`` says text i is known to be addressed to a person (a
        reply to them, their name in it), so a violent verb in it has a target."""
        normalized = [normalize(t) for t in texts]
        if not normalized:
            return []
        if aimed is not None and len(aimed) != len(normalized):
            raise ValueError("aimed must give one flag per text")
        probs = self.scores(normalized)
        verdicts = []
        for i, text in enumerate(normalized):
            cues = find_cues(text, aimed=bool(aimed[i]) if aimed is not None else False)
            insults, insult_score = find_insults(text)
            model_threat = float(probs["threat"][i])
            if cues.legal and "life" not in cues.categories:
                model_threat *= LEGAL_DAMPING  # "I will sue you" is pressure, not a threat
            threat = 1.0 - (1.0 - model_threat) * (1.0 - cues.score)
            abuse = 1.0 - (1.0 - float(probs["abuse"][i])) * (1.0 - insult_score)
            criticism = float(probs["criticism"][i])
            if threat >= self.threat_threshold:
                label = "threat"
            elif abuse >= self.abuse_thresholds[script(text)] and (insults or abuse >= criticism):
                label = "abuse"
            elif criticism >= 0.5:
                label = "criticism"
            else:
                label = "neutral"
            verdicts.append(
                AbuseVerdict(
                    label,
                    round(threat, 4),
                    round(abuse, 4),
                    round(criticism, 4),
                    cues.matches,
                    insults,
                )
            )
        return verdicts


def default_paths() -> tuple[Path, Path]:
    """Where the shipped model lives inside the installed package: (.npz, card)."""
    base = resources.files("qorgau.detect") / "models"
    return Path(str(base / f"{MODEL_NAME}.npz")), Path(str(base / f"{MODEL_NAME}.json"))


def load_model(weights_path: Path, card_path: Path) -> AbuseModel:
    """The model in these files, checked against the digest its card records.

    Raises ConfigurationError (the installation is unusable, not the user's input) with what to
    do, when a file is missing, truncated, altered or of another shape."""
    fix = "reinstall Qorgau or retrain with `python benchmarks/abuse_classifier.py --train`"
    for path in (weights_path, card_path):
        if not path.is_file():
            raise ConfigurationError(
                f"the threat and abuse model file {path.name} is missing; {fix}"
            )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"the model card {card_path.name} is not readable JSON; {fix}"
        ) from exc
    if not isinstance(card, dict):
        raise ConfigurationError(f"the model card {card_path.name} is not a JSON object; {fix}")
    raw = weights_path.read_bytes()
    if card.get("weights_sha256") != hashlib.sha256(raw).hexdigest():
        raise ConfigurationError(
            f"the model weights {weights_path.name} do not match the digest in "
            f"{card_path.name} (damaged or replaced); {fix}"
        )
    try:
        with np.load(weights_path, allow_pickle=False) as arrays:
            weights = {h: arrays[f"{h}_coef"].astype(np.float32) for h in HEADS}
            intercepts = {h: float(arrays[f"{h}_intercept"][0]) for h in HEADS}
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise ConfigurationError(
            f"the model weights {weights_path.name} cannot be read; {fix}"
        ) from exc
    if any(w.shape != (N_FEATURES,) for w in weights.values()):
        raise ConfigurationError(
            f"the model weights {weights_path.name} were built for other features; {fix}"
        )
    try:
        threat_threshold = float(card["thresholds"]["threat"])
        abuse_thresholds = {s: float(card["thresholds"]["abuse"][s]) for s in SCRIPTS}
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"the model card {card_path.name} has no thresholds; {fix}"
        ) from exc
    return AbuseModel(weights, intercepts, threat_threshold, abuse_thresholds, card)


@lru_cache(maxsize=1)
def shipped_model() -> AbuseModel:
    """The model shipped with the package, loaded once per process."""
    return load_model(*default_paths())


def classify(texts: Sequence[str]) -> list[AbuseVerdict]:
    """Label each text threat, abuse, criticism or neutral with the shipped model."""
    return shipped_model().classify(texts)
