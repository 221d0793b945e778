"""The campaign desk's imports against what is already stored: registry merges that never
lose a stored entry, MVT results that open one case however often they are imported, and an
appeal that cites only its own outlet's clusters, with their evidence."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from qorgau.campaign_desk import CampaignDesk
from qorgau.desk import CaseDesk
from qorgau.detect.model import Observation
from qorgau.observation_desk import ObservationDesk
from qorgau.store.store import Store

STORED = {
    "entities": [
        {"id": "orda", "kind": "outlet", "name": "Orda.kz", "domains": ["orda.kz"],
         "accounts": {"telegram": ["ordakz"]}},
        {"id": "ktk", "kind": "outlet", "name": "KTK", "domains": ["ktk.kz"],
         "accounts": {"telegram": ["ktk_news"]}},
    ]
}  # fmt: skip


def test_a_bad_replacement_keeps_the_stored_entry_and_people_may_name_stored_outlets(
    store: Store,
) -> None:
    desk = CaseDesk(store)
    campaigns = CampaignDesk(desk)
    who = desk.system("test")
    campaigns.import_registry(who, "protected", STORED)
    result = campaigns.import_registry(
        who,
        "protected",
        {
            "entities": [
                # orda again, now claiming KTK's handle: refused, the stored orda stays
                {"id": "orda", "kind": "outlet", "name": "Orda.kz", "domains": ["orda.kz"],
                 "accounts": {"telegram": ["ktk_news"]}},
                {"id": "vlast", "kind": "outlet", "name": "Vlast.kz", "domains": ["vlast.kz"]},
                {"id": "editor", "kind": "person", "name": "Gulnara Bazhkenova",
                 "outlet": "orda"},
            ]
        },
    )  # fmt: skip
    shown = {e["id"]: e for e in campaigns.registry(who, "protected")["entities"]}
    assert set(shown) == {"orda", "ktk", "vlast", "editor"}
    assert shown["orda"]["accounts"] == {"telegram": ["ordakz"]}
    assert shown["editor"]["outlet"] == "orda"
    assert any("entities[0] orda" in p and "ktk_news" in p for p in result.problems)
    assert any("stored version is kept" in p for p in result.problems)
    assert not any("no outlet with id" in p for p in result.problems)


def _mvt(folder: Path) -> Path:
    folder.mkdir()
    visit = {"url": "https://free247downloads.com/x", "isodate": "2021-07-04 10:15:00.000000"}
    indicator = {"type": "domain", "value": "free247downloads.com", "name": "Pegasus"}
    (folder / "safari_history_detected.json").write_text(
        json.dumps([{**visit, "matched_indicator": indicator}])
    )
    return folder


def test_the_same_mvt_results_open_one_case(store: Store, tmp_path: Path) -> None:
    desk = CaseDesk(store)
    campaigns = CampaignDesk(desk)
    who = desk.system("test")
    run = _mvt(tmp_path / "mvt")
    first = campaigns.import_spyware(who, [run], person="Editor")
    again = campaigns.import_spyware(who, [run], person="Editor")
    assert first.case is not None and again.case == first.case


def test_an_appeal_cites_its_own_outlets_clusters_with_their_evidence(store: Store) -> None:
    from qorgau.detect.account_actions import new_account_action

    desk = CaseDesk(store)
    od = ObservationDesk(desk)
    campaigns = CampaignDesk(desk)
    who = desk.system("test")
    od.watch(who, "Orda.kz", "handle", "orda_kz", group="Orda")
    now = store.now()
    day = now - timedelta(days=1)
    posts = []
    for ring, url_base in (
        ("orda", "https://fake.example/orda"),
        ("other", "https://x.example/ad"),
    ):
        for k in range(3):
            for j in range(6):
                text = (
                    f"Жалуйтесь на @orda_kz, кидайте репорты {k}"
                    if ring == "orda"
                    else f"покупайте у нас {k}"
                )
                posts.append(
                    Observation(
                        id=f"{ring}-{k}-{j}",
                        source="tg",
                        platform="telegram",
                        time=day + timedelta(hours=k, seconds=3 * j),
                        account=f"{ring}_{j}",
                        text=text,
                        urls=(f"{url_base}/{k}",),
                    )
                )
    od.ingest(who, posts)
    campaigns.record_action(
        who, new_account_action("telegram", "orda_kz", "suspension", now - timedelta(hours=1))
    )
    package = campaigns.appeal(who, outlet="Orda", platform="telegram", account="orda_kz")
    assert len(package.clusters) == 1, [c.accounts for c in package.clusters]
    (cluster,) = package.clusters
    assert set(cluster.accounts) == {f"orda_{j}" for j in range(6)}
    assert cluster.observation_ids
    cited = {e.observation_id: e.sha256 for e in package.evidence}
    assert set(cluster.observation_ids) <= set(cited)
    assert all(cited[i] for i in cluster.observation_ids), "each cited post has its vault hash"
