"""Simulated copy-paste campaigns, and the organic sharing they must not be confused with.

Modelled on the 2025 case in which one fake "invitation" went out in the names of an editor,
the Prime Minister, two governors and several journalists: many fresh accounts posted it within
an hour or two, in Russian and in Kazakh (Cyrillic, and the Latin alphabet), each copy a little
edited — words swapped or dropped, emoji and hashtags added — to look spontaneous.

``copypasta`` and ``organic_share`` write through the simulated ``World`` like the campaigns in
``simulate_campaigns``; ``generate_corpus`` makes a large labelled stream without the World, for
the benchmark, fast enough for a million posts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from qorgau.detect.simulate_campaigns import CampaignPlan, Truth
from qorgau.detect.simulate_world import World
from qorgau.detect.text_fold import transliterate

_STATEMENTS_RU = (
    "Уважаемые коллеги! {name} приглашает всех журналистов на закрытую встречу в акимате "
    "в пятницу в 15:00, где будет объявлено о новых правилах аккредитации и о выплатах тем, "
    "кто согласится писать только согласованные материалы. Регистрация по ссылке.",
    "Официальное заявление: {name} признаёт, что получал деньги от иностранных фондов за "
    "публикации против государства, и просит прощения у читателей. Подробности в канале.",
)
_STATEMENTS_KK = (
    "Құрметті әріптестер! {name} барлық журналистерді жұма күні сағат 15:00-де әкімдікте "
    "өтетін жабық кездесуге шақырады, онда аккредитацияның жаңа ережелері мен тек келісілген "
    "материалдар жазуға келіскендерге төленетін төлемдер жарияланады.",
)
_EMOJI = ("🔥", "❗", "👉", "⚡", "😱", "📢", "✅")
_TAGS = ("#срочно", "#новости", "#Казахстан", "#жаңалықтар", "#Qazaqstan", "#важно")
_OPINIONS = (
    "interesting read",
    "не согласен с автором",
    "вот это поворот",
    "мне кажется, всё сложнее",
    "жақсы мақала",
    "надо почитать внимательно",
    "кто-нибудь проверял факты?",
    "грустно, но ожидаемо",
    "өте маңызды тақырып",
    "поделюсь с друзьями",
    "наконец-то об этом написали",
    "сомнительно",
    "в нашем районе то же самое",
    "спасибо журналистам",
    "what do you think",
    "давно пора",
)
_OWN_WORDS = (
    "честно вообще сегодня утром опять кстати ну короче думаю слышал видел читал друг сосед "
    "мама работа город район дорога школа цены зарплата налоги власти акимат суд полиция "
    "депутаты министр закон правда ложь вопрос ответ проблема решение год месяц неделя вчера "
    "завтра всегда никогда почему зачем когда где куда лучше хуже странно смешно страшно "
    "бүгін тағы ертең кеше неге қашан қалай жақсы жаман адамдар қала ауыл жол баға жалақы "
    "really just think news people city price again why how today yesterday maybe sure"
).split()


def edited_copy(rng: random.Random, text: str, latin_share: float = 0.3) -> str:
    """One copy of ``text`` edited the way campaign accounts edit: a pair of words swapped, a
    word dropped, emoji and hashtags added, sometimes the whole text in Kazakh Latin script."""
    words = text.split()
    if len(words) > 4 and rng.random() < 0.7:
        k = rng.randrange(len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    if len(words) > 8 and rng.random() < 0.5:
        del words[rng.randrange(len(words))]
    out = " ".join(words)
    if rng.random() < latin_share:
        out = transliterate(out).capitalize()
    if rng.random() < 0.6:
        out = f"{rng.choice(_EMOJI)} {out}"
    if rng.random() < 0.6:
        out = f"{out} {' '.join(rng.sample(_TAGS, rng.randint(1, 3)))}"
    return out


def own_words(rng: random.Random, link: str) -> str:
    """A post sharing ``link`` in the poster's own words, as real people share news: a stock
    reaction or two among words of their own."""
    parts = rng.sample(_OPINIONS, rng.randint(0, 2)) + rng.choices(_OWN_WORDS, k=rng.randint(4, 14))
    rng.shuffle(parts)
    return f"{' '.join(parts).capitalize()} {link}"


def copypasta(world: World, plan: CampaignPlan, truth_id: str) -> Truth:
    """10-60 fresh accounts post edited copies of one fake statement in a person's name within
    an hour or two (params ``accounts``, ``minutes``, ``latin_share``)."""
    rng = world.rng
    accounts = int(plan.params.get("accounts", rng.randint(10, 60)))
    minutes = float(plan.params.get("minutes", rng.uniform(60, 120)))
    latin_share = float(plan.params.get("latin_share", 0.3))
    name = plan.people[0] if plan.people else "the editor"
    kazakh = rng.random() < 0.5
    template = rng.choice(_STATEMENTS_KK if kazakh else _STATEMENTS_RU)
    statement = template.format(name=name)
    posters = [f"news_{rng.randrange(10**7):07d}" for _ in range(accounts)]
    ids: list[str] = []
    for account in posters:
        when = (plan.at + timedelta(minutes=minutes * rng.random())).replace(microsecond=0)
        obs = world.post(when, account, edited_copy(rng, statement, latin_share), "kk")
        ids.append(obs.id)
    end = plan.at + timedelta(minutes=minutes)
    details = {"accounts": accounts, "minutes": round(minutes, 1), "statement": statement}
    return _truth(world, plan, truth_id, end, True, ids, details)


def organic_share(world: World, plan: CampaignPlan, truth_id: str) -> Truth:
    """Many accounts share one news link over many hours, each in their own words: virality,
    not coordination (params ``accounts``, ``hours``)."""
    rng = world.rng
    accounts = int(plan.params.get("accounts", rng.randint(30, 80)))
    hours = float(plan.params.get("hours", rng.uniform(8, 16)))
    link = f"https://news-daily.example/{rng.randrange(10**6)}"
    ids: list[str] = []
    for account in rng.sample(world.accounts, min(accounts, len(world.accounts))):
        when = (plan.at + timedelta(hours=hours * rng.random())).replace(microsecond=0)
        ids.append(world.post(when, account, own_words(rng, link), "ru").id)
    details = {"accounts": len(ids), "hours": round(hours, 1), "link": link}
    return _truth(world, plan, truth_id, plan.at + timedelta(hours=hours), False, ids, details)


def _truth(
    world: World,
    plan: CampaignPlan,
    truth_id: str,
    end: datetime,
    should_flag: bool,
    ids: list[str],
    details: dict[str, object],
) -> Truth:
    group = world.person(plan.people[0]).outlet if plan.people else ""
    return Truth(
        id=truth_id,
        kind=plan.kind,
        people=plan.people,
        group=group,
        start=plan.at,
        end=min(end, world.end),
        should_flag=should_flag,
        observation_ids=tuple(ids),
        details=details,
    )


@dataclass(frozen=True)
class Corpus:
    """A labelled stream for the benchmark: ``labels[i]`` is the campaign index of post ``i``,
    or -1 for ordinary posts (organic shares and self-repeaters included)."""

    texts: list[str]
    accounts: list[str]
    times: list[float]
    labels: list[int]
    campaigns: int


def generate_corpus(posts: int, campaigns: int, seed: int = 1, days: float = 7.0) -> Corpus:
    """``posts`` posts over ``days`` days: ordinary chatter from a Zipf-like vocabulary in
    Russian and Kazakh, organic shares of news links, accounts repeating their own text, and
    ``campaigns`` planted copy-paste campaigns (10-60 accounts within one to two hours)."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng, 30_000)
    weights = [1.0 / (rank + 10) for rank in range(len(vocabulary))]
    cumulative: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    span = days * 86400.0
    texts: list[str] = []
    accounts: list[str] = []
    times: list[float] = []
    labels: list[int] = []
    planted = 0
    for c in range(campaigns):
        base = " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(18, 40)))
        start = rng.uniform(0, span - 7200)
        minutes = rng.uniform(60, 120)
        for k in range(rng.randint(10, 60)):
            texts.append(edited_copy(rng, base))
            accounts.append(f"c{c}_{k}")
            times.append(start + rng.uniform(0, minutes * 60))
            labels.append(c)
            planted += 1
    shares = max(1, (posts - planted) // 2000)
    for s in range(shares):
        link = f"https://news.example/{s}"
        start = rng.uniform(0, span - 16 * 3600)
        for k in range(40):
            texts.append(own_words(rng, link))
            accounts.append(f"reader{s}_{k}")
            times.append(start + rng.uniform(0, 12 * 3600))
            labels.append(-1)
    while len(texts) < posts:
        n = rng.randint(6, 30)
        text = " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=n))
        repeats = 3 if rng.random() < 0.001 else 1  # someone posting the same thing again
        account = f"u{rng.randrange(200_000)}"
        at = rng.uniform(0, span)
        for r in range(repeats):
            texts.append(text)
            accounts.append(account)
            times.append(at + 600 * r)
            labels.append(-1)
    del texts[posts:], accounts[posts:], times[posts:], labels[posts:]
    return Corpus(texts, accounts, times, labels, campaigns)


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    """Made-up words from Russian and Kazakh syllables, in both Cyrillic and Latin script."""
    syllables = (
        "ба бе ва ге да до жа за ка кө қа ла ле ма мо на нө па ра ре са сы та ты ұл үй ша ше "
        "ән ғы ің ов ск ст пр но ли ри ки мі рі ті ды лы ны ар ер ір ан ен ін ат ет ім"
    ).split()
    words: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choices(syllables, k=rng.randint(1, 4)))
        if rng.random() < 0.15:
            word = transliterate(word)
        words.add(word)
    out = sorted(words)
    rng.shuffle(out)
    return out
