"""Finding watched e-mails, addresses and plates in the wording people actually use.

These identifiers are matched in two steps like the numbers: a distinctive piece (an e-mail's
longest label, an address's street name, a plate's digits) finds the few candidate texts fast,
and the patterns here confirm the whole identifier in the original text, tolerating the ways it
is disguised ("name [at] example [dot] kz", "Абая көшесі 150 үй", "123 АВС 02")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from qorgau.detect.watchlist import ADDRESS_NOISE, ADDRESS_TOKEN, AddressParts

_OPEN = r"[\(\[\{<]"
_CLOSE = r"[\)\]\}>]"
_AT_WORDS = r"(?:at|собака|собачка|эт)"
_DOT_WORDS = r"(?:dot|точка|нүкте)"
_AT = rf"(?:\s*@\s*|\s*{_OPEN}\s*(?:{_AT_WORDS}|@)\s*{_CLOSE}\s*|\s+{_AT_WORDS}\s+|\s*\(a\)\s*)"
_DOT = rf"(?:\s?\.\s?|\s*{_OPEN}\s*(?:{_DOT_WORDS}|\.)\s*{_CLOSE}\s*|\s+{_DOT_WORDS}\s+)"
# Providers so common that their name would make every text with an e-mail a candidate.
_COMMON_LABELS = frozenset(
    {"gmail", "mail", "yandex", "inbox", "list", "outlook", "hotmail", "yahoo", "icloud", "bk"}
)


def email_pattern(email: str) -> re.Pattern[str]:
    """The e-mail with every "@" and "." replaced by the ways they are spelled out."""
    local, domain = email.rsplit("@", 1)
    local_re = _DOT.join(re.escape(part) for part in local.split("."))
    domain_re = _DOT.join(re.escape(part) for part in domain.split("."))
    return re.compile(
        rf"(?<![\w.+\-]){local_re}{_AT}{domain_re}(?![\w\-]|\.[^\W\d_])", re.IGNORECASE
    )


def email_anchor(email: str) -> str:
    """The label that finds candidate texts: the longest of the local part, else of the
    domain, leaving out mail providers everyone uses."""
    local, domain = email.rsplit("@", 1)
    local_labels = [p for p in re.split(r"[.\-_+]", local) if len(p) >= 3]
    if local_labels:
        return max(local_labels, key=len)
    domain_labels = [p for p in domain.split(".")[:-1] if p not in _COMMON_LABELS]
    return max(domain_labels or [local], key=len)


def case_variants(word: str) -> set[str]:
    """Spellings to put in a case-sensitive automaton instead of folding a whole batch (which
    would cost more than the scan itself)."""
    return {word, word.lower(), word.upper(), word[:1].upper() + word[1:].lower()}


# --- addresses -------------------------------------------------------------------------------

_HOUSE_DASH = re.compile(r"-(?=[^\W\d_])")
HOUSE_WINDOW = 2  # kept tokens allowed between street and house, and between house and flat


def _house(token: str) -> str:
    """ "150-а" and "150а" are one house; "50-1" and "50/1" one building."""
    return _HOUSE_DASH.sub("", token).replace("-", "/")


def _kept_tokens(text: str) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for m in ADDRESS_TOKEN.finditer(text):
        folded = m.group().casefold()
        if folded not in ADDRESS_NOISE:
            out.append((folded, m.start(), m.end()))
    return out


def address_spans(text: str, parts: AddressParts) -> Iterator[tuple[int, int]]:
    """Spans where the street, the house number right after (or before) it and, when the
    watchlist gives one, the flat shortly after that, appear together."""
    tokens = _kept_tokens(text)
    words = [tok for tok, _, _ in tokens]
    n = len(parts.street)
    house = _house(parts.house)
    flat = None if parts.flat is None else _house(parts.flat)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) != parts.street:
            continue
        end_street = i + n
        house_at = next(
            (
                j
                for j in range(end_street, min(end_street + HOUSE_WINDOW, len(words)))
                if _house(words[j]) == house
            ),
            None,
        )
        if house_at is None and i > 0 and _house(words[i - 1]) == house:
            house_at = i - 1  # "150 Abay St"
        if house_at is None:
            continue
        last = max(house_at, end_street - 1)
        if flat is not None:
            after = max(house_at, end_street - 1) + 1
            flat_at = next(
                (
                    j
                    for j in range(after, min(after + HOUSE_WINDOW, len(words)))
                    if _house(words[j]) == flat
                ),
                None,
            )
            if flat_at is None:
                continue
            last = flat_at
        first = min(i, house_at)
        yield tokens[first][1], tokens[last][2]


def address_anchor(parts: AddressParts) -> str:
    return max(parts.street, key=len)


# --- plates ----------------------------------------------------------------------------------

_LATIN_TO_CYRILLIC = {
    "A": "Аа", "B": "Вв", "C": "Сс", "E": "Ее", "H": "Нн", "K": "Кк",
    "M": "Мм", "O": "Оо", "P": "Рр", "T": "Тт", "X": "Хх", "Y": "Уу",
}  # fmt: skip


def plate_pattern(plate: str) -> re.Pattern[str]:
    """The plate with optional spaces or dashes between characters and each letter in Latin or
    its Cyrillic look-alike, standing alone (not inside a longer code)."""
    pieces = []
    for c in plate:
        if c.isdigit():
            pieces.append(c)
        else:
            pieces.append(f"[{c}{c.lower()}{_LATIN_TO_CYRILLIC.get(c, '')}]")
    body = r"[\s\-]?".join(pieces)
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")


def plate_digits(plate: str) -> str:
    return "".join(c for c in plate if c.isdigit())
