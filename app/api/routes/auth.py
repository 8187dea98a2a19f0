"""Login and logout with an HttpOnly, SameSite session cookie."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.api.deps import LOGIN_COOKIE, CurrentUser, SessionDep, SettingsDep, actor_of
from app.models import User
from app.models.schemas import LoginRequest, UserRead
from app.services import users

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=UserRead)
async def login(
    body: LoginRequest, response: Response, db: SessionDep, settings: SettingsDep
) -> User:
    """Log in; sets the session cookie."""
    user = await users.authenticate(db, body.name, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong name or password")
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


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
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
