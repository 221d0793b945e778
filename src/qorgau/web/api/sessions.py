"""Your own sessions and tokens, your password, and an administrator's "sign out everywhere".

Included by ``accounts.router`` (same ``/api/v1`` prefix). A session is named by its id; the
token itself is shown once, by the call that issued it, and never again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from qorgau.domain.access import Action
from qorgau.domain.model import Principal
from qorgau.session_desk import SessionDesk
from qorgau.web.auth import bearer_token, client_address, desk, principal, route, session_token

router = APIRouter()


class SessionOut(BaseModel):
    id: int
    name: str
    kind: Literal["web", "api"]
    created_at: datetime
    expires_at: datetime
    current: bool


class SessionList(BaseModel):
    items: list[SessionOut]


class RevokedOut(BaseModel):
    revoked: int


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: Annotated[str, Field(min_length=12, max_length=1024)]


Who = Annotated[Principal, Depends(principal)]


def _desk(request: Request) -> SessionDesk:
    return SessionDesk(desk(request))


def _token(request: Request) -> str | None:
    return bearer_token(request) or session_token(request)


@router.get(
    "/me/sessions",
    response_model=SessionList,
    summary="Your sessions and API tokens that still work (no token values)",
    **route(Action.SELF_READ),
)
def my_sessions(request: Request, who: Who) -> SessionList:
    found = _desk(request).mine(who, _token(request))
    return SessionList(
        items=[
            SessionOut(
                id=s.id,
                name=s.name,
                kind="web" if s.kind == "web" else "api",
                created_at=s.created_at,
                expires_at=s.expires_at,
                current=s.current,
            )
            for s in found
        ]
    )


@router.delete(
    "/me/sessions/{session_id}",
    status_code=204,
    summary="End one of your sessions or revoke one of your tokens",
    **route(Action.SELF_READ),
)
def revoke_my_session(
    session_id: Annotated[int, Path(ge=1)], request: Request, who: Who
) -> Response:
    _desk(request).revoke_mine(who, session_id, client_address(request))
    return Response(status_code=204)


@router.post(
    "/me/sessions/revoke-others",
    response_model=RevokedOut,
    summary="End every session and token of yours except the one making this call",
    **route(Action.SELF_READ),
)
def revoke_other_sessions(request: Request, who: Who) -> RevokedOut:
    token = bearer_token(request)
    assert token is not None  # SELF_READ is refused to anonymous callers
    return RevokedOut(revoked=_desk(request).revoke_others(who, token, client_address(request)))


@router.post(
    "/me/password",
    response_model=RevokedOut,
    summary="Change your password; your other sessions and tokens end",
    **route(Action.SELF_READ),
)
def change_password(body: PasswordIn, request: Request, who: Who) -> RevokedOut:
    n = _desk(request).change_password(
        who,
        bearer_token(request),
        body.current_password,
        body.new_password,
        client_address(request),
    )
    return RevokedOut(revoked=n)


@router.post(
    "/users/{user_id}/sessions/revoke",
    response_model=RevokedOut,
    summary="End every session and token of a user of your organisation",
    **route(Action.USER_MANAGE),
)
def revoke_user_sessions(
    user_id: Annotated[int, Path(ge=1)], request: Request, who: Who
) -> RevokedOut:
    return RevokedOut(revoked=_desk(request).revoke_user(who, user_id, client_address(request)))
