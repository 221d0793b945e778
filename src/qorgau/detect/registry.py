"""Every detector Qorgau runs, listed once and explicitly.

No discovery by import side effects or entry points: a detector exists when it is in this
tuple, a test walks the tuple (spec, schema, a run on an empty batch), and the CLI and the
pipeline read only from here."""

from __future__ import annotations

from typing import Any

from qorgau.detect.detectors import (
    co_sharing,
    complaint_waves,
    fake_statements,
    floods,
    image_fakes,
    leaked_identifiers,
    lookalikes,
    near_duplicate_texts,
    threats,
)
from qorgau.detect.interfaces import Detector
from qorgau.errors import NotFound

DETECTORS: tuple[Detector[Any], ...] = (
    leaked_identifiers.DETECTOR,
    floods.DETECTOR,
    co_sharing.DETECTOR,
    near_duplicate_texts.DETECTOR,
    complaint_waves.DETECTOR,
    lookalikes.DETECTOR,
    fake_statements.DETECTOR,
    image_fakes.DETECTOR,
    threats.DETECTOR,
)


def by_name(name: str) -> Detector[Any]:
    for d in DETECTORS:
        if d.spec.name == name:
            return d
    known = ", ".join(d.spec.name for d in DETECTORS)
    raise NotFound(f"no detector named {name!r}; the detectors are: {known}")


def spec_json(detector: Detector[Any]) -> dict[str, Any]:
    """What ``qorgau detect list --json`` and ``GET /api/v1/detectors`` show of a detector."""
    spec = detector.spec
    return {
        "name": spec.name,
        "help": spec.help,
        "attack_types": list(spec.attack_types),
        "stateful": spec.stateful,
        "config_schema": spec.config_schema,
    }
