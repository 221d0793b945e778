"""Validation of configuration documents (rosters, playbooks, clocks...) into exact problems.

Organisations edit these files by hand; a mistake must come back as "``shift[2].from``: not a
time of day", never as a stack trace, and the running system keeps its last valid version. The
schemas are pydantic models; this module turns their errors into the project's ``FieldProblem``
list so the API and the CLI report them the same way as any other bad input.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from qorgau.errors import FieldProblem, InvalidInput

LANGUAGES = ("en", "ru", "kk")

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for document schemas: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Labels(Strict):
    """The same text in the three languages every person-facing string needs."""

    en: str
    ru: str
    kk: str

    def get(self, lang: str | None) -> str:
        return str(getattr(self, lang or "en", self.en) or self.en)

    def as_dict(self) -> dict[str, str]:
        return {"en": self.en, "ru": self.ru, "kk": self.kk}


def _path(loc: tuple[int | str, ...], prefix: str) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "document"


def parse(model: type[M], data: Mapping[str, Any], prefix: str = "") -> M:
    """Validate ``data`` against ``model`` or raise ``InvalidInput`` naming every bad field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            FieldProblem(_path(tuple(err["loc"]), prefix), err["type"], _message(err))
            for err in exc.errors()
        ]
        raise InvalidInput(problems) from None


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against the documented schema"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML document, turning a syntax error into a one-line, located problem."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InvalidInput.single("file", "not_found", f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput.single("file", "toml", f"{path.name} is not valid TOML: {exc}") from None


def parse_toml_text(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput.single("file", "toml", f"{origin} is not valid TOML: {exc}") from None
