"""Helpers shared by the load-test scripts: database URLs, fresh databases, the project's paths."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DEFINITIONS = ROOT / "definitions"

__all__ = [
    "DEFINITIONS",
    "OUT",
    "ROOT",
    "drop_database",
    "fresh_database",
    "gongdan_command",
    "is_postgres_url",
    "sqlite_path",
]


def is_postgres_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() in ("postgresql", "postgres")


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///relative`` or ``sqlite:////absolute``."""
    rest = url[len("sqlite:"):]
    return Path(rest[3:] if rest.startswith("///") else rest)


def _admin_url(url: str) -> tuple[str, str]:
    """The URL of the server's ``postgres`` database, and the database ``url`` names."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit(f"{url}: no database name")
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment)), name


async def _pg_recreate(url: str, create: bool) -> None:
    import asyncpg

    admin, name = _admin_url(url)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            await conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' "
                               "LC_CTYPE 'C.UTF-8'")
    finally:
        await conn.close()


def fresh_database(url: str) -> None:
    """Delete the database ``url`` names and, on PostgreSQL, create it again empty."""
    if is_postgres_url(url):
        asyncio.run(_pg_recreate(url, create=True))
        return
    path = sqlite_path(url)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


def drop_database(url: str) -> None:
    if is_postgres_url(url):
        asyncio.run(_pg_recreate(url, create=False))
    else:
        fresh_database(url)


def gongdan_command() -> list[str]:
    """The ``gongdan`` entry point of the running interpreter's environment."""
    exe = shutil.which("gongdan", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "engine.cli"]
