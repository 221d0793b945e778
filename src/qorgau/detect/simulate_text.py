"""Texts of simulated posts and classified ads, and the ways a planted number is disguised.

Posts come in the four ways people in Kazakhstan write online (Russian, Kazakh in Cyrillic,
Kazakh in the Latin alphabet, English) from templates with random slots, so detectors meet
varied wording instead of one repeated sentence. Ordinary ads carry other people's numbers in
the formats sellers really use; planted ones use the disguises that attackers use to get past
keyword filters, so the identifier detector is tested on both."""

from __future__ import annotations

import random
from collections.abc import Callable

_RU_TOPICS = (
    "цены на бензин",
    "тарифы на коммуналку",
    "пробки на Аль-Фараби",
    "ремонт дорог",
    "курс тенге",
    "школьное питание",
    "экологию Балхаша",
    "новый закон о СМИ",
    "застройку в горах",
    "выборы в маслихат",
)
_RU_COMMENTS = (
    "Сколько можно?",
    "Надо разобраться.",
    "Очень жаль.",
    "Наконец-то!",
    "Кто за это отвечает?",
    "Хорошая новость.",
    "Посмотрим, что будет дальше.",
    "Спасибо, что пишете об этом.",
)
_RU_TEMPLATES = (
    "{opener} {topic} в {city}: {comment}",
    "Сегодня в {city} обсуждают {topic}. {comment} {link}",
    "Кто-нибудь знает, что происходит? Все пишут про {topic}. {comment}",
    "{mention} спасибо за материал про {topic}! {link}",
    "Читаю {outlet} про {topic}. {comment}",
    "Опять {topic} — {comment} #{tag}",
)
_RU_OPENERS = ("Коротко про", "Снова про", "Новости про", "Важно:", "Итак,")
_CITIES_RU = ("Алматы", "Астане", "Шымкенте", "Караганде", "Актобе", "Павлодаре")

_KK_TOPICS = (
    "жанармай бағасы",
    "коммуналдық төлемдер",
    "жол жөндеу",
    "теңге бағамы",
    "мектептегі тамақ",
    "Балқаш экологиясы",
    "БАҚ туралы жаңа заң",
)
_KK_COMMENTS = (
    "Қашанға дейін?",
    "Өте өкінішті.",
    "Ақыры!",
    "Жақсы жаңалық.",
    "Кім жауап береді?",
    "Рақмет, жазып жүргендеріңізге.",
)
_KK_TEMPLATES = (
    "Бүгін {city} қаласында {topic} талқыланып жатыр. {comment}",
    "{topic} туралы жақсы мақала {link}",
    "Сіздер қалай ойлайсыздар, {topic} өзгере ме? {comment}",
    "{mention} рақмет, {topic} туралы жазғаныңызға! {link}",
    "{outlet} жазады: {topic}. {comment} #{tag}",
)
_CITIES_KK = ("Алматы", "Астана", "Шымкент", "Қарағанды", "Ақтөбе")

_KL_TOPICS = (
    "janarmaı baǵasy",
    "kommýnaldyq tólemder",
    "jol jóndeý",
    "teńge baǵamy",
    "mekteptegi tamaq",
    "BAQ týraly jańa zań",
)
_KL_COMMENTS = ("Qashanǵa deıin?", "Óte ókinishti.", "Aqyry!", "Jaqsy jańalyq.", "Rahmet!")
_KL_TEMPLATES = (
    "Búgin {city} qalasynda {topic} talqylanyp jatyr. {comment}",
    "{topic} týraly jaqsy maqala {link}",
    "{mention} rahmet, {topic} týraly jazǵanyńyzǵa! {comment}",
    "{outlet}: {topic}. {comment} #{tag}",
)
_CITIES_KL = ("Almaty", "Astana", "Shymkent", "Qaraǵandy", "Aqtóbe")

