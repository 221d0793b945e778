"""Checking a taxonomy file in the administration pages before it is installed."""

from __future__ import annotations

import re
from importlib import resources

from fastapi.testclient import TestClient

from qorgau.store.store import Store
from tests.conftest import Account
from tests.integration.test_ui_admin import as_user, ui  # noqa: F401 - the fixture

SHIPPED = (
    resources.files("qorgau.domain")
    .joinpath("taxonomy_data", "taxonomy-2025.2.toml")
    .read_text(encoding="utf-8")
)


def test_a_new_version_is_compared_with_the_one_in_use(
    ui: TestClient,  # noqa: F811
    store: Store,
    accounts: dict[str, Account],
) -> None:
    form = as_user(ui, store, accounts["admin"])
    # Version bumped, one attack type dropped, one added: the removal is flagged.
    dropped = re.sub(r'version = "[^"]+"', 'version = "2026.1"', SHIPPED, count=1)
    block = re.search(r'\[\[attack_type\]\]\nid = "deepfake".*?(?=\n\[\[)', dropped, re.S)
    assert block, "the shipped taxonomy has a deepfake attack type"
    added = block.group(0).replace('id = "deepfake"', 'id = "voice_clone"')
    changed = dropped.replace(block.group(0), added)
    r = ui.post("/admin/taxonomy", data={**form, "text": changed})
    assert r.status_code == 200
    assert "2026.1" in r.text
    assert "voice_clone" in r.text
    assert '<strong class="error">deepfake</strong>' in r.text
    assert "retired = true" in r.text
    # The running desk still uses the installed taxonomy: the page only checks.
    assert "deepfake" in store.taxonomy.ids("attack_type")


def test_an_invalid_file_is_refused_next_to_the_field_in_the_readers_language(
    ui: TestClient,  # noqa: F811
    store: Store,
    accounts: dict[str, Account],
) -> None:
    form = as_user(ui, store, accounts["admin"])
    broken = SHIPPED.replace('id = "deepfake"', 'id = "threats"', 1)
    r = ui.post(
        "/admin/taxonomy?lang=ru", data={**form, "text": broken}, headers={"accept": "text/html"}
    )
    assert r.status_code == 422
    assert "Файл некорректен" in r.text and "duplicate attack_type id &#39;threats&#39;" in r.text
    assert 'id="e-text"' in r.text
    not_toml = ui.post("/admin/taxonomy", data={**form, "text": "version = [<script>"})
    assert not_toml.status_code == 422 and "<script>" not in not_toml.text


def test_only_administrators_check_taxonomies(
    ui: TestClient,  # noqa: F811
    store: Store,
    accounts: dict[str, Account],
) -> None:
    form = as_user(ui, store, accounts["coordinator"])
    assert ui.get("/admin/taxonomy").status_code == 403
    assert ui.post("/admin/taxonomy", data={**form, "text": SHIPPED}).status_code == 403
