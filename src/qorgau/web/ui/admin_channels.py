"""Where a person is paged, and which outbound channels the installation can use at all.

Personal channels (an e-mail address, a Telegram chat) belong to the signed-in person, so any
staff member manages their own here; the organisation's webhooks are a response document
(admins and coordinators edit them with the other documents). The installation's side is shown
as configured or not: host names at most, never a password, a bot token or a URL that may
carry credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from qorgau.config import Settings
from qorgau.domain import access
from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.errors import InvalidInput, NotFound
from qorgau.i18n import N_, gettext
from qorgau.response_desk import PERSONAL_CHANNELS
from qorgau.web.auth import route
from qorgau.web.ui import render
from qorgau.web.ui.admin_common import back, notice, refusal
from qorgau.web.ui.deps import Viewer, response_desk
from qorgau.web.ui.forms import FormState, apply_error, read_form

router = APIRouter(include_in_schema=False)

CHANNELS_PATH = "/admin/channels"
CHANNEL_LABELS = {"email": N_("E-mail"), "telegram": N_("Telegram"), "webhook": N_("Webhook")}


def installation(settings: Settings, lang: str) -> list[tuple[str, bool, str]]:
    """(channel, configured, what may be said about it) for the outbound channels."""
    smtp = f"{settings.smtp_host}:{settings.smtp_port}" if settings.smtp_host else ""
    return [
        (gettext(lang, "E-mail (SMTP)"), bool(settings.smtp_host), smtp),
        (gettext(lang, "Telegram bot"), bool(settings.telegram_bot_token), ""),
        (gettext(lang, "NATS delivery queue"), bool(settings.nats_url), ""),
    ]


def _webhooks(request: Request, who: Principal) -> list[dict[str, str]] | None:
    """The organisation's webhooks for those who may edit them: the name and only the host of
    the address, since a webhook URL often carries its own access key in the path."""
    if not access.allowed(who, Action.RESPONSE_CONFIG):
        return None
    found = response_desk(request).document(who, "channels")
    hooks = found[1].get("webhook", []) if found else []
    return [
        {
            "name": str(h.get("name", "")),
            "host": urlsplit(str(h.get("url", ""))).hostname or "",
            "events": ", ".join(h.get("events") or []),
        }
        for h in hooks
        if isinstance(h, dict)
    ]


def _channels_page(
    request: Request, who: Principal, state: FormState, status: int = 200
) -> Response:
    lang = render.language(request)
    mine = response_desk(request).channels(who)
    return render.page(
        request,
        "ui/admin_channels.html",
        who,
        status=status,
        title=gettext(lang, "Alert channels"),
        state=state,
        mine=[(k, gettext(lang, CHANNEL_LABELS.get(k, k)), v) for k, v in sorted(mine.items())],
        kinds=[(k, gettext(lang, CHANNEL_LABELS[k])) for k in PERSONAL_CHANNELS],
        outbound=installation(request.app.state.settings, lang),
        webhooks=_webhooks(request, who),
        notice=notice(request, lang) if status == 200 else "",
    )


@router.get(CHANNELS_PATH, **route(Action.CHANNEL_SELF))
def channels_page(request: Request, who: Viewer) -> Response:
    return _channels_page(request, who, FormState(values={"kind": "email"}))


@router.post(CHANNELS_PATH, **route(Action.CHANNEL_SELF))
async def set_channel(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    try:
        await run_in_threadpool(
            response_desk(request).set_channel, who, state.get("kind"), state.get("address")
        )
    except InvalidInput as exc:
        apply_error(state, render.language(request), exc, {"kind": "kind", "address": "address"})
        return await run_in_threadpool(_channels_page, request, who, state, 422)
    return back(CHANNELS_PATH, "channel-saved")


@router.post(CHANNELS_PATH + "/remove", **route(Action.CHANNEL_SELF))
async def remove_channel(request: Request, who: Viewer) -> Response:
    state, _ = await read_form(request)
    try:
        await run_in_threadpool(response_desk(request).remove_channel, who, state.get("kind"))
    except NotFound as exc:
        shown = FormState(values={"kind": "email"})
        refusal(shown, render.language(request), exc)
        return await run_in_threadpool(_channels_page, request, who, shown, 404)
    return back(CHANNELS_PATH, "channel-removed")
