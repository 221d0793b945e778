"""Threats against protected people and outlets, and waves of abuse aimed at one person.

In the cases this tool was built for, editors got death threats from a nickname ("we know where
you live", threats to their family, to burn a car), and reporters got hundreds of insults in a
few hours under their posts. A threat to a protected person is reported on its own, at once:
one threat is enough to act on. Abuse is reported only as a wave (many abusive posts aimed at
the same person within a window, from more than one account): a single rude comment is not an
incident, a pile-on is. Criticism, however harsh ("your article is lies", "I will sue you"),
is never reported.

Who a post is aimed at: a reply or message to a protected person's account (``recipients``, or
``extra`` keys ``reply_to``, ``in_reply_to_account``, ``parent_account``), an @-mention of
their handle, or their name in the text (Latin or Cyrillic, inflected: "Искаковой" finds
Iskakova), else the name of their outlet. Texts are labelled by ``qorgau.detect.abuse_model``.

The detector is stateful, one partition per person: it remembers the abusive posts of the last
window (to see a wave build across batches) and the onset of the current threat campaign and
wave, so later batches grow the same incident. Findings never quote the post: they give the
threat words matched, with digits masked ("школа № ##"), because a post may carry a child's
school or a home address.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from qorgau.detect.abuse_model import AbuseModel, AbuseVerdict, shipped_model
from qorgau.detect.interfaces import DetectorSpec, State
from qorgau.detect.model import BatchResult, DetectorFailure, Finding, Observation
from qorgau.detect.watchlist import PEOPLE_SCHEMA, ProtectedPerson, parse_people
from qorgau.errors import InvalidInput

NAME = "threats"
_SHARED_KEYS = ("registry", "media")  # passed to every detector; not used here
_REPLY_KEYS = ("reply_to", "in_reply_to_account", "parent_account")
_ABUSIVE = frozenset({"threat", "abuse"})
_KEPT_PER_PERSON = 500  # abusive posts remembered per person; a wave is proven long before
_IDS_PER_FINDING = 500

DEFAULTS: Mapping[str, Any] = {
    "wave_min_posts": 5,
    "wave_min_accounts": 2,
    "wave_window_seconds": 6 * 3600,
    "campaign_gap_seconds": 7 * 86400,
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["people"],
    "additionalProperties": False,
    "properties": {
        "people": PEOPLE_SCHEMA,
        "threat_threshold": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "description": "threat score from which a post counts as a threat (default: the "
            "model's own, 0.5)",
        },
        "wave_min_posts": {
            "type": "integer",
            "minimum": 2,
            "maximum": 10000,
            "description": "abusive posts aimed at one person within the window that make a wave",
        },
        "wave_min_accounts": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10000,
            "description": "distinct accounts those posts must come from",
        },
        "wave_window_seconds": {
            "type": "integer",
            "minimum": 60,
            "maximum": 30 * 86400,
            "description": "how far back abusive posts are counted towards a wave",
        },
        "campaign_gap_seconds": {
            "type": "integer",
            "minimum": 3600,
            "maximum": 365 * 86400,
            "description": "a threat after this long a silence opens a new incident",
        },
        "registry": {},
        "media": {},
    },
}


@dataclass(frozen=True)
class _NameForms:
    """One person's name as it may appear in a post: stems of each name word in Latin and
    Cyrillic spelling, folded so that Kazakh and Russian spellings of a name meet."""

    surname: tuple[str, ...]  # stems of the last name word, in each script
    given: tuple[str, ...]  # stems of the other name words


@dataclass(frozen=True)
class ThreatConfig:
    people: tuple[ProtectedPerson, ...]
    model: AbuseModel = field(compare=False, repr=False)
    threat_threshold: float = 0.5
    wave_min_posts: int = 5
    wave_min_accounts: int = 2
    wave_window_seconds: int = 6 * 3600
    campaign_gap_seconds: int = 7 * 86400
    names: tuple[_NameForms, ...] = field(default=(), compare=False, repr=False)
    by_handle: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)


def parse_config(raw: Mapping[str, Any]) -> ThreatConfig:
    """Checks the settings and loads the shipped model once, so a broken installation is
    refused with the configuration rather than at the first post."""
    if not isinstance(raw, Mapping):
        raise InvalidInput.single("config", "type", "the configuration is an object")
    unknown = sorted(set(raw) - set(CONFIG_SCHEMA["properties"]))
    if unknown:
        raise InvalidInput.single(
            unknown[0], "unknown", "no such setting", tuple(CONFIG_SCHEMA["properties"])
        )
    if "people" not in raw:
        raise InvalidInput.single("people", "required", "list the people to protect")
    people = parse_people(raw["people"])
    model = shipped_model()
    values = {**DEFAULTS, **raw}
    threshold = values.get("threat_threshold", model.threat_threshold)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold < 1
    ):
        raise InvalidInput.single("threat_threshold", "range", "a number between 0 and 1")
    by_handle: dict[str, int] = {}
    groups: dict[str, list[int]] = {}
    for index, person in enumerate(people):
        for handle in person.handles:
            by_handle.setdefault(handle, index)
        if person.group:
            groups.setdefault(person.group, []).append(index)
    return ThreatConfig(
        people=people,
        model=model,
        threat_threshold=float(threshold),
        wave_min_posts=_integer(values, "wave_min_posts"),
        wave_min_accounts=_integer(values, "wave_min_accounts"),
        wave_window_seconds=_integer(values, "wave_window_seconds"),
        campaign_gap_seconds=_integer(values, "campaign_gap_seconds"),
        names=tuple(_name_forms(p.name) for p in people),
        by_handle=by_handle,
        groups={g: tuple(ix) for g, ix in groups.items()},
    )


def _integer(values: Mapping[str, Any], name: str) -> int:
    rule = CONFIG_SCHEMA["properties"][name]
    low, high = rule["minimum"], rule["maximum"]
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput.single(name, "range", f"a whole number from {low} to {high}")
    return value


# --- who a post is aimed at ------------------------------------------------------------------

# Kazakh letters folded onto their nearest Russian ones, so "Серік" and "Серик" meet.
_FOLD = str.maketrans("әөүұқғңіһё", "аоуукгнихе")
_LATIN_TO_CYRILLIC = (
    ("shch", "щ"), ("zh", "ж"), ("kh", "х"), ("sh", "ш"), ("ch", "ч"), ("ts", "ц"),
    ("ya", "я"), ("yu", "ю"), ("yo", "е"), ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"),
    ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("y", "ы"), ("k", "к"), ("l", "л"),
    ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"),
    ("u", "у"), ("f", "ф"), ("h", "х"), ("q", "к"), ("w", "у"), ("x", "кс"), ("j", "ж"),
    ("c", "к"),
)  # fmt: skip
_CYRILLIC_TO_LATIN = {cyr: lat for lat, cyr in reversed(_LATIN_TO_CYRILLIC)}
_WORD = re.compile(r"[^\W\d_]+")
_MENTION = re.compile(r"@([\w.]+)")
_ENDINGS = 4  # letters a declension or a Kazakh case suffix may add to a name's stem


def _fold(text: str) -> str:
    return text.casefold().translate(_FOLD)


def _transliterate(word: str) -> str:
    if any("\u0400" <= ch <= "\u04ff" for ch in word):
        return "".join(_CYRILLIC_TO_LATIN.get(ch, ch) for ch in word)
    out, i = [], 0
    while i < len(word):
        for latin, cyrillic in _LATIN_TO_CYRILLIC:
            if word.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


def _stems(word: str) -> tuple[str, ...]:
    """The word in both scripts, less a final vowel that declension replaces."""
    forms = []
    for form in (word, _transliterate(word)):
        stem = form[:-1] if len(form) >= 4 and form[-1] in "aeiouyаеиоуыяэю" else form
        forms.append(stem)
    return tuple(dict.fromkeys(forms))


def _name_forms(name: str) -> _NameForms:
    words = [w for w in _WORD.findall(_fold(name)) if len(w) >= 3]
    if not words:
        return _NameForms((), ())
    return _NameForms(_stems(words[-1]), tuple(s for w in words[:-1] for s in _stems(w)))


def _mentions(stems: Sequence[str], words: Sequence[str]) -> bool:
    return any(
        w.startswith(stem) and len(w) - len(stem) <= _ENDINGS for stem in stems for w in words
    )


def targets(obs: Observation, config: ThreatConfig) -> tuple[int, ...]:
    """Indexes of the protected people ``obs`` is aimed at, in watchlist order."""
    found: dict[int, None] = {}
    addressed = [*obs.recipients, *_extra_accounts(obs.extra)]
    addressed += _MENTION.findall(obs.text)
    for handle in addressed:
        index = config.by_handle.get(handle.strip().lstrip("@").lower().rstrip("."))
        if index is not None:
            found[index] = None
    words = _WORD.findall(_fold(obs.text))
    if words:
        by_name = {
            i: 1 + _mentions(forms.given, words)
            for i, forms in enumerate(config.names)
            if forms.surname and _mentions(forms.surname, words)
        }
        # Relatives share a surname: when a given name settles which of them is meant, only
        # they count.
        best = max(by_name.values(), default=0)
        found.update((i, None) for i, score in by_name.items() if score == best)
        if not found:
            for group, members in config.groups.items():
                stems = _group_stems(group)
                if stems and all(_mentions(stem, words) for stem in stems):
                    found.update((i, None) for i in members)
    return tuple(sorted(found))


@lru_cache(maxsize=1024)
def _group_stems(group: str) -> tuple[Any, ...]:
    """The word stems of an outlet's name, computed once per name rather than per post."""
    return tuple(_stems(w) for w in _WORD.findall(_fold(group)) if len(w) >= 3)