_EN_TOPICS = (
    "fuel prices",
    "utility tariffs",
    "road repairs",
    "the tenge exchange rate",
    "school meals",
    "Lake Balkhash",
    "the new media law",
    "construction in the mountains",
)
_EN_COMMENTS = (
    "Worth reading.",
    "Important story.",
    "Who is responsible?",
    "Good news for once.",
    "Let's see what happens next.",
)
_EN_TEMPLATES = (
    "Interesting piece on {topic} from {outlet}: {link}",
    "Thread on {topic} in {city}. {comment}",
    "{mention} thanks for covering {topic}! {comment}",
    "{comment} {topic} again. #{tag}",
)
_CITIES_EN = ("Almaty", "Astana", "Shymkent", "Karaganda")
_TAGS = ("новости", "Алматы", "Qazaqstan", "жаңалықтар", "news", "kz")
_NEWS_SITES = ("news-daily.example", "zhanalyq.example", "city-portal.example", "press.example")

_AD_ITEMS_RU = (
    "велосипед",
    "диван угловой",
    "детскую коляску",
    "iPhone 12",
    "холодильник",
    "шины R16",
    "ноутбук",
    "стиральную машину",
    "гараж",
    "комнату в аренду",
)
_AD_ITEMS_KK = ("велосипед", "диван", "тоңазытқыш", "балалар арбасы", "ноутбук")
_AD_STATES = ("б/у, в хорошем состоянии", "новый", "почти новый", "срочно", "торг уместен")
_AD_TEMPLATES_RU = (
    "Продаю {item}, {state}. Цена {price} тг. Звоните: {phone}",
    "{item_cap} — {price} тенге, торг. Тел. {phone}, {name}",
    "Срочно! {item_cap} недорого, {price} тг. {phone} (WhatsApp)",
    "Отдам {item} за {price} тг, самовывоз. Пишите {phone}",
)
_AD_TEMPLATES_KK = (
    "Сатамын {item}, бағасы {price} тг. Хабарласыңыз: {phone}",
    "{item_cap} сатылады, {price} теңге. Тел: {phone}",
)
_SELLER_NAMES = ("Ерлан", "Светлана", "Айдос", "Мария", "Бахыт", "Олег", "Гульмира")
# The Orda.kz ads offered equipment and animals, priced to draw as many calls as possible.
_PLANTED_ITEMS = (
    "трактор МТЗ-82",
    "бычков, 6 месяцев",
    "овец, 20 голов",
    "кобылу с жеребёнком",
    "бензогенератор 5 кВт",
    "бетономешалку",
    "сварочный аппарат",
    "щенков алабая",
)
_PLANTED_TEMPLATES = (
    "Продаю {item} очень дёшево, {price} тг, срочно в связи с переездом! {phone}",
    "Отдам {item} почти даром — {price} тг. Звонить в любое время: {phone}",
    "СРОЧНО!!! {item_cap}, цена {price} тг. Тел {phone}, звоните хоть ночью",
    "Сатамын {item}, өте арзан, {price} тг. {phone}",
)


_Language = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
# Cumulative shares: roughly how posts about Kazakh news split between the ways of writing.
_LANGUAGES: tuple[tuple[float, _Language], ...] = (
    (0.45, ("ru", _RU_TEMPLATES, _RU_TOPICS, _RU_COMMENTS, _CITIES_RU)),
    (0.70, ("kk", _KK_TEMPLATES, _KK_TOPICS, _KK_COMMENTS, _CITIES_KK)),
    (0.80, ("kk", _KL_TEMPLATES, _KL_TOPICS, _KL_COMMENTS, _CITIES_KL)),
    (1.01, ("en", _EN_TEMPLATES, _EN_TOPICS, _EN_COMMENTS, _CITIES_EN)),
)


