"""User accounts: create, change password, grant and revoke roles and teams, list, look up."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.runtime.model import Actor
from engine.runtime.storage.directory import load_actors
from engine.runtime.storage.integrity import is_unique_violation
from engine.runtime.storage.tables import TeamMember, User, UserRole
from engine.runtime.storage.transaction import transaction
from engine.schema import Catalog

from . import actor_cache
from .passwords import hash_password, password_problem

__all__ = [
    "AccountError",
    "UserInfo",
    "account_problems",
    "actor_for_user",
    "create_user",
    "grant",
    "list_users",
    "revoke",
    "set_active",
    "set_password",
    "unknown_names",
    "user_id",
]

# Letters (any script), digits and . _ @ + -: no spaces, so a username survives shells and URLs.
_USERNAME = re.compile(r"^[\w.@+-]{1,150}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{2,30}$")


class AccountError(ValueError):
    """A request about accounts that cannot be done (unknown user, taken name, bad value)."""


@dataclass(frozen=True)
class UserInfo:
    """An account as admins list it."""

    id: int
    username: str
    display_name: str
    email: str | None
    phone: str | None
    org_unit: str | None
    active: bool
    roles: tuple[str, ...]
    teams: tuple[str, ...]


def account_problems(username: str | None = None, email: str | None = None, phone: str | None = None,
                     password: str | None = None) -> list[str]:
    """What is wrong with the given account values (those passed as None are not checked)."""
    problems: list[str] = []
    if username is not None and not _USERNAME.match(username):
        problems.append(f"username {username!r} is not valid: use 1-150 letters, digits or . _ @ + -")
    if email is not None and not _EMAIL.match(email):
        problems.append(f"email {email!r} is not valid")
    if phone is not None and not _PHONE.match(phone):
        problems.append(f"phone {phone!r} is not valid")
    if password is not None and (problem := password_problem(password)):
        problems.append(problem)
    return problems


def _check_values(username: str | None = None, email: str | None = None, phone: str | None = None,
                  password: str | None = None) -> None:
    problems = account_problems(username, email, phone, password)
    if problems:
        raise AccountError("; ".join(problems))


def unknown_names(catalog: Catalog, roles: Iterable[str] = (), teams: Iterable[str] = (),
                  org_units: Iterable[str] = ()) -> list[str]:
    """One message per role, team or org unit the definitions do not declare (empty when all known)."""
    out = [f"unknown role {r!r}" for r in roles if r not in catalog.roles]
    out += [f"unknown team {t!r}" for t in teams if t not in catalog.teams]
    out += [f"unknown org unit {u!r}" for u in org_units if u not in catalog.org.units]
    return out


async def user_id(user: Actor | int | str) -> int:
    """The id of a user given as an Actor, an id or a username; AccountError when there is none."""
    if isinstance(user, Actor):
        return user.id
    where = (User.id == user) if isinstance(user, int) else (User.username == user)
    row = await User.select(User.id).where(where).first().run()
    if row is None:
        raise AccountError(f"no user {user!r}")
    return int(row["id"])


async def actor_for_user(user: Actor | int | str) -> Actor:
    """The user as the rules see them, with current roles and teams (active or not)."""
    uid = await user_id(user)
    return (await load_actors([uid]))[uid]


async def create_user(username: str, password: str | None, *, roles: Sequence[str] = (),
                      teams: Sequence[str] = (), org_unit: str | None = None, email: str | None = None,
                      phone: str | None = None, display_name: str = "") -> Actor:
    """Create an active user; ``password`` None makes an account that can only use API tokens.

    Roles, teams and the org unit are not checked here: check them against the running
    definitions with :func:`unknown_names` first.
    """
    _check_values(username, email, phone, password)
    stored = None if password is None else await hash_password(password)
    try:
        async with transaction():
            rows = await User.insert(User(
                username=username, display_name=display_name, email=email, phone=phone,
                password_hash=stored, active=True, org_unit=org_unit,
            )).returning(User.id).run()
            uid = int(rows[0]["id"])
            await _add(uid, roles, teams)
    except Exception as exc:
        if is_unique_violation(exc):
            raise AccountError(f"user {username!r} already exists") from exc
        raise
    return await actor_for_user(uid)


async def _add(uid: int, roles: Iterable[str], teams: Iterable[str]) -> None:
    have_roles = {r["role"] for r in await UserRole.select(UserRole.role).where(UserRole.user_id == uid).run()}
    have_teams = {r["team"] for r in await TeamMember.select(TeamMember.team).where(
        TeamMember.user_id == uid).run()}
    new_roles = [UserRole(user_id=uid, role=r) for r in dict.fromkeys(roles) if r not in have_roles]
    new_teams = [TeamMember(user_id=uid, team=t) for t in dict.fromkeys(teams) if t not in have_teams]
    if new_roles:
        await UserRole.insert(*new_roles).run()
    if new_teams:
        await TeamMember.insert(*new_teams).run()


async def set_password(user: Actor | int | str, password: str) -> None:
    """Replace the user's password."""
    _check_values(password=password)
    stored = await hash_password(password)
    uid = await user_id(user)
    await User.update({User.password_hash: stored}).where(User.id == uid).run()


async def grant(user: Actor | int | str, roles: Sequence[str] = (), teams: Sequence[str] = ()) -> Actor:
    """Add roles and team memberships (those already held are kept once)."""
    async with transaction():
        uid = await user_id(user)
        await _add(uid, roles, teams)
    actor_cache.forget_all()
    return await actor_for_user(uid)


async def revoke(user: Actor | int | str, roles: Sequence[str] = (), teams: Sequence[str] = ()) -> Actor:
    """Remove roles and team memberships (ones not held are ignored)."""
    async with transaction():
        uid = await user_id(user)
        if roles:
            await UserRole.delete().where((UserRole.user_id == uid) & UserRole.role.is_in(list(roles))).run()
        if teams:
            await TeamMember.delete().where(
                (TeamMember.user_id == uid) & TeamMember.team.is_in(list(teams))).run()
    actor_cache.forget_all()
    return await actor_for_user(uid)


async def set_active(user: Actor | int | str, active: bool) -> None:
    """Deactivate (or reactivate) an account: inactive users cannot sign in or use tokens."""
    uid = await user_id(user)
    await User.update({User.active: active}).where(User.id == uid).run()
    actor_cache.forget_all()


async def list_users() -> list[UserInfo]:
    """Every account with its roles and teams, by username."""
    rows = await User.select(User.id, User.username, User.display_name, User.email, User.phone,
                             User.org_unit, User.active).order_by(User.username).run()
    actors = await load_actors(r["id"] for r in rows)
    return [
        UserInfo(id=r["id"], username=r["username"], display_name=r["display_name"], email=r["email"],
                 phone=r["phone"], org_unit=r["org_unit"], active=bool(r["active"]),
                 roles=tuple(sorted(actors[r["id"]].roles)), teams=tuple(sorted(actors[r["id"]].teams)))
        for r in rows
    ]
