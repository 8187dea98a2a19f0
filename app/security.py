"""Passwords (argon2), device tokens and login tokens: generated here, only hashes stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
DEVICE_TOKEN_PREFIX = "csd_"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this keeps a login for an unknown name as slow as for a known one.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))


def new_device_token() -> str:
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_device_token(token: str) -> str:
    # Tokens are 256 random bits: a plain digest is enough, and lookups stay one index probe.
    return hashlib.sha256(token.encode()).hexdigest()


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def hash_login_token(token: str, secret_key: str) -> str:
    # Keyed so that rotating the secret key ends every login.
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()
