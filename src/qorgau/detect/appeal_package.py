"""The appeal an outlet sends to a platform's escalation channel after losing an account to
orchestrated complaints.

Escalation teams read dozens of appeals a day and act on the ones that show, in one page, what
the platform did, what preceded it and where the proof is. So the package puts the platform's
own decisions, the waves of calls to report the account and the coordinated clusters on one
timeline, lists the preserved evidence by observation id and SHA-256 (the material itself stays
with the outlet and is shown on request), and opens with a paragraph the outlet can paste into
the platform's form. Partners in the region read Russian as often as English, and Kazakh
newsrooms write in Kazakh, so the text exists in all three."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from qorgau.detect.account_actions import AccountAction, normalize_handle
from qorgau.detect.complaint_waves import (
    ActionLink,
    ComplaintWave,
    CoordinationCluster,
    correlate,
)
from qorgau.errors import InvalidInput

LANGUAGES = ("en", "ru", "kk")
FORMAT = "qorgau-appeal"
FORMAT_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # action, wave or cluster
    text: str  # in the package's language
    ref: str  # the action's, wave's or cluster's id


@dataclass(frozen=True)
class EvidenceItem:
    observation_id: str
    sha256: str | None  # None: the caller holds no preserved copy


@dataclass(frozen=True)
class AppealPackage:
    outlet: str
    platform: str
    account: str
    language: str
    prepared_at: datetime
    actions: tuple[AccountAction, ...]
    waves: tuple[ComplaintWave, ...]
    clusters: tuple[CoordinationCluster, ...]
    links: tuple[ActionLink, ...]
    timeline: tuple[TimelineEntry, ...]
    evidence: tuple[EvidenceItem, ...]
    summary: str


def build_appeal(
    outlet: str,
    platform: str,
    account: str,
    actions: Sequence[AccountAction],
    waves: Sequence[ComplaintWave],
    clusters: Sequence[CoordinationCluster],
    *,
    evidence_hashes: Mapping[str, str],
    prepared_at: datetime,
    language: str = "en",
    window: timedelta = timedelta(days=3),
) -> AppealPackage:
    """The appeal for one account. ``actions`` may cover several accounts: only this one's are
    used. ``evidence_hashes`` maps observation ids to the SHA-256 of their preserved copies.
    Raises InvalidInput when the language is unknown, a hash is malformed, the time has no
    zone, or the account has no adverse action recorded (there would be nothing to appeal)."""
    if language not in LANGUAGES:
        raise InvalidInput.single("language", "choice", f"unknown language {language!r}", LANGUAGES)
    if not outlet.strip():
        raise InvalidInput.single("outlet", "required", "name the outlet the account belongs to")
    if prepared_at.tzinfo is None or prepared_at.utcoffset() is None:
        raise InvalidInput.single("prepared_at", "timezone", "give the time with its zone")
    for observation_id, digest in evidence_hashes.items():
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InvalidInput.single(
                f"evidence_hashes[{observation_id}]",
                "sha256",
                "a SHA-256 is 64 lower-case hexadecimal characters",
            )
    platform = platform.strip().lower()
    handle = normalize_handle(account)
    own = tuple(
        sorted(
            (a for a in actions if a.platform == platform and a.account == handle),
            key=lambda a: a.at,
        )
    )
    if not any(a.adverse for a in own):
        raise InvalidInput.single(
            "account",
            "no_action",
            f"no strike, restriction, suspension, removal or warning of @{handle} on {platform} "
            "is recorded; record the platform's notice first",
        )
    links = tuple(correlate(own, waves, clusters, window))
    used_waves = tuple(_unique((w for link in links for w in link.waves), lambda w: w.id))
    used_clusters = tuple(_unique((c for link in links for c in link.clusters), lambda c: c.id))
    words = _WORDS[language]
    timeline = sorted(
        [
            *(TimelineEntry(a.at, "action", _action_line(a, words), a.id) for a in own),
            *(TimelineEntry(w.start, "wave", _wave_line(w, words), w.id) for w in used_waves),
            *(
                TimelineEntry(c.start, "cluster", _cluster_line(c, words), c.id)
                for c in used_clusters
            ),
        ],
        key=lambda e: (e.at, ("wave", "cluster", "action").index(e.kind)),
    )
    observation_ids = _unique(
        [
            *(i for w in used_waves for i in w.observation_ids),
            *(i for c in used_clusters for i in c.observation_ids),
        ],
        lambda i: i,
    )
    evidence = tuple(EvidenceItem(i, evidence_hashes.get(i)) for i in observation_ids)
    package = AppealPackage(
        outlet=outlet.strip(),
        platform=platform,
        account=handle,
        language=language,
        prepared_at=prepared_at.astimezone(UTC),
        actions=own,
        waves=used_waves,
        clusters=used_clusters,
        links=links,
        timeline=tuple(timeline),
        evidence=evidence,
        summary="",
    )
    return _with_summary(package)


def _unique(items: Iterable[T], key: Callable[[T], str]) -> list[T]:
    seen: dict[str, T] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


# --- words -----------------------------------------------------------------------------------

_WORDS: Mapping[str, Mapping[str, Any]] = {
    "en": {
        "actions": {
            "strike": "strike",
            "restriction": "restriction",
            "suspension": "suspension",
            "removal": "removal",
            "reinstatement": "reinstatement",
            "warning": "warning",
        },
        "strength": {"none": "none", "weak": "weak", "moderate": "moderate", "strong": "strong"},
        "title": "Appeal: {platform} account @{account} of {outlet}",
        "h_summary": "Summary",
        "h_decisions": "Decisions appealed",
        "h_timeline": "Timeline (UTC)",
        "h_callers": "Accounts that called for reports",
        "h_evidence": "Evidence",
        "prepared": "Prepared {date} UTC.",
        "reason": "stated reason: {reason}",
        "reference": "reference: {reference}",
        "action_line": "{platform}: {action} of @{account}",
        "wave_line": "Calls to report the account: {calls} from {accounts}, until {end}",
        "cluster_line": "Coordinated activity ({kind}): {accounts}, {posts}, until {end}",
        "link_line": "{action} on {date}: evidence of brigading {strength} ({score}); "
        "{waves} and {clusters} before it",
        "evidence_note": "Observation ids and SHA-256 hashes of the preserved copies; the "
        "material is available to the platform on request.",
        "not_preserved": "no preserved copy",
        "col_observation": "Observation",
        "none_seen": "none",
        "opening": "{outlet} asks {platform} to review its decisions on the account "
        "@{account} ({actions}, from {first} to {last}).",
        "waves_sentence": "Before them, {calls} from {accounts} publicly called on users to "
        "report this account, between {start} and {end}.",
        "no_waves_sentence": "No public calls to report the account were recorded before them.",
        "clusters_sentence": "In the same period {clusters} of coordinated activity were "
        "observed{shared}.",
        "shared": ", {accounts} of which also called for reports",
        "closing": "We believe the account was penalised because of orchestrated complaints, "
        "not because of its content, and ask that the decisions be reviewed and the account "
        "restored. The evidence listed below is preserved with hashes and available on "
        "request.",
        "nouns": {
            "call": ("post", "posts"),
            "account": ("account", "accounts"),
            "post": ("post", "posts"),
            "cluster": ("cluster", "clusters"),
            "wave": ("wave of calls", "waves of calls"),
        },
    },
    "ru": {
        "actions": {
            "strike": "страйк",
            "restriction": "ограничение",
            "suspension": "блокировка",
            "removal": "удаление",
            "reinstatement": "восстановление",
            "warning": "предупреждение",
        },
        "strength": {"none": "нет", "weak": "слабые", "moderate": "умеренные", "strong": "сильные"},
        "title": "Апелляция: аккаунт @{account} ({outlet}) на платформе {platform}",
        "h_summary": "Кратко",
        "h_decisions": "Обжалуемые решения",
        "h_timeline": "Хронология (UTC)",
        "h_callers": "Аккаунты, призывавшие жаловаться",
        "h_evidence": "Доказательства",
        "prepared": "Подготовлено {date} UTC.",
        "reason": "причина по версии платформы: {reason}",
        "reference": "номер: {reference}",
        "action_line": "{platform}: {action}, аккаунт @{account}",
        "wave_line": "Призывы пожаловаться на аккаунт: {calls}, {accounts}, до {end}",
        "cluster_line": "Скоординированная активность ({kind}): {accounts}, {posts}, до {end}",
        "link_line": "{action}, {date}: признаки организованных жалоб — {strength} ({score}); "
        "до этого: {waves}, {clusters}",
        "evidence_note": "Идентификаторы наблюдений и хеши SHA-256 сохранённых копий; "
        "материалы будут предоставлены платформе по запросу.",
        "not_preserved": "копия не сохранена",
        "col_observation": "Наблюдение",
        "none_seen": "нет",
        "opening": "{outlet} просит {platform} пересмотреть решения по аккаунту @{account} "
        "({actions}, с {first} по {last}).",
        "waves_sentence": "До этого {accounts} опубликовали {calls} с публичными призывами "
        "пожаловаться на этот аккаунт (с {start} по {end}).",
        "no_waves_sentence": "Публичных призывов пожаловаться на аккаунт до этого не "
        "зафиксировано.",
        "clusters_sentence": "В тот же период выявлено скоординированной активности: "
        "{clusters}{shared}.",
        "shared": "; из них {accounts} также призывали жаловаться",
        "closing": "Мы считаем, что аккаунт пострадал из-за организованных жалоб, а не из-за "
        "своего содержания, и просим пересмотреть решения и восстановить аккаунт. "
        "Перечисленные ниже доказательства сохранены с хешами и доступны по запросу.",
        "nouns": {
            "call": ("публикацию", "публикации", "публикаций"),
            "account": ("аккаунт", "аккаунта", "аккаунтов"),
            "post": ("публикация", "публикации", "публикаций"),
            "cluster": ("кластер", "кластера", "кластеров"),
            "wave": ("волна призывов", "волны призывов", "волн призывов"),
        },
    },
    "kk": {
        "actions": {
            "strike": "страйк",
            "restriction": "шектеу",
            "suspension": "бұғаттау",
            "removal": "жою",
            "reinstatement": "қалпына келтіру",
            "warning": "ескерту",
        },
        "strength": {"none": "жоқ", "weak": "әлсіз", "moderate": "орташа", "strong": "күшті"},
        "title": "Апелляция: {platform} платформасындағы @{account} аккаунты ({outlet})",
        "h_summary": "Қысқаша",
        "h_decisions": "Шағымданатын шешімдер",
        "h_timeline": "Хронология (UTC)",
        "h_callers": "Шағым түсіруге шақырған аккаунттар",
        "h_evidence": "Дәлелдер",
        "prepared": "Дайындалған уақыты: {date} UTC.",
        "reason": "платформа көрсеткен себеп: {reason}",
        "reference": "нөмірі: {reference}",
        "action_line": "{platform}: @{account} аккаунтына {action}",
        "wave_line": "Аккаунтқа шағым түсіруге шақырулар: {calls}, {accounts}, {end} дейін",
        "cluster_line": "Үйлестірілген белсенділік ({kind}): {accounts}, {posts}, {end} дейін",
        "link_line": "{action}, {date}: ұйымдастырылған шағым белгілері — {strength} ({score}); "
        "оған дейін: {waves}, {clusters}",
        "evidence_note": "Бақылау идентификаторлары және сақталған көшірмелердің SHA-256 "
        "хештері; материалдар платформаға сұраныс бойынша беріледі.",
        "not_preserved": "көшірмесі сақталмаған",
        "col_observation": "Бақылау",
        "none_seen": "жоқ",
        "opening": "{outlet} {platform} платформасынан @{account} аккаунты бойынша "
        "шешімдерді ({actions}, {first} – {last}) қайта қарауды сұрайды.",
        "waves_sentence": "Бұған дейін {accounts} пайдаланушыларды осы аккаунтқа шағым "
        "түсіруге ашық шақырған {calls} жариялады ({start} – {end}).",
        "no_waves_sentence": "Бұған дейін аккаунтқа шағым түсіруге ашық шақырулар тіркелмеген.",
        "clusters_sentence": "Сол кезеңде үйлестірілген белсенділіктің {clusters} "
        "анықталды{shared}.",
        "shared": "; олардың {accounts} шағым түсіруге де шақырған",
        "closing": "Аккаунт мазмұны үшін емес, ұйымдастырылған шағымдар салдарынан жазаланды "
        "деп санаймыз және шешімдерді қайта қарап, аккаунтты қалпына келтіруді сұраймыз. "
        "Төменде көрсетілген дәлелдер хештерімен сақталған және сұраныс бойынша беріледі.",
        "nouns": {
            "call": ("жазба", "жазба"),
            "account": ("аккаунт", "аккаунт"),
            "post": ("жазба", "жазба"),
            "cluster": ("кластер", "кластер"),
            "wave": ("шақыру толқыны", "шақыру толқыны"),
        },
    },
}


def _n(words: Mapping[str, Any], n: int, noun: str) -> str:
    """A number with its noun in the right form: Russian has three forms after numerals,
    English two, Kazakh keeps the singular."""
    forms = words["nouns"][noun]
    if len(forms) == 3:
        last2, last = n % 100, n % 10
        form = (
            forms[2]
            if 11 <= last2 <= 14
            else forms[0]
            if last == 1
            else forms[1]
            if 2 <= last <= 4
            else forms[2]
        )
    else:
        form = forms[0] if n == 1 else forms[1]
    return f"{n} {form}"


def _day(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M}"


def _action_line(action: AccountAction, words: Mapping[str, Any]) -> str:
    line = words["action_line"].format(
        platform=action.platform, action=words["actions"][action.action], account=action.account
    )
    notes = []
    if action.reason:
        notes.append(words["reason"].format(reason=action.reason))
    if action.reference:
        notes.append(words["reference"].format(reference=action.reference))
    return f"{line} ({'; '.join(notes)})" if notes else line


def _wave_line(wave: ComplaintWave, words: Mapping[str, Any]) -> str:
    return str(
        words["wave_line"].format(
            calls=_n(words, len(wave.observation_ids), "call"),
            accounts=_n(words, len(wave.accounts), "account"),
            end=_day(wave.end),
        )
    )


def _cluster_line(cluster: CoordinationCluster, words: Mapping[str, Any]) -> str:
    return str(
        words["cluster_line"].format(
            kind=cluster.kind,
            accounts=_n(words, len(cluster.accounts), "account"),
            posts=_n(words, len(cluster.observation_ids), "post"),
            end=_day(cluster.end),
        )
    )


def _with_summary(package: AppealPackage) -> AppealPackage:
    words = _WORDS[package.language]
    adverse = [a for a in package.actions if a.adverse]
    kinds = ", ".join(dict.fromkeys(words["actions"][a.action] for a in adverse))
    parts = [
        words["opening"].format(
            outlet=package.outlet,
            platform=package.platform,
            account=package.account,
            actions=kinds,
            first=_day(adverse[0].at)[:10],
            last=_day(adverse[-1].at)[:10],
        )
    ]
    callers = _callers(package)
    if package.waves:
        parts.append(
            words["waves_sentence"].format(
                calls=_n(words, sum(len(w.observation_ids) for w in package.waves), "call"),
                accounts=_n(words, len(callers), "account"),
                start=_day(min(w.start for w in package.waves)),
                end=_day(max(w.end for w in package.waves)),
            )
        )
    else:
        parts.append(words["no_waves_sentence"])
    if package.clusters:
        shared = set(callers) & {a for c in package.clusters for a in c.accounts}
        parts.append(
            words["clusters_sentence"].format(
                clusters=_n(words, len(package.clusters), "cluster"),
                shared=words["shared"].format(accounts=_n(words, len(shared), "account"))
                if shared
                else "",
            )
        )
    parts.append(words["closing"])
    return AppealPackage(**{**package.__dict__, "summary": " ".join(parts)})


def _callers(package: AppealPackage) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for w in package.waves for a in w.accounts))


# --- rendering -------------------------------------------------------------------------------


def render_json(package: AppealPackage) -> dict[str, Any]:
    """The machine-readable appeal; ``format`` and ``version`` let a later reader check it."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "language": package.language,
        "prepared_at": _iso(package.prepared_at),
        "outlet": package.outlet,
        "platform": package.platform,
        "account": package.account,
        "summary": package.summary,
        "actions": [a.to_json() for a in package.actions],
        "links": [link.to_json() for link in package.links],
        "waves": [w.to_json() for w in package.waves],
        "clusters": [c.to_json() for c in package.clusters],
        "timeline": [
            {"at": _iso(e.at), "kind": e.kind, "text": e.text, "ref": e.ref}
            for e in package.timeline
        ],
        "evidence": [
            {"observation_id": e.observation_id, "sha256": e.sha256} for e in package.evidence
        ],
    }


