"""Sign-in with a password, throttled against guessing.

Policy: 5 failed sign-ins for one username within 15 minutes lock that username until the
oldest of those five is 15 minutes old (so at most 15 minutes after the fifth failure); 50
failures from one address within 15 minutes lock that address the same way. While locked,
attempts are refused without checking the password and are not counted, so a locked account
unlocks on schedule even if guessing goes on. A successful sign-in clears the username's
failures. Unknown usernames are counted too and take as long to refuse as wrong passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from engine.runtime.model import Actor
from engine.runtime.storage.tables import LoginFailure, User

from .accounts import actor_for_user
from .passwords import hash_password, needs_rehash, verify_password

__all__ = ["MAX_FAILURES", "MAX_FAILURES_PER_IP", "WINDOW", "LoginResult", "verify_login"]

MAX_FAILURES = 5
MAX_FAILURES_PER_IP = 50
WINDOW = timedelta(minutes=15)

Outcome = Literal["ok", "invalid", "locked", "inactive"]


@dataclass(frozen=True)
class LoginResult:
    """``actor`` is set only when ``outcome`` is ``"ok"``; ``retry_after`` only when locked."""

    outcome: Outcome
    actor: Actor | None = None
    retry_after: timedelta | None = None

    @property
    def ok(self) -> bool:
        """Whether the sign-in succeeded."""
        return self.outcome == "ok"


async def _locked_until(column: object, value: str, limit: int, now: datetime) -> datetime | None:
    rows = await LoginFailure.select(LoginFailure.at).where(
        (column == value) & (LoginFailure.at > now - WINDOW)  # type: ignore[operator]
    ).order_by(LoginFailure.at, ascending=False).limit(limit).run()
    if len(rows) < limit:
        return None
    until: datetime = rows[-1]["at"] + WINDOW
    return until if until > now else None


async def _record_failure(username: str, ip: str | None, now: datetime) -> None:
    # Rows older than the window decide nothing; pruning here keeps the table small.
    await LoginFailure.delete().where(LoginFailure.at < now - WINDOW).run()
    await LoginFailure.insert(LoginFailure(username=username, ip=ip, at=now)).run()


async def verify_login(username: str, password: str, *, ip: str | None = None,
                       now: datetime | None = None) -> LoginResult:
    """Check a username and password, applying the lock-out policy of this module."""
    now = now or datetime.now(UTC)
    locks = [await _locked_until(LoginFailure.username, username, MAX_FAILURES, now)]
    if ip is not None:
        locks.append(await _locked_until(LoginFailure.ip, ip, MAX_FAILURES_PER_IP, now))
    until = max((t for t in locks if t is not None), default=None)
    if until is not None:
        return LoginResult("locked", retry_after=until - now)

    row = await User.select(User.id, User.password_hash, User.active).where(
        User.username == username).first().run()
    stored = None if row is None else row["password_hash"]
    if not await verify_password(stored, password):
        await _record_failure(username, ip, now)
        return LoginResult("invalid")
    assert row is not None
    if not row["active"]:
        return LoginResult("inactive")
    await LoginFailure.delete().where(LoginFailure.username == username).run()
    if stored is not None and needs_rehash(stored):
        await User.update({User.password_hash: await hash_password(password)}).where(
            User.id == row["id"]).run()
    return LoginResult("ok", actor=await actor_for_user(int(row["id"])))