def _extra_accounts(extra: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key in _REPLY_KEYS:
        value = extra.get(key)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list | tuple):
            out.extend(v for v in value if isinstance(v, str))
    return out


def partition_key(obs: Observation, config: ThreatConfig) -> str | None:
    """The watchlist name of the first person the post is aimed at; None when it is aimed at
    no one protected (such posts are not classified at all)."""
    if not obs.text.strip():
        return None
    aimed = targets(obs, config)
    return config.people[aimed[0]].name if aimed else None


# --- the detector ----------------------------------------------------------------------------


@dataclass
class _Batch:
    """What one batch added to one person's threat campaign or wave, before it is worded."""

    kind: str  # threat | wave
    person: str
    onset: float
    subjects: dict[str, None] = field(default_factory=dict)
    items: list[tuple[Observation, AbuseVerdict]] = field(default_factory=list)
    earlier_ids: list[str] = field(default_factory=list)  # from previous batches (a new wave)


class ThreatDetector:
    """Threats at once, abuse as waves; criticism never."""

    def __init__(self) -> None:
        self._spec: DetectorSpec[ThreatConfig] = DetectorSpec(
            name=NAME,
            help="Threats (to life, family or property, veiled ones included) and waves of abuse "
            "aimed at protected people, in Russian, Kazakh and English, with disguised spellings "
            "undone; harsh criticism is not reported.",
            attack_types=("threats", "harassment_campaign"),
            config_schema=CONFIG_SCHEMA,
            parse_config=parse_config,
            partition_key=partition_key,
        )

    @property
    def spec(self) -> DetectorSpec[ThreatConfig]:
        return self._spec

    def detect(
        self, batch: Sequence[Observation], config: ThreatConfig, state: State
    ) -> BatchResult:
        failures: list[DetectorFailure] = []
        aimed: list[tuple[Observation, tuple[int, ...]]] = []
        for obs in batch:
            if not obs.text.strip():
                continue
            people = targets(obs, config)
            if not people:
                continue
            if obs.time.tzinfo is None or obs.time.utcoffset() is None:
                failures.append(
                    DetectorFailure(
                        NAME,
                        obs.id,
                        "the observation's time has no time zone; waves are counted by the clock",
                    )
                )
                continue
            aimed.append((obs, people))
        verdicts = config.model.classify([obs.text for obs, _ in aimed], [True] * len(aimed))
        pending: dict[str, _Batch] = {}
        for (obs, people), verdict in zip(aimed, verdicts, strict=True):
            label = _label(verdict, config)
            if label not in _ABUSIVE:
                continue
            person = config.people[people[0]].name
            st = state.setdefault(person, _new_state())
            ts = obs.time.timestamp()
            names = [config.people[i].name for i in people]
            if label == "threat":
                _threat(st, pending, person, names, obs, verdict, ts, config)
            _abuse(st, pending, person, names, obs, verdict, ts, config)
        findings = tuple(_finding(b, config) for b in pending.values())
        return BatchResult(findings, tuple(failures))