# What people add of their own: without it, a few templates would make strangers post the
# same sentence within minutes, which is exactly what a copy-paste campaign looks like.
_PERSONAL = {
    "ru": (
        "Лично я в шоке.",
        "Муж говорит, так и было.",
        "У нас во дворе то же самое.",
        "Пишу третий раз, никто не отвечает.",
        "Вчера сам видел.",
        "Соседи подтверждают.",
        "Имхо, это надолго.",
        "Мама звонила, переживает.",
        "Ну и дела.",
        "Без комментариев.",
        "Работаю рядом, всё так.",
        "Жду официального ответа.",
        "Дети спрашивают, что будет.",
        "С утра обсуждаем на работе.",
        "Всё как всегда.",
        "Надеюсь, разберутся.",
    ),
    "kk": (
        "Өзім көрдім.",
        "Көршілер де айтып жүр.",
        "Біздің ауданда да солай.",
        "Анам хабарласып, уайымдап отыр.",
        "Жұмыста осыны талқылап жатырмыз.",
        "Ресми жауап күтеміз.",
        "Не болатынын көрейік.",
        "Балалар сұрап жүр.",
        "Ozim kordim.",
        "Bizdin audanda da solai.",
        "Resmi jauap kutemiz.",
        "Qyzyq eken.",
        "Таңнан бері осы әңгіме.",
        "Түсінбедім.",
        "Кеше де осылай болған.",
    ),
    "en": (
        "Saw it myself yesterday.",
        "My neighbours say the same.",
        "Same on our street.",
        "Still waiting for an official answer.",
        "Not surprised, honestly.",
        "My mum called about it.",
        "Everyone at work is talking about it.",
        "Hope someone sorts it out.",
        "Third time I post this.",
        "Unbelievable.",
        "Let's see what happens.",
        "Kids keep asking about it.",
    ),
}
_EMOJI = ("👍", "😡", "🤔", "😢", "🙏", "🔥", "😮", "👀")


def post_text(rng: random.Random, outlet: str, mention: str) -> tuple[str, str]:
    """A post's text and language code; ``mention`` ("@handle" or "") is sometimes used."""
    roll = rng.random()
    lang, templates, topics, comments, cities = next(
        spec for share, spec in _LANGUAGES if roll < share
    )
    template = rng.choice(templates)
    if mention and "{mention}" not in template:
        template = "{mention} " + template
    topic = rng.choice(topics)
    text = template.format(
        opener=rng.choice(_RU_OPENERS),
        topic=topic,
        comment=rng.choice(comments),
        city=rng.choice(cities),
        link=news_link(rng),
        mention=mention or "@" + rng.choice(("press_kz", "almaty_info", "qazinform_fan")),
        outlet=outlet,
        tag=rng.choice(_TAGS),
    )
    own = _PERSONAL[lang]
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        text += " " + rng.choice(own)
    if rng.random() < 0.3:
        text += " " + rng.choice(_EMOJI)
    return " ".join(text.split()), lang


def news_link(rng: random.Random) -> str:
    slug = "-".join(rng.choice(("news", "city", "2025", "report", "life", "economy")) for _ in "ab")
    return f"https://{rng.choice(_NEWS_SITES)}/{slug}/{rng.randrange(10**5)}"


def ordinary_ad(rng: random.Random, phone_text: str) -> tuple[str, str]:
    """An ordinary ad's text and language, selling something with ``phone_text`` in it."""
    kazakh = rng.random() < 0.25
    item = rng.choice(_AD_ITEMS_KK if kazakh else _AD_ITEMS_RU)
    template = rng.choice(_AD_TEMPLATES_KK if kazakh else _AD_TEMPLATES_RU)
    text = template.format(
        item=item,
        item_cap=item[0].upper() + item[1:],
        state=rng.choice(_AD_STATES),
        price=_price(rng),
        phone=phone_text,
        name=rng.choice(_SELLER_NAMES),
    )
    return text, "kk" if kazakh else "ru"


