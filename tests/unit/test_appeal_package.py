"""The appeal package: one account's decisions, the waves and clusters before them, the
evidence by hash, a summary in English, Russian or Kazakh, and a zip that never overwrites."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qorgau.detect.account_actions import AccountAction, new_account_action
from qorgau.detect.appeal_package import (
    AppealPackage,
    build_appeal,
    render_json,
    render_markdown,
    write_appeal_zip,
)
from qorgau.detect.complaint_waves import (
    ComplaintWave,
    CoordinationCluster,
    find_calls,
    group_waves,
    targets_from_people,
)
from qorgau.detect.model import Observation
from qorgau.detect.watchlist import parse_people
from qorgau.errors import InvalidInput

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
TARGETS = targets_from_people(parse_people([{"name": "Orda.kz", "handles": ["orda_kz"]}]))
HASH = hashlib.sha256(b"saved copy of tg:0").hexdigest()


def waves() -> list[ComplaintWave]:
    obs = [
        Observation(
            id=f"tg:{i}",
            source="tg",
            platform="telegram",
            time=T0 + timedelta(minutes=10 * i),
            account=f"troll_{i}",
            text="Кидайте репорты на @orda_kz!",
        )
        for i in range(5)
    ]
    return group_waves(find_calls(obs, TARGETS), TARGETS)


CLUSTER = CoordinationCluster(
    "finding:42", "co-sharing", ("troll_1", "troll_2", "x"), T0, T0 + timedelta(hours=2), ("vk:9",)
)


def actions() -> list[AccountAction]:
    return [
        new_account_action(
            "instagram",
            "@orda_kz",
            "strike",
            T0 + timedelta(hours=4),
            reason="Hate | speech",
            reference="A-1",
        ),
        new_account_action("instagram", "orda_kz", "suspension", T0 + timedelta(hours=20)),
        new_account_action("instagram", "someone_else", "suspension", T0 + timedelta(hours=5)),
        new_account_action("instagram", "orda_kz", "reinstatement", T0 + timedelta(days=4)),
    ]


def build(language: str = "en") -> AppealPackage:
    return build_appeal(
        "Orda.kz",
        "Instagram",
        "@Orda_KZ",
        actions(),
        waves(),
        [CLUSTER],
        evidence_hashes={"tg:0": HASH},
        prepared_at=T0 + timedelta(days=5),
        language=language,
    )


def test_the_package_gathers_one_accounts_story() -> None:
    package = build()
    assert [a.action for a in package.actions] == ["strike", "suspension", "reinstatement"]
    assert [link.strength for link in package.links] == ["strong", "strong"]
    kinds = [e.kind for e in package.timeline]
    assert kinds == ["wave", "cluster", "action", "action", "action"]
    assert package.timeline[2].text == (
        "instagram: strike of @orda_kz (stated reason: Hate | speech; reference: A-1)"
    )
    evidence = {e.observation_id: e.sha256 for e in package.evidence}
    assert evidence["tg:0"] == HASH and evidence["tg:4"] is None and "vk:9" in evidence
    assert "5 posts from 5 accounts" in package.summary
    assert "2 accounts of which also called for reports" in package.summary


def test_summary_in_russian_and_kazakh() -> None:
    ru = build("ru")
    assert "5 публикаций" in ru.summary and "5 аккаунтов" in ru.summary
    assert "страйк, блокировка" in ru.summary
    assert "из них 2 аккаунта также призывали жаловаться" in ru.summary
    kk = build("kk")
    assert "5 аккаунт" in kk.summary and "бұғаттау" in kk.summary
    assert kk.timeline[2].text.startswith("instagram: @orda_kz аккаунтына страйк")
    assert ru.summary != kk.summary != build().summary


def test_markdown_escapes_what_staff_typed_and_lists_evidence() -> None:
    text = render_markdown(build())
    assert text.startswith("# Appeal: instagram account @orda\\_kz of Orda.kz\n")
    assert "Hate \\| speech" in text
    assert f"| tg:0 | {HASH} |" in text
    assert "| tg:4 | no preserved copy |" in text
    assert "- troll\\_0" in text
    assert "Доказательства" in render_markdown(build("ru"))


def test_json_document_round_trips() -> None:
    document = json.loads(json.dumps(render_json(build())))
    assert document["format"] == "qorgau-appeal" and document["account"] == "orda_kz"
    assert [a["action"] for a in document["actions"]] == ["strike", "suspension", "reinstatement"]
    assert document["links"][0]["waves"] == [waves()[0].id]
    assert document["evidence"][0] == {"observation_id": "tg:0", "sha256": HASH}


def test_the_zip_holds_the_appeal_and_a_manifest_and_never_overwrites(tmp_path: Path) -> None:
    path = write_appeal_zip(build(), tmp_path / "appeal.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["appeal.md", "appeal.json", "manifest.json"]
        manifest = json.loads(archive.read("manifest.json"))
        for name in ("appeal.md", "appeal.json"):
            assert manifest["files"][name] == hashlib.sha256(archive.read(name)).hexdigest()
    assert manifest["evidence"][0]["sha256"] == HASH
    first = path.read_bytes()
    with pytest.raises(InvalidInput, match="already exists"):
        write_appeal_zip(build("ru"), path)
    assert path.read_bytes() == first
    assert write_appeal_zip(build(), tmp_path / "again.zip").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.zip", "appeal.zip"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"language": "de"}, "language"),
        ({"evidence_hashes": {"tg:0": "abc"}}, "evidence_hashes[tg:0]"),
        ({"prepared_at": datetime(2025, 5, 6)}, "prepared_at"),
        ({"account": "never_touched"}, "account"),
    ],
)
def test_bad_requests_are_refused(change: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "evidence_hashes": {},
        "prepared_at": T0,
        "language": "en",
        "account": "orda_kz",
    }
    args.update(change)
    with pytest.raises(InvalidInput) as refused:
        build_appeal(
            "Orda.kz",
            "instagram",
            str(args.pop("account")),
            actions(),
            waves(),
            [],
            **args,  # type: ignore[arg-type]
        )
    assert refused.value.problems[0].field == field


def test_an_appeal_without_any_call_says_so() -> None:
    package = build_appeal(
        "Orda.kz",
        "instagram",
        "orda_kz",
        actions(),
        [],
        [],
        evidence_hashes={},
        prepared_at=T0,
    )
    assert "No public calls" in package.summary and package.evidence == ()
    assert package.links[0].strength == "none"
