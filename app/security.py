"""Passwords (argon2, and the policy a new one must meet), device tokens and login tokens:
generated here, only hashes stored."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
DEVICE_TOKEN_PREFIX = "csd_"
MIN_PASSWORD_LENGTH = 12
# zxcvbn's score 3: an estimated 10^8 guesses or more, centuries at the login throttle's pace.
MIN_PASSWORD_SCORE = 3
# The words an attacker of this clinic tries first; zxcvbn counts each as a handful of guesses.
SITE_WORDS = ("chairside", "ketamine", "esketamine", "spravato", "clinic", "infusion")
# zxcvbn's own bound on what it estimates; a prefix is never harder to guess than the whole.
_ESTIMATED_CHARS = 72


def password_problem(name: str, password: str) -> str | None:
    """What is wrong with this password for the user of this name, in one line; None if nothing.

    No composition rules (they make passwords harder to remember, not to guess): a minimum
    length, not the user's name, and not guessable from zxcvbn's lists of common passwords,
    words and names, the user's name and the clinic's words."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(name) >= 3 and name.casefold() in password.casefold():
        return "password must not contain the user name"
    from zxcvbn import zxcvbn  # its lists take a while to load; only a new password needs them

    name_parts = [part for part in re.split(r"[._@-]+", name) if len(part) >= 3]
    estimate = zxcvbn(password[:_ESTIMATED_CHARS], user_inputs=[name, *name_parts, *SITE_WORDS])
    if estimate["score"] >= MIN_PASSWORD_SCORE:
        return None
    feedback = estimate["feedback"]
    reason = feedback["warning"].rstrip(".") or "it is made of common words, names or patterns"
    advice = " ".join(feedback["suggestions"]) or "Add another word or two."
    return f"password is too easy to guess: {reason[0].lower()}{reason[1:]}. {advice}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_password_hash() -> str:
    """Verifying against this keeps a login for an unknown name as slow as for a known one.
    Made once per process, when first asked (the server asks as it starts, so that no login
    pays for it; a command that logs nobody in never does)."""
    return hash_password(secrets.token_urlsafe(16))


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
