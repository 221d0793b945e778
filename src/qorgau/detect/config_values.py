"""Checks shared by detectors' configuration parsers, so that every detector refuses a bad
setting with the same words and names the field the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qorgau.errors import InvalidInput


def choice_list(
    raw: Mapping[str, Any],
    name: str,
    allowed: Sequence[str],
    default: Sequence[str],
    noun: str = "value",
) -> frozenset[str]:
    """A setting that is a non-empty list of values from ``allowed`` (``default`` when it is
    not given)."""
    value = raw.get(name, list(default))
    choices = tuple(allowed)
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidInput.single(name, "type", f"{name} is a non-empty list", choices)
    for item in value:
        if item not in choices:
            raise InvalidInput.single(
                name, "choice", f"unknown {noun} {item!r}; use {', '.join(choices)}", choices
            )
    return frozenset(value)
