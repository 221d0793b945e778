"""The batch scale: a detector over months of archived observations on Dask distributed.

The detector code is the same function the live pipeline calls. Stateless detectors run on
each partition of the archive independently; stateful ones get their observations grouped by
their partition key first (one person's calls on one worker, in time order), which is why
their state is partitioned: more workers, more people processed at once. Findings from the
pieces are merged by campaign key at the end.

Tests use a ``LocalCluster``; production passes the address of a running scheduler. The
configuration travels as plain JSON and is parsed once per worker process (compiling a
watchlist of 100,000 identifiers is not free)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from qorgau.detect import registry
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.pipeline import Configured, configure, merge_findings, run_stream
from qorgau.errors import ConfigurationError

_CONFIGURED: dict[str, Configured] = {}


def _configured(name: str, raw_config: str) -> Configured:
    key = hashlib.sha256(f"{name}\x00{raw_config}".encode()).hexdigest()
    found = _CONFIGURED.get(key)
    if found is None:
        found = configure(registry.by_name(name), orjson.loads(raw_config))
        _CONFIGURED[key] = found
    return found


def _run_part(observations: Iterable[Observation], name: str, raw_config: str) -> BatchResult:
    return run_stream(_configured(name, raw_config), list(observations))


def observation_from_line(line: str) -> Observation | DetectorFailure:
    """One archive line; a bad line becomes a failure to report, never a silent drop."""
    from qorgau.errors import InvalidInput
    from qorgau.observe.importers._common import match_columns
    from qorgau.observe.importers.posts import ALIASES, exact_id, post_from_row
    from qorgau.observe.normalize import LOCAL_TZ

    try:
        doc = orjson.loads(line)
        if not isinstance(doc, dict):
            raise InvalidInput.single("line", "object", "each line is a JSON object")
        return exact_id(
            post_from_row(doc, match_columns(doc, ALIASES), "file", None, LOCAL_TZ, True)
        )
    except (orjson.JSONDecodeError, InvalidInput) as exc:
        return DetectorFailure("input", line[:120].strip(), f"unreadable line: {exc}")


def _partition_of(ob: Observation, name: str, raw_config: str) -> str | None:
    c = _configured(name, raw_config)
    key = c.detector.spec.partition_key
    assert key is not None
    try:
        return key(ob, c.config)
    except Exception:
        return None


def run_retro(
    name: str,
    config: Mapping[str, Any],
    files: list[Path],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    blocksize: str = "16MiB",
) -> BatchResult:
    """Run detector ``name`` over JSON Lines archives on a Dask cluster.

    ``scheduler`` is a running scheduler's address (``tcp://host:8786``); without one a
    ``LocalCluster`` of ``workers`` processes is started for the call and stopped after."""
    import dask.bag as db
    from dask.base import compute
    from distributed import Client, LocalCluster

    detector = registry.by_name(name)
    detector.spec.parse_config(config)  # a bad config is refused before any work starts
    raw = orjson.dumps(dict(config), option=orjson.OPT_SORT_KEYS).decode()
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        client = Client(cluster if cluster is not None else scheduler, timeout="20s")
    except (OSError, RuntimeError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        where = scheduler or "a local cluster"
        raise ConfigurationError(
            f"could not start or reach the Dask scheduler ({where}): {exc}; check the address"
            " (tcp://host:8786) or run without --scheduler for a local cluster"
        ) from exc
    try:
        lines = db.read_text([str(f) for f in files], blocksize=blocksize)
        read = lines.filter(lambda line: bool(line.strip())).map(observation_from_line)
        bad = read.filter(lambda x: isinstance(x, DetectorFailure))
        parsed = read.filter(lambda x: isinstance(x, Observation))
        if detector.spec.partition_key is None:
            work = parsed.map_partitions(lambda part: [_run_part(part, name, raw)])
        else:
            keyed = parsed.map(lambda ob: (_partition_of(ob, name, raw), ob)).filter(
                lambda pair: pair[0] is not None
            )
            groups = keyed.groupby(lambda pair: pair[0], shuffle="tasks")
            work = groups.map(lambda group: _run_part((ob for _, ob in group[1]), name, raw))
        # One pass over the files for both: the findings and the lines that could not be read.
        results, unreadable = compute(work, bad)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    found: list[Finding] = []
    failed: list[DetectorFailure] = list(unreadable)
    for r in results:
        found.extend(r.findings)
        failed.extend(r.failures)
    return BatchResult(tuple(merge_findings(found)), tuple(failed))
