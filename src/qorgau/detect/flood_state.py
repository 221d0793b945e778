"""One person's traffic on one channel, followed observation by observation.

Kept apart from the detector so the statistics can be read (and tested) without the plumbing of
configuration and findings. The whole state is one JSON-serialisable dict of bounded size, so a
worker can save it between batches and another worker can carry on from it.

Why the pieces are there:

* two streams are tested, each against its own baseline with its own Poisson CUSUM
  (``cusum``): *all* contacts, and contacts from *new* sources (numbers or accounts never seen
  before). A number planted in ads is called by strangers, whose usual rate is a fraction of an
  hour, so the new-source stream sees that flood within minutes; a busy news day brings more
  calls from people the journalist knows, which the new-source stream ignores and the
  all-contacts stream, with a higher bar, tolerates. The alarm is checked at every observation,
  not only when a bin closes, so it is raised by the call that tips the balance; a mirrored
  CUSUM decides when the flood is over;
* hours wait in ``pending`` before the baselines learn them, because the onset of a flood is
  only known after the alarm: an hour that turns out to hold the start of a flood is dropped, so
  the flood does not teach the baseline that floods are usual;
* ``known`` remembers (hashed) who contacted the person outside floods;
* ``recent`` counts a source at most once per repeat window, because people redial a number that
  does not answer, and three redials are one person trying, not three;
* ``run`` keeps the observations since the sums were last all at zero, so the alarm can name
  every observation since the onset, including those before the alarm."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from qorgau.detect import baseline, cusum

SECONDS_PER_HOUR = 3600
MAX_LISTED_IDS = 500  # observation ids listed per emission; the total is in the details
STREAMS = ("all", "new")
_MAX_RUN = 500
_MAX_KNOWN = 512
_MAX_FLOOD_SOURCES = 2000
_MAX_PENDING_HOURS = 24
_MAX_GAP_HOURS = 24 * 14  # beyond two silent weeks more zeros teach the baseline nothing new


@dataclass(frozen=True)
class Settings:
    bin_seconds: int
    rate_ratio: float
    threshold: float  # for contacts from new sources
    threshold_all: float  # for all contacts
    min_baseline_per_hour: float
    prior_baseline_per_hour: float
    repeat_window_seconds: int

    def threshold_of(self, stream: str) -> float:
        return self.threshold if stream == "new" else self.threshold_all


def new_state(ts: float, settings: Settings) -> dict[str, Any]:
    current = int(ts // settings.bin_seconds)
    return {
        "v": 1,
        "bin": current,
        "hour": current * settings.bin_seconds // SECONDS_PER_HOUR,
        "hour_tainted": False,
        "streams": {
            name: {
                "s": 0.0,
                "start": None,
                "bin": 0,
                "hour": 0,
                "baseline": baseline.new_baseline(),
            }
            for name in STREAMS
        },
        "pending": [],
        "run": None,
        "known": {},
        "recent": {},
        "flood": None,
    }


# How far behind a partition's clock an observation may arrive and still count (see observe).
LATE_LIMIT_SECONDS = 600.0


def observe(
    st: dict[str, Any], settings: Settings, obs_id: str, ts: float, source: str
) -> list[dict[str, Any]]:
    """Take one observation; returns the floods that ended before it (to report their end)."""
    ended: list[dict[str, Any]] = []
    if ts < st["bin"] * settings.bin_seconds - LATE_LIMIT_SECONDS:
        # Far behind what this partition has already seen: two workers back-filling an archive
        # in parallel, or a late export. Counting it now would pile hours of old calls into one
        # minute and raise a false flood, so it only teaches who the usual contacts are.
        st["late"] = int(st.get("late", 0)) + 1
        _remember(st, source, ts)
        return ended
    target = int(ts // settings.bin_seconds)
    if target > st["bin"]:
        ended = _advance(st, settings, target)
    # A late observation is counted in the bin being filled: reopening closed bins would need
    # every bin kept, and a few minutes' shift does not change what a flood looks like.
    now = max(ts, float(st["bin"] * settings.bin_seconds))
    counted = _count_once(st, settings, source, now)
    new = counted and is_new_source(st, source)
    streams = st["streams"]
    for name, hit in (("all", counted), ("new", new)):
        if hit:
            streams[name]["bin"] += 1
            streams[name]["hour"] += 1
    flood = st["flood"]
    if flood is not None:
        _add_to_flood(flood, obs_id, source, counted, now)
        return ended
    run = st["run"] = st["run"] or {"entries": [], "dropped": 0}
    if len(run["entries"]) < _MAX_RUN:
        run["entries"].append([obs_id, now, source, int(counted)])
    else:
        run["dropped"] += 1
    _remember(st, source, now)
    for name in STREAMS:
        stream = streams[name]
        expected = _expected_in_bin(stream, settings, st["bin"])
        evidence = cusum.log_likelihood_ratio(stream["bin"], expected, settings.rate_ratio)
        if stream["s"] + evidence > settings.threshold_of(name):
            _raise_alarm(st, settings, name, now)
            break
    return ended


def is_new_source(st: dict[str, Any], source: str) -> bool:
    return bool(source) and _hash(source) not in st["known"]


def usual_per_hour(st: dict[str, Any], settings: Settings, ts: float, stream: str = "all") -> float:
    return baseline.expected_per_hour(
        st["streams"][stream]["baseline"],
        int(ts // SECONDS_PER_HOUR),
        settings.prior_baseline_per_hour,
        settings.min_baseline_per_hour,
    )


def _advance(st: dict[str, Any], settings: Settings, target: int) -> list[dict[str, Any]]:
    ended: list[dict[str, Any]] = []
    while st["bin"] < target:
        finished = _close_bin(st, settings)
        if finished is not None:
            ended.append(finished)
        following = st["bin"] + 1
        if st["run"] is None and st["flood"] is None:
            following = target  # empty bins cannot lift sums at zero: skip them all
        _move_hours(st, settings, following)
        st["bin"] = following
    return ended


def _close_bin(st: dict[str, Any], settings: Settings) -> dict[str, Any] | None:
    bin_end = (st["bin"] + 1) * settings.bin_seconds
    streams = st["streams"]
    flood = st["flood"]
    ended = None
    if flood is not None:
        # The end is a test of its own, the mirror of the alarm: evidence that all traffic is
        # back to usual rather than still ``sqrt(ratio)`` times it. Ending only well below the
        # alarm level keeps a flood that hovers near it from turning into a string of floods.
        everyone = streams["all"]
        expected = _expected_in_bin(everyone, settings, st["bin"])
        back = -cusum.log_likelihood_ratio(
            everyone["bin"], expected, math.sqrt(settings.rate_ratio)
        )
        flood["d"] = max(0.0, flood["d"] + back)
        if flood["d"] == 0.0:
            flood["last_high"] = bin_end
        if flood["d"] >= settings.threshold_all / 2:
            flood["ended_at"] = flood["last_high"]
            ended = flood
            st["flood"] = None
            for stream in streams.values():
                stream["s"], stream["start"] = 0.0, None
    else:
        for stream in streams.values():
            expected = _expected_in_bin(stream, settings, st["bin"])
            stream["s"] = cusum.step(stream["s"], stream["bin"], expected, settings.rate_ratio)
            if stream["s"] == 0.0:
                stream["start"] = None
            elif stream["start"] is None:
                stream["start"] = bin_end - settings.bin_seconds
        if all(stream["s"] == 0.0 for stream in streams.values()):
            st["run"] = None
    for stream in streams.values():
        stream["bin"] = 0
    if settings.repeat_window_seconds:
        oldest = bin_end - settings.repeat_window_seconds
        st["recent"] = {k: v for k, v in st["recent"].items() if v > oldest}
    return ended


def _raise_alarm(st: dict[str, Any], settings: Settings, stream: str, now: float) -> None:
    start = st["streams"][stream]["start"]
    onset = int(st["bin"] * settings.bin_seconds if start is None else start)
    run = st["run"] or {"entries": [], "dropped": 0}
    since = [e for e in run["entries"] if e[1] >= onset]
    sources: dict[str, int] = {}
    for entry in since:
        _bump(sources, entry[2], _MAX_FLOOD_SOURCES)
    st["flood"] = {
        "onset": onset,
        "detected": now,
        "trigger": stream,
        "last_high": (st["bin"] + 1) * settings.bin_seconds,
        "ended_at": None,
        "d": 0.0,
        "last_event": now,
        "observations": len(since) + run["dropped"],
        "counted": sum(e[3] for e in since) + run["dropped"],
        "sources": sources,
        "sources_overflow": 0,
        "emit_ids": [e[0] for e in since],
        "emit_dropped": run["dropped"],
        "emissions": 0,
        "usual_per_hour": usual_per_hour(st, settings, onset),
    }
    st["run"] = None
    # Whoever first appeared since the onset belongs to the flood, not to the person's contacts.
    st["known"] = {k: v for k, v in st["known"].items() if v[0] < onset}
    for hour in st["pending"]:
        if (hour[0] + 1) * SECONDS_PER_HOUR > onset:
            hour[3] = True
    st["hour_tainted"] = True


def _add_to_flood(
    flood: dict[str, Any], obs_id: str, source: str, counted: bool, now: float
) -> None:
    flood["observations"] += 1
    flood["last_event"] = max(flood["last_event"], now)
    if counted:
        flood["counted"] += 1
    if len(flood["emit_ids"]) < MAX_LISTED_IDS:
        flood["emit_ids"].append(obs_id)
    else:
        flood["emit_dropped"] += 1
    if not _bump(flood["sources"], source, _MAX_FLOOD_SOURCES):
        flood["sources_overflow"] += 1


def _move_hours(st: dict[str, Any], settings: Settings, following_bin: int) -> None:
    target = following_bin * settings.bin_seconds // SECONDS_PER_HOUR
    if target <= st["hour"]:
        return
    streams = st["streams"]
    st["pending"].append(
        [st["hour"], streams["all"]["hour"], streams["new"]["hour"], st["hour_tainted"]]
    )
    for hour in range(max(st["hour"] + 1, target - _MAX_GAP_HOURS), target):
        st["pending"].append([hour, 0, 0, False])
    st["hour"] = target
    for stream in streams.values():
        stream["hour"] = 0
    st["hour_tainted"] = st["flood"] is not None
    _commit_hours(st)


def _commit_hours(st: dict[str, Any]) -> None:
    """Teach the baselines the hours that can no longer turn out to be part of a flood."""
    starts = [s["start"] for s in st["streams"].values() if s["start"] is not None]
    run_start = min(starts) if starts else None
    pending = st["pending"]
    while pending:
        hour, count_all, count_new, tainted = pending[0]
        settled = hour < st["hour"] - 1 and (
            run_start is None or (hour + 1) * SECONDS_PER_HOUR <= run_start
        )
        if not settled and len(pending) <= _MAX_PENDING_HOURS:
            break
        pending.pop(0)
        if not tainted:
            for name, count in (("all", count_all), ("new", count_new)):
                stream = st["streams"][name]
                baseline.learn(stream["baseline"], hour, float(count))
                stream["usual"] = None


def _expected_in_bin(stream: dict[str, Any], settings: Settings, bin_index: int) -> float:
    hour = bin_index * settings.bin_seconds // SECONDS_PER_HOUR
    cached = stream.get("usual")  # [hour, rate]: the baseline only changes between hours
    if cached is None or cached[0] != hour:
        rate = baseline.expected_per_hour(
            stream["baseline"],
            hour,
            settings.prior_baseline_per_hour,
            settings.min_baseline_per_hour,
        )
        cached = stream["usual"] = [hour, rate]
    return float(cached[1]) * settings.bin_seconds / SECONDS_PER_HOUR


def _count_once(st: dict[str, Any], settings: Settings, source: str, now: float) -> bool:
    if not source or not settings.repeat_window_seconds:
        return True  # a withheld number cannot be told apart from the next one
    key = _hash(source)
    last = st["recent"].get(key)
    if last is not None and now - last < settings.repeat_window_seconds:
        return False
    st["recent"][key] = int(now)
    return True


def _remember(st: dict[str, Any], source: str, now: float) -> None:
    if not source:
        return
    known = st["known"]
    key = _hash(source)
    entry = known.get(key)
    second = int(now)
    if entry is None:
        known[key] = [second, second]
    else:
        entry[1] = max(entry[1], second)
    if len(known) > _MAX_KNOWN:
        keep = sorted(known.items(), key=lambda kv: kv[1][1], reverse=True)[: _MAX_KNOWN * 7 // 8]
        st["known"] = dict(keep)


def _bump(counts: dict[str, int], source: str, limit: int, by: int = 1) -> bool:
    """Count ``source``; False when the table is full and the source is not already in it."""
    if source in counts:
        counts[source] += by
        return True
    if len(counts) >= limit:
        return False
    counts[source] = by
    return True


def _hash(source: str) -> str:
    """Contacts are kept hashed: the state outlives the case and need not hold a phone book."""
    return hashlib.blake2b(source.encode(), digest_size=8).hexdigest()
