"""The rest of the Orda.kz week through the embedded pipeline, on SQLite and PostgreSQL: the
registry of the outlet and its editor imported, then one day of posts carrying every campaign
the issue names — a fake "invitation" copied by a ring of accounts (some copies in Kazakh Latin
script), the same ring co-sharing links seconds apart, a look-alike domain and a look-alike
account posting the invitation, death threats to the editor, calls to mass-report the outlet's
channel, and a known fake picture — beside what must be left alone: a news link shared by many
readers over hours, harsh but legitimate criticism, and the outlet's own subdomains.

Each campaign must become one case with the right attack type; nothing ordinary may; and
processing the same day again changes nothing."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from qorgau.campaign_desk import CampaignDesk
from qorgau.desk import CaseDesk
from qorgau.detect.model import Observation
from qorgau.observation_desk import ObservationDesk
from qorgau.store.store import Store
from qorgau.store.tables import findings, incident_attack_types, incidents

REGISTRY = {
    "entities": [
        {
            "id": "orda",
            "kind": "outlet",
            "name": "Orda.kz",
            "names": {"ru": ["Орда"], "en": ["Orda"]},
            "accounts": {"telegram": ["ordakz"], "x": ["orda_kz"]},
            "domains": ["orda.kz"],
        },
        {
            "id": "editor",
            "kind": "person",
            "name": "Gulnara Bazhkenova",
            "outlet": "orda",
            "names": {"ru": ["Гульнара Бажкенова"], "kk": ["Гүлнар Бажкенова"]},
            "accounts": {"telegram": ["gbazhkenova"]},
        },
    ]
}
INVITATION = (
    "Главный редактор Гульнара Бажкенова приглашает всех журналистов на закрытую встречу "
    "в акимате в пятницу в 15:00, регистрация по ссылке, вход строго по списку"
)
FAKE_PHASH = "phash:c3a5d4e1f0b29687"


def _posts(now: datetime) -> list[Observation]:
    rng = random.Random(3)
    day = now - timedelta(hours=20)
    out: list[Observation] = []

    def post(account: str, text: str, at: datetime, **kw: object) -> None:
        out.append(
            Observation(
                id=f"tg:{len(out)}",
                source="tg",
                platform="telegram",
                time=at,
                account=account,
                text=text,
                **kw,  # type: ignore[arg-type]
            )
        )

    ring = [f"patriot_{i:02d}" for i in range(14)]
    for i, account in enumerate(ring):  # the fake invitation, copied with small edits
        text = INVITATION if i % 3 else INVITATION.replace("всех", "всех коллег") + " 🔥 #орда"
        if i % 5 == 4:
            text = "Bas redaktor Gulnara Bajkenova barlyq jurnalisterdi juma kuni 15:00-de akimatta jabyq kezdesuge shaqyrady, tirkelu silteme boiynsha, kiru tek tizim boiynsha"  # noqa: E501
        post(account, text, day + timedelta(minutes=3 * i))
    for k in range(3):  # the same ring co-shares links seconds apart
        for j, account in enumerate(ring[:6]):
            post(
                account,
                "читайте",
                day + timedelta(hours=1 + k, seconds=4 * j),
                urls=(f"https://pravda-kz.example/{k}",),
            )
    post("0rda_kz", INVITATION, day + timedelta(minutes=50), urls=("https://0rda.kz/invite",))
    post(
        "news_fan",
        "Новости: https://orda.kz.example.ru/invite — там всё написано",
        day + timedelta(minutes=55),
        urls=("https://orda.kz.example.ru/invite",),
    )
    post(
        "angry_1", "Бажкенова, мы знаем где ты живёшь. Тебе конец, убьём", day + timedelta(hours=5)
    )
    for i in range(6):  # a wave of calls to mass-report the channel
        post(
            f"reporter_{i}",
            "Жалуйтесь на канал @ordakz, кидайте репорты все, пусть заблокируют!",
            day + timedelta(hours=6, minutes=10 * i),
        )
    post(
        "someone",
        "Смотрите, что она написала",
        day + timedelta(hours=7),
        media_hashes=(FAKE_PHASH,),
    )
    # Left alone: readers sharing one news link over many hours, criticism, own subdomains.
    for i in range(60):
        post(
            f"reader_{i}",
            f"{rng.choice(['Интересно', 'Почитайте', 'Важная тема', 'Ну и ну'])} "
            f"{rng.choice(['про тарифы', 'о ценах', 'про дороги', ''])} #{i}",
            day + timedelta(minutes=rng.uniform(0, 600)),
            urls=("https://orda.kz/news/12345",),
        )
    post("critic", "Орда опять написала неправду, редактор должна уйти в отставку", day)
    post("reader_x", "Читаю https://kaz.orda.kz и https://en.orda.kz каждый день", day,
         urls=("https://kaz.orda.kz/", "https://en.orda.kz/"))  # fmt: skip
    return out


def _attack_types(store: Store) -> dict[str, list[str]]:
    """Detector -> the attack types of the cases its findings opened."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(findings.c.detector, incident_attack_types.c.attack_type)
            .join(incidents, incidents.c.id == findings.c.incident_id)
            .join(incident_attack_types, incident_attack_types.c.incident_id == incidents.c.id)
        ).all()
    out: dict[str, list[str]] = {}
    for detector, attack_type in rows:
        out.setdefault(detector, []).append(attack_type)
    return out


