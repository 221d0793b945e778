"""Account actions: staff entry validated field by field; CSV and JSON Lines imports keep the
good rows and name the line of every bad one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from qorgau.detect.account_actions import (
    import_account_actions_csv,
    import_account_actions_jsonl,
    new_account_action,
    normalize_handle,
)
from qorgau.errors import InvalidInput

ALMATY = timezone(timedelta(hours=5))


def test_staff_entry_is_normalised() -> None:
    action = new_account_action(
        " Instagram ",
        "https://www.instagram.com/Orda_KZ/",
        "Блокировка",
        datetime(2025, 5, 1, 15, 0, tzinfo=ALMATY),
        reason=" Community guidelines ",
        reference="CASE-77",
    )
    assert (action.platform, action.account, action.action) == (
        "instagram",
        "orda_kz",
        "suspension",
    )
    assert action.at == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    assert action.reason == "Community guidelines" and action.source == "staff"
    assert action.adverse
    assert action.to_json()["at"] == "2025-05-01T10:00:00Z"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"platform": ""}, "platform"),
        ({"account": "@"}, "account"),
        ({"action": "deleted forever"}, "action"),
        ({"at": datetime(2025, 5, 1, 10)}, "at"),
        ({"source": "robot"}, "source"),
    ],
)
def test_staff_entry_names_the_bad_field(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "platform": "telegram",
        "account": "@orda",
        "action": "strike",
        "at": datetime(2025, 5, 1, tzinfo=UTC),
    }
    source = kwargs.pop("source", "staff")
    values.update(kwargs)
    with pytest.raises(InvalidInput) as refused:
        new_account_action(**values, source=str(source))  # type: ignore[arg-type]
    assert refused.value.problems[0].field == field


def test_action_words_in_three_languages() -> None:
    at = datetime(2025, 5, 1, tzinfo=UTC)
    words = {"шектеу": "restriction", "қалпына келтіру": "reinstatement", "Warning": "warning"}
    for word, action in words.items():
        assert new_account_action("tiktok", "x", word, at).action == action
    assert not new_account_action("tiktok", "x", "restored", at).adverse


def test_handles_from_urls_and_at_signs() -> None:
    assert normalize_handle("@Vlast_KZ") == "vlast_kz"
    assert normalize_handle("t.me/orda_kz") == "orda_kz"
    assert normalize_handle("https://www.youtube.com/@ordakz") == "ordakz"


def test_csv_import_keeps_good_rows_and_reports_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "actions.csv"
    path.write_text(
        "Платформа;Аккаунт;Действие;Дата;Причина;Номер обращения\n"
        "instagram;@orda_kz;страйк;01.05.2025 10:00;Hate speech;A-1\n"
        "instagram;@orda_kz;ограничение;nonsense;;\n"
        "instagram;@orda_kz;exploded;02.05.2025 10:00;;\n"
        "instagram;@orda_kz;блокировка;03.05.2025 09:30;Spam;A-2\n"
        "instagram;@orda_kz;страйк;01.05.2025 10:00;Hate speech;A-1\n",
        encoding="utf-8",
    )
    result = import_account_actions_csv(path, default_tz=ALMATY)
    assert [a.action for a in result.actions] == ["strike", "suspension"]
    assert result.actions[0].at == datetime(2025, 5, 1, 5, 0, tzinfo=UTC)
    assert all(a.source == "import" for a in result.actions)
    assert [(p.line, p.file) for p in result.problems] == [
        (3, "actions.csv"),
        (4, "actions.csv"),
        (6, "actions.csv"),
    ]
    assert "not a time" in result.problems[0].reason
    assert "not an action" in result.problems[1].reason
    assert "earlier line" in result.problems[2].reason


def test_csv_without_an_action_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("account,date\n@x,2025-05-01\n")
    with pytest.raises(InvalidInput, match="no action column"):
        import_account_actions_csv(path)


def test_jsonl_import(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    rows = [
        {
            "platform": "tiktok",
            "handle": "orda.kz",
            "action": "removal",
            "time": "2025-05-01T10:00Z",
        },
        {"handle": "orda.kz", "action": "warning", "time": "2025-05-02T10:00:00+05:00"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n[1]\n{broken\n")
    result = import_account_actions_jsonl(path, platform="TikTok")
    assert [(a.platform, a.action) for a in result.actions] == [
        ("tiktok", "removal"),
        ("tiktok", "warning"),
    ]
    assert [p.line for p in result.problems] == [3, 4]
    without_platform = import_account_actions_jsonl(path)
    assert "platform" in without_platform.problems[0].reason
