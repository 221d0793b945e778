"""Sign-in, tokens and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from qorgau.domain.access import Action
from qorgau.domain.model import Principal, User
from qorgau.domain.queries import MAX_PAGE_SIZE
from qorgau.errors import AuthenticationRequired, TooManyAttempts
from qorgau.web import rate_limits, schemas
from qorgau.web.api import sessions
from qorgau.web.api.convert import page_fields
from qorgau.web.auth import bearer_token, client_address, desk, principal, route

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def user_out(u: User) -> schemas.UserOut:
    return schemas.UserOut(
        id=u.id, username=u.username, role=u.role, display_name=u.display_name, active=u.active
    )


@router.post(
    "/auth/token",
    response_model=schemas.TokenOut,
    summary="Sign in, get an API token",
    **route(Action.LOGIN),
)
def login(
    body: schemas.LoginIn, request: Request, who: Annotated[Principal, Depends(principal)]
) -> schemas.TokenOut:
    address = client_address(request)
    rate_limits.check_sign_in(request, address)
    try:
        token, expires, user = desk(request).login(
            body.username, body.password, body.token_name, address, body.otp
        )
    except (AuthenticationRequired, TooManyAttempts):
        rate_limits.count_failed_sign_in(request, address)
        raise
    return schemas.TokenOut(token=token, expires_at=expires, role=user.role)


@router.delete(
    "/auth/token",
    status_code=204,
    summary="Revoke the token used for this call",
    **route(Action.SELF_READ),
)
def logout(request: Request, who: Annotated[Principal, Depends(principal)]) -> Response:
    token = bearer_token(request)
    assert token is not None  # SELF_READ is refused to anonymous callers
    desk(request).logout(who, token, client_address(request))
    return Response(status_code=204)


@router.get("/me", response_model=schemas.MeOut, summary="Who am I", **route(Action.SELF_READ))
def me(who: Annotated[Principal, Depends(principal)]) -> schemas.MeOut:
    return schemas.MeOut(id=who.user_id, username=who.username, role=who.role)


@router.post(
    "/users",
    response_model=schemas.UserOut,
    status_code=201,
    summary="Create a user in your organisation",
    **route(Action.USER_MANAGE),
)
def create_user(
    body: schemas.UserIn, request: Request, who: Annotated[Principal, Depends(principal)]
) -> schemas.UserOut:
    return user_out(
        desk(request).create_user(
            who, body.username, body.role, body.password, body.display_name, client_address(request)
        )
    )


@router.get(
    "/users", response_model=schemas.UserPage, summary="List users", **route(Action.USER_MANAGE)
)
def list_users(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> schemas.UserPage:
    items, total = desk(request).list_users(who, limit, offset)
    return schemas.UserPage(
        items=[user_out(u) for u in items], **page_fields(total, limit, offset, len(items))
    )


@router.patch(
    "/users/{user_id}",
    response_model=schemas.UserOut,
    summary="Activate or deactivate a user (revokes their tokens)",
    **route(Action.USER_MANAGE),
)
def patch_user(
    user_id: Annotated[int, Path(ge=1)],
    body: schemas.UserPatchIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> schemas.UserOut:
    return user_out(
        desk(request).set_user_active(who, user_id, body.active, client_address(request))
    )


# Own sessions, password change and "sign out everywhere" (web/api/sessions.py).
router.include_router(sessions.router)
