"""Accounts, argon2id passwords, throttled sign-in, API tokens and definition versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.runtime import auth
from engine.runtime.storage import definition_snapshot, known_definition_versions, record_definition_version
from engine.runtime.storage.tables import ApiToken, LoginFailure, User
from engine.schema import check_definitions

from .conftest import Backend

pytestmark = pytest.mark.anyio

PW = "correct horse"


async def test_create_user_with_roles_and_teams(db: Backend) -> None:
    actor = await auth.create_user("alice", PW, roles=["worker", "technician", "worker"], teams=["mechanical"],
                                   org_unit="factory", email="a@example.cn", display_name="李丽")
    assert (actor.username, actor.roles, actor.teams, actor.org_unit, actor.label) == (
        "alice", frozenset({"worker", "technician"}), frozenset({"mechanical"}), "factory", "李丽")
    stored = await User.select(User.password_hash).where(User.id == actor.id).first().run()
    assert stored is not None and stored["password_hash"].startswith("$argon2id$")
    assert await auth.actor_for_user("alice") == actor == await auth.actor_for_user(actor.id)

    with pytest.raises(auth.AccountError, match="user 'alice' already exists"):
        await auth.create_user("alice", PW)
    with pytest.raises(auth.AccountError, match="no user 'nobody'"):
        await auth.actor_for_user("nobody")


async def test_bad_account_values_are_all_reported(db: Backend) -> None:
    with pytest.raises(auth.AccountError) as info:
        await auth.create_user("a b", "short", email="nope", phone="x")
    assert str(info.value) == (
        "username 'a b' is not valid: use 1-150 letters, digits or . _ @ + -; email 'nope' is not valid; "
        "phone 'x' is not valid; password must be at least 8 characters")
    assert await User.count().run() == 0


async def test_grant_and_revoke(db: Backend) -> None:
    await auth.create_user("bob", PW, roles=["worker"])
    actor = await auth.grant("bob", roles=["technician", "worker"], teams=["electrical"])
    assert (actor.roles, actor.teams) == (frozenset({"worker", "technician"}), frozenset({"electrical"}))
    actor = await auth.revoke("bob", roles=["worker", "never_had"], teams=["electrical"])
    assert (actor.roles, actor.teams) == (frozenset({"technician"}), frozenset())
    [info] = await auth.list_users()
    assert (info.username, info.roles, info.teams, info.active) == ("bob", ("technician",), (), True)


async def test_login_ok_wrong_unknown_inactive(db: Backend) -> None:
    await auth.create_user("carol", PW, roles=["worker"])
    ok = await auth.verify_login("carol", PW)
    assert ok.ok and ok.actor is not None and ok.actor.username == "carol"
    assert (await auth.verify_login("carol", "wrong password")).outcome == "invalid"
    assert (await auth.verify_login("nobody", PW)).outcome == "invalid"
    await auth.set_password("carol", "a new password")
    assert (await auth.verify_login("carol", PW)).outcome == "invalid"
    assert (await auth.verify_login("carol", "a new password")).ok
    await auth.set_active("carol", False)
    assert (await auth.verify_login("carol", "a new password")).outcome == "inactive"


async def test_login_throttle_locks_then_unlocks(db: Backend) -> None:
    await auth.create_user("dave", PW, roles=["worker"])
    t0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    for i in range(auth.MAX_FAILURES):
        result = await auth.verify_login("dave", "guess", ip="10.0.0.9", now=t0 + timedelta(minutes=i))
        assert result.outcome == "invalid"
    # Locked now, even with the right password, and further tries are not counted.
    locked = await auth.verify_login("dave", PW, now=t0 + timedelta(minutes=5))
    assert locked.outcome == "locked" and locked.retry_after == timedelta(minutes=10)
    assert await LoginFailure.count().where(LoginFailure.username == "dave").run() == auth.MAX_FAILURES
    # 15 minutes after the first of the five failures, one of them has aged out of the window.
    opened = await auth.verify_login("dave", PW, now=t0 + timedelta(minutes=15, seconds=1))
    assert opened.ok
    assert await LoginFailure.count().where(LoginFailure.username == "dave").run() == 0


async def test_unknown_usernames_are_throttled_too(db: Backend) -> None:
    t0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    for _ in range(auth.MAX_FAILURES):
        await auth.verify_login("ghost", "x", now=t0)
    assert (await auth.verify_login("ghost", "x", now=t0)).outcome == "locked"


async def test_tokens(db: Backend) -> None:
    erin = await auth.create_user("erin", None, roles=["worker"], teams=["mechanical"])
    token = await auth.create_token("erin", "ci")
    assert token.startswith("gd_") and len(token) == 46
    stored = await ApiToken.select(ApiToken.token_hash, ApiToken.last_used_at).first().run()
    assert stored is not None and stored["token_hash"] == auth.hash_token(token) != token
    assert stored["last_used_at"] is None

    assert await auth.actor_for_token(token) == erin
    [info] = await auth.list_tokens(erin)
    assert info.name == "ci" and info.last_used_at is not None and info.revoked_at is None
    assert await auth.actor_for_token(token + "x") is None
    assert await auth.actor_for_token("not-a-token") is None

    assert await auth.revoke_token(token) is True
    assert await auth.revoke_token(token) is False
    assert await auth.actor_for_token(token) is None

    a, b, c = [await auth.create_token(erin, n) for n in ("a", "a", "b")]
    assert await auth.revoke_tokens("erin", "a") == 2
    assert (await auth.actor_for_token(a), await auth.actor_for_token(b)) == (None, None)
    assert await auth.actor_for_token(c) == erin
    await auth.set_active(erin, False)
    assert await auth.actor_for_token(c) is None  # inactive users' tokens stop working
    await auth.set_active(erin, True)
    assert await auth.revoke_tokens(erin) == 1
    assert (await auth.verify_login("erin", "")).outcome == "invalid"  # token-only account


async def test_definition_version_recorded_once(db: Backend, definitions: Path) -> None:
    catalog = check_definitions(definitions).catalog
    assert catalog is not None
    assert await record_definition_version(catalog) is True
    assert await record_definition_version(catalog) is False
    [(version, applied_at)] = await known_definition_versions()
    assert version == catalog.version and applied_at.tzinfo is not None
    assert await definition_snapshot(catalog.version) == catalog.snapshot.decode()
    assert await definition_snapshot("0" * 64) is None


async def test_one_address_guessing_many_usernames_is_locked(db: Backend) -> None:
    t0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    await LoginFailure.insert(*[
        LoginFailure(username=f"user{i}", ip="10.0.0.7", at=t0 + timedelta(seconds=i))
        for i in range(auth.MAX_FAILURES_PER_IP)
    ]).run()
    locked = await auth.verify_login("someone", "x", ip="10.0.0.7", now=t0 + timedelta(minutes=1))
    assert locked.outcome == "locked" and locked.retry_after == timedelta(minutes=14)
