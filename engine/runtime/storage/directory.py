"""Who is who: users as :class:`Actor` values, found by id, role, team or org unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from engine.runtime.model import Actor

from .database import is_postgres
from .inflight import counted_read
from .sql import fetch
from .tables import TeamMember, User, UserRole
from .transaction import in_transaction

__all__ = ["RouteCandidate", "find_users", "load_actors", "route_candidates", "select_actors"]

# Open work: tickets in these categories. Their number per assignee is kept in
# assignee_open_counts by triggers (see the migration of 2026-11-26T15:10).
_OPEN = ("open", "active", "waiting")
# Count again from the tickets, after rows were written with the triggers off (bulk loads).
RECOUNT_OPEN = (
    "DELETE FROM assignee_open_counts",
    "INSERT INTO assignee_open_counts (user_id, open_count) SELECT assignee_id, count(*) FROM tickets "
    f"WHERE assignee_id IS NOT NULL AND state_category IN ({', '.join(repr(c) for c in _OPEN)}) "
    "GROUP BY assignee_id",
)


def _placeholders(n: int) -> str:
    return ", ".join(["{}"] * n)


def _actor_columns(alias: str = "u") -> str:
    """The columns of an Actor in one row: roles and teams folded into comma lists by subqueries."""
    agg = "string_agg" if is_postgres() else "group_concat"
    return (
        f"{alias}.id AS id, {alias}.username AS username, {alias}.display_name AS display_name, "
        f"{alias}.org_unit AS org_unit, "
        f"(SELECT {agg}(r.role, ',') FROM user_roles r WHERE r.user_id = {alias}.id) AS roles, "
        f"(SELECT {agg}(t.team, ',') FROM team_members t WHERE t.user_id = {alias}.id) AS teams"
    )


def row_actor(row: dict[str, Any]) -> Actor:
    """An Actor from a row selected with :func:`_actor_columns` (ids are plain identifiers, so commas split)."""
    return Actor(
        id=int(row["id"]), username=row["username"], org_unit=row["org_unit"], display_name=row["display_name"] or "",
        roles=frozenset(x for x in (row["roles"] or "").split(",") if x),
        teams=frozenset(x for x in (row["teams"] or "").split(",") if x),
    )


async def select_actors(where: str, *args: Any, extra: str = "", joins: str = "") -> list[dict[str, Any]]:
    """Rows of actor columns (plus ``extra`` columns) for users matching a raw WHERE clause, in one query."""
    columns = _actor_columns() + (f", {extra}" if extra else "")
    rows: list[dict[str, Any]] = await User.raw(
        f"SELECT {columns} FROM users u {joins} WHERE {where} ORDER BY u.id", *args
    ).run()
    return rows


@dataclass(frozen=True)
class RouteCandidate:
    """A user who may receive a ticket, with what the strategies weigh."""

    id: int
    username: str
    open_count: int
    last_assigned: int  # id of the newest ticket assigned to them; 0 when none


async def route_candidates(*, roles: Sequence[str] = (), team: str | None = None,
                           org_units: Sequence[str] | None = None,
                           usernames: Sequence[str] | None = None) -> list[RouteCandidate]:
    """Active users matching every filter, with their open-ticket count, in one query."""
    if (org_units is not None and not org_units) or (usernames is not None and not usernames):
        return []
    where = ["u.active = {}"]
    args: list[Any] = [True]
    for role in roles:
        where.append("EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = {})")
        args.append(role)
    if team is not None:
        where.append("EXISTS (SELECT 1 FROM team_members t WHERE t.user_id = u.id AND t.team = {})")
        args.append(team)
    if org_units is not None:
        where.append(f"u.org_unit IN ({_placeholders(len(org_units))})")
        args.extend(org_units)
    if usernames is not None:
        where.append(f"u.username IN ({_placeholders(len(usernames))})")
        args.extend(usernames)
    sql = (
        "SELECT u.id AS id, u.username AS username, "
        "coalesce((SELECT c.open_count FROM assignee_open_counts c WHERE c.user_id = u.id), 0) AS open_count, "
        "(SELECT max(k.id) FROM tickets k WHERE k.assignee_id = u.id) AS last_assigned "
        f"FROM users u WHERE {' AND '.join(where)} ORDER BY u.id"
    )
    # every create routes: the plain statement, not a Piccolo query; on PostgreSQL with the
    # assignments this process decided that the read cannot see yet (see .inflight)
    rows = await counted_read((sql, *args), lambda: fetch(sql, *args), shared=not in_transaction())
    return [RouteCandidate(int(r["id"]), r["username"], int(r["open_count"]), int(r["last_assigned"] or 0))
            for r in rows]


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
    where = f"u.id IN ({_placeholders(len(ids))})" + (" AND u.active = {}" if active_only else "")
    rows = await select_actors(where, *ids, *([True] if active_only else []))
    return {a.id: a for a in map(row_actor, rows)}


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
