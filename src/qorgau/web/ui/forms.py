"""Forms that keep what was typed and say, next to each field, what is wrong.

A route reads the posted form into ``FormState``, calls the desk, and on ``InvalidInput``
renders the same template again with ``state.errors``: every field keeps its value and shows
its own message in the reader's language (``field`` macros in ``ui/macros.html``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import UploadFile

from qorgau.errors import InvalidInput, QorgauError
from qorgau.i18n import gettext
from qorgau.web.errors import RULE_MESSAGES


@dataclass
class FormState:
    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def has(self, name: str, value: str) -> bool:
        """Whether a checkbox or multi-select had ``value`` ticked."""
        return value in self.lists.get(name, [])

    @property
    def ok(self) -> bool:
        return not self.errors and not self.message

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


async def read_form(request: Request) -> tuple[FormState, list[UploadFile]]:
    """Text fields (trimmed of nothing: what was typed is what is kept) and uploaded files."""
    form = await request.form()
    state = FormState()
    files: list[UploadFile] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.filename:
                files.append(value)
            else:
                await value.close()  # the empty part a browser sends when no file is chosen
            continue
        # No keyboard types NUL, and PostgreSQL text cannot hold it: dropped, not an error page.
        value = value.replace("\x00", "")
        state.lists.setdefault(key, []).append(value)
        state.values.setdefault(key, value)
    return state, files


def message_for(lang: str, rule: str, english: str) -> str:
    """The rule's message in the reader's language; the domain's English text otherwise."""
    if lang == "en" or rule not in RULE_MESSAGES:
        return english if lang == "en" else gettext(lang, english)
    return gettext(lang, RULE_MESSAGES[rule])


def apply_error(state: FormState, lang: str, exc: QorgauError, fields: dict[str, str]) -> None:
    """Put a desk's refusal next to the fields it names; ``fields`` maps the domain's field
    names to the form's (``targets[0].identifier`` → ``phone``). Anything else goes on top."""
    if isinstance(exc, InvalidInput):
        for p in exc.problems:
            name = fields.get(p.field, fields.get(p.field.split("[")[0].split(".")[0]))
            text = message_for(lang, p.rule, p.message)
            if name:
                state.add(name, text)
            else:
                state.message = (state.message + " " + text).strip()
        return
    state.message = gettext(lang, str(exc))
