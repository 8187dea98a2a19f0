"""Typed dependencies: database session, current user, role checks, bounded ids and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.models.schemas import INT4_MAX, INT8_MAX
from app.services import audit, users
from app.settings import Settings

LOGIN_COOKIE = "chairside_login"
ROLE_RANK = {"nurse": 1, "clinician": 2, "admin": 3}


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as db:
        yield db


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_db)]

# Ids in a path or a filter, bounded by their columns (app/models/schemas.py says which are
# which): a larger number can name no row and would overflow the database driver.
RowId = Annotated[int, Path(ge=1, le=INT4_MAX)]
BigRowId = Annotated[int, Path(ge=1, le=INT8_MAX)]
RowIdFilter = Annotated[int | None, Query(ge=1, le=INT4_MAX)]


async def get_current_user(request: Request, db: SessionDep, settings: SettingsDep) -> User:
    token = request.cookies.get(LOGIN_COOKIE)
    user = await users.user_for_login(db, token, settings.secret_key) if token else None
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(minimum: str) -> object:
    """A dependency that admits users of at least this role (nurse < clinician < admin)."""

    async def check(user: CurrentUser) -> User:
        if ROLE_RANK[user.role] < ROLE_RANK[minimum]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the {minimum} role or higher"
            )
        return user

    return Depends(check)


NurseUser = Annotated[User, require_role("nurse")]
ClinicianUser = Annotated[User, require_role("clinician")]
AdminUser = Annotated[User, require_role("admin")]


def actor_of(user: User) -> audit.Actor:
    return audit.Actor(name=user.name, user_id=user.id, role=user.role)