def planted_ad(rng: random.Random, phone_text: str) -> tuple[str, str]:
    template = rng.choice(_PLANTED_TEMPLATES)
    item = rng.choice(_PLANTED_ITEMS)
    text = template.format(
        item=item, item_cap=item[0].upper() + item[1:], price=_price(rng), phone=phone_text
    )
    return text, "kk" if "Сатамын" in template else "ru"


def _price(rng: random.Random) -> str:
    value = rng.choice((5, 8, 12, 15, 25, 40, 75, 120, 250, 600)) * 1000
    return f"{value:,}".replace(",", " ") if rng.random() < 0.5 else str(value)


# --- phone numbers as people write them -------------------------------------------------------


def plain_phone(rng: random.Random, e164: str) -> str:
    """A number in one of the everyday formats of ordinary ads."""
    n = e164[2:]  # the ten national digits after +7
    return rng.choice(
        (
            f"+7 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}",
            f"8 {n[:3]} {n[3:6]} {n[6:]}",
            f"8{n}",
            f"8({n[:3]}){n[3:6]}-{n[6:8]}-{n[8:]}",
            f"+7{n}",
        )
    )


def _paren(n: str, rng: random.Random) -> str:
    return f"8 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}"


def _plus_grouped(n: str, rng: random.Random) -> str:
    return f"+7 {n[:3]} {n[3:]}"


def _spaced_digits(n: str, rng: random.Random) -> str:
    return " ".join("8" + n)


def _dotted(n: str, rng: random.Random) -> str:
    return f"8.{n[:3]}.{n[3:6]}.{n[6:8]}.{n[8:]}"


def _words_between(n: str, rng: random.Random) -> str:
    word = rng.choice(("звоните", "ватсап", "спросить хозяина", "хабарласыңыз", "звонить"))
    return f"{n[:3]} {word} {n[3:6]} {n[6:8]} {n[8:]}"


def _dashes(n: str, rng: random.Random) -> str:
    return f"8-{n[:3]}-{n[3:6]}-{n[6:8]}-{n[8:]}"


# Letters that read as digits: Cyrillic О and о, Latin o and O for 0, Cyrillic З for 3, Latin l
# and I for 1, Cyrillic б for 6.
_LOOKALIKES = {"0": "ОоoO", "3": "З", "1": "lI", "6": "б"}


def _lookalikes(n: str, rng: random.Random) -> str:
    digits = "8" + n
    swapped = "".join(
        rng.choice(_LOOKALIKES[ch]) if ch in _LOOKALIKES and rng.random() < 0.7 else ch
        for ch in digits
    )
    if swapped == digits:  # make sure at least one letter stands in for a digit
        i = next((i for i, ch in enumerate(digits) if ch in _LOOKALIKES), None)
        if i is not None:
            swapped = digits[:i] + _LOOKALIKES[digits[i]][0] + digits[i + 1 :]
    return f"{swapped[0]} {swapped[1:4]} {swapped[4:7]} {swapped[7:9]} {swapped[9:]}"


def _split_lines(n: str, rng: random.Random) -> str:
    return f"+7 {n[:3]}\n{n[3:6]}\n{n[6:]}"


OBFUSCATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "paren": _paren,
    "plus_grouped": _plus_grouped,
    "spaced_digits": _spaced_digits,
    "dotted": _dotted,
    "words_between": _words_between,
    "dashes": _dashes,
    "lookalikes": _lookalikes,
    "split_lines": _split_lines,
}


def disguised_phone(rng: random.Random, e164: str, style: str) -> str:
    return OBFUSCATIONS[style](e164[2:], rng)


def one_digit_off(rng: random.Random, e164: str) -> str:
    """The number with one subscriber digit changed: a decoy that must not be matched."""
    n = list(e164[2:])
    i = rng.randrange(3, 10)  # keep the operator prefix, so it is still a plausible mobile
    n[i] = rng.choice([d for d in "0123456789" if d != n[i]])
    return "+7" + "".join(n)
