"""MISP export and import: TLP tags, consent, types and the round trip on an Orda.kz week."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pymisp import MISPEvent

from qorgau.errors import InvalidInput
from qorgau.reports.misp import merge_bundles, misp_events, parse_misp_event
from qorgau.reports.model import Indicator, IndicatorKind, SharedIncident, Tlp
from tests.unit.test_stix_sharing import RED_DOMAIN, SECRET_NAME, orda_week

ORG = "Adil Soz Digital Desk"


def _event(events: list[dict[str, object]], uuid_tail: str) -> dict[str, object]:
    return next(e for e in events if str(e["uuid"]).endswith(uuid_tail))


def _tags(obj: dict[str, object]) -> list[str]:
    return [t["name"] for t in obj.get("Tag", [])]  # type: ignore[attr-defined]


def test_one_event_per_incident_plus_loose_indicators() -> None:
    events = misp_events(orda_week(), Tlp.AMBER_STRICT)
    infos = [e["info"] for e in events]
    assert infos == [
        "Orda.kz blocked by mobile operators",
        "Fake statement in Orda.kz's name",
        "Threats to an Orda.kz journalist",
        f"Indicators shared by {ORG}",
    ]
    loose = events[-1]
    assert [a["value"] for a in loose["Attribute"]] == ["https://orda-kz.com/statement?id=1"]


def test_red_never_appears_and_red_ceiling_refused() -> None:
    for ceiling in (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT):
        text = json.dumps(misp_events(orda_week(), ceiling))
        assert RED_DOMAIN not in text and SECRET_NAME not in text
        assert "Source exposure" not in text
    with pytest.raises(InvalidInput) as exc:
        misp_events(orda_week(), Tlp.RED)
    assert "person to person" in str(exc.value)


def test_green_ceiling_drops_amber_event_and_attributes() -> None:
    text = json.dumps(misp_events(orda_week(), Tlp.GREEN))
    assert "Threats to an Orda.kz journalist" not in text
    assert "o'brien.threats@mail.example" not in text


def test_unconsented_person_is_tagged_without_a_name() -> None:
    events = misp_events(orda_week(), Tlp.AMBER)
    threats = _event(events, "ae3")
    assert 'qorgau:unnamed-target="person/journalist"' in _tags(threats)
    assert not [a for a in threats["Attribute"] if a["type"] == "target-user"]  # type: ignore[attr-defined]


def test_event_fields_map_to_misp_vocabulary() -> None:
    events = misp_events(orda_week(), Tlp.AMBER_STRICT)
    fake = _event(events, "ae2")
    assert (fake["threat_level_id"], fake["analysis"], fake["distribution"]) == ("2", "0", "2")
    assert fake["date"] == "2025-03-04"
    tags = _tags(fake)
    assert "tlp:green" in tags
    assert 'disarm:technique="T0086.002"' in tags
    assert 'qorgau:attack-type="impersonation"' in tags
    threats = _event(events, "ae3")
    assert (threats["threat_level_id"], threats["analysis"], threats["distribution"]) == (
        "1",
        "1",
        "1",
    )


def test_indicator_attributes_have_misp_types_and_tlp() -> None:
    fake = _event(misp_events(orda_week(), Tlp.AMBER), "ae2")
    by_value = {a["value"]: a for a in fake["Attribute"]}  # type: ignore[attr-defined]
    domain = by_value["orda-kz.com"]
    assert (domain["type"], domain["to_ids"], domain["uuid"]) == (
        "domain",
        True,
        "2b1e4a8c-6f53-4a55-8d3c-0c1f4f6b9a01",
    )
    assert _tags(domain) == ["tlp:green"]
    assert by_value["203.0.113.7"]["type"] == "ip-dst"
    account = by_value["telegram:orda_news_official"]
    assert account["type"] == "text" and account["to_ids"] is False
    assert 'qorgau:indicator-kind="account"' in _tags(account)
    phash = by_value["d1c4b0f0e0c0c0c0"]
    assert 'qorgau:indicator-kind="phash"' in _tags(phash)
    assert by_value["Orda.kz"]["type"] == "target-org"


def test_indicator_shared_by_two_incidents_gets_unique_attribute_uuids() -> None:
    events = misp_events(orda_week(), Tlp.AMBER)
    uuids = [a["uuid"] for e in events for a in e["Attribute"]]  # type: ignore[attr-defined]
    assert len(uuids) == len(set(uuids))


def test_export_is_deterministic() -> None:
    first = json.dumps(misp_events(orda_week(), Tlp.AMBER), sort_keys=True)
    assert first == json.dumps(misp_events(orda_week(), Tlp.AMBER), sort_keys=True)


def test_to_json_loads_back_in_a_fresh_pymisp_event() -> None:
    for data in misp_events(orda_week(), Tlp.AMBER_STRICT):
        event = MISPEvent()
        event.load(json.dumps(data))
        assert event.uuid == data["uuid"]
        assert len(event.attributes) == len(data["Attribute"])  # type: ignore[arg-type]


def test_round_trip_through_json_and_merge() -> None:
    original = orda_week()
    parsed = [
        parse_misp_event(json.dumps(e), "partner-y")
        for e in misp_events(original, Tlp.AMBER_STRICT)
    ]
    back = merge_bundles(parsed, "partner-y")

    def key_i(i: SharedIncident) -> str:
        return i.uuid

    def key_x(i: Indicator) -> str:
        return i.uuid

    expected_incidents = sorted((i for i in original.incidents if i.tlp is not Tlp.RED), key=key_i)
    expected_indicators = sorted(
        (i for i in original.indicators if i.tlp is not Tlp.RED), key=key_x
    )
    assert all(i.source == "partner-y" for i in (*back.incidents, *back.indicators))
    assert sorted((replace(i, source="") for i in back.incidents), key=key_i) == expected_incidents
    got = sorted((replace(i, source="") for i in back.indicators), key=key_x)
    assert got == expected_indicators


def test_not_a_misp_event_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_misp_event("{not json", "p")
    assert exc.value.problems[0].field == "event"
    with pytest.raises(InvalidInput) as exc:
        parse_misp_event({"Event": {"uuid": "5d0092c5-5f74-4287-9642-33f4c354e56d"}}, "p")
    assert "missing info" in str(exc.value)
    with pytest.raises(InvalidInput):
        parse_misp_event("[1, 2]", "p")


FOREIGN_EVENT = {
    "Event": {
        "uuid": "5d0092c5-5f74-4287-9642-33f4c354e56d",
        "info": "Phishing against newsrooms",
        "date": "2025-03-02",
        "threat_level_id": "3",
        "analysis": "2",
        "timestamp": "1740913200",
        "Attribute": [
            {
                "type": "ip-src",
                "category": "Network activity",
                "value": "2001:db8::7",
                "uuid": "1b5c7a4e-51a9-4a10-9d4e-6a8a3a1c2b3d",
            },
            {
                "type": "AS",
                "category": "Network activity",
                "value": "64500",
                "uuid": "1b5c7a4e-51a9-4a10-9d4e-6a8a3a1c2b3e",
            },
            {
                "type": "github-username",
                "category": "Social network",
                "value": "FakeOrda",
                "uuid": "1b5c7a4e-51a9-4a10-9d4e-6a8a3a1c2b3f",
                "Tag": [{"name": "tlp:clear"}],
            },
        ],
    }
}


def test_foreign_event_imports_with_defaults() -> None:
    back = parse_misp_event(FOREIGN_EVENT, "CERT-KZ")
    (incident,) = back.incidents
    assert incident.tlp is Tlp.AMBER  # no tlp tag
    assert (incident.severity, incident.status) == ("low", "resolved")
    assert incident.attack_types == ("other",) and incident.category == "safety"
    assert incident.updated_at == datetime(2025, 3, 2, 11, tzinfo=UTC)
    kinds = {(i.kind, i.value, i.tlp) for i in back.indicators}
    assert kinds == {
        (IndicatorKind.IPV6, "2001:db8::7", Tlp.AMBER),
        (IndicatorKind.ACCOUNT, "github:fakeorda", Tlp.CLEAR),
    }
    assert set(incident.indicator_keys) == {"ipv6:2001:db8::7", "account:github:fakeorda"}


def test_indicators_only_event_gives_no_incident() -> None:
    loose = misp_events(orda_week(), Tlp.CLEAR)[-1]
    back = parse_misp_event(loose, "p")
    assert back.incidents == ()
    assert [i.value for i in back.indicators] == ["https://orda-kz.com/statement?id=1"]
