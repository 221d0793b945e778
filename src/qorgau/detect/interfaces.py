"""The one shape every detector has.

A detector is an object with a typed ``spec`` and one method, ``detect``, over a batch of
observations. Configuration is parsed once into the detector's own frozen dataclass (never set
attribute by attribute), so a bad config file is refused before any data is read.

Stateful detectors (the flood detector keeps each person's baseline) say which state an
observation belongs to with ``spec.partition_key``; the pipeline loads only those states,
hands them over as a plain dict keyed by partition, and saves what changed in the same
transaction as the findings. Partitioned state is what lets more workers mean more throughput:
two workers only wait for each other when they hold observations for the same person."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from qorgau.detect.model import BatchResult, Observation

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)

# A detector's saved state, per partition key: JSON-serialisable values only.
State = MutableMapping[str, dict[str, Any]]


@dataclass(frozen=True)
class DetectorSpec(Generic[C]):
    name: str
    help: str
    attack_types: tuple[str, ...]
    config_schema: Mapping[str, Any]  # JSON Schema of the configuration file
    parse_config: Callable[[Mapping[str, Any]], C]  # raises InvalidInput, naming the field
    partition_key: Callable[[Observation, C], str | None] | None = None  # None: stateless

    @property
    def stateful(self) -> bool:
        return self.partition_key is not None


class Detector(Protocol[C]):
    @property
    def spec(self) -> DetectorSpec[C]: ...

    def detect(self, batch: Sequence[Observation], config: C, state: State) -> BatchResult:
        """Findings over ``batch`` (in time order). ``state`` holds the saved state of every
        partition the batch touches; a stateless detector ignores it."""
        ...