def _label(verdict: AbuseVerdict, config: ThreatConfig) -> str:
    """The model's label, with the configured threat bar in place of the model's own."""
    if verdict.threat_score >= config.threat_threshold:
        return "threat"
    if verdict.label == "threat":  # above the model's bar, below the configured one
        return "abuse" if verdict.abuse_score >= 0.5 else "criticism"
    return verdict.label


def _new_state() -> dict[str, Any]:
    return {"threat": None, "abusive": [], "wave": None}


def _threat(
    st: dict[str, Any],
    pending: dict[str, _Batch],
    person: str,
    names: Sequence[str],
    obs: Observation,
    verdict: AbuseVerdict,
    ts: float,
    config: ThreatConfig,
) -> None:
    campaign = st["threat"]
    if campaign is None or ts - campaign["last"] > config.campaign_gap_seconds:
        campaign = {"onset": ts, "last": ts}
        st["threat"] = campaign
    campaign["last"] = max(campaign["last"], ts)
    key = _key("threat", person, campaign["onset"])
    entry = pending.setdefault(key, _Batch("threat", person, campaign["onset"]))
    entry.subjects.update(dict.fromkeys(names))
    entry.items.append((obs, verdict))


def _abuse(
    st: dict[str, Any],
    pending: dict[str, _Batch],
    person: str,
    names: Sequence[str],
    obs: Observation,
    verdict: AbuseVerdict,
    ts: float,
    config: ThreatConfig,
) -> None:
    window = config.wave_window_seconds
    kept = [row for row in st["abusive"] if ts - row[0] <= window and row[1] != obs.id]
    kept.append([ts, obs.id, obs.account])
    st["abusive"] = kept[-_KEPT_PER_PERSON:]
    wave = st["wave"]
    if wave is not None and ts - wave["last"] > window:
        wave = st["wave"] = None
    if wave is None:
        accounts = {row[2] or row[1] for row in kept}
        if len(kept) < config.wave_min_posts or len(accounts) < config.wave_min_accounts:
            return
        wave = st["wave"] = {"onset": kept[0][0], "last": ts}
        key = _key("wave", person, wave["onset"])
        entry = pending.setdefault(key, _Batch("wave", person, wave["onset"]))
        entry.earlier_ids.extend(row[1] for row in kept[:-1])
    else:
        wave["last"] = max(wave["last"], ts)
        key = _key("wave", person, wave["onset"])
        entry = pending.setdefault(key, _Batch("wave", person, wave["onset"]))
    entry.subjects.update(dict.fromkeys(names))
    entry.items.append((obs, verdict))


