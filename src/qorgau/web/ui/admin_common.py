"""What the administration pages share: the desks they call, the notice shown after a form
redirects back, the one-time secret of a new agent or source, and refusals put into words.

A form posts, the desk acts, and the browser is sent back (303) to the page with ``?done=<code>``;
the code picks a fixed, translated sentence, so a crafted link can never put its own words on
the page. A new agent's or source's token must be seen exactly once and never travel in a URL
(proxies and browser history keep URLs), so it crosses the redirect in a short-lived cookie,
encrypted for the signed-in user and cleared by the page that shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from qorgau.agent_desk import AgentDesk
from qorgau.domain.model import Principal
from qorgau.errors import ConfigurationError, FieldProblem, InvalidInput, QorgauError
from qorgau.i18n import N_, gettext
from qorgau.observation_desk import ObservationDesk
from qorgau.web.ui import sessions
from qorgau.web.ui.forms import FormState, message_for

NOTICES = {
    "user-created": N_(
        "The account was created. Its owner sets up two-factor sign-in at the first sign-in."
    ),
    "role-changed": N_("The role was changed."),
    "deactivated": N_("The account was deactivated; its sessions and tokens no longer work."),
    "reactivated": N_("The account was reactivated."),
    "two-factor-reset": N_(
        "Two-factor sign-in was reset: the person sets it up again at the next sign-in,"
        " and all their sessions were signed out."
    ),
    "sessions-revoked": N_(
        "All sessions and API tokens of the account were ended; the person signs in again."
    ),
    "sign-in-unlocked": N_(
        "The account's sign-in lockout was cleared; earlier failures no longer count."
    ),
    "my-session-revoked": N_("The session was ended."),
    "my-sessions-revoked": N_("Your other sessions and tokens were ended."),
    "password-changed": N_("Your password was changed; your other sessions and tokens were ended."),
    "document-saved": N_("The document passed every check and was saved; it is in force now."),
    "channel-saved": N_("Your alert channel was saved."),
    "channel-removed": N_("Your alert channel was removed."),
    "agent-added": N_("The agent was enrolled."),
    "source-added": N_("The source was created."),
    "agent-revoked": N_("The agent's token was revoked; the results it sent stay."),
    "source-revoked": N_("The source's token was revoked; what it sent stays."),
}

# Domain refusals an administrator can meet on these pages, marked for the catalogue so the
# reader sees them in their language (``gettext`` of the desk's English text).
REFUSALS = (
    N_("you cannot deactivate your own account"),
    N_("you cannot change your own role; ask another administrator"),
)

ONE_TIME_COOKIE = "qorgau_once"
ONE_TIME_SECONDS = 120


def agent_desk(request: Request) -> AgentDesk:
    d: AgentDesk = request.app.state.agent_desk
    return d


def observation_desk(request: Request) -> ObservationDesk:
    d: ObservationDesk = request.app.state.observation_desk
    return d


def notice(request: Request, lang: str) -> str:
    code = request.query_params.get("done", "")
    return gettext(lang, NOTICES[code]) if code in NOTICES else ""


def back(path: str, code: str) -> RedirectResponse:
    """Send the browser back to ``path`` with the confirmation for ``code``."""
    assert code in NOTICES
    return RedirectResponse(f"{path}?done={code}", status_code=303)


def refusal(state: FormState, lang: str, exc: QorgauError) -> None:
    """A desk's refusal (not yourself, not found...) on top of the form, translated."""
    state.message = gettext(lang, str(exc))


def problem_text(lang: str, problem: FieldProblem) -> str:
    """The rule in the reader's language, followed by the desk's exact words when they say
    more (which attack type is unknown, which line the syntax breaks on)."""
    general = message_for(lang, problem.rule, problem.message)
    if general == problem.message:
        return general
    return f"{general} ({problem.message})"


def problems(lang: str, exc: InvalidInput) -> list[tuple[str, str]]:
    return [(p.field, problem_text(lang, p)) for p in exc.problems]


# -- the one-time token of a new agent or source ---------------------------------------------
@dataclass(frozen=True)
class OneTime:
    kind: str  # "agent" or "source"
    name: str
    token: str


def _context(who: Principal) -> str:
    return f"web.admin.one-time.{who.user_id}"


def keep_one_time(request: Request, response: Response, who: Principal, secret: OneTime) -> None:
    value = sessions.cipher(request).encrypt(
        json.dumps({"kind": secret.kind, "name": secret.name, "token": secret.token}),
        _context(who),
    )
    assert value is not None
    response.set_cookie(
        ONE_TIME_COOKIE,
        value,
        max_age=ONE_TIME_SECONDS,
        httponly=True,
        samesite="strict",
        secure=bool(request.app.state.settings.secure_cookies) or request.url.scheme == "https",
        path="/admin",
    )


def take_one_time(request: Request, who: Principal) -> OneTime | None:
    """The secret waiting in the cookie, if any and if it was sealed for this user."""
    raw = request.cookies.get(ONE_TIME_COOKIE)
    if not raw:
        return None
    try:
        plain = sessions.cipher(request).decrypt(raw, _context(who))
        data = json.loads(plain or "")
        return OneTime(str(data["kind"]), str(data["name"]), str(data["token"]))
    except (ConfigurationError, ValueError, KeyError, TypeError):
        return None


def forget_one_time(response: Response) -> None:
    response.delete_cookie(ONE_TIME_COOKIE, path="/admin", samesite="strict", httponly=True)
    response.headers["cache-control"] = "no-store"
