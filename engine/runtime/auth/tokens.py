"""API tokens: random secrets shown once, stored only as their SHA-256.

A token is ``gd_`` plus 43 URL-safe characters (256 random bits). Hashing without a salt is
enough here: the secret is random, not chosen by a person, so there is nothing to guess, and a
plain hash lets a request find its token with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.runtime.model import Actor
from engine.runtime.storage.database import current_engine
from engine.runtime.storage.directory import row_actor, select_actors
from engine.runtime.storage.tables import ApiToken

from . import actor_cache
from .accounts import AccountError, user_id

__all__ = [
    "TOKEN_PREFIX",
    "TokenInfo",
    "actor_for_token",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "revoke_tokens",
]

TOKEN_PREFIX = "gd_"
# last_used_at is a hint for admins, not an audit trail: writing it on every request would
# turn every API read into a write.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """A token as its owner or an admin lists it; never the secret."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(user: Actor | int | str, name: str = "") -> str:
    """Make a new token for ``user`` and return it; it cannot be shown again."""
    if len(name) > 100:
        raise AccountError("token name must be at most 100 characters")
    uid = await user_id(user)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.insert(ApiToken(user_id=uid, name=name, token_hash=hash_token(token))).run()
    return token


async def revoke_token(token: str) -> bool:
    """Revoke one token by its secret; False when it is unknown or already revoked."""
    rows = await ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)}).where(
        (ApiToken.token_hash == hash_token(token)) & ApiToken.revoked_at.is_null()
    ).returning(ApiToken.id).run()
    actor_cache.forget_all()
    return bool(rows)


async def revoke_tokens(user: Actor | int | str, name: str | None = None) -> int:
    """Revoke the user's live tokens (only those called ``name`` if given); returns how many."""
    uid = await user_id(user)
    where = (ApiToken.user_id == uid) & ApiToken.revoked_at.is_null()
    if name is not None:
        where = where & (ApiToken.name == name)
    rows = await ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)}).where(where).returning(
        ApiToken.id).run()
    actor_cache.forget_all()
    return len(rows)


async def list_tokens(user: Actor | int | str) -> list[TokenInfo]:
    """The user's tokens, live and revoked, oldest first (never the secrets)."""
    uid = await user_id(user)
    rows = await ApiToken.select(ApiToken.id, ApiToken.name, ApiToken.created_at, ApiToken.last_used_at,
                                 ApiToken.revoked_at).where(ApiToken.user_id == uid).order_by(ApiToken.id).run()
    return [TokenInfo(r["id"], r["name"], r["created_at"], r["last_used_at"], r["revoked_at"]) for r in rows]


async def actor_for_token(token: str, *, now: datetime | None = None) -> Actor | None:
    """The active user a live token belongs to, or None; notes when the token was last used.

    The answer is remembered for a few seconds (see :mod:`~engine.runtime.auth.actor_cache`).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    engine = current_engine()
    cached: Actor | None = actor_cache.get(engine, digest)
    if cached is not None:
        return cached
    # One query: the token, its active user, and the user's roles and teams.
    rows = await select_actors(
        "k.token_hash = {} AND k.revoked_at IS NULL AND u.active = {}", digest, True,
        extra="k.id AS token_id, k.last_used_at AS last_used_at",
        joins="JOIN api_tokens k ON k.user_id = u.id",
    )
    if not rows:
        return None
    row = rows[0]
    now = now or datetime.now(UTC)
    last = row["last_used_at"]
    if isinstance(last, str):  # SQLite hands raw timestamps back as text
        last = datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if last is None or now - last >= _TOUCH_EVERY:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["token_id"]).run()
    actor = row_actor(row)
    actor_cache.put(engine, digest, actor)
    return actor
