"""The Atom feed of public alerts, for partner organisations and journalists' unions.

Atom rather than a bespoke format because every feed reader, newsroom tool and chat bridge
already reads it; feedgen writes a valid document so this module only chooses what goes in.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from qorgau.i18n import gettext
from qorgau.store.public_alerts import PublicAlert


def atom_feed(
    alerts: Sequence[PublicAlert], *, organisation: str, base_url: str, lang: str
) -> bytes:
    """Entries in ``lang``, falling back to English, then to any language the alert has."""
    fg = FeedGenerator()
    feed_url = f"{base_url.rstrip('/')}/feeds/alerts.atom?lang={lang}"
    fg.id(feed_url)
    fg.title(gettext(lang, "{organisation}: public alerts", organisation=organisation))
    fg.link(href=feed_url, rel="self")
    fg.language(lang)
    fg.author({"name": organisation})
    updated = max((a.published_at for a in alerts), default=None)
    if updated is not None:
        fg.updated(updated)
    for a in reversed(alerts):  # feedgen prepends: add oldest first so the newest leads
        text = a.texts.get(lang) or a.texts.get("en") or next(iter(a.texts.values()))
        entry = fg.add_entry()
        entry.id(f"urn:qorgau:alert:{a.public_id}")
        entry.title(text["title"])
        entry.summary(text.get("summary", ""))
        entry.published(a.published_at)
        entry.updated(a.published_at)
        entry.link(href=f"{base_url.rstrip('/')}/api/v1/alerts/{a.public_id}")
    out: bytes = fg.atom_str(pretty=True)
    return out
