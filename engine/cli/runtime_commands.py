"""``gongdan db``, ``gongdan user`` and ``gongdan token``: the database, accounts and API tokens.

The database comes from ``DATABASE_URL`` (default: SQLite under ``$GONGDAN_DATA_DIR`` or
``./var``). Roles, teams and org units given here must exist in the compiled definitions
(``$GONGDAN_DEFINITIONS`` or ``./definitions``); an unknown one is named and nothing is written.
Every failure is one line on stderr and exit code 1 (2 for a malformed command line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TypeAlias

import asyncpg

from engine.runtime import auth
from engine.runtime.storage import (
    DatabaseConfigError,
    applied_migrations,
    configure,
    database_url,
    describe,
    pending_migrations,
    upgrade,
)
from engine.schema import Catalog, check_definitions

__all__ = ["register"]

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class _Failed(Exception):
    """A message for the admin; the command exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _error(message: str) -> None:
    print(f"gongdan: error: {message}", file=sys.stderr)


def _run(work: Callable[[], Coroutine[None, None, int]], check: Callable[[], None] | None = None) -> int:
    """Run ``check`` (input only, before any database work), bind the database from the
    environment and run ``work``; turn every expected failure into a one-line message."""
    url = database_url()
    try:
        if check is not None:
            check()
        configure(url)
        return asyncio.run(work())
    except _Failed as exc:
        _error(str(exc))
        return exc.code
    except (auth.AccountError, DatabaseConfigError) as exc:
        _error(str(exc))
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error) as exc:
        _error(f"database {describe(url)}: {exc}")
        return 1


def _catalog() -> Catalog:
    root = Path(os.environ.get("GONGDAN_DEFINITIONS") or "definitions")
    if not root.exists():
        raise _Failed(f"definitions folder {str(root)!r} not found (set GONGDAN_DEFINITIONS)")
    result = check_definitions(root)
    if result.catalog is None:
        raise _Failed(f"the definitions in {root} have errors; run `gongdan check {root}` to see them")
    return result.catalog


def _check_names(roles: Sequence[str] = (), teams: Sequence[str] = (), org_units: Sequence[str] = ()) -> None:
    unknown = auth.unknown_names(_catalog(), roles, teams, org_units)
    if unknown:
        raise _Failed("; ".join(unknown) + " (not declared in the definitions)")


def _password(value: str) -> str:
    """``-`` reads the password from stdin, keeping it out of the shell history."""
    if value == "-":
        value = sys.stdin.readline().rstrip("\r\n")
    problem = auth.password_problem(value)
    if problem:
        raise _Failed(problem)
    return value


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _groups(actor_roles: frozenset[str], actor_teams: frozenset[str]) -> str:
    roles = ", ".join(sorted(actor_roles)) or "-"
    teams = ", ".join(sorted(actor_teams)) or "-"
    return f"roles: {roles}; teams: {teams}"


# --- db ---------------------------------------------------------------------------------------

def _db_upgrade(args: argparse.Namespace) -> int:
    async def work() -> int:
        applied = await upgrade()
        where = describe(database_url())
        if applied:
            print(f"{where}: applied {len(applied)} migration(s): {', '.join(applied)}")
        else:
            print(f"{where}: schema is up to date")
        return 0
    return _run(work)


def _db_status(args: argparse.Namespace) -> int:
    async def work() -> int:
        done = await applied_migrations()
        pending = await pending_migrations()
        print(f"{describe(database_url())}: {len(done)} migration(s) applied, {len(pending)} pending")
        for m in pending:
            print(f"  pending {m.id}  {m.description}")
        return 0 if not pending else 1
    return _run(work)


# --- user -------------------------------------------------------------------------------------

def _user_add(args: argparse.Namespace) -> int:
    password = ""

    def check() -> None:
        nonlocal password
        problems = auth.account_problems(args.username, args.email, args.phone)
        if problems:
            raise _Failed("; ".join(problems))
        password = _password(args.password)
        _check_names(args.role, args.team or [], [args.org_unit] if args.org_unit else [])

    async def work() -> int:
        await upgrade()
        actor = await auth.create_user(
            args.username, password, roles=args.role, teams=args.team or [], org_unit=args.org_unit,
            email=args.email, phone=args.phone, display_name=args.display_name or "")
        print(f"created user {actor.username} ({_groups(actor.roles, actor.teams)})")
        return 0
    return _run(work, check)


def _user_passwd(args: argparse.Namespace) -> int:
    password = ""

    def check() -> None:
        nonlocal password
        password = _password(args.password)

    async def work() -> int:
        await upgrade()
        await auth.set_password(args.username, password)
        print(f"password changed for {args.username}")
        return 0
    return _run(work, check)


def _user_grant(args: argparse.Namespace) -> int:
    roles: list[str] = args.role or []
    teams: list[str] = args.team or []
    if not roles and not teams:
        _error("give at least one --role or --team")
        return 2

    def check() -> None:
        if not args.revoke:  # revoking a name the definitions dropped must stay possible
            _check_names(roles, teams)

    async def work() -> int:
        await upgrade()
        change = auth.revoke if args.revoke else auth.grant
        actor = await change(args.username, roles=roles, teams=teams)
        print(f"{actor.username}: {_groups(actor.roles, actor.teams)}")
        return 0
    return _run(work, check)


