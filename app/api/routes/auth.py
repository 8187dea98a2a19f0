"""Login and logout with an HttpOnly, SameSite session cookie; failed logins are throttled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from app.api.deps import LOGIN_COOKIE, CurrentUser, SessionDep, SettingsDep, actor_of
from app.api.responses import errors
from app.login_throttle import LoginThrottle, Refusal
from app.models import User
from app.models.schemas import ErrorRead, LoginRequest, UserRead
from app.services import users

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=errors(401))


def get_login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]


def _too_many(refused: Refusal) -> HTTPException:
    minutes = max(1, round(refused.retry_after_s / 60))
    wait = f"try again in {minutes} minute{'s' if minutes > 1 else ''}"
    detail = (
        f"too many failed logins for this name; {wait}, or ask an admin to unlock it"
        if refused.reason == "account"
        else f"too many failed logins from this address; {wait}"
    )
    headers = {"Retry-After": str(refused.retry_after_s)}
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail, headers=headers)


@router.post(
    "/login",
    response_model=UserRead,
    responses={
        **errors(400, 403),
        429: {
            "model": ErrorRead,
            "description": "too many failed logins; see the Retry-After header",
        },
        503: {"model": ErrorRead, "description": "the login counts (Redis) do not answer"},
    },
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: SessionDep,
    settings: SettingsDep,
    throttle: LoginThrottleDep,
) -> User:
    """Log in; sets the session cookie."""
    address = request.client.host if request.client else "unknown"
    outcome = await users.log_in(db, throttle, body.name, body.password, address)
    if outcome.user is None:
        await db.commit()  # the audit trail keeps each lockout
        if outcome.refused is not None:
            raise _too_many(outcome.refused)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong name or password")
    user = outcome.user
    token = await users.open_login(db, user, settings.secret_key, settings.session_max_age_s)
    await db.commit()
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return user


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(403))
async def logout(
    request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Response:
    """Log out; ends this login session."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    await users.close_login(db, token, settings.secret_key, actor_of(user))
    await db.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser) -> User:
    """The logged-in user."""
    return user
