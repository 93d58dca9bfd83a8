"""Time every shipped report over 1,000,000 tickets, on SQLite and PostgreSQL.

    python bench/reports.py                       # both engines
    python bench/reports.py --engine sqlite --runs 5

Databases: ``bench/out/reports-1m.db`` (SQLite) and ``gongdan_bench_reports`` on
``--pg-server`` (PostgreSQL), made by bench/gen_tickets.py when they do not hold ``--tickets``
tickets yet, then upgraded by the product's migrations (which add the report indexes).

The generator leaves the report-only columns empty; they are filled once, in SQL, before
timing: ``first_response_seconds`` and ``resolution_seconds`` as the wall-clock seconds from
creation to the first response and to resolution (resolved and closed tickets), ``reopen_count``
1 on every 17th ticket. (On a live system the SLA clock writes business seconds.)

Each report runs as the server runs it — :func:`engine.runtime.storage.reports.run_report` on the
server's engine (the pooled SQLite engine, the asyncpg pool): plan, grouped SQL, percentiles,
figures — then turned into its labelled view and CSV, for two readers: an admin (every ticket in
scope, the worst case) and a region manager (scope: the stores of one region). One unmeasured run
warms the caches, then ``--runs`` timed runs; the median and the slowest are reported. With
``--wide`` every report also runs over a whole year of tickets (``range=all``, or ``this_year``
for the reports grouped by day, week or month) for the admin — beyond what the shipped reports
ask, to show how the time grows with the tickets counted. Results go to
``bench/out/reports-<engine>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import DEFINITIONS, OUT, is_postgres_url  # noqa: E402
from load import ensure_big_database  # noqa: E402

from engine.render.report_view import report_csv, report_view  # noqa: E402
from engine.runtime import storage  # noqa: E402
from engine.runtime.model import Actor  # noqa: E402
from engine.runtime.permissions import scope_rules  # noqa: E402
from engine.runtime.reports import report_zone  # noqa: E402
from engine.runtime.storage.reports import run_report  # noqa: E402
from engine.runtime.storage.sql import fetch_rows  # noqa: E402
from engine.web.app import load_catalog  # noqa: E402

TARGET_MS = {"sqlite": 2000.0, "postgresql": 1000.0}
READERS = {
    "admin": Actor(id=0, username="bench.admin", roles=frozenset({"admin"}), org_unit="hq"),
    "region manager (east)": Actor(id=0, username="bench.region", roles=frozenset({"region_manager"}),
                                   org_unit="east"),
}

FILL_SQLITE = [
    "UPDATE tickets SET first_response_seconds = "
    "CAST(round((julianday(first_response_at) - julianday(created_at)) * 86400) AS INTEGER) "
    "WHERE first_response_at IS NOT NULL AND first_response_seconds IS NULL",
    "UPDATE tickets SET resolution_seconds = "
    "CAST(round((julianday(resolved_at) - julianday(created_at)) * 86400) AS INTEGER) "
    "WHERE resolved_at IS NOT NULL AND state_category IN ('resolved', 'closed') AND resolution_seconds IS NULL",
    "UPDATE tickets SET reopen_count = 1 WHERE id % 17 = 0 AND reopen_count = 0",
]
FILL_POSTGRES = [
    "UPDATE tickets SET first_response_seconds = round(extract(epoch FROM first_response_at - created_at))::int "
    "WHERE first_response_at IS NOT NULL AND first_response_seconds IS NULL",
    "UPDATE tickets SET resolution_seconds = round(extract(epoch FROM resolved_at - created_at))::int "
    "WHERE resolved_at IS NOT NULL AND state_category IN ('resolved', 'closed') AND resolution_seconds IS NULL",
    "UPDATE tickets SET reopen_count = 1 WHERE id % 17 = 0 AND reopen_count = 0",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def _fill(url: str) -> None:
    """The report columns the generator leaves empty, filled once (later runs find nothing to do)."""
    if is_postgres_url(url):
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            if await conn.fetchval("SELECT count(*) FROM tickets WHERE first_response_at IS NOT NULL "
                                   "AND first_response_seconds IS NULL"):
                t = time.perf_counter()
                for sql in FILL_POSTGRES:
                    await conn.execute(sql)
                await conn.execute("VACUUM ANALYZE tickets")
                log(f"filled the report columns in {time.perf_counter() - t:.0f} s")
        finally:
            await conn.close()
        return
    import sqlite3

    from benchlib import sqlite_path

    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    try:
        if conn.execute("SELECT count(*) FROM tickets WHERE first_response_at IS NOT NULL "
                        "AND first_response_seconds IS NULL").fetchone()[0]:
            t = time.perf_counter()
            conn.execute("BEGIN")
            for sql in FILL_SQLITE:
                conn.execute(sql)
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            log(f"filled the report columns in {time.perf_counter() - t:.0f} s")
    finally:
        conn.close()


async def _time_reports(url: str, runs: int, wide: bool) -> dict[str, Any]:
    catalog = load_catalog(DEFINITIONS)
    engine = await storage.open_database(url)  # as the server opens it: migrations, pool
    zone = report_zone()
    out: dict[str, Any] = {}
    try:
        tickets = (await fetch_rows("SELECT count(*) FROM tickets"))[0][0]
        log(f"{tickets:,} tickets")
        plans = [(reader, actor, None) for reader, actor in READERS.items()]
        if wide:
            plans.append(("admin, a whole year", READERS["admin"], "wide"))
        for reader, actor, span in plans:
            scope = scope_rules(catalog, actor)
            for name, report in sorted(catalog.reports.items()):
                chosen = None if span is None else "this_year" if any(
                    d.kind == "time" for d in report.dimensions) else "all"
                times: list[float] = []
                rows = covered = 0
                for i in range(runs + 1):
                    t = time.perf_counter()
                    now = datetime.now(UTC)
                    result = await run_report(catalog, report, scope, now, zone, chosen)
                    view = report_view(catalog, result, "zh", {}, now, zone.key)
                    report_csv(view)
                    elapsed = (time.perf_counter() - t) * 1000
                    if i:  # the first run warms the caches
                        times.append(elapsed)
                    rows = len(view.rows)
                    covered = sum(int(r.values.get("created") or 0) for r in result.rows)
                out[f"{reader}: {name}"] = {
                    "report": name, "reader": reader, "range": chosen or "as defined",
                    "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1), "runs": len(times), "rows": rows, "tickets_counted": covered,
                }
                log(f"  {reader:<22} {name:<26} median {statistics.median(times):7.1f} ms  "
                    f"max {max(times):7.1f} ms  ({rows} rows, {covered:,} tickets)")
    finally:
        await storage.close_database(engine)
    return {"tickets": tickets, "reports": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sqlite-url", default=f"sqlite:///{OUT / 'reports-1m.db'}")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server; the database gongdan_bench_reports is made there")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per report (default 5)")
    parser.add_argument("--wide", action="store_true", help="also time every report over a whole year")
    args = parser.parse_args(argv)
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    failed = []
    for engine in engines:
        url = args.sqlite_url if engine == "sqlite" else f"{args.pg_server}/gongdan_bench_reports"
        log(f"{engine}: {url}")
        ensure_big_database(url, args.tickets, log)
        asyncio.run(_fill(url))
        result = asyncio.run(_time_reports(url, args.runs, args.wide))
        result.update(engine=engine, target_ms=TARGET_MS[engine], runs=args.runs,
                      at=datetime.now(UTC).isoformat(timespec="seconds"))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"reports-{engine}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        slow = [k for k, v in result["reports"].items()
                if v["range"] == "as defined" and v["median_ms"] > TARGET_MS[engine]]
        failed += [f"{engine}: {k}" for k in slow]
    if failed:
        log("over the target: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