def _user_list(args: argparse.Namespace) -> int:
    async def work() -> int:
        await upgrade()
        users = await auth.list_users()
        rows = [("USERNAME", "NAME", "ORG UNIT", "ROLES", "TEAMS", "ACTIVE")] + [
            (u.username, u.display_name or "-", u.org_unit or "-", ",".join(u.roles) or "-",
             ",".join(u.teams) or "-", "yes" if u.active else "no")
            for u in users
        ]
        widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip())
        return 0
    return _run(work)


# --- token ------------------------------------------------------------------------------------

def _token_create(args: argparse.Namespace) -> int:
    async def work() -> int:
        await upgrade()
        print(await auth.create_token(args.username, args.name or ""))
        return 0
    return _run(work)


def _token_revoke(args: argparse.Namespace) -> int:
    if args.token is not None:
        if args.username or args.name is not None or args.all:
            _error("--token revokes one token by itself; give no USERNAME, --name or --all with it")
            return 2
    elif not args.username or (args.name is None) == (not args.all):
        _error("give USERNAME with --name NAME or --all, or --token TOKEN")
        return 2

    async def work() -> int:
        await upgrade()
        if args.token is not None:
            token = sys.stdin.readline().strip() if args.token == "-" else args.token
            if not await auth.revoke_token(token):
                raise _Failed("no live token matches")
            print("revoked 1 token")
            return 0
        n = await auth.revoke_tokens(args.username, None if args.all else args.name)
        if n == 0:
            what = "tokens" if args.all else f"tokens named {args.name!r}"
            raise _Failed(f"{args.username} has no live {what}")
        print(f"revoked {n} token(s) of {args.username}")
        return 0
    return _run(work)


def _token_list(args: argparse.Namespace) -> int:
    async def work() -> int:
        await upgrade()
        for t in await auth.list_tokens(args.username):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            print(f"{t.id}\t{t.name or '-'}\tcreated {t.created_at:%Y-%m-%d %H:%M}\tused {used}\t{state}")
        return 0
    return _run(work)


# --- wiring -----------------------------------------------------------------------------------

def _group(sub: Sub, name: str, help_text: str) -> Sub:
    parser = sub.add_parser(name, help=help_text, description=help_text)

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=show_help)
    return parser.add_subparsers(metavar="COMMAND")


def register(sub: Sub) -> None:
    """Add ``db``, ``user`` and ``token`` to the ``gongdan`` command."""
    db = _group(sub, "db", "create or upgrade the database schema")
    p = db.add_parser("upgrade", help="apply pending migrations (creates the schema on first use)")
    p.set_defaults(handler=_db_upgrade)
    p = db.add_parser("status", help="list pending migrations; exit 1 when there are any")
    p.set_defaults(handler=_db_status)

    user = _group(sub, "user", "manage user accounts")
    p = user.add_parser("add", help="create a user")
    p.add_argument("username")
    p.add_argument("--password", required=True, help="the initial password (- reads it from stdin)")
    p.add_argument("--role", action="append", required=True, help="a role from the definitions; repeatable")
    p.add_argument("--team", action="append", help="a team from the definitions; repeatable")
    p.add_argument("--org-unit", help="the org unit the user belongs to")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--display-name", help="the name shown to others (default: the username)")
    p.set_defaults(handler=_user_add)
    p = user.add_parser("passwd", help="set a user's password")
    p.add_argument("username")
    p.add_argument("--password", required=True, help="the new password (- reads it from stdin)")
    p.set_defaults(handler=_user_passwd)
    p = user.add_parser("grant", help="add roles and teams to a user (or remove them with --revoke)")
    p.add_argument("username")
    p.add_argument("--role", action="append", help="repeatable")
    p.add_argument("--team", action="append", help="repeatable")
    p.add_argument("--revoke", action="store_true", help="remove the given roles and teams instead")
    p.set_defaults(handler=_user_grant)
    p = user.add_parser("list", help="list users with their roles and teams")
    p.set_defaults(handler=_user_list)

    token = _group(sub, "token", "manage API tokens")
    p = token.add_parser("create", help="create an API token and print it (shown only once)")
    p.add_argument("username")
    p.add_argument("--name", help="what the token is for, e.g. the script using it")
    p.set_defaults(handler=_token_create)
    p = token.add_parser("revoke", help="revoke tokens by user and name, all of a user's, or one by value")
    p.add_argument("username", nargs="?")
    p.add_argument("--name", help="revoke the user's tokens with this name")
    p.add_argument("--all", action="store_true", help="revoke all of the user's tokens")
    p.add_argument("--token", help="revoke this token (- reads it from stdin)")
    p.set_defaults(handler=_token_revoke)
    p = token.add_parser("list", help="list a user's tokens (never their values)")
    p.add_argument("username")
    p.set_defaults(handler=_token_list)
