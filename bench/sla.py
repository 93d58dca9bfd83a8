"""Time one SLA sweep over a large database: how long firing what has come due takes.

    python bench/sla.py --database-url sqlite:///bench/out/sqlite-1m.db
    python bench/sla.py --database-url postgresql://postgres@127.0.0.1:5432/gongdan_bench_1m

Needs a database filled by ``bench/gen_tickets.py`` (1,000,000 tickets in the documented set-up).
Before each run the script gives the open tickets of types with an SLA a next SLA instant spread
over the coming 30 days (what a live system's ``sla_due`` table holds), and ``--due`` (10,000) of them clocks
whose breach has come: each of those tickets has exactly one threshold to fire now (its first
target's breach; the warning fired before, the other targets are met). Then it runs
:func:`engine.runtime.sweep.sweep` once and reports its wall time, the tickets it wrote and the
events it fired; the median of ``--runs`` runs is the figure. Each run restores the same due set
first, so every run does the same work; the events the runs write stay in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import DEFINITIONS, is_postgres_url
from engine.runtime import slaclock, storage
from engine.runtime.service import Catalogs
from engine.runtime.storage.sql import fetch, sqlite_time
from engine.runtime.sweep import sweep
from engine.schema import Catalog, check_definitions

OPEN = "('open', 'active', 'waiting')"


def _t(value: datetime, postgres: bool) -> Any:
    return value if postgres else sqlite_time(value)


def _maybe(value: datetime | None, postgres: bool) -> Any:
    return None if value is None else _t(value, postgres)


def _due_clocks(catalog: Catalog, row: Any, now: datetime) -> slaclock.Columns:
    """Clocks on which exactly one threshold is due at ``now``: the first target's breach."""
    clocks = slaclock.start(catalog, row["type"], row["priority"], row["state"], now - timedelta(days=40))
    first = True
    for target, clock in list(clocks.items()):
        if first:
            clocks[target] = replace(clock, warned_at=clock.started_at, pauses=())
            first = False
        else:
            clocks[target] = replace(clock, met_at=clock.started_at, pauses=())
    return slaclock.columns(catalog, row["type"], row["priority"], clocks,
                            created_at=clocks[next(iter(clocks))].started_at)


async def prepare(catalog: Catalog, due: int, now: datetime, seed: int) -> int:
    """Spread next SLA instants over the open SLA tickets and make ``due`` of them due now."""
    postgres = storage.is_postgres()
    sla_types = sorted(name for name, t in catalog.types.items() if t.spec.sla)
    names = ", ".join(f"'{n}'" for n in sla_types)
    upsert = " ON CONFLICT (ticket_id) DO UPDATE SET next_at = excluded.next_at"
    if postgres:
        await fetch(f"INSERT INTO sla_due (ticket_id, next_at) SELECT id, {{}}::timestamptz + (id % 43200) * "
                    f"interval '1 minute' FROM tickets WHERE state_category IN {OPEN} AND type IN ({names}){upsert}",
                    now + timedelta(hours=1))
    else:
        await fetch(f"INSERT INTO sla_due (ticket_id, next_at) SELECT id, strftime('%Y-%m-%d %H:%M:%S+00:00', {{}}, "
                    f"'+' || (60 + id % 43200) || ' minutes') FROM tickets WHERE state_category IN {OPEN} "
                    f"AND type IN ({names}) AND true{upsert}", now.strftime("%Y-%m-%d %H:%M:%S"))
    ids = [r["id"] for r in await fetch(
        f"SELECT id FROM tickets WHERE state_category IN {OPEN} AND type IN ({names}) ORDER BY id")]
    chosen = sorted(random.Random(seed).sample(ids, min(due, len(ids))))
    rows = []
    for i in range(0, len(chosen), 5000):
        part = chosen[i:i + 5000]
        rows += await fetch("SELECT id, type, priority, state FROM tickets WHERE id IN ("
                            + ", ".join(["{}"] * len(part)) + ")", *part)
    async with storage.transaction():
        for row in rows:
            cols = _due_clocks(catalog, row, now)
            assert cols.sla_next_at is not None
            await fetch("UPDATE tickets SET sla = {}, response_due_at = {}, resolution_due_at = {} WHERE id = {}",
                        json.dumps(cols.sla), _maybe(cols.response_due_at, postgres),
                        _maybe(cols.resolution_due_at, postgres), row["id"])
            await fetch("UPDATE sla_due SET next_at = {} WHERE ticket_id = {}", _t(cols.sla_next_at, postgres),
                        row["id"])
    return len(rows)


async def run(url: str, due: int, runs: int, seed: int) -> dict[str, Any]:
    result = check_definitions(Path(DEFINITIONS))
    assert result.catalog is not None, "the shipped definitions must compile"
    catalog = result.catalog
    storage.configure(url)
    engine = await storage.open_database(url)
    try:
        await storage.record_definition_version(catalog)
        total = (await fetch("SELECT count(*) AS n FROM tickets"))[0]["n"]
        timings = []
        for i in range(runs):
            now = datetime.now(UTC)
            prepared = await prepare(catalog, due, now, seed)
            if storage.is_postgres():
                # what autovacuum does for a live system between sweeps: the preparation just rewrote
                # every row of sla_due and 10,000 tickets, leaving dead versions a sweep would wade through
                await fetch("VACUUM (ANALYZE) sla_due")
                await fetch("VACUUM (ANALYZE) tickets")
            start = time.perf_counter()
            done = await sweep(Catalogs(catalog), now)
            elapsed = time.perf_counter() - start
            timings.append(elapsed)
            print(f"run {i + 1}: {elapsed:.3f} s — {done.tickets} tickets written, {done.warnings} warnings, "
                  f"{done.breaches} breaches (of {prepared} due, {total:,} tickets)", flush=True)
        return {"engine": "postgresql" if is_postgres_url(url) else "sqlite", "tickets": total, "due": due,
                "runs": [round(t, 3) for t in timings], "median_seconds": round(statistics.median(timings), 3)}
    finally:
        await storage.close_database(engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--due", type=int, default=10_000, help="tickets with a threshold due now (default 10,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args.database_url, args.due, args.runs, args.seed))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
