"""Staff accounts and browser logins."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import security
from app.models import LoginSession, User
from app.models.base import utcnow
from app.models.user import ROLES
from app.services import audit
from app.services.errors import Conflict, InvalidInput


async def create_user(
    db: AsyncSession, name: str, role: str, password: str, actor: audit.Actor
) -> User:
    """Create a user with a hashed password; the name must be new."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < security.MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {security.MIN_PASSWORD_LENGTH} characters")
    if await db.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    password_hash = await asyncio.to_thread(security.hash_password, password)
    user = User(name=name, role=role, password_hash=password_hash)
    db.add(user)
    await db.flush()
    audit.record(db, actor, "user.create", "user", user.id, {"name": name, "role": role})
    return user


async def list_users(db: AsyncSession) -> list[User]:
    return list((await db.scalars(select(User).order_by(User.name))).all())


async def authenticate(db: AsyncSession, name: str, password: str) -> User | None:
    """The user if the password matches, else None (same cost either way)."""
    user = await db.scalar(select(User).where(User.name == name, User.disabled_at.is_(None)))
    stored = user.password_hash if user else security.DUMMY_PASSWORD_HASH
    ok = await asyncio.to_thread(security.verify_password, stored, password)
    return user if ok and user is not None else None


async def open_login(db: AsyncSession, user: User, secret_key: str, max_age_s: int) -> str:
    """Start a login session; returns the token for the cookie."""
    token = security.new_login_token()
    now = utcnow()
    db.add(
        LoginSession(
            user_id=user.id,
            token_hash=security.hash_login_token(token, secret_key),
            created_at=now,
            expires_at=now + timedelta(seconds=max_age_s),
        )
    )
    audit.record(db, audit.Actor(user.name, user.id, user.role), "login", "user", user.id)
    return token


async def user_for_login(db: AsyncSession, token: str, secret_key: str) -> User | None:
    token_hash = security.hash_login_token(token, secret_key)
    query = (
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.token_hash == token_hash,
            LoginSession.expires_at > utcnow(),
            User.disabled_at.is_(None),
        )
    )
    return await db.scalar(query)


async def close_login(db: AsyncSession, token: str, secret_key: str, actor: audit.Actor) -> None:
    token_hash = security.hash_login_token(token, secret_key)
    await db.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash))
    audit.record(db, actor, "logout", "user", actor.user_id)
