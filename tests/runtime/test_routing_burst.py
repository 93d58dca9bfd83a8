"""Creates routed at the same moment count each other's assignments, on every engine."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from engine.runtime.auth.accounts import create_user
from engine.runtime.service import Catalogs, TicketService
from engine.runtime.storage import claims, close_database, open_database, route_candidates
from engine.schema import Catalog, check_definitions
from tests.storage.conftest import Backend

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
REPAIR = {"device_no": "MO-0003", "device_type": "moulding", "area": "workshop_a"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    result = check_definitions(ROOT / "definitions")
    assert result.catalog is not None
    return result.catalog


async def test_a_burst_of_creates_is_spread_over_the_team(db: Backend, catalog: Catalog) -> None:
    """On PostgreSQL the creates of a burst read before any of them commits (their inserts share a
    batch); each still counts the assignments decided before it, so least_loaded spreads them."""
    worker = await create_user("worker", None, roles=["worker"], org_unit="workshop_a")
    for name in ("li.mech", "zhao.mech", "sun.mech"):
        await create_user(name, None, roles=["technician"], teams=["mechanical"], org_unit="factory")
    engine = await open_database(db.url)  # the server's way: a pool, batched inserts
    try:
        service = TicketService(Catalogs(catalog))
        made = await asyncio.gather(*[service.create(worker, "equipment_repair", f"Jam {i}", REPAIR)
                                      for i in range(9)])
        assert Counter(t.assignee for t, _ in made) == {"li.mech": 3, "sun.mech": 3, "zhao.mech": 3}
        counts = {c.username: c.open_count for c in await route_candidates(team="mechanical")}
        assert counts == {"li.mech": 3, "sun.mech": 3, "zhao.mech": 3}  # committed: counted once, not twice
        more = await asyncio.gather(*[service.create(worker, "equipment_repair", f"Leak {i}", REPAIR)
                                      for i in range(3)])
        assert sorted(t.assignee for t, _ in more) == ["li.mech", "sun.mech", "zhao.mech"]
    finally:
        await close_database(engine)


async def test_a_failed_write_takes_its_claim_back(db: Backend) -> None:
    for name in ("li.mech", "zhao.mech"):
        await create_user(name, None, roles=["technician"], teams=["mechanical"], org_unit="factory")
    first = await route_candidates(team="mechanical")
    li = next(c.id for c in first if c.username == "li.mech")
    with pytest.raises(RuntimeError):
        async with claims() as held:
            held.add(li)
            during = {c.username: c.open_count for c in await route_candidates(team="mechanical")}
            # PostgreSQL: the claim counts while the write is under way; SQLite's reads see the write itself
            assert during == ({"li.mech": 1, "zhao.mech": 0} if db.name == "postgres" else
                              {"li.mech": 0, "zhao.mech": 0})
            raise RuntimeError("the write fails")
    after = {c.username: c.open_count for c in await route_candidates(team="mechanical")}
    assert after == {"li.mech": 0, "zhao.mech": 0}
