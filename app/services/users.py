"""Staff accounts and browser logins."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import security
from app.models import AuditEvent, LoginSession, User
from app.models.base import utcnow
from app.models.user import ROLES
from app.services import audit
from app.services.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:  # the command line uses this module without the throttle's library
    from app.login_throttle import LoginThrottle, Refusal

log = logging.getLogger(__name__)
# Who locks an account or an address in the audit trail: the login throttle, not a person.
THROTTLE_ACTOR = audit.Actor(name="login-throttle", role="system")


async def create_user(
    db: AsyncSession,
    name: str,
    role: str,
    password: str,
    actor: audit.Actor,
    *,
    check_policy: bool = True,
) -> User:
    """Create a user with a hashed password; the name must be new, the password must meet the
    policy (``check_policy=False`` only for the demo, whose password is published anyway)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    problem = security.password_problem(name, password) if check_policy else None
    if problem is not None:
        raise InvalidInput(problem)
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
    stored = user.password_hash if user else security.dummy_password_hash()
    ok = await asyncio.to_thread(security.verify_password, stored, password)
    return user if ok and user is not None else None


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """The user whose password matched, or None; ``refused`` when it was not even checked."""

    user: User | None
    refused: Refusal | None = None


async def log_in(
    db: AsyncSession, throttle: LoginThrottle, name: str, password: str, address: str
) -> LoginOutcome:
    """Check a login under the throttle; a lock answers the same whatever the password.

    Each lockout is added to the audit trail (the caller commits it, whatever the outcome)."""
    refused = await throttle.refuse_address(address)
    if refused is None:
        refused = await throttle.admit_account(name)
        if refused is not None and await _unlocked_since(db, name, refused.since):
            # An admin unlocked it from the command line, which cannot reach this process's
            # counts: the audit trail says so.
            await throttle.unlock(name)
            refused = await throttle.admit_account(name)
    if refused is not None:
        log.warning("login refused: %s locked (name=%r address=%s)", refused.reason, name, address)
        return LoginOutcome(None, refused)
    user = await authenticate(db, name, password)
    if user is not None:
        await throttle.unlock(name)  # a success starts the account's count afresh
        return LoginOutcome(user)
    failure = await throttle.failed(name, address)
    log.info("login failed (name=%r address=%s)", name, address)
    numbers = {"address": address, "window_s": throttle.window_s}
    if failure.account_locked:
        target = await db.scalar(select(User.id).where(User.name == name))
        detail = {"name": name, "failures": throttle.account_failures, **numbers}
        audit.record(db, THROTTLE_ACTOR, "login.lockout", "user", target, detail)
        log.warning("account locked after %d failed logins (name=%r)", detail["failures"], name)
    if failure.address_locked:
        detail = {"name": name, "failures": throttle.address_failures, **numbers}
        audit.record(db, THROTTLE_ACTOR, "login.address_lockout", "address", None, detail)
        log.warning(
            "address locked after %d failed logins (address=%s)", detail["failures"], address
        )
    return LoginOutcome(None)


async def _unlocked_since(db: AsyncSession, name: str, since: float) -> bool:
    """Whether an admin unlocked this user after the oldest failure still counted."""
    user_id = select(User.id).where(User.name == name).scalar_subquery()
    query = select(AuditEvent.id).where(
        AuditEvent.at >= datetime.fromtimestamp(since, UTC),
        AuditEvent.action == "user.unlock",
        AuditEvent.target_type == "user",
        AuditEvent.target_id == user_id,
    )
    return await db.scalar(query.limit(1)) is not None


async def unlock_user(
    db: AsyncSession, throttle: LoginThrottle | None, name_or_id: str | int, actor: audit.Actor
) -> User:
    """Lift a lock on a user's logins, audited. Without the throttle (the command line, which
    cannot reach a server's counts) the audit event is the unlock: servers consult it."""
    where = User.id == name_or_id if isinstance(name_or_id, int) else User.name == name_or_id
    user = await db.scalar(select(User).where(where))
    if user is None:
        raise NotFound(f"no user {name_or_id!r}")
    detail: dict[str, object] = {"name": user.name}
    if throttle is not None:
        detail["was_locked"] = await throttle.unlock(user.name)
    audit.record(db, actor, "user.unlock", "user", user.id, detail)
    return user


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
