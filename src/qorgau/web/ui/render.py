"""Rendering a page: the template environment, the reader's language and the page frame.

Every template receives ``_`` (translate into the reader's language, with ``{named}``
placeholders), the signed-in ``who``, the CSRF token and the navigation allowed to the role.
Templates mark their text with ``_("...")``; the i18n test extracts those strings from the
templates as well as from Python, so a label without a Russian or Kazakh translation fails the
suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.i18n import LANGUAGES, N_, gettext, negotiate
from qorgau.web.ui import sessions

LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}
BABEL_LOCALES = {"en": "en_GB", "ru": "ru", "kk": "kk"}

# Nothing loads from anywhere but this server; no inline script or style can run, so even an
# escaping mistake could not execute code; forms post only here; nobody may frame the page.
UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


ROLE_LABELS = {
    "admin": N_("administrator"),
    "coordinator": N_("coordinator"),
    "responder": N_("responder"),
    "legal": N_("lawyer"),
    "analyst": N_("analyst"),
    "reporter": N_("reporter"),
    "partner": N_("partner organisation"),
}


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    action: Action


NAV = (
    NavItem("/desk", N_("Cases"), Action.QUEUE_READ),
    NavItem("/desk/monitor", N_("Monitor"), Action.MONITOR_READ),
    NavItem("/desk/detections", N_("Detections"), Action.OBSERVATION_READ),
    NavItem("/desk/reports", N_("Reports"), Action.STATS_READ),
    NavItem("/admin", N_("Administration"), Action.PLAYBOOK_READ),
)
PUBLIC_NAV = (
    NavItem("/report", N_("Report an attack"), Action.REPORT_SUBMIT),
    NavItem("/track", N_("Follow a report"), Action.REPORT_TRACK),
    NavItem("/register", N_("Blocked resources"), Action.REGISTER_READ),
    NavItem("/statistics", N_("Statistics"), Action.PUBLIC_DATA),
)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("qorgau.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when_filter
    return env


@lru_cache(maxsize=128)
def template(name: str) -> Template:
    return environment().get_template(name)


def language(request: Request) -> str:
    """An explicit ``?lang=``, then the remembered choice, then the browser's languages."""
    explicit = request.query_params.get("lang")
    if explicit not in LANGUAGES:
        explicit = request.cookies.get(sessions.LANG_COOKIE)
    return negotiate(request.headers.get("accept-language"), explicit)


def translator(lang: str) -> Callable[..., str]:
    return partial(gettext, lang)


def when(value: datetime | None, lang: str, fmt: str = "medium") -> str:
    """A date and time in the reader's language (UTC, said so on the page frame)."""
    if value is None:
        return "—"
    return str(
        format_datetime(value, format=fmt, locale=BABEL_LOCALES.get(lang, "en_GB"), tzinfo=None)
    )


def _when_filter(value: datetime | None, lang: str = "en") -> str:
    return when(value, lang, "short")


def lang_url(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = lang
    return f"{request.url.path}?{urlencode(params)}"


def nav_for(who: Principal) -> list[NavItem]:
    if who.is_anonymous:
        return []
    return [n for n in NAV if access.allowed(who, n.action)]


def page(
    request: Request,
    name: str,
    who: Principal,
    *,
    status: int = 200,
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    html = template(name).render(
        _=translator(lang),
        lang=lang,
        languages=[(code, LANGUAGE_NAMES[code], lang_url(request, code)) for code in LANGUAGES],
        who=who,
        nav=nav_for(who),
        public_nav=PUBLIC_NAV,
        path=request.url.path,
        csrf=sessions.csrf_token(request),
        title=title,
        role_label=lambda role: gettext(lang, ROLE_LABELS.get(str(role), str(role))),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["content-security-policy"] = UI_CSP
    response.headers["content-language"] = lang
    if request.query_params.get("lang") in LANGUAGES:
        sessions.set_cookie(request, response, sessions.LANG_COOKIE, lang, 365 * 24 * 3600)
    sessions.remember_form(request, response)
    return response


def fragment(request: Request, name: str, who: Principal, **context: Any) -> HTMLResponse:
    """Part of a page for htmx to swap in (the same template block, no frame)."""
    lang = language(request)
    html = template(name).render(
        _=translator(lang), lang=lang, who=who, csrf=sessions.csrf_token(request), **context
    )
    response = HTMLResponse(html)
    response.headers["content-security-policy"] = UI_CSP
    return response
