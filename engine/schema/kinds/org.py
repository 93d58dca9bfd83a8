"""OrgUnits (the org tree, e.g. HQ → regions → stores) and Teams (groups that handle work)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from ..diagnostics import did_you_mean
from ..model import Base, Id, Label
from .base import Context, KindInfo, document_type

__all__ = ["ORG_KIND", "TEAMS_KIND", "Level", "OrgUnit", "OrgUnitsSpec", "Team", "TeamsSpec", "walk_units"]


class Level(Base, frozen=True, kw_only=True):
    """A level of the org tree, such as hq, region or store."""

    id: Id
    label: Label | None = None
    manager_role: Annotated[
        Id | None,
        Meta(description="Role whose holders in a unit of this level are that unit's managers (relation org_manager)."),
    ] = None


class OrgUnit(Base, frozen=True, kw_only=True):
    """One unit of the org tree, with the units below it."""

    id: Id
    label: Label | None = None
    level: Annotated[Id | None, Meta(description="Id of one of spec.levels.")] = None
    children: list[OrgUnit] = []


class OrgUnitsSpec(Base, frozen=True, kw_only=True):
    """The organisation as a tree; a set has at most one."""

    levels: list[Level] = []
    units: list[OrgUnit]


class Team(Base, frozen=True, kw_only=True):
    """A group of people who handle tickets together; members are users in the database."""

    id: Id
    label: Label | None = None
    description: Label | None = None
    org_unit: Annotated[Id | None, Meta(description="Org unit the team belongs to.")] = None


class TeamsSpec(Base, frozen=True, kw_only=True):
    """A list of teams."""

    teams: list[Team]


def walk_units(units: list[OrgUnit], path: tuple[str | int, ...] = ("spec", "units"),
               parent: str | None = None) -> list[tuple[OrgUnit, tuple[str | int, ...], str | None]]:
    """Every unit of a tree with its path in the file and its parent's id, parents first."""
    out: list[tuple[OrgUnit, tuple[str | int, ...], str | None]] = []
    for i, u in enumerate(units):
        here = (*path, i)
        out.append((u, here, parent))
        out.extend(walk_units(u.children, (*here, "children"), u.id))
    return out


def check_org(ctx: Context) -> None:
    docs = ctx.of("OrgUnits")
    roles = ctx.named("Role")
    for extra in docs[1:]:
        ctx.report(extra.diag("E501", ("kind",), f"second org tree '{extra.name}'; a set has one org tree",
                              f"merge it into '{docs[0].name}' ({docs[0].source.file})"))
    for d in docs:
        spec: OrgUnitsSpec = d.spec
        levels: dict[str, int] = {}
        for i, lv in enumerate(spec.levels):
            if lv.id in levels:
                ctx.report(d.diag("E105", ("spec", "levels", i, "id"), f"level '{lv.id}' is declared twice"))
            levels[lv.id] = i
            if lv.manager_role is not None and lv.manager_role not in roles:
                ctx.report(d.diag("E306", ("spec", "levels", i, "manager_role"),
                                  f"level '{lv.id}' names unknown role '{lv.manager_role}'",
                                  did_you_mean(lv.manager_role, roles)))
        seen: set[str] = set()
        for unit, path, _parent in walk_units(spec.units):
            if unit.id in seen:
                ctx.report(d.diag("E105", (*path, "id"), f"org unit '{unit.id}' is declared twice"))
            seen.add(unit.id)
            if unit.level is not None and unit.level not in levels:
                ctx.report(d.diag("E502", (*path, "level"), f"org unit '{unit.id}' is at unknown level '{unit.level}'",
                                  did_you_mean(unit.level, levels) or "declare it under spec.levels"))


def check_teams(ctx: Context) -> None:
    units = {u.id for d in ctx.of("OrgUnits") for u, _p, _q in walk_units(d.spec.units)}
    seen: set[str] = set()
    for d in ctx.of("Teams"):
        for i, team in enumerate(d.spec.teams):
            if team.id in seen:
                ctx.report(d.diag("E105", ("spec", "teams", i, "id"), f"team '{team.id}' is declared twice"))
            seen.add(team.id)
            if team.org_unit is not None and team.org_unit not in units:
                ctx.report(d.diag("E308", ("spec", "teams", i, "org_unit"),
                                  f"team '{team.id}' belongs to unknown org unit '{team.org_unit}'",
                                  did_you_mean(team.org_unit, units)))


ORG_KIND = KindInfo(
    name="OrgUnits",
    folder="org",
    spec=OrgUnitsSpec,
    document=document_type("OrgUnits", OrgUnitsSpec, "The org tree: levels and units."),
    check=check_org,
)
TEAMS_KIND = KindInfo(
    name="Teams",
    folder="teams",
    spec=TeamsSpec,
    document=document_type("Teams", TeamsSpec, "Teams that handle tickets."),
    check=check_teams,
)
