"""Spyware indicators found by the Mobile Verification Toolkit (MVT) on a journalist's phone.

MVT (``mvt-ios`` / ``mvt-android check-backup|check-fs|check-adb --iocs FILE.stix2``) writes
one JSON file per module (``safari_history.json``, ``datausage.json``, ``processes.json``, ...)
holding a list of records, and for every module with indicator matches a
``<module>_detected.json`` holding the matched records, each with the ``matched_indicator``
it matched; beside them ``info.json`` (what was checked, with which version and IOC files),
``timeline.csv``, ``timeline_detected.csv`` and ``command.log``.

A responder receives these folders zipped in a chat, often from an older MVT whose
``matched_indicator`` was a plain string, and the person whose phone it is waits for an
answer. So reading is lenient where that cannot hide an infection (a missing time, an
indicator written as a string) and strict where it could: a detection whose indicator cannot
be read is still reported as a detection, and a file that cannot be read is named with the
place and the reason so it can be re-exported, never silently left out. Every file read is
hashed, because the folder is the evidence a forensic lab will ask for."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from qorgau.errors import InvalidInput

# --- what MVT writes -------------------------------------------------------------------------

DETECTED_SUFFIX = "_detected"
INFO_FILE = "info.json"
LOG_FILE = "command.log"
TIMELINE_FILES = frozenset({"timeline.csv", "timeline_detected.csv"})

# Modules only one of the two tools has; used to tell the platform when nothing else does.
_IOS_MODULES = frozenset(
    {
        "backup_info",
        "configuration_profiles",
        "datausage",
        "id_status_cache",
        "interactionc",
        "locationd_clients",
        "manifest",
        "netusage",
        "os_analytics_ad_daily",
        "profile_events",
        "safari_browser_state",
        "safari_history",
        "shutdown_log",
        "tcc",
        "webkit_resource_load_statistics",
        "webkit_session_resource_log",
    }
)
_ANDROID_MODULES = frozenset(
    {
        "aqf_packages",
        "aqf_processes",
        "dumpsys_accessibility",
        "dumpsys_activities",
        "dumpsys_appops",
        "dumpsys_battery_history",
        "dumpsys_packages",
        "dumpsys_receivers",
        "getprop",
        "logcat",
        "packages",
        "processes",
        "root_binaries",
        "selinux_status",
        "settings",
    }
)
# Modules both tools have: they say the output is MVT's but not which phone it came from.
_SHARED_MODULES = frozenset(
    {
        "applications",
        "calendar",
        "calls",
        "chrome_favicon",
        "chrome_history",
        "contacts",
        "files",
        "firefox_favicon",
        "firefox_history",
        "shortcuts",
        "sms",
        "sms_attachments",
        "whatsapp",
    }
)
# Modules whose JSON is one object rather than a list of records.
_OBJECT_MODULES = frozenset({"backup_info"})
# Where versions of MVT have put a record's indicator match.
_INDICATOR_KEYS = ("matched_indicator", "matched_ioc", "indicator", "ioc")
# Record fields that hold its time, most specific first.
_TIME_KEYS = ("isodate", "timestamp", "first_isodate", "start_isodate", "last_isodate")


# --- limits for archives ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReadLimits:
    """What an upload may cost. MVT folders are megabytes; a zip bomb is gigabytes from a few
    kilobytes, which the ratio catches before anything is inflated."""

    max_files: int = 2000
    max_file_bytes: int = 256 << 20
    max_total_bytes: int = 1 << 30
    max_ratio: float = 200.0  # uncompressed / compressed, per member above 1 MiB


DEFAULT_LIMITS = ReadLimits()
_RATIO_FLOOR = 1 << 20


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceFile:
    """One file of the MVT output, as received. ``role`` says what it was used for:
    detections, results, metadata, log, timeline, unreadable or other (kept, not read)."""

    name: str
    sha256: str
    size: int
    role: str


@dataclass(frozen=True)
class Indicator:
    value: str  # the matched domain, process name, file path, ... ("" when MVT gave none)
    type: str  # e.g. domain, process, file_name; "" when unknown
    collection: str  # the IOC collection, e.g. "Pegasus"; "" when unknown
    stix2_file: str = ""


@dataclass(frozen=True)
class Detection:
    module: str
    file: str  # which file it was read from
    index: int  # its place in that file's list
    time: datetime | None  # UTC; None when the record has no readable time
    indicator: Indicator
    summary: str
    record: Mapping[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class MvtProblem:
    """A part of the output that could not be used: which file, where in it (a JSON path such
    as ``$[3].matched_indicator`` or ``line 2, column 6``), what is wrong and what to do."""

    file: str
    where: str
    reason: str
    action: str

    def __str__(self) -> str:
        where = f"{self.file} {self.where}" if self.where else self.file
        return f"{where}: {self.reason}; {self.action}"


@dataclass(frozen=True)
class SpywareReport:
    platform: str | None  # "ios" or "android" when it can be told
    device: str | None  # model and OS version when the output names them
    target: str | None  # what MVT checked, as its info.json says
    mvt_version: str | None
    checked_at: datetime | None  # when MVT ran (UTC)
    ioc_files: tuple[str, ...]
    modules: tuple[str, ...]  # every module whose results were read, detections or not
    detections: tuple[Detection, ...]
    files: tuple[EvidenceFile, ...]

    @property
    def collections(self) -> tuple[str, ...]:
        """IOC collections matched (e.g. "Pegasus", "Predator"), in order of first match."""
        return tuple(
            dict.fromkeys(d.indicator.collection for d in self.detections if d.indicator.collection)
        )

    def by_module(self) -> dict[str, tuple[Detection, ...]]:
        grouped: dict[str, list[Detection]] = {}
        for detection in self.detections:
            grouped.setdefault(detection.module, []).append(detection)
        return {module: tuple(found) for module, found in grouped.items()}

    def summary(self) -> str:
        """One or two sentences for the incident and the person whose phone it is."""
        where = self.device or {"ios": "the iPhone", "android": "the Android phone"}.get(
            self.platform or "", "the phone"
        )
        if not self.detections:
            return (
                f"MVT found no match with its indicators on {where} "
                f"({_count(len(self.modules), 'module')} checked). This does not prove the "
                "phone is clean: indicators only cover known spyware."
            )
        collections = self.collections
        named = f" of {_join(list(collections))}" if collections else ""
        return (
            f"MVT matched {_count(len(self.detections), 'record')} on {where} with known "
            f"spyware indicators{named}, in {_count(len(self.by_module()), 'module')}: "
            f"{_join(list(self.by_module()))}. Treat the phone as compromised and ask a "
            "forensic lab to confirm."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "device": self.device,
            "target": self.target,
            "mvt_version": self.mvt_version,
            "checked_at": _iso(self.checked_at),
            "ioc_files": list(self.ioc_files),
            "collections": list(self.collections),
            "modules": list(self.modules),
            "summary": self.summary(),
            "detections": [
                {
                    "module": d.module,
                    "file": d.file,
                    "index": d.index,
                    "time": _iso(d.time),
                    "indicator": {
                        "value": d.indicator.value,
                        "type": d.indicator.type,
                        "collection": d.indicator.collection,
                        "stix2_file": d.indicator.stix2_file,
                    },
                    "summary": d.summary,
                }
                for d in self.detections
            ],
            "files": [
                {"name": f.name, "sha256": f.sha256, "size": f.size, "role": f.role}
                for f in self.files
            ],
        }


@dataclass(frozen=True)
class MvtReadResult:
    report: SpywareReport
    problems: tuple[MvtProblem, ...]


# --- reading ---------------------------------------------------------------------------------


def read_mvt_results(
    paths: Path | Sequence[Path], *, limits: ReadLimits = DEFAULT_LIMITS
) -> MvtReadResult:
    """Read MVT output from a folder, a .zip of the folder, or one or more of its files.

    Raises InvalidInput when a path cannot be read, an archive is unsafe (paths leaving the
    folder, too large, compressed suspiciously well) or nothing given is MVT output."""
    return read_mvt_files(collect_mvt_files(paths, limits=limits))


def collect_mvt_files(
    paths: Path | Sequence[Path], *, limits: ReadLimits = DEFAULT_LIMITS
) -> dict[str, bytes]:
    """The files given, by relative name: a folder's files (symbolic links not followed), a
    zip unpacked safely, or single files; within the size and count limits, each name once."""
    items = [paths] if isinstance(paths, Path) else list(paths)
    if not items:
        raise InvalidInput.single("file", "required", "give an MVT output folder, zip or file")
    files: dict[str, bytes] = {}
    for path in items:
        for name, data in _collect(path, limits):
            if name in files:
                raise InvalidInput.single(
                    "file", "duplicate", f"{name} is given twice; give each MVT file once"
                )
            files[name] = data
            if len(files) > limits.max_files:
                raise InvalidInput.single(
                    "file", "too_many", f"more than {limits.max_files} files; is this MVT output?"
                )
    return files


def read_mvt_files(files: Mapping[str, bytes]) -> MvtReadResult:
    """The same from file contents already in memory (an upload), keyed by relative name."""
    reader = _Reader()
    for name in sorted(files):
        reader.read(name, files[name])
    if not reader.recognised:
        names = ", ".join(sorted(files)[:5]) or "nothing"
        found = "".join(f" ({p})" for p in reader.problems[:3])
        raise InvalidInput.single(
            "file",
            "mvt",
            f"none of the files given ({names}) is MVT output{found}; give the folder MVT "
            "wrote with --output (or a zip of it), containing info.json and the modules' "
            ".json files",
        )
    return MvtReadResult(reader.report(), tuple(reader.problems))


def _collect(path: Path, limits: ReadLimits) -> Iterable[tuple[str, bytes]]:
    if path.is_dir():
        total = 0
        for item in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
            data = _read_file(item, limits)
            total += len(data)
            if total > limits.max_total_bytes:
                raise _too_large(path.name, limits)
            yield item.relative_to(path).as_posix(), data
        return
    if not path.is_file():
        raise InvalidInput.single("file", "exists", f"{path.name} does not exist")
    data = _read_file(path, limits)
    if zipfile.is_zipfile(io.BytesIO(data)):
        yield from unzip_safely(data, path.name, limits)
    else:
        yield path.name, data


def _read_file(path: Path, limits: ReadLimits) -> bytes:
    try:
        if path.stat().st_size > limits.max_file_bytes:
            raise _too_large(path.name, limits)
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput.single(
            "file", "readable", f"{path.name} cannot be read ({exc.strerror or exc})"
        ) from exc


def unzip_safely(
    data: bytes, name: str, limits: ReadLimits = DEFAULT_LIMITS
) -> list[tuple[str, bytes]]:
    """Members of a zip as (relative name, contents). The whole archive is refused when any
    member would land outside the folder or the sizes look like a zip bomb; sizes are checked
    while inflating too, since a crafted header can lie about them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput.single("file", "zip", f"{name} is a damaged zip ({exc})") from exc
    if len(members) > limits.max_files:
        raise InvalidInput.single(
            "file", "too_many", f"{name} holds more than {limits.max_files} files"
        )
    out: list[tuple[str, bytes]] = []
    total = 0
    for member in members:
        relative = _safe_member_name(member.filename, name)
        if member.file_size > limits.max_file_bytes or (
            member.file_size > _RATIO_FLOOR
            and member.file_size > limits.max_ratio * max(member.compress_size, 1)
        ):
            raise _bomb(name, member.filename)
        if member.flag_bits & 0x1:
            raise InvalidInput.single(
                "file",
                "zip",
                f"{member.filename} in {name} is encrypted; zip the folder again "
                "without a password",
            )
        try:
            with archive.open(member) as stream:
                content = stream.read(limits.max_file_bytes + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise InvalidInput.single(
                "file", "zip", f"{member.filename} in {name} cannot be unpacked ({exc})"
            ) from exc
        if len(content) > limits.max_file_bytes or (
            len(content) > _RATIO_FLOOR
            and len(content) > limits.max_ratio * max(member.compress_size, 1)
        ):
            raise _bomb(name, member.filename)
        total += len(content)
        if total > limits.max_total_bytes:
            raise _too_large(name, limits)
        out.append((relative, content))
    return out


def _safe_member_name(raw: str, archive: str) -> str:
    path = PurePosixPath(raw.replace("\\", "/"))
    if (
        path.is_absolute()
        or ".." in path.parts
        or (path.parts and ":" in path.parts[0])
        or not path.parts
    ):
        raise InvalidInput.single(
            "file",
            "zip_path",
            f"{archive} holds {raw!r}, a path outside the folder; the archive is refused",
        )
    return path.as_posix()


def _bomb(archive: str, member: str) -> InvalidInput:
    return InvalidInput.single(
        "file",
        "zip_bomb",
        f"{member} in {archive} inflates far beyond what MVT writes; the archive is refused",
    )


def _too_large(name: str, limits: ReadLimits) -> InvalidInput:
    return InvalidInput.single(
        "file",
        "too_large",
        f"{name} is larger than MVT output ever is (limit {limits.max_file_bytes >> 20} MiB a "
        f"file, {limits.max_total_bytes >> 20} MiB in all); give only the MVT output folder",
    )


class _Reader:
    """Accumulates what the files say; one instance per import."""

    def __init__(self) -> None:
        self.problems: list[MvtProblem] = []
        self.files: list[EvidenceFile] = []
        self.recognised = False
        self.info: dict[str, Any] = {}
        self.log_platform: str | None = None
        self.modules: dict[str, None] = {}
        self.detections: list[Detection] = []
        self.seen: set[tuple[str, bytes]] = set()
        self.device_facts: dict[str, str] = {}

    def read(self, name: str, data: bytes) -> None:
        base = PurePosixPath(name).name
        role = self._read(name, base, data)
        self.files.append(EvidenceFile(name, hashlib.sha256(data).hexdigest(), len(data), role))

    def _read(self, name: str, base: str, data: bytes) -> str:
        if base == LOG_FILE:
            text = data.decode("utf-8", "replace").lower()
            if "mvt" in text:
                self.recognised = True
            if "mvt-ios" in text or "mvt.ios" in text:
                self.log_platform = "ios"
            elif "mvt-android" in text or "mvt.android" in text:
                self.log_platform = "android"
            return "log"
        if base in TIMELINE_FILES:
            return "timeline"
        if not base.endswith(".json"):
            return "other"
        value = self._parse(name, data)
        if value is _UNREADABLE:
            return "unreadable"
        if base == INFO_FILE:
            return self._read_info(name, value)
        module = base[: -len(".json")]
        detected = module.endswith(DETECTED_SUFFIX)
        if detected:
            module = module[: -len(DETECTED_SUFFIX)]
        if module in _OBJECT_MODULES and isinstance(value, dict):
            self._note_device(module, [value])
            self.modules.setdefault(module)
            self.recognised = True
            return "results"
        if not isinstance(value, list):
            self.problems.append(
                MvtProblem(
                    name,
                    "$",
                    f"holds {_json_type(value)} where MVT writes a list of records",
                    "export the module again with MVT; this file was skipped",
                )
            )
            return "unreadable"
        known = detected or module in _IOS_MODULES | _ANDROID_MODULES | _SHARED_MODULES
        records = [(i, r) for i, r in enumerate(value) if isinstance(r, dict)]
        for i, r in enumerate(value):
            if not isinstance(r, dict):
                self.problems.append(
                    MvtProblem(
                        name,
                        f"$[{i}]",
                        f"is {_json_type(r)}, not a record object",
                        "this entry was skipped; check the file was not edited by hand",
                    )
                )
        carries = [(i, r) for i, r in records if _indicator_field(r) is not None]
        if not (known or carries):
            return "other"
        self.recognised = True
        self.modules.setdefault(module)
        self._note_device(module, [r for _, r in records])
        for i, record in records if detected else carries:
            self._add_detection(name, module, i, record)
        return "detections" if detected or carries else "results"

    def _parse(self, name: str, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            truncated = exc.pos >= len(data.rstrip())
            self.problems.append(
                MvtProblem(
                    name,
                    f"line {exc.lineno}, column {exc.colno}",
                    (
                        "the file ends in the middle of the JSON (cut off while copying?)"
                        if truncated
                        else f"not valid JSON ({exc.msg})"
                    ),
                    "copy the file again from the MVT output folder; it was skipped",
                )
            )
            return _UNREADABLE

    def _read_info(self, name: str, value: Any) -> str:
        if not isinstance(value, dict):
            self.problems.append(
                MvtProblem(
                    name,
                    "$",
                    f"holds {_json_type(value)} where MVT writes an object",
                    "the run's version and date are unknown; copy info.json again",
                )
            )
            return "unreadable"
        if any(k in value for k in ("mvt_version", "ioc_files", "target_path", "hashes")):
            self.recognised = True
        self.info = value
        return "metadata"

    def _note_device(self, module: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Model and OS version only: the device's name is often its owner's name."""
        if module == "backup_info":
            for r in records:
                for key in ("Product Type", "Product Version", "Build Version"):
                    if isinstance(r.get(key), str):
                        self.device_facts.setdefault(key, r[key])
        elif module == "getprop":
            for r in records:
                if r.get("name") in ("ro.product.model", "ro.build.version.release") and (
                    isinstance(r.get("value"), str)
                ):
                    self.device_facts.setdefault(str(r["name"]), r["value"])

    def _add_detection(self, name: str, module: str, index: int, record: Mapping[str, Any]) -> None:
        fingerprint = (module, orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
        if fingerprint in self.seen:
            return
        self.seen.add(fingerprint)
        raw = _indicator_field(record)
        indicator = _indicator(raw)
        if indicator is None:
            self.problems.append(
                MvtProblem(
                    name,
                    f"$[{index}]",
                    "a detected record whose matched indicator cannot be read",
                    "it is kept as a detection with an unknown indicator; check the "
                    "IOC file MVT used",
                )
            )
            indicator = Indicator("", "", "")
        when = _record_time(record)
        what = f"{indicator.type or 'indicator'} {indicator.value}".strip()
        if not indicator.value:
            what = "an unknown indicator"
        of = f" of {indicator.collection}" if indicator.collection else ""
        at = f" at {when:%Y-%m-%d %H:%M} UTC" if when else ""
        self.detections.append(
            Detection(
                module=module,
                file=name,
                index=index,
                time=when,
                indicator=indicator,
                summary=f"{module} record{at} matched {what}{of}.",
                record=record,
            )
        )

    def report(self) -> SpywareReport:
        info = self.info
        ioc_files = info.get("ioc_files")
        return SpywareReport(
            platform=self._platform(),
            device=self._device(),
            target=_text(info.get("target_path")),
            mvt_version=_text(info.get("mvt_version")),
            checked_at=_parse_time(info.get("date")),
            ioc_files=tuple(str(f) for f in ioc_files) if isinstance(ioc_files, list) else (),
            modules=tuple(self.modules),
            detections=tuple(
                sorted(
                    self.detections,
                    key=lambda d: (d.time is None, d.time or datetime.min.replace(tzinfo=UTC)),
                )
            ),
            files=tuple(self.files),
        )

    def _platform(self) -> str | None:
        stated = _text(self.info.get("platform"))
        if stated and stated.lower() in ("ios", "android"):
            return stated.lower()
        if self.log_platform:
            return self.log_platform
        ios = any(m in _IOS_MODULES for m in self.modules)
        android = any(m in _ANDROID_MODULES for m in self.modules)
        return "ios" if ios and not android else "android" if android and not ios else None

    def _device(self) -> str | None:
        facts = self.device_facts
        if "Product Type" in facts:
            version = facts.get("Product Version")
            return facts["Product Type"] + (f" (iOS {version})" if version else "")
        if "ro.product.model" in facts:
            version = facts.get("ro.build.version.release")
            return facts["ro.product.model"] + (f" (Android {version})" if version else "")
        return None


_UNREADABLE = object()


def _indicator_field(record: Mapping[str, Any]) -> Any:
    for key in _INDICATOR_KEYS:
        if record.get(key) not in (None, "", {}):
            return record[key]
    return None


def _indicator(raw: Any) -> Indicator | None:
    if isinstance(raw, str):
        return Indicator(raw, "", "")
    if not isinstance(raw, dict):
        return None
    value = raw.get("value", raw.get("ioc"))
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    return Indicator(
        value=str(value),
        type=_text(raw.get("type")) or "",
        collection=_text(raw.get("name") or raw.get("collection") or raw.get("malware")) or "",
        stix2_file=_text(raw.get("stix2_file_name")) or "",
    )


def _record_time(record: Mapping[str, Any]) -> datetime | None:
    for key in (*_TIME_KEYS, *sorted(k for k in record if k.endswith("isodate"))):
        when = _parse_time(record.get(key))
        if when is not None:
            return when
    return None


def _parse_time(value: Any) -> datetime | None:
    """MVT writes UTC times without a zone ("2021-06-01 12:34:56.000000"); Android modules
    sometimes unix milliseconds. Anything else is treated as no time rather than a problem."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- what to do about it ---------------------------------------------------------------------


@dataclass(frozen=True)
class ForensicLab:
    name: str
    contact: str
    why: str


@dataclass(frozen=True)
class Referral:
    urgent: bool
    advice: str
    labs: tuple[ForensicLab, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "urgent": self.urgent,
            "advice": self.advice,
            "labs": [{"name": x.name, "contact": x.contact, "why": x.why} for x in self.labs],
        }


FORENSIC_LABS: tuple[ForensicLab, ...] = (
    ForensicLab(
        "Amnesty International Security Lab",
        "https://securitylab.amnesty.org/get-help/",
        "maintains MVT and the indicators; confirms infections on journalists' phones",
    ),
    ForensicLab(
        "Access Now Digital Security Helpline",
        "https://www.accessnow.org/help/",
        "free, around the clock, in Russian among other languages; refers to forensic labs",
    ),
    ForensicLab(
        "Citizen Lab, University of Toronto",
        "https://citizenlab.ca/",
        "investigates mercenary spyware targeting civil society",
    ),
)


def warrants_critical_incident(report: SpywareReport) -> bool:
    """Any match is critical: a false positive costs a lab's hour, a missed infection can cost
    a source's life."""
    return bool(report.detections)


def forensic_referral(report: SpywareReport) -> Referral:
    if report.detections:
        advice = (
            "Keep the phone powered on, do not reset or update it, and move sensitive "
            "conversations to another device. Send the MVT output, unchanged, to one of these "
            "labs for confirmation."
        )
    else:
        advice = (
            "No known indicator matched. If the person still suspects spyware (unexplained "
            "warnings, targeted phishing), ask a lab for a deeper check with current indicators."
        )
    return Referral(bool(report.detections), advice, FORENSIC_LABS)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
