from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.importers import import_ad_pages, import_ads_jsonl, import_file

PAGE_ONE = """<!DOCTYPE html>
<!-- saved from url=(0041)https://www.doska.example/kv/12345?ref=x -->
<html lang="ru"><head>
<meta charset="utf-8">
<title>Сдам 2-комн. квартиру — Doska.example</title>
<link rel="canonical" href="https://doska.example/kv/12345">
<meta property="og:title" content="Сдам 2-комн. квартиру посуточно">
<meta property="og:image" content="https://img.doska.example/12345.jpg">
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "Product", "name": "Сдам 2-комн. квартиру посуточно",
 "description": "Уютная квартира в центре, звоните в любое время.",
 "offers": {"@type": "Offer", "price": "15000", "priceCurrency": "KZT",
            "seller": {"@type": "Person", "name": "Айгерим"}},
 "datePosted": "2025-05-01T18:00:00+05:00"}
</script>
<script>var tracker = "8 (700) 000-00-00";</script>
<style>.x { color: red }</style>
</head><body>
<nav>Главная / Недвижимость / Аренда</nav>
<article>
<h1>Сдам 2-комн. квартиру посуточно</h1>
<div itemprop="description">Уютная квартира в центре, звоните в любое время.</div>
<a class="show-phone" href="tel:+77011234567">Показать номер</a>
</article>
<aside>Похожие объявления: звоните 8 702 765 43 21</aside>
<footer>© Doska.example</footer>
</body></html>
"""

PAGE_TWO = """<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">
<title>Продаю iPhone</title>
<meta property="og:url" content="https://bazar.example/item/9">
<script type="application/ld+json">
{"@graph": [{"@type": "BreadcrumbList"},
            {"@type": "ClassifiedAd", "headline": "Продаю iPhone 15",
             "datePosted": "2025-05-02"}]}
</script>
</head><body><main>
<h1>Продаю iPhone 15</h1><p>Новый, в коробке. Пишите на почту seller@mail.example</p>
<p><a href="tel:8%20(701)%20123-45-67">8 (701) 123-45-67</a></p>
<p><time datetime="2025-04-30T09:00:00Z">30 апреля</time></p>
</main></body></html>
"""


def _pages(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ad one.html").write_text(PAGE_ONE, encoding="utf-8")
    (folder / "ad-two.htm").write_bytes(PAGE_TWO.encode("cp1251"))
    (folder / "ad one_files").mkdir()
    (folder / "ad one_files" / "frame.html").write_text("<p>ignored</p>", encoding="utf-8")
    (folder / "notes.txt").write_text("not a page", encoding="utf-8")
    return folder


def test_folder_of_saved_pages(tmp_path: Path) -> None:
    folder = _pages(tmp_path / "saved")
    result = import_file(folder, "doska-saved")
    assert result.problems == []
    one, two = result.observations

    assert one.id == "doska-saved:" + hashlib.sha256(b"https://doska.example/kv/12345").hexdigest()
    assert one.kind == "ad"
    assert one.platform == "doska.example"
    assert one.account == "Айгерим"
    assert one.time == datetime(2025, 5, 1, 13, 0, tzinfo=UTC)
    assert one.urls == ("https://doska.example/kv/12345",)
    # The number behind "show number" is seen; the one in "similar ads" and scripts is not.
    assert one.phones == ("+77011234567",)
    assert one.text.startswith("Сдам 2-комн. квартиру посуточно\n")
    assert "tracker" not in one.text and "Главная" not in one.text
    assert one.extra["price"] == "15000"
    assert one.extra["currency"] == "KZT"
    assert one.extra["time_source"] == "json-ld"

    assert two.platform == "bazar.example"
    assert two.urls == ("https://bazar.example/item/9",)
    assert two.phones == ("+77011234567",)
    assert two.emails == ("seller@mail.example",)
    assert two.text.startswith("Продаю iPhone 15")
    # A date without time is midnight in Almaty.
    assert two.time == datetime(2025, 5, 1, 19, 0, tzinfo=UTC)

    again = import_ad_pages(folder, "doska-saved")
    assert [o.id for o in again.observations] == [o.id for o in result.observations]


def test_page_without_url_or_time(tmp_path: Path) -> None:
    page = tmp_path / "ad.html"
    data = "<html><body><h1>Продам гараж</h1><p>Тел. +7 701 123 45 67</p></body></html>"
    page.write_text(data, encoding="utf-8")
    (obs,) = import_ad_pages(page, "saved", site="olx").observations
    assert obs.id == "saved:" + hashlib.sha256(data.encode()).hexdigest()
    assert obs.platform == "olx"
    assert obs.extra["time_source"] == "file-modified"


def test_broken_page_in_folder_is_a_problem_alone_it_raises(tmp_path: Path) -> None:
    folder = _pages(tmp_path / "saved")
    (folder / "broken.html").write_bytes(bytes(range(256)) * 4)
    result = import_ad_pages(folder, "s")
    assert len(result.observations) == 2
    assert [(p.file, p.line) for p in result.problems] == [("broken.html", None)]
    with pytest.raises(InvalidInput, match=r"broken\.html"):
        import_ad_pages(folder / "broken.html", "s")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match=r"no \.html or \.htm pages"):
        import_ad_pages(empty, "s")


def test_ads_jsonl(tmp_path: Path) -> None:
    records = [
        {
            "id": "A-1",
            "site": "krisha.example",
            "url": "https://krisha.example/a/show/1",
            "title": "Сдам квартиру",
            "description": "Без посредников",
            "price": 180000,
            "phones": ["+7 701 123 45 67", "8 702 765 43 21"],
            "seller": "Хозяин",
            "posted_at": "2025-05-01 18:30",
        },
        {
            "url": "https://www.kolesa.example/a/2",
            "title": "Продам авто",
            "text": "Торг",
            "phone": "8 (701) 123-45-67, 8 (702) 765-43-21",
            "time": "2025-05-01T19:00:00+05:00",
        },
        {"id": "A-3", "site": "krisha.example", "title": "no time at all"},
    ]
    path = tmp_path / "ads.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    result = import_file(path, "ads-scrape")
    assert [(p.line, p.reason) for p in result.problems] == [(3, "time: the time is missing")]
    first, second = result.observations
    assert first.id == "ads-scrape:krisha.example/A-1"
    assert first.kind == "ad"
    assert first.account == "Хозяин"
    assert first.text == "Сдам квартиру\nБез посредников\n+7 701 123 45 67\n8 702 765 43 21"
    assert first.phones == ("+77011234567", "+77027654321")
    assert first.time == datetime(2025, 5, 1, 13, 30, tzinfo=UTC)
    assert first.extra["price"] == 180000
    assert second.platform == "kolesa.example"
    assert (
        second.id == "ads-scrape:" + hashlib.sha256(b"https://www.kolesa.example/a/2").hexdigest()
    )
    assert second.phones == first.phones
    assert import_ads_jsonl(path, "ads-scrape").observations == result.observations


def test_same_ad_saved_twice_is_one_observation(tmp_path: Path) -> None:
    folder = _pages(tmp_path / "saved")
    (folder / "ad one (1).html").write_text(PAGE_ONE, encoding="utf-8")
    result = import_ad_pages(folder, "s")
    assert len(result.observations) == 2
    assert result.skipped == 1