def test_a_day_of_campaigns_becomes_one_case_each(store: Store) -> None:
    desk = CaseDesk(store)
    od = ObservationDesk(desk)
    campaigns = CampaignDesk(desk)
    who = desk.system("test")
    od.watch(who, "Gulnara Bazhkenova", "handle", "gbazhkenova", group="Orda")
    od.watch(who, "Orda.kz", "handle", "ordakz", group="Orda")
    campaigns.import_registry(who, "protected", REGISTRY)
    campaigns.import_registry(
        who,
        "media",
        {"items": [{"id": "fake-quote-card", "label": "fake", "title": "Fake quote card",
                    "hashes": [FAKE_PHASH]}]},
    )  # fmt: skip
    day = _posts(store.now())
    report = od.ingest(who, day)
    assert report.processed is not None
    by_detector = _attack_types(store)
    assert by_detector.get("near_duplicate_texts") == ["coordinated_inauthentic"]
    assert by_detector.get("co_sharing") == ["coordinated_inauthentic"]
    assert set(by_detector.get("lookalike_accounts", [])) == {"fake_statement"}
    assert "fake_statement" in by_detector.get("fake_statements", [])
    assert "threats" in by_detector.get("threats", [])
    assert by_detector.get("complaint_waves") == ["mass_complaints"]
    assert by_detector.get("image_fakes") == ["deepfake"]

    with store.read() as conn:
        rows = conn.execute(sa.select(findings.c.detector, findings.c.id)).all()
    keys = {d for d, _ in rows}
    assert "leaked_identifiers" not in keys and "floods" not in keys
    # The near-duplicate case holds the ring's copies, Latin-script ones included, and no
    # reader of the organic link; the look-alikes name the two fake addresses, not kaz./en.
    found = {f.detector: f for f in od.findings(who)}
    copies = set(od.finding_observations(who, found["near_duplicate_texts"].id))
    ring_ids = {o.id for o in day if o.account.startswith("patriot_") and "читайте" not in o.text}
    assert len(copies & ring_ids) >= 12
    assert not {o.id for o in day if o.account.startswith("reader_")} & copies
    lookalikes = [f for f in od.findings(who) if f.detector == "lookalike_accounts"]
    flagged = " ".join(f.campaign_key for f in lookalikes)
    assert "0rda.kz" in flagged and "orda.kz.example.ru" in flagged
    assert "kaz.orda.kz" not in flagged and "en.orda.kz" not in flagged
    threat = found["threats"]
    assert threat.severity == "critical"
    critic = next(o.id for o in day if o.account == "critic")
    flagged_critic = [
        f.detector for f in od.findings(who) if critic in od.finding_observations(who, f.id)
    ]
    assert flagged_critic == [], "criticism is never flagged"

    cases = _count_incidents(store)
    again = od.ingest(who, day)
    assert again.new == 0
    assert _count_incidents(store) == cases


def _count_incidents(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one())
