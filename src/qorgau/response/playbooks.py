"""Playbooks: per attack type, a versioned checklist that becomes a case's task list.

Kept as data files in three languages so that an organisation adapts them without code, and
versioned so that a case keeps the steps it was given even after the playbook changes: a task
records the playbook id, version and step id it came from. Preventive digital-hygiene
checklists (per outlet, per person) use the same format with ``kind = "hygiene"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from pydantic import Field, model_validator

from qorgau.errors import InvalidInput
from qorgau.response.documents import Labels, Strict, parse, parse_toml_text

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


class PlaybookKind(StrEnum):
    REACTIVE = "reactive"
    HYGIENE = "hygiene"


class Step(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: Labels
    guidance: Labels | None = None


class Playbook(Strict):
    id: str = Field(pattern=ID_PATTERN)
    version: str = Field(min_length=1, max_length=32)
    kind: PlaybookKind = PlaybookKind.REACTIVE
    attack_types: tuple[str, ...] = ()
    applies_to: tuple[str, ...] = ()  # hygiene: "outlet" and/or "person"
    title: Labels
    step: tuple[Step, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        ids = [s.id for s in self.step]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(dupes)}")
        if self.kind is PlaybookKind.REACTIVE and not self.attack_types:
            raise ValueError("a reactive playbook names the attack_types it answers")
        if self.kind is PlaybookKind.HYGIENE:
            bad = [a for a in self.applies_to if a not in ("outlet", "person")]
            if not self.applies_to or bad:
                raise ValueError('a hygiene checklist applies_to "outlet" and/or "person"')
        return self


def parse_playbook(data: dict[str, Any], known_attack_types: tuple[str, ...]) -> Playbook:
    book = parse(Playbook, data)
    unknown = [t for t in book.attack_types if t not in set(known_attack_types)]
    if unknown:
        raise InvalidInput.single(
            "attack_types",
            "unknown",
            f"unknown attack types: {', '.join(unknown)}",
            known_attack_types,
        )
    return book


@dataclass(frozen=True)
class Library:
    """The playbooks in force for an organisation: shipped ones, replaced by its own by id."""

    books: dict[str, Playbook]

    def for_attack_types(self, attack_types: tuple[str, ...]) -> list[Playbook]:
        wanted = set(attack_types)
        return [
            b
            for b in self.books.values()
            if b.kind is PlaybookKind.REACTIVE and wanted & set(b.attack_types)
        ]

    def hygiene(self, applies_to: str) -> list[Playbook]:
        return [
            b
            for b in self.books.values()
            if b.kind is PlaybookKind.HYGIENE and applies_to in b.applies_to
        ]

    def get(self, playbook_id: str) -> Playbook:
        book = self.books.get(playbook_id)
        if book is None:
            raise InvalidInput.single(
                "playbook_id", "unknown", f"no playbook {playbook_id!r}", tuple(sorted(self.books))
            )
        return book

    def with_overrides(self, overrides: list[Playbook]) -> Library:
        return Library({**self.books, **{b.id: b for b in overrides}})


def shipped(known_attack_types: tuple[str, ...]) -> Library:
    books: dict[str, Playbook] = {}
    root = resources.files("qorgau.response") / "data"
    for folder in ("playbooks", "hygiene"):
        for entry in sorted((root / folder).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                data = parse_toml_text(entry.read_text("utf-8"), entry.name)
                book = parse_playbook(data, known_attack_types)
                books[book.id] = book
    return Library(books)
