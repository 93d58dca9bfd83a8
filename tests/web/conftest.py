"""Pages over a real SQLite file and the real PostgreSQL server, signed in with session cookies."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from engine.runtime.auth.accounts import actor_for_user
from engine.schema import Catalog
from engine.web import sessions
from engine.web.app import create_app
from tests.api.conftest import PEOPLE, Api, _people, catalog  # noqa: F401 - shared fixtures
from tests.storage.conftest import Backend, db, pg_database  # noqa: F401

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


class Pages:
    """A browser-like client: one session cookie per person, forms posted with their CSRF token."""

    def __init__(self, client: AsyncTestClient[Any], ids: dict[str, int], api: Api) -> None:
        self.client = client
        self.ids = ids
        self.api = api
        self.sessions: dict[str, sessions.Session] = {}

    def _cookies(self, user: str | None) -> dict[str, str]:
        if user is None:
            return {}
        session = self.sessions.setdefault(user, sessions.new_session(self.ids[user]))
        return {sessions.COOKIE: sessions.encode(session)}

    def csrf(self, user: str) -> str:
        return self.sessions[user].csrf if user in self.sessions else ""

    def use(self, cookies: dict[str, str]) -> None:
        """Only these cookies on the next request (the client keeps cookies between requests)."""
        self.client.cookies.clear()
        for name, value in cookies.items():
            self.client.cookies.set(name, value)

    async def get(self, user: str | None, path: str, headers: dict[str, str] | None = None) -> Any:
        self.use(self._cookies(user))
        return await self.client.get(path, headers=headers or {}, follow_redirects=False)

    async def post(self, user: str, path: str, data: Any = None, files: Any = None,
                   headers: dict[str, str] | None = None, csrf: bool = True) -> Any:
        self.use(self._cookies(user))
        pairs: list[tuple[str, str]] = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            pairs.append(("_csrf", self.csrf(user)))
        body: dict[str, list[str]] = {}
        for key, value in pairs:
            body.setdefault(key, []).append(value)
        return await self.client.post(path, data=body, files=files, headers=headers or {}, follow_redirects=False)


@pytest.fixture
async def pages(db: Backend, catalog: Catalog) -> AsyncIterator[Pages]:  # noqa: F811
    tokens = await _people(catalog)
    ids = {name: (await actor_for_user(name)).id for name in PEOPLE}
    app = create_app(catalog, db.url)
    async with AsyncTestClient(app=app) as client:
        yield Pages(client, ids, Api(client, tokens))
