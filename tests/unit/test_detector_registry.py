"""Walk the registry: every detector has a unique name, help, attack types the taxonomy knows,
a configuration schema that is valid JSON Schema and agrees with its parser, and runs on an
empty batch. A detector added to the registry is checked here without editing this file."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest

from qorgau.detect.registry import DETECTORS, by_name
from qorgau.detect.simulate import simulate
from qorgau.domain.taxonomy import load_taxonomy
from qorgau.errors import InvalidInput, NotFound

NAMES = [d.spec.name for d in DETECTORS]
WATCHLIST = simulate(seed=4, start=datetime(2025, 6, 2, tzinfo=UTC), days=1, outlets=2).watchlist()


def test_names_are_unique_and_found() -> None:
    assert len(NAMES) == len(set(NAMES)) >= 2
    for name in NAMES:
        assert by_name(name).spec.name == name
    with pytest.raises(NotFound, match="leaked_identifiers"):
        by_name("no_such_detector")


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_complete_and_its_schema_agrees_with_its_parser(name: str) -> None:
    spec = by_name(name).spec
    assert spec.name.isidentifier() and spec.name.islower()
    assert len(spec.help) > 40
    known = set(load_taxonomy().ids("attack_type"))
    assert set(spec.attack_types) <= known
    jsonschema.Draft202012Validator.check_schema(spec.config_schema)
    jsonschema.validate(WATCHLIST, spec.config_schema)
    config = spec.parse_config(WATCHLIST)
    result = by_name(name).detect([], config, {})
    assert result.findings == () and result.failures == ()


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_setting_is_refused_by_schema_and_parser_alike(name: str) -> None:
    """A misspelt setting must not be silently ignored (the detector would run on defaults)."""
    spec = by_name(name).spec
    bad = {**WATCHLIST, "no_such_setting": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, spec.config_schema)
    with pytest.raises(InvalidInput) as refused:
        spec.parse_config(bad)
    assert "no_such_setting" in str(refused.value)


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_watchlist_is_refused_by_schema_and_parser_alike(name: str) -> None:
    spec = by_name(name).spec
    if not spec.config_schema["properties"].get("people"):
        pytest.skip(f"{name} does not read the watchlist")
    bad = {"people": [{"name": "Editor", "phones": "not a list"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, spec.config_schema)
    with pytest.raises(InvalidInput) as refused:
        spec.parse_config(bad)
    assert "people[0].phones" in str(refused.value)
