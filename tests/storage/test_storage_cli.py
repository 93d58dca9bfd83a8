"""``gongdan db``, ``gongdan user`` and ``gongdan token`` as scripts call them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.cli import main
from engine.runtime import auth
from engine.runtime.storage import configure, known_migrations
from engine.runtime.storage.tables import User

from .conftest import Backend


def run(*argv: str) -> int:
    return main(list(argv))


def users() -> list[str]:
    return [r["username"] for r in asyncio.run(User.select(User.username).order_by(User.username).run())]


def test_db_upgrade_creates_then_reports_current(fresh_db: Backend, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db.url)
    assert run("db", "status") == 1
    n = len(known_migrations())
    assert f"0 migration(s) applied, {n} pending" in capsys.readouterr().out
    assert run("db", "upgrade") == 0
    assert f"applied {n} migration(s)" in capsys.readouterr().out
    assert run("db", "upgrade") == 0
    assert capsys.readouterr().out == f"{fresh_db.url}: schema is up to date\n"
    assert run("db", "status") == 0


def test_user_add_list_passwd(db: Backend, definitions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run("user", "add", "wang", "--password", "s3cret-pw", "--role", "technician", "--role", "worker",
               "--team", "mechanical", "--org-unit", "workshop_a", "--email", "wang@example.cn",
               "--phone", "+86 138 0000 0000", "--display-name", "王工")
    assert code == 0
    assert capsys.readouterr().out == "created user wang (roles: technician, worker; teams: mechanical)\n"
    assert run("user", "list") == 0
    assert capsys.readouterr().out.splitlines() == [
        "USERNAME  NAME  ORG UNIT    ROLES              TEAMS       ACTIVE",
        "wang      王工  workshop_a  technician,worker  mechanical  yes",
    ]
    assert run("user", "passwd", "wang", "--password", "another-pw") == 0
    assert capsys.readouterr().out == "password changed for wang\n"
    assert asyncio.run(auth.verify_login("wang", "another-pw")).ok

    assert run("user", "add", "wang", "--password", "s3cret-pw", "--role", "worker") == 1
    assert capsys.readouterr().err == "gongdan: error: user 'wang' already exists\n"
    assert run("user", "passwd", "nobody", "--password", "another-pw") == 1
    assert capsys.readouterr().err == "gongdan: error: no user 'nobody'\n"


def test_unknown_names_are_rejected_and_nothing_is_written(db: Backend, definitions: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = run("user", "add", "li", "--password", "s3cret-pw", "--role", "worker", "--role", "wizard",
               "--team", "plumbers", "--org-unit", "mars")
    assert code == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == ("gongdan: error: unknown role 'wizard'; unknown team 'plumbers'; unknown org unit 'mars'"
                       " (not declared in the definitions)\n")
    assert users() == []

    assert run("user", "add", "li", "--password", "s3cret-pw", "--role", "worker") == 0
    assert run("user", "grant", "li", "--role", "wizard") == 1
    assert "unknown role 'wizard'" in capsys.readouterr().err
    assert run("user", "grant", "li", "--role", "technician", "--team", "electrical") == 0
    assert capsys.readouterr().out.endswith("li: roles: technician, worker; teams: electrical\n")
    assert run("user", "grant", "li", "--role", "worker", "--team", "electrical", "--revoke") == 0
    assert capsys.readouterr().out == "li: roles: technician; teams: -\n"
    assert run("user", "grant", "li") == 2
    assert capsys.readouterr().err == "gongdan: error: give at least one --role or --team\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["--password", "short"], "password must be at least 8 characters"),
    (["--password", "s3cret-pw", "--email", "x"], "email 'x' is not valid"),
])
def test_bad_input_is_one_line(db: Backend, definitions: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], message: str) -> None:
    assert run("user", "add", "zhao", "--role", "worker", *argv) == 1
    assert capsys.readouterr().err == f"gongdan: error: {message}\n"
    assert users() == []


def test_missing_definitions_are_reported(db: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GONGDAN_DEFINITIONS", str(tmp_path / "nowhere"))
    assert run("user", "add", "zhao", "--password", "s3cret-pw", "--role", "worker") == 1
    assert "definitions folder" in capsys.readouterr().err


def test_token_create_prints_only_the_token(db: Backend, definitions: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run("user", "add", "bot", "--password", "s3cret-pw", "--role", "worker") == 0
    capsys.readouterr()
    assert run("token", "create", "bot", "--name", "nightly") == 0
    token = capsys.readouterr().out
    assert token.startswith("gd_") and token.endswith("\n") and len(token.split()) == 1
    token = token.strip()
    configure()  # from DATABASE_URL, as a fresh process would
    actor = asyncio.run(auth.actor_for_token(token))
    assert actor is not None and actor.username == "bot"

    assert run("token", "list", "bot") == 0
    assert "\tnightly\t" in capsys.readouterr().out
    assert run("token", "revoke", "bot", "--name", "nightly") == 0
    assert capsys.readouterr().out == "revoked 1 token(s) of bot\n"
    assert asyncio.run(auth.actor_for_token(token)) is None
    assert run("token", "revoke", "bot", "--all") == 1
    assert capsys.readouterr().err == "gongdan: error: bot has no live tokens\n"
    assert run("token", "revoke", "bot") == 2

    assert run("token", "create", "bot") == 0
    second = capsys.readouterr().out.strip()
    assert run("token", "revoke", "--token", second) == 0
    assert run("token", "revoke", "--token", second) == 1
    assert capsys.readouterr().err == "gongdan: error: no live token matches\n"
    assert run("token", "create", "ghost") == 1
    assert capsys.readouterr().err == "gongdan: error: no user 'ghost'\n"


def test_unreachable_or_unsupported_database(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://gd:secret@127.0.0.1:1/gongdan")
    assert run("db", "upgrade") == 1
    err = capsys.readouterr().err
    assert err.startswith("gongdan: error: database postgresql://gd:***@127.0.0.1:1/gongdan: ")
    assert "secret" not in err
    monkeypatch.setenv("DATABASE_URL", "oracle://x")
    assert run("db", "upgrade") == 1
    assert "is not supported" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("db") == 2
    with pytest.raises(SystemExit) as info:
        run("user", "add", "x", "--role", "worker")  # no --password
    assert info.value.code == 2
    assert "--password" in capsys.readouterr().err