def _key(kind: str, person: str, onset: float) -> str:
    stamp = f"{datetime.fromtimestamp(onset, UTC):%Y-%m-%dT%H:%M}Z"
    prefix = "threat" if kind == "threat" else "abuse-wave"
    return f"{prefix}:{person}:{stamp}"


_MASK_DIGITS = re.compile(r"\d")


def _cue_json(verdict: AbuseVerdict) -> list[dict[str, str]]:
    return [
        {"cue": c.id, "category": c.category, "words": _MASK_DIGITS.sub("#", c.phrase)}
        for c in verdict.cues
    ]


def _account_ref(account: str) -> str:
    """A short stable reference to the posting account, so responders can see that several
    threats came from one nickname without the finding repeating it."""
    if not account:
        return ""
    return hashlib.blake2b(account.encode("utf-8"), digest_size=4).hexdigest()


def _finding(entry: _Batch, config: ThreatConfig) -> Finding:
    obs_ids = [*entry.earlier_ids, *(obs.id for obs, _ in entry.items)]
    ids = tuple(dict.fromkeys(obs_ids))[:_IDS_PER_FINDING]
    subjects = tuple(entry.subjects)
    who = _join(list(subjects))
    onset = datetime.fromtimestamp(entry.onset, UTC)
    platforms = sorted({obs.platform for obs, _ in entry.items})
    accounts = {obs.account for obs, _ in entry.items if obs.account}
    categories = list(dict.fromkeys(c.category for _, v in entry.items for c in v.cues))
    posts = _count(len(entry.items), "post")
    if entry.kind == "threat":
        life = "life" in categories
        kinds = _join([_CATEGORY_WORDS[c] for c in categories]) or "a threat the model recognised"
        title = f"{'Death threat' if life else 'Threat'} against {who} in {posts}"
        words = sorted({c.phrase for _, v in entry.items for c in v.cues})
        lines = [
            f"{posts.capitalize()} on {_join(platforms)} threaten {who}: {kinds}.",
            f"Sent from {_count(len(accounts), 'account')}." if accounts else "",
            (
                "Threat words found: "
                + "; ".join(_MASK_DIGITS.sub("#", w) for w in words[:8])
                + "."
                if words
                else "No listed threat phrase was found; the classifier scored the wording as a "
                "threat, so read the posts."
            ),
            "A threat to life: treat it as urgent, check the person is safe and keep the posts "
            "as evidence before they are deleted."
            if life
            else "Keep the posts as evidence before they are deleted and ask the person whether "
            "they feel safe.",
        ]
        severity = "critical" if life else "high"
        attack_type = "threats"
    else:
        title = f"Wave of abuse aimed at {who} since {onset:%Y-%m-%d %H:%M} UTC"
        lines = [
            f"{_count(len(ids), 'abusive post')} aimed at {who} since {onset:%Y-%m-%d %H:%M} UTC "
            f"(this batch: {posts} from {_count(len(accounts), 'account')} on "
            f"{_join(platforms)}).",
            f"A wave is {config.wave_min_posts} or more abusive posts from at least "
            f"{_count(config.wave_min_accounts, 'account')} within "
            f"{config.wave_window_seconds // 60} minutes.",
            "Ask the platforms to act on the accounts together and offer the person support.",
        ]
        severity = "high" if "threat" in {v.label for _, v in entry.items} else "medium"
        attack_type = "harassment_campaign"
    return Finding(
        detector=NAME,
        key=_key(entry.kind, entry.person, entry.onset),
        title=title,
        explanation=" ".join(line for line in lines if line),
        attack_type=attack_type,
        observation_ids=ids,
        subjects=subjects,
        severity=severity,
        at=onset,
        details={
            "kind": entry.kind,
            "person": entry.person,
            "onset": onset.isoformat(),
            "platforms": platforms,
            "categories": categories,
            "posts": [
                {
                    "observation_id": obs.id,
                    "label": v.label,
                    "threat_score": v.threat_score,
                    "abuse_score": v.abuse_score,
                    "account_ref": _account_ref(obs.account),
                    "cues": _cue_json(v),
                }
                for obs, v in entry.items
            ],
            "observation_ids_left_out": max(0, len(dict.fromkeys(obs_ids)) - len(ids)),
        },
    )


_CATEGORY_WORDS = {
    "life": "a threat to life",
    "harm": "a threat of violence",
    "property": "a threat to property",
    "veiled": "a veiled threat (knowing where they live, their family, their way home)",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 else noun + 's'}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


DETECTOR = ThreatDetector()
