"""Run detectors over a batch, the one code path for the CLI, the in-process pipeline, the
JetStream workers and Dask.

A detector that raises is never allowed to take the batch down with it: the batch is re-run
one observation at a time, the observations that break it are recorded as failures (data a
maintainer can read back), and the findings from the rest stand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from qorgau.detect.interfaces import Detector, State
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation


@dataclass(frozen=True)
class Configured:
    """A detector with its parsed configuration: what a worker holds between batches."""

    detector: Detector[Any]
    config: Any

    @property
    def name(self) -> str:
        return self.detector.spec.name

    def partitions(self, batch: Sequence[Observation]) -> set[str]:
        key = self.detector.spec.partition_key
        if key is None:
            return set()
        found = set()
        for ob in batch:
            try:
                part = key(ob, self.config)
            except Exception:
                continue  # the run itself will record this observation's failure
            if part is not None:
                found.add(part)
        return found


def configure(detector: Detector[Any], raw: Mapping[str, Any]) -> Configured:
    return Configured(detector, detector.spec.parse_config(raw))


def run_one(c: Configured, batch: Sequence[Observation], state: State) -> BatchResult:
    """Findings of one detector; ``state`` is updated in place only by runs that completed."""
    ordered = sorted(batch, key=_order)
    trial = _copy(state)
    try:
        result = c.detector.detect(ordered, c.config, trial)
    except Exception:
        return _one_at_a_time(c, ordered, state)
    state.clear()
    state.update(trial)
    return result


def _copy(state: State) -> State:
    """A working copy a failed run can be thrown away with. State is JSON by contract, and a
    JSON round trip is several times faster than ``copy.deepcopy`` on large contact lists."""
    copied: State = orjson.loads(orjson.dumps(dict(state)))
    return copied


def _order(ob: Observation) -> tuple[datetime, str]:
    """Time order that cannot itself fail: a time without a zone (a detector will refuse the
    observation and say why) sorts as if it were UTC instead of breaking the sort."""
    when = ob.time if ob.time.tzinfo is not None else ob.time.replace(tzinfo=UTC)
    return when, ob.id


def _one_at_a_time(c: Configured, batch: Sequence[Observation], state: State) -> BatchResult:
    found: list[Finding] = []
    failed: list[DetectorFailure] = []
    for ob in batch:
        trial = _copy(state)
        try:
            result = c.detector.detect([ob], c.config, trial)
        except Exception as exc:
            failed.append(DetectorFailure(c.name, ob.id, f"{type(exc).__name__}: {exc}"[:2000]))
            continue
        state.clear()
        state.update(trial)
        found.extend(result.findings)
        failed.extend(result.failures)
    return BatchResult(tuple(merge_findings(found)), tuple(failed))


def merge_findings(found: Sequence[Finding]) -> list[Finding]:
    """One finding per key, the latest emission with every observation of the earlier ones."""
    by_key: dict[str, Finding] = {}
    for f in found:
        before = by_key.get(f.key)
        if before is not None:
            ids = tuple(dict.fromkeys((*before.observation_ids, *f.observation_ids)))
            f = Finding(
                detector=f.detector,
                key=f.key,
                title=f.title,
                explanation=f.explanation,
                attack_type=f.attack_type,
                observation_ids=ids,
                subjects=tuple(dict.fromkeys((*before.subjects, *f.subjects))),
                severity=f.severity or before.severity,
                at=before.at or f.at,
                details=f.details,
            )
        by_key[f.key] = f
    return list(by_key.values())


def run_stream(
    c: Configured, observations: Sequence[Observation], batch_size: int = 5000
) -> BatchResult:
    """A whole file or archive through one detector, in time order, batch after batch with
    the state carried between them — what the live pipeline does, without a store."""
    ordered = sorted(observations, key=_order)
    state: State = {}
    found: list[Finding] = []
    failed: list[DetectorFailure] = []
    for i in range(0, len(ordered), batch_size):
        result = run_one(c, ordered[i : i + batch_size], state)
        found.extend(result.findings)
        failed.extend(result.failures)
    return BatchResult(tuple(merge_findings(found)), tuple(failed))
