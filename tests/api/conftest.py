"""An app on the shipped definitions over a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from engine.runtime.auth.accounts import create_user
from engine.runtime.auth.tokens import create_token
from engine.schema import Catalog, check_definitions
from engine.web.app import create_app
from tests.storage.conftest import Backend, db, pg_database  # noqa: F401 - fixtures shared with storage tests

ROOT = Path(__file__).resolve().parents[2]

# username: (roles, teams, org unit)
PEOPLE: dict[str, tuple[list[str], list[str], str | None]] = {
    "wang.worker": (["worker"], [], "workshop_a"),
    "li.mech": (["technician"], ["mechanical"], "factory"),
    "zhao.mech": (["technician"], ["mechanical"], "factory"),
    "chen.elec": (["technician"], ["electrical"], "factory"),
    "sun.lead": (["maintenance_lead"], [], "factory"),
    "staff.sh": (["store_staff"], [], "store_sh01"),
    "mgr.sh": (["store_manager"], [], "store_sh01"),
    "staff.hz": (["store_staff"], [], "store_hz01"),
    "mgr.hz": (["store_manager"], [], "store_hz01"),
    "mgr.east": (["region_manager"], [], "east"),
    "hq.ops": (["hq_ops"], [], "hq"),
    "emp.ops": (["employee"], [], "dept_operations"),
    "mgr.ops": (["dept_manager", "employee"], [], "dept_operations"),  # managers claim expenses too
    "fin.zheng": (["finance_approver"], ["finance"], "dept_finance"),
}


# Only these people can sign in with a password (hashing is deliberately slow).
PASSWORDS = {"wang.worker": "worker-pass-1"}


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    result = check_definitions(ROOT / "definitions")
    assert result.catalog is not None
    return result.catalog


class Api:
    """A test client that speaks as one user or another."""

    def __init__(self, client: AsyncTestClient[Any], tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def _h(self, user: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}", **(extra or {})}

    async def get(self, user: str, path: str) -> Any:
        return await self.client.get(path, headers=self._h(user))

    async def post(self, user: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return await self.client.post(path, json=body, headers=self._h(user, headers))

    async def patch(self, user: str, path: str, body: Any) -> Any:
        return await self.client.patch(path, json=body, headers=self._h(user))


async def _people(catalog: Catalog) -> dict[str, str]:
    tokens = {}
    for name, (roles, teams, unit) in PEOPLE.items():
        assert set(roles) <= set(catalog.roles) and set(teams) <= set(catalog.teams)
        await create_user(name, PASSWORDS.get(name), roles=roles, teams=teams, org_unit=unit)
        tokens[name] = await create_token(name, "tests")
    return tokens


@pytest.fixture
async def api(db: Backend, catalog: Catalog) -> AsyncIterator[Api]:  # noqa: F811
    # Users first, on the plain engine the db fixture bound: the app's PostgreSQL pool lives in the
    # client's own event loop and must only be used from there.
    tokens = await _people(catalog)
    app = create_app(catalog, db.url)
    async with AsyncTestClient(app=app) as client:
        yield Api(client, tokens)
