"""Server time of the staff pages on 1,000,000 tickets: home, ticket list and ticket detail, with wrk.

    python bench/pages.py --engine sqlite
    python bench/pages.py --engine postgresql --pg-url postgresql://postgres@127.0.0.1:5432

Uses the 1,000,000-ticket database of bench/load.py (bench/gen_tickets.py makes it when missing)
and signs in the store staff and store managers of the four stores with session cookies, signed
with the same GONGDAN_SECRET_KEY the server gets. Scenarios (each ``--runs`` times, medians):

- ``home``: ``GET /`` — my work: assigned to me, my requests and my approvals, with counts.
- ``list``: ``GET /tickets`` — first page of 50, newest first, in the user's scope.
- ``list-filtered``: ``GET /tickets?category=open_all&q=价签不符`` — open tickets matching Chinese text.
- ``list-search-short``: ``GET /tickets?q=价签`` — a two-character search, shorter than a trigram.
- ``detail``: ``GET /tickets/{id}`` — 50 tickets each user may see, with fields, timeline, steps.

Each scenario runs with one connection (``-t1 -c1``: the server time of one page on an otherwise
idle server — the figure the targets are about) and with ``--connections`` (default 8) to show
throughput under load. Results go to ``bench/out/pages-<engine>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import OUT  # noqa: E402
from load import (  # noqa: E402
    ensure_big_database,
    gongdan_server,
    run_scenario,
    setup_users,
    write_wrk_data,
)

SECRET = "gongdan-bench-pages"
STORES = ("store_sh01", "store_hz01", "store_gz01", "store_sz01")
TARGETS = {"home": 50.0, "list": 50.0, "list-filtered": 50.0, "list-search-short": 50.0, "detail": 30.0}


async def _user_ids(url: str, names: list[str]) -> dict[str, int]:
    from engine.runtime import storage
    from engine.runtime.storage.tables import User

    engine = await storage.open_database(url, pool=False)
    try:
        rows = await User.select(User.id, User.username).where(User.username.is_in(names)).run()
        return {r["username"]: r["id"] for r in rows}
    finally:
        await storage.close_database(engine)


def cookies(url: str, names: list[str]) -> dict[str, str]:
    os.environ["GONGDAN_SECRET_KEY"] = SECRET
    from engine.web import sessions

    ids = asyncio.run(_user_ids(url, names))
    missing = set(names) - set(ids)
    if missing:
        raise SystemExit(f"users missing from the big database: {sorted(missing)}")
    return {name: f"{sessions.COOKIE}={sessions.encode(sessions.new_session(uid))}" for name, uid in ids.items()}


def visible_ids(port: int, tokens: dict[str, str], per_user: int = 50) -> dict[str, list[int]]:
    out = {}
    for name, token in tokens.items():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/tickets?limit={per_user}",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            out[name] = [t["id"] for t in json.loads(r.read())["items"]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--big-url", help="database with the 1M tickets (default as bench/load.py)")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--scenarios", default="home,list,list-filtered,list-search-short,detail")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--profile", action="store_true", help="one extra run per scenario under py-spy")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    OUT.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    sqlite = args.engine == "sqlite"
    big_url = args.big_url or (f"sqlite:///{OUT / 'sqlite-1m.db'}" if sqlite else f"{args.pg_url}/gongdan_bench_1m")
    ensure_big_database(big_url, args.tickets, log)
    users = [f"staff.{s}.001" for s in STORES] + [f"mgr.{s}.01" for s in STORES]
    tokens = setup_users(big_url, {}, users)
    jar = cookies(big_url, users)
    data_dir = OUT / f"var-pages-{args.engine}"
    server_log = OUT / f"server-pages-{args.engine}.log"
    os.environ["GONGDAN_SECRET_KEY"] = SECRET  # the server inherits it

    def server() -> Any:
        return gongdan_server(big_url, args.port, data_dir, server_log)

    with server() as s:
        ids = visible_ids(s.port, tokens)
    paths = {
        "home": [(u, "/") for u in users],
        "list": [(u, "/tickets") for u in users],
        "list-filtered": [(u, "/tickets?" + urlencode({"category": "open_all", "q": "价签不符"})) for u in users],
        "list-search-short": [(u, "/tickets?" + urlencode({"q": "价签"})) for u in users],  # below a trigram
        "detail": [(u, f"/tickets/{i}") for u in users for i in ids[u]],
    }
    results: dict[str, Any] = {"engine": args.engine, "duration_s": args.duration, "runs": args.runs,
                               "scenarios": {}}
    for name in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
        items = [{"method": "GET", "path": path, "cookie": jar[user]} for user, path in paths[name]]
        data = write_wrk_data(OUT / f"wrk-pages-{name}-{args.engine}.lua", items)
        for label, threads, conns in (("c1", 1, 1), (f"c{args.connections}", 2, args.connections)):
            run_args = argparse.Namespace(**{**vars(args), "threads": threads, "connections": conns,
                                             "profile": args.profile and label == "c1", "fresh_each_run": False})
            res = run_scenario(f"{name}-{label}", server, data, run_args, log)
            results["scenarios"][f"{name}-{label}"] = res
    out = OUT / f"pages-{args.engine}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print()
    print(f"{'scenario':<22} {'req/s':>8} {'p50':>7} {'p95':>7} {'p99':>7}  non-2xx  target (p95, 1 connection)")
    for name, res in results["scenarios"].items():
        m = res["median"]
        base = name.rsplit("-c", 1)[0]
        target = f"< {TARGETS[base]:.0f} ms" if name.endswith("-c1") else ""
        met = ("met" if m["p95_ms"] < TARGETS[base] else "NOT met") if target else ""
        print(f"{name:<22} {m['rps']:8.1f} {m['p50_ms']:7.1f} {m['p95_ms']:7.1f} {m['p99_ms']:7.1f}  "
              f"{sum(m['non2xx']):>7}  {target} {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