def render_markdown(package: AppealPackage) -> str:
    words = _WORDS[package.language]
    lines = [
        "# "
        + _md(
            words["title"].format(
                platform=package.platform, account=package.account, outlet=package.outlet
            )
        ),
        "",
        words["prepared"].format(date=_day(package.prepared_at)),
        "",
        f"## {words['h_summary']}",
        "",
        _md(package.summary),
        "",
        f"## {words['h_decisions']}",
        "",
    ]
    for link in package.links:
        lines.append(
            "- "
            + _md(
                words["link_line"].format(
                    action=words["actions"][link.action.action],
                    date=_day(link.action.at),
                    strength=words["strength"][link.strength],
                    score=f"{link.score:.2f}",
                    waves=_n(words, len(link.waves), "wave"),
                    clusters=_n(words, len(link.clusters), "cluster"),
                )
            )
        )
        if package.language == "en":
            lines.extend(f"  - {_md(r)}" for r in link.reasons)
    lines += ["", f"## {words['h_timeline']}", ""]
    lines += [f"- {_day(e.at)} — {_md(e.text)}" for e in package.timeline]
    lines += ["", f"## {words['h_callers']}", ""]
    callers = _callers(package)
    lines += [f"- {_md(a)}" for a in callers] or [f"- {words['none_seen']}"]
    lines += [
        "",
        f"## {words['h_evidence']}",
        "",
        _md(words["evidence_note"]),
        "",
        f"| {words['col_observation']} | SHA-256 |",
        "| --- | --- |",
    ]
    lines += [
        f"| {_cell(e.observation_id)} | {e.sha256 or words['not_preserved']} |"
        for e in package.evidence
    ]
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _md(text: str) -> str:
    """Text from staff and posts is shown as written, never as Markdown or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _cell(text: str) -> str:
    return _md(text).replace("\n", " ")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the archive -----------------------------------------------------------------------------


def write_appeal_zip(package: AppealPackage, path: Path) -> Path:
    """appeal.md, appeal.json and manifest.json (the evidence list and the SHA-256 of the two
    appeal files) in one zip. An existing file is never overwritten: a package already sent
    to a platform is itself evidence. Entries carry the preparation time, so the same package
    always gives the same bytes."""
    if path.exists():
        raise InvalidInput.single(
            "path", "exists", f"{path.name} already exists; choose another file name"
        )
    markdown = render_markdown(package).encode("utf-8")
    document = json.dumps(render_json(package), ensure_ascii=False, indent=2).encode("utf-8")
    manifest = {
        "format": FORMAT + "-manifest",
        "version": FORMAT_VERSION,
        "files": {
            "appeal.md": hashlib.sha256(markdown).hexdigest(),
            "appeal.json": hashlib.sha256(document).hexdigest(),
        },
        "evidence": [
            {"observation_id": e.observation_id, "sha256": e.sha256} for e in package.evidence
        ],
    }
    stamp = package.prepared_at.astimezone(UTC)
    date_time = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, 0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            ("appeal.md", markdown),
            ("appeal.json", document),
            ("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode()),
        ):
            info = zipfile.ZipInfo(name, date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    try:
        handle, temporary = tempfile.mkstemp(prefix=".appeal-", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(buffer.getvalue())
        try:
            os.link(temporary, path)  # fails rather than replace a file created meanwhile
        except FileExistsError:
            raise
        except OSError:
            # FAT and exFAT sticks and some network shares have no hard links: create the file
            # exclusively instead (still never replacing one that exists).
            with open(path, "xb") as direct:
                direct.write(buffer.getvalue())
    except FileExistsError as exc:
        raise InvalidInput.single(
            "path", "exists", f"{path.name} already exists; choose another file name"
        ) from exc
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    finally:
        os.unlink(temporary)
    return path


def _unwritable(path: Path, exc: OSError) -> InvalidInput:
    return InvalidInput.single(
        "path", "writable", f"{path.name} cannot be written ({exc.strerror or exc})"
    )
