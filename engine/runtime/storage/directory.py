"""Who is who: users as :class:`Actor` values, found by id, role, team or org unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import reduce
from typing import Any

from piccolo.custom_types import Combinable

from engine.runtime.model import Actor

from .tables import TeamMember, User, UserRole

__all__ = ["find_users", "load_actors"]


async def _attach(rows: list[dict[str, Any]]) -> list[Actor]:
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    roles: dict[int, set[str]] = {i: set() for i in ids}
    teams: dict[int, set[str]] = {i: set() for i in ids}
    for r in await UserRole.select(UserRole.user_id, UserRole.role).where(UserRole.user_id.is_in(ids)).run():
        roles[r["user_id"]].add(r["role"])
    for r in await TeamMember.select(TeamMember.user_id, TeamMember.team).where(
            TeamMember.user_id.is_in(ids)).run():
        teams[r["user_id"]].add(r["team"])
    return [
        Actor(id=r["id"], username=r["username"], roles=frozenset(roles[r["id"]]),
              teams=frozenset(teams[r["id"]]), org_unit=r["org_unit"], display_name=r["display_name"])
        for r in rows
    ]


_COLUMNS = (User.id, User.username, User.display_name, User.org_unit)


async def load_actors(user_ids: Iterable[int], *, active_only: bool = False) -> dict[int, Actor]:
    """Actors for the given user ids (missing ids are left out), with roles and teams."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    where: Combinable = User.id.is_in(ids)
    if active_only:
        where = where & (User.active == True)  # noqa: E712 - Piccolo builds SQL from ==
    rows = await User.select(*_COLUMNS).where(where).run()
    return {a.id: a for a in await _attach(rows)}


async def find_users(*, role: str | None = None, team: str | None = None,
                     org_units: Sequence[str] | None = None, active_only: bool = True) -> list[Actor]:
    """Users with ``role``, in ``team`` and in one of ``org_units`` (each filter optional), by id.

    The filters run in SQL; an empty ``org_units`` matches nobody.
    """
    if org_units is not None and not org_units:
        return []
    conditions: list[Any] = []
    if active_only:
        conditions.append(User.active == True)  # noqa: E712
    if role is not None:
        conditions.append(User.id.is_in(UserRole.select(UserRole.user_id).where(UserRole.role == role)))
    if team is not None:
        conditions.append(User.id.is_in(TeamMember.select(TeamMember.user_id).where(TeamMember.team == team)))
    if org_units is not None:
        conditions.append(User.org_unit.is_in(list(org_units)))
    query = User.select(*_COLUMNS).order_by(User.id)
    if conditions:
        query = query.where(reduce(lambda a, b: a & b, conditions))
    return await _attach(await query.run())
