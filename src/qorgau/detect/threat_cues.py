"""Threat phrases in Russian, Kazakh and English, found by hand-written patterns.

Neither public labelled set marks threats, and the project's own threat examples are a few
hundred lines, so a statistical model alone would miss threats it has not seen phrased that
way. The phrases here are what responders see in real cases (death threats to editors, "we know
where you live", threats to children and to burn a car); they rank threats first and give the
responder the exact words that made a post a threat. Patterns read the text after
``qorgau.detect.abuse_text.normalize``, so disguised spellings match too; verb patterns are stems
with any ending, so inflected forms ("убьём", "өлтіреміз") match without a dictionary.

Legitimate pressure on a newsroom ("I will sue you", "ответишь в суде") is not a threat: a cue
found next to words about courts or complaints counts for less, unless it threatens a life.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

CATEGORIES = ("life", "harm", "property", "veiled")


@dataclass(frozen=True)
class CuePattern:
    id: str
    category: str  # one of CATEGORIES
    lang: str  # ru | kk | en
    pattern: re.Pattern[str]
    weight: float  # strength of this cue on its own, 0..1


@dataclass(frozen=True)
class CueMatch:
    id: str
    category: str
    lang: str
    phrase: str  # the matched words, normalised; never a person's identifier


@dataclass(frozen=True)
class CueResult:
    """What the lexical layer found in one text and how strongly it points to a threat."""

    matches: tuple[CueMatch, ...]
    score: float  # 0..1
    targeted: bool  # a second person, family member or property is named
    legal: bool = False  # courts, complaints or retractions are mentioned

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(c for c in CATEGORIES if any(m.category == c for m in self.matches))


_B = r"(?<![\w])"  # start of a word
_E = r"\w*"  # any ending

# (id, category, lang, weight, pattern over normalised text)
_RAW: Sequence[tuple[str, str, str, float, str]] = (
    # --- Russian: to life
    ("ru_kill", "life", "ru", 0.6, _B + r"(?:у|при|по)бь(?:ю|ем)\b"),
    ("ru_kill_inf", "life", "ru", 0.45, _B + r"(?:у|при)бить\b"),
    ("ru_kill_perf", "life", "ru", 0.55, _B + r"(?:зареж|пристрел|застрел|приконч|задуш)" + _E),
    ("ru_finish", "life", "ru", 0.55, _B + r"(?:прикончу|прикончим|замочу|замочим|грохну|грохнем)"),
    ("ru_bury", "life", "ru", 0.55, _B + r"(?:закопа(?:ю|ем)|похорон(?:им|ю)|урою|уроем)\b"),
    ("ru_die", "life", "ru", 0.55, _B + r"(?:сдохнешь|сдохните|подохнешь|не жить\w* (?:тебе|вам))"),
    ("ru_dead", "life", "ru", 0.6, _B + r"(?:ты|вы) (?:уже )?(?:труп\w*|покойни\w*|не жилец)"),
    ("ru_end", "life", "ru", 0.5, _B + r"(?:тебе|вам) (?:конец|крышка|хана|не жить)"),
    ("ru_bullet", "life", "ru", 0.55, _B + r"(?:пул\w* в (?:лоб|голову|башку)|пулю)"),
    ("ru_behead", "life", "ru", 0.55, _B + r"(?:голову|башку|шею) (?:оторв|сверн|отрез)" + _E),
    # --- Russian: harm
    ("ru_beat", "harm", "ru", 0.5, _B + r"(?:изобь|отпизд|отмудох|перелома?)\w*"),
    ("ru_cripple", "harm", "ru", 0.55, _B + r"(?:покалеч|переломаю|переломаем|искалеч)" + _E),
    (
        "ru_limbs",
        "harm",
        "ru",
        0.5,
        _B + r"(?:ноги|руки|язык|пальцы) (?:оторв|перелома?|вырв|отрез)" + _E,
    ),
    ("ru_face", "harm", "ru", 0.45, _B + r"(?:морду|лицо|ебало|рожу) (?:набь|разобь|начист)" + _E),
    ("ru_acid", "harm", "ru", 0.6, _B + r"кислот" + _E),
    # --- Russian: property
    (
        "ru_burn",
        "property",
        "ru",
        0.55,
        _B + r"(?:сожг(?:у|ем|ут)|сожж(?:ем|ешь|ете)|подожг(?:у|ем|ут)|подожж(?:ем|ешь|ете)|"
        r"спал(?:им|ю))\b",
    ),
    ("ru_burns", "property", "ru", 0.45, _B + r"(?:сгори(?:т|шь|те)|сгорят)\b"),
    ("ru_blow", "property", "ru", 0.55, _B + r"(?:взорв(?:у|ем|ем)|подорв(?:у|ем))\b"),
    (
        "ru_smash",
        "property",
        "ru",
        0.45,
        _B + r"(?:разобь(?:ю|ем)|раскурочи)\w* (?:тво|ваш|машин|окн)" + _E,
    ),
    # --- Russian: veiled
    (
        "ru_know_live",
        "veiled",
        "ru",
        0.8,
        r"знаем?,? где (?:ты |вы )?(?:живе|живу|ночу|работа)" + _E,
    ),
    (
        "ru_know_kids",
        "veiled",
        "ru",
        0.85,
        r"знаем?,? где (?:учат|ходят|гуляют|учит)\w*|"
        r"(?:дет\w*|доч\w*|сын\w*) (?:ход|учат|учит)\w* в (?:школ|сад|гимнази)",
    ),
    ("ru_school_no", "veiled", "ru", 0.6, r"школ\w* (?:№|no|номер|n)\.?\s?\d+|\d+ школ\w*"),
    (
        "ru_careful",
        "veiled",
        "ru",
        0.6,
        _B + r"(?:будь(?:те)? осторожн|береги(?:те)? (?:себя|семью|детей|"
        r"близких|жену|машину)|смотри(?:те)? по сторонам|оглядыва|ходи(?:те)? и оглядыва)" + _E,
    ),
    ("ru_way_home", "veiled", "ru", 0.55, r"(?:по дороге|по пути) (?:домой|с работы|в редакцию)"),
    (
        "ru_watching",
        "veiled",
        "ru",
        0.65,
        r"(?:следим|наблюдаем|присматриваем) за (?:тобой|вами|тво)" + _E,
    ),
    (
        "ru_coming",
        "veiled",
        "ru",
        0.6,
        _B + r"(?:мы придем|придем (?:к тебе|к вам|за тобой|за вами)|"
        r"жди(?:те)? гостей|скоро увидимся|доберемся до|найдем (?:тебя|вас))" + _E,
    ),
    ("ru_next", "veiled", "ru", 0.55, _B + r"(?:ты|вы) следующ" + _E),
    (
        "ru_accident",
        "veiled",
        "ru",
        0.6,
        r"(?:несчастн\w* случа|всякое (?:может )?(?:случи|быва)|"
        r"(?:что|чего)[- ](?:нибудь|то|бы) (?:не )?случи|как бы чего не)" + _E,
    ),
    (
        "ru_days",
        "veiled",
        "ru",
        0.6,
        r"(?:недолго (?:тебе|вам|осталось)|дни (?:твои|ваши) сочтены)",
    ),
    (
        "ru_regret",
        "veiled",
        "ru",
        0.45,
        _B + r"(?:пожалеешь|пожалеете|поплатишься|поплатитесь|"
        r"ответишь за|ответите за)" + _E,
    ),
    # --- Kazakh (Cyrillic and Latin)
    (
        "kk_kill",
        "life",
        "kk",
        0.65,
        _B + r"(?:өлтір|oltir|öltir)(?:ем|еміз|емін|ем|ip|emiz|emin)" + _E,
    ),
    ("kk_kill_inf", "life", "kk", 0.45, _B + r"(?:өлтіру|oltiru)" + _E),
    ("kk_die", "life", "kk", 0.55, _B + r"(?:өлесің|өлесіңдер|olesin|өлгенің|өлдің)" + _E),
    (
        "kk_shoot",
        "life",
        "kk",
        0.6,
        _B + r"(?:атып (?:тастай|өлтір)|бауызда|басыңды (?:кес|ал)|"
        r"сойып таста|тұншықтыр|atyp tastai|basyndy kes)" + _E,
    ),
    (
        "kk_beat",
        "harm",
        "kk",
        0.5,
        _B + r"(?:сабай(?:мын|мыз|м)|ұрамын|ұрамыз|аяғыңды сындыр|"
        r"қолыңды сындыр|мүгедек қыл|sabaimyn|sabaimyz)" + _E,
    ),
    (
        "kk_burn",
        "property",
        "kk",
        0.55,
        _B + r"(?:өртей(?:мін|міз|м)|өртеп жібер|жарып жібер|"
        r"ortei(?:min|miz))" + _E,
    ),
    (
        "kk_know_live",
        "veiled",
        "kk",
        0.8,
        r"(?:қайда тұраты\w*|үйіңді|мекенжайыңды|qaida turat\w*|"
        r"uiindi) (?:\w+ )?(?:білеміз|білемін|bilemiz|bilemin)",
    ),
    (
        "kk_know_kids",
        "veiled",
        "kk",
        0.85,
        r"(?:балаларың|балаң|балаларыңыз|balalaryn)\w* "
        r"(?:қай|qai|\d+)\s?\w*\s?(?:мектеп|mektep)" + _E,
    ),
    (
        "kk_careful",
        "veiled",
        "kk",
        0.6,
        _B + r"(?:абай бол|сақ бол|артыңа қара|abai bol|saq bol)" + _E,
    ),
    (
        "kk_way_home",
        "veiled",
        "kk",
        0.55,
        r"(?:үйге қайтар жол|жұмыстан қайтар жол|uige qaitar)" + _E,
    ),
    ("kk_watching", "veiled", "kk", 0.65, r"(?:бақылап жүрміз|аңдып жүрміз|baqylap zhurmiz)" + _E),
    (
        "kk_days",
        "veiled",
        "kk",
        0.6,
        r"(?:күнің санаулы|кезегің келеді|келесі сен|сен келесісің|"
        r"kunin sanauly)" + _E,
    ),
    ("kk_regret", "veiled", "kk", 0.45, _B + r"(?:өкінесің|өкінесіз|жауап бересің|okinesin)" + _E),
    # --- English
    (
        "en_kill",
        "life",
        "en",
        0.6,
        _B + r"(?:kill|murder|shoot|stab|strangle|hang|execute|behead)"
        r"(?:ing)? (?:you|u|ya|him|her|them|your)\b",
    ),
    (
        "en_will_kill",
        "life",
        "en",
        0.6,
        r"(?:i'?ll|i will|we'?ll|we will|gonna|going to|gon) "
        r"(?:\w+ )?(?:kill|murder|shoot|stab|end|bury|hunt)\b(?! it\b)",
    ),
    (
        "en_dead",
        "life",
        "en",
        0.55,
        r"(?:you'?re|you are|ur|u r|you) (?:a )?(?:dead|dead man|"
        r"dead meat|finished)\b",
    ),
    (
        "en_bullet",
        "life",
        "en",
        0.6,
        r"(?:bullet in (?:your|ur)|slit (?:your|ur) throat|"
        r"put you in the ground|six feet under)",
    ),
    (
        "en_harm",
        "harm",
        "en",
        0.5,
        r"(?:break (?:your|ur) (?:legs|neck|face|arms|bones)|beat (?:you|u)"
        r" (?:up|to)|hurt (?:you|u|your)\b|acid (?:in|on) (?:your|ur))",
    ),
    (
        "en_burn",
        "property",
        "en",
        0.55,
        r"(?:burn|torch|blow up|smash) (?:down )?(?:your|ur) "
        r"(?:car|house|home|office|flat|newsroom)",
    ),
    (
        "en_know_live",
        "veiled",
        "en",
        0.8,
        r"(?:we|i) know where (?:you|u|your \w+) "
        r"(?:live|sleep|work|go to school)",
    ),
    (
        "en_kids_school",
        "veiled",
        "en",
        0.85,
        r"(?:your|ur) (?:kids|children|son|daughter)\w* "
        r"(?:go|goes|walk\w*) (?:to )?(?:school|kindergarten)",
    ),
    (
        "en_careful",
        "veiled",
        "en",
        0.6,
        r"(?:be careful|watch (?:your|ur) back|watch (?:your|ur) "
        r"step|look over (?:your|ur) shoulder|sleep with one eye open)",
    ),
    ("en_way_home", "veiled", "en", 0.55, r"on (?:your|ur) way (?:home|to work|back)"),
    ("en_watching", "veiled", "en", 0.65, r"(?:we'?re|we are|i'?m|i am) watching (?:you|u)\b"),
    (
        "en_days",
        "veiled",
        "en",
        0.6,
        r"(?:your days are numbered|you'?re next|you are next|"
        r"accidents happen|something (?:bad )?(?:could|might|will) happen|see you soon)",
    ),
    ("en_regret", "veiled", "en", 0.45, r"(?:you'?ll|you will) (?:regret|pay for)\b"),
)

_TARGETS = re.compile(
    _B + r"(?:"
    # Russian: second person, family, property, the newsroom
    r"ты|тебя|тебе|тобой|твой|твоя|твое|твои|тво\w+|вы|вас|вам|вами|ваш\w*|"
    r"дет(?:и|ей|ям|ьми)|реб[её]н\w*|сем\w+|жен\w+|муж\w*|мать|мам\w+|доч\w+|сын\w*|"
    r"машин\w+|квартир\w+|дом\b|дома|офис\w*|редакци\w+|"
    # Kazakh
    r"сен|сені|саған|сенің|сенімен|сендер\w*|сіз|сізді|сізге|сіздің|"
    r"бала\w*|отбасы\w*|әйел\w*|анаң\w*|қызың\w*|ұлың\w*|көлі\w+|үйің\w*|пәтері\w*|кеңсе\w*|"
    r"sen|seni|sagan|senin|siz|sizdi|balan\w*|balalar\w*|kolik\w*|kolig\w*|uiin\w*|"
    # English
    r"you|u|ya|your|ur|yours|family|kids|children|wife|husband|mother|mom|daughter|son|"
    r"car|house|home|office|newsroom|xuser|"
    # third person: "убить бы его", "оны өлтіру керек", "someone should shoot her"
    r"его|ее|ей|ему|их|им|него|нее|ней|нему|них|оны|оған|олар\w*|him|her|them"
    r")\b"
)
_LEGAL = re.compile(
    r"(?:суд\w*|засуд\w*|иск\w*|прокурат\w*|полици\w*|жалоб\w*|опроверж\w*|юрист\w*|адвокат\w*|"
    r"сот\w*|арыз\w*|sue\b|court|lawsuit|lawyer|complaint|press council|retraction|"
    r"in court|legal action)"
)
_LEGAL_DAMPING = 0.5

PATTERNS: tuple[CuePattern, ...] = tuple(
    CuePattern(cid, category, lang, re.compile(pattern), weight)
    for cid, category, lang, weight, pattern in _RAW
)


def find_cues(normalized: str, *, aimed: bool = False) -> CueResult:
    """Threat cues in a text already passed through ``abuse_text.normalize``.

    The score combines cues as independent pieces of evidence (1 - product of their
    complements); a violent verb counts fully only when someone or something is named as its
    target, because "убить бы этот закон" is not a threat to a person. ``aimed`` says the
    text is already known to be addressed to a person (a reply to them, their name in it)."""
    matches: list[CueMatch] = []
    weights: list[float] = []
    for cue in PATTERNS:
        found = cue.pattern.search(normalized)
        if found is None:
            continue
        matches.append(CueMatch(cue.id, cue.category, cue.lang, found.group(0).strip()))
        weights.append(cue.weight)
    targeted = aimed or _TARGETS.search(normalized) is not None
    if not matches:
        return CueResult((), 0.0, targeted, _LEGAL.search(normalized) is not None)
    legal = _LEGAL.search(normalized) is not None
    remaining = 1.0
    for match, weight in zip(matches, weights, strict=True):
        if match.category != "veiled":
            weight = weight + 0.3 if targeted else weight * 0.6
        if legal and match.category != "life":
            weight *= _LEGAL_DAMPING
        remaining *= 1.0 - min(weight, 0.95)
    return CueResult(tuple(matches), round(1.0 - remaining, 4), targeted, legal)


# Insults strong enough to mark a text abusive on their own, in any context; milder words
# ("stupid", "глупый") are left to the model because criticism uses them too.
_INSULTS: Sequence[tuple[str, str, str]] = (
    (
        "ru",
        "ru_insult",
        r"(?:дур(?:а|ак|ой|очк)|идиот|дебил|тварь|твари|мраз|урод|ублюд|сук(?:а|и|у)\b|сучк|"
        r"шлюх|пидор|пидар|мудак|мудил|говн|козел|козлы|тупорыл|кретин|придур|"
        r"дегенерат|ничтожеств|чмо\b|подон|гнид|падл|скотин|быдл|свинь|сволоч|выродк|выродок|"
        r"\w*еба[нлт]\w*|\w*ху[йеия]\w*|\w*пизд|бляд|блядь|бля\b|залуп|гандон|долбо|"
        r"жирная|шалав|лахудр|продажн\w* тварь)\w*",
    ),
    (
        "kk",
        "kk_insult",
        r"(?:ақымақ|ақмақ|иттің баласы|сасық ит|сатылған ит|оңбаған|жалақор|мәңгүрт|шошқа|есек|"
        r"жексұрын|найсап|малғұн|боқ\b|akymak|aqymaq|satqyn it|esek|onbagan|shoshqa)\w*",
    ),
    (
        "en",
        "en_insult",
        r"(?:idiot|moron|bitch|b1tch|whore|slut|cunt|fuck|fck|f\*ck|retard|scum|asshole|bastard|"
        r"imbecile|dumbass|piece of (?:shit|trash)|shithead|dickhead|faggot|nigg|pig\b|loser|"
        r"disgusting|worthless)\w*",
    ),
)
INSULTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cid, re.compile(r"(?<![\w])" + pattern)) for _, cid, pattern in _INSULTS
)
INSULT_WEIGHT = 0.6  # one strong insult; two or more count as 0.84


def find_insults(normalized: str) -> tuple[tuple[CueMatch, ...], float]:
    """Strong insults in a normalised text, and how strongly they mark it abusive (0..1)."""
    matches: list[CueMatch] = []
    for (lang, cid, _), (_, pattern) in zip(_INSULTS, INSULTS, strict=True):
        for found in pattern.finditer(normalized):
            matches.append(CueMatch(cid, "insult", lang, found.group(0)))
            if len(matches) >= 3:
                break
    score = 1.0 - (1.0 - INSULT_WEIGHT) ** min(len(matches), 2) if matches else 0.0
    return tuple(matches), round(score, 4)
