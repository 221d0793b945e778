"""Mapping profiles: read another organisation's CSV without editing it.

A profile (TOML) says how to build each Qorgau field from the file's columns with ``{column}``
templates, how to split list cells, and how to map the file's vocabulary onto the taxonomy.
The result is an ordinary exchange record, so mapped files go through the very same import
path as Qorgau's own exports. Example: ``profiles/kz-journalist-incidents-seed.toml``.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from qorgau.errors import ConfigurationError, FieldProblem, InvalidInput

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
DATE_FIELDS = ("started_at", "reported_at")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    fields: dict[str, str]
    lists: dict[str, str] = field(default_factory=dict)
    maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncate: dict[str, int] = field(default_factory=dict)
    targets: tuple[dict[str, Any], ...] = ()

    def columns(self) -> set[str]:
        """Every column the templates name, to check a file's header up front."""
        names: set[str] = set()
        templates = [*self.fields.values()]
        for t in self.targets:
            templates.extend(str(v) for k, v in t.items() if k != "maps")
        for tpl in templates:
            names.update(n for _, n, _, _ in string.Formatter().parse(tpl) if n)
        return names


def parse_partial_date(value: str, field_name: str) -> str | None:
    """``2022``, ``2022-08``, ``2022-08-03`` or a range ``2022-08/2023-01`` → ISO start date."""
    text = value.strip()
    if not text:
        return None
    first = text.split("/", 1)[0].strip()
    m = _PARTIAL_DATE.match(first)
    if m:
        year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
        try:
            return datetime(year, month, day, tzinfo=UTC).isoformat()
        except ValueError as exc:
            raise InvalidInput.single(field_name, "date", f"{value!r}: {exc}") from exc
    return first


def load_profile(name_or_path: str) -> Profile:
    """A profile shipped with Qorgau (by name) or a TOML file of the user's (by path)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        res = resources.files("qorgau.io").joinpath("profiles", f"{name_or_path}.toml")
        if not res.is_file():
            shipped = sorted(
                p.name.removesuffix(".toml")
                for p in resources.files("qorgau.io").joinpath("profiles").iterdir()
                if p.name.endswith(".toml")
            )
            raise ConfigurationError(
                f"no import profile {name_or_path!r}; give a .toml file or one of: "
                f"{', '.join(shipped)}"
            )
        text, origin = res.read_text(encoding="utf-8"), name_or_path
    try:
        raw = tomllib.loads(text)
        return Profile(
            name=raw["name"],
            description=raw.get("description", ""),
            fields=dict(raw["fields"]),
            lists=dict(raw.get("lists", {})),
            maps={k: dict(v) for k, v in raw.get("maps", {}).items()},
            truncate={k: int(v) for k, v in raw.get("truncate", {}).items()},
            targets=tuple(raw.get("targets", [])),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"import profile {origin} is not valid: {exc}") from exc


def _render(template: str, row: dict[str, str]) -> str:
    return template.format_map({k: (v or "").strip() for k, v in row.items() if k})


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


def _map(value: str, mapping: dict[str, Any], field_name: str) -> list[str]:
    if value in mapping:
        mapped = mapping[value]
    elif "*" in mapping:
        mapped = mapping["*"]
    else:
        raise InvalidInput.single(
            field_name,
            "profile_map",
            f"the profile has no mapping for {value!r}",
            tuple(k for k in mapping if k != "*"),
        )
    return [m for m in (mapped if isinstance(mapped, list) else [mapped]) if m]


def apply_profile(profile: Profile, row: dict[str, str]) -> dict[str, Any]:
    """Turn one row of a foreign CSV into an exchange record."""
    record: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, template in profile.fields.items():
        text = _render(template, row).strip()
        sep = profile.lists.get(name)
        values = [v.strip() for v in text.split(sep)] if sep else [text]
        values = [v for v in values if v]
        if name in profile.maps:
            mapped: list[str] = []
            for v in values:
                try:
                    mapped.extend(_map(v, profile.maps[name], name))
                except InvalidInput as exc:
                    problems.extend(exc.problems)
            values = list(dict.fromkeys(mapped))
        if name in DATE_FIELDS:
            try:
                values = [d for d in (parse_partial_date(v, name) for v in values) if d]
            except InvalidInput as exc:
                problems.extend(exc.problems)
                values = []
        if sep:
            record[name] = values
        else:
            value = values[0] if values else None
            if value and name in profile.truncate:
                value = _truncate(value, profile.truncate[name])
            record[name] = value
    targets = []
    for spec in profile.targets:
        maps = spec.get("maps", {})
        target: dict[str, Any] = {}
        for key in ("kind", "name", "identifier"):
            if key in spec:
                target[key] = _render(str(spec[key]), row).strip()
        if not target.get("name") and not target.get("identifier"):
            continue
        if "kind" in maps:
            try:
                target["kind"] = _map(target.get("kind", ""), maps["kind"], "targets.kind")[0]
            except InvalidInput as exc:
                problems.extend(exc.problems)
                continue
        target["consent_public"] = bool(spec.get("consent_public", False))
        targets.append(target)
    record["targets"] = targets
    if problems:
        raise InvalidInput(problems)
    return record
