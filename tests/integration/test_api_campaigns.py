"""Campaign evidence over the API: a registry with a conflicting entry is kept minus that
entry; MVT results uploaded as a zip open a critical case; a known fake picture is recognised
in an upload and a broken upload is refused by name; an appeal comes back as a zip."""

from __future__ import annotations

import io
import json
import zipfile

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from tests.conftest import Account


def _picture(seed: int) -> bytes:
    import random

    rng = random.Random(seed)
    img = Image.new("RGB", (320, 240), (rng.randrange(256), 90, 60))
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        x, y = rng.randrange(300), rng.randrange(220)
        draw.rectangle((x, y, x + 60, y + 40), fill=(rng.randrange(256), 200, rng.randrange(256)))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_registry_conflicts_are_listed_and_the_rest_kept(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    lead = accounts["coordinator"].headers
    doc = {
        "entities": [
            {"id": "orda", "kind": "outlet", "name": "Orda.kz", "domains": ["orda.kz"]},
            {"id": "copycat", "kind": "outlet", "name": "Orda copy", "domains": ["orda.kz"]},
        ]
    }
    r = client.post("/api/v1/registries/protected", json=doc, headers=lead)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["entries"] == 1 and len(body["problems"]) == 1
    assert "copycat" in body["problems"][0] or "Orda copy" in body["problems"][0]
    shown = client.get("/api/v1/registries/protected", headers=lead).json()
    assert [e["id"] for e in shown["entities"]] == ["orda"]
    reporter = accounts["reporter"].headers
    assert client.get("/api/v1/registries/protected", headers=reporter).status_code == 403


def test_mvt_zip_opens_a_critical_case(client: TestClient, accounts: dict[str, Account]) -> None:
    responder = accounts["responder"].headers
    visit = {"url": "https://free247downloads.com/x", "isodate": "2021-07-04 10:15:00.000000"}
    indicator = {"type": "domain", "value": "free247downloads.com", "name": "Pegasus"}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("mvt/info.json", json.dumps({"mvt_version": "2.5.3"}))
        z.writestr("mvt/safari_history.json", json.dumps([visit]))
        z.writestr(
            "mvt/safari_history_detected.json",
            json.dumps([{**visit, "matched_indicator": indicator}]),
        )
    r = client.post(
        "/api/v1/spyware/results?filename=phone.zip&person=Editor",
        content=archive.getvalue(),
        headers=responder,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["case"] and body["detections"] == 1 and body["collections"] == ["Pegasus"]
    assert len(body["evidence_sha256"]) == 3
    case = client.get(f"/api/v1/incidents/{body['case']}", headers=responder).json()
    assert case["severity"] == "critical"


def test_a_known_fake_is_recognised_and_a_broken_upload_named(
    client: TestClient, accounts: dict[str, Account]
) -> None:
    from qorgau.detect.media_hashes import hash_image

    lead = accounts["coordinator"].headers
    fake = _picture(4)
    hashes = list(hash_image(fake).strings())
    registry = {"items": [{"id": "fake-card", "label": "fake", "hashes": hashes}]}
    assert client.post("/api/v1/registries/media", json=registry, headers=lead).status_code == 200
    recompressed = io.BytesIO()
    Image.open(io.BytesIO(fake)).convert("RGB").save(recompressed, "JPEG", quality=60)
    r = client.post(
        "/api/v1/media/check?filename=forwarded.jpg", content=recompressed.getvalue(), headers=lead
    )
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["matches"]] == ["fake-card"]
    other = client.post("/api/v1/media/check?filename=o.png", content=_picture(9), headers=lead)
    assert other.json()["matches"] == []
    broken = client.post(
        "/api/v1/media/check?filename=statement.jpg", content=b"\xff\xd8 nope", headers=lead
    )
    assert broken.status_code == 422
    assert "statement.jpg" in broken.text


def test_the_appeal_comes_back_as_a_zip(client: TestClient, accounts: dict[str, Account]) -> None:
    lead = accounts["coordinator"].headers
    r = client.post(
        "/api/v1/accounts/actions",
        json={"platform": "instagram", "account": "https://instagram.com/orda_kz/",
              "action": "ограничение", "at": "2025-06-04T10:00:00+05:00"},
        headers=lead,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["action"]["account"] == "orda_kz"
    assert r.json()["action"]["action"] == "restriction"
    none = client.post(
        "/api/v1/accounts/appeal",
        json={"outlet": "Orda", "platform": "instagram", "account": "someone_else"},
        headers=lead,
    )
    assert none.status_code == 422 and "record it first" in none.text
    r = client.post(
        "/api/v1/accounts/appeal",
        json={"outlet": "Orda", "platform": "instagram", "account": "orda_kz", "language": "kk"},
        headers=lead,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        appeal = json.loads(z.read("appeal.json"))
    assert appeal["language"] == "kk" and appeal["account"] == "orda_kz"
