"""One observation from one API record: the same columns and rules as a JSON Lines import, so
a feed that switches from uploading files to pushing batches changes nothing downstream.

The source's own name always prefixes the id: a feed cannot write into another feed's ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qorgau.detect.model import Observation
from qorgau.errors import InvalidInput
from qorgau.observe.importers._common import match_columns
from qorgau.observe.importers.posts import ALIASES, post_from_row
from qorgau.observe.normalize import LOCAL_TZ


def observation_from_record(record: Any, source: str) -> Observation:
    if not isinstance(record, Mapping):
        raise InvalidInput.single("item", "object", "each item is a JSON object")
    columns = match_columns(record, ALIASES)
    if "id" not in columns or not columns.text(record, "id"):
        raise InvalidInput.single(
            "id", "required", "give each item its id in your system, so a retry is recognised"
        )
    if "time" not in columns:
        raise InvalidInput.single("time", "required", "give each item its time (ISO 8601)")
    return post_from_row(record, columns, source, None, LOCAL_TZ, keep_full_ids=False)
