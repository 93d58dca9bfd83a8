"""HTTP load test of `gongdan serve` with wrk: create rate, list latency on 1,000,000 tickets, baseline.

Needs wrk (Debian/Ubuntu: ``apt-get install -y wrk``) and, for ``--profile``, py-spy
(``pip install py-spy`` in the virtualenv). Everything runs on 127.0.0.1; every run is bounded by
``--duration``.

    # SQLite (the 1M database is generated once by bench/gen_tickets.py when missing)
    python bench/load.py --engine sqlite
    # PostgreSQL
    python bench/load.py --engine postgresql --pg-url postgresql://postgres@127.0.0.1:5432

Scenarios (``--scenarios``, default all, each run ``--runs`` times, medians reported):

- ``bare``: ``POST /api/v1/tickets`` on bench/bare_app.py (litestar, no database) served the same
  way (uvicorn, one process): the ceiling of this machine and server stack.
- ``create``: ``POST /api/v1/tickets`` on a fresh database with bench users and tokens (a new
  database for every run); the requests cycle through store complaints from staff of the four
  stores, equipment repairs from workers, IT requests from employees and after-sales requests
  from customers, so routing (least loaded, round robin, store manager) runs as in production.
- ``list``: ``GET /api/v1/tickets?limit=50`` (first page, default sort newest first) as store
  staff of the four stores (scope ``org_unit``) on the 1,000,000-ticket database.
- ``list-c1``: the same list with one connection (wrk -t1 -c1): the latency of one request on
  an otherwise idle server, without queueing behind 15 others.
- ``create-1m``: the ``create`` mix on the 1,000,000-ticket database (each run adds its tickets).

wrk: 2 threads, 16 connections, ``--duration`` seconds (default 20) after a 3 s warm-up,
``--latency``; bench/wrk/report.lua adds p95 and the non-2xx count. The server is
``gongdan serve --log-level warning --no-access-log`` without its background worker
(``GONGDAN_WORKER=0``; ``--worker`` runs it inside the server). Every run also records the CPU
time the server process and the PostgreSQL server's processes used per request answered. Results go to
``bench/out/load-<engine>.json``; ``--profile`` adds one more run per scenario under
``py-spy record`` and prints the top functions (self and total time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchlib import DEFINITIONS, OUT, ROOT, fresh_database, gongdan_command, is_postgres_url  # noqa: E402

WRK_SCRIPT = HERE / "wrk" / "requests.lua"
TARGETS = {
    ("create", "sqlite"): "POST ≥ 1,500/s, p99 < 50 ms",
    ("create", "postgresql"): "POST ≥ 2,000/s, p99 < 50 ms",
    ("list", "sqlite"): "GET first page p95 < 30 ms",
    ("list", "postgresql"): "GET first page p95 < 30 ms",
    ("list-c1", "sqlite"): "GET first page p95 < 30 ms",
    ("list-c1", "postgresql"): "GET first page p95 < 30 ms",
}

# username: (roles, teams, org unit) — the people of the create scenario.
BENCH_PEOPLE: dict[str, tuple[list[str], list[str], str | None]] = {
    **{f"staff.{s}": (["store_staff"], [], s) for s in ("store_sh01", "store_hz01", "store_gz01", "store_sz01")},
    **{f"mgr.{s}.{i}": (["store_manager"], [], s) for s in ("store_sh01", "store_hz01", "store_gz01", "store_sz01")
       for i in (1, 2)},
    "worker.a": (["worker"], [], "workshop_a"),
    "worker.b": (["worker"], [], "workshop_b"),
    **{f"tech.mech.{i}": (["technician"], ["mechanical"], "factory") for i in (1, 2, 3)},
    **{f"tech.elec.{i}": (["technician"], ["electrical"], "factory") for i in (1, 2)},
    **{f"it.{i}": (["it_agent"], ["it_support"], "dept_it") for i in (1, 2, 3)},
    **{f"agent.{i}": (["customer_service"], ["after_sales"], "dept_service") for i in (1, 2, 3)},
    "emp.ops": (["employee"], [], "dept_operations"),
    "emp.hr": (["employee"], [], "dept_hr"),
    "customer.1": (["customer"], [], None),
    "customer.2": (["customer"], [], None),
}


def create_bodies(user_of: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(username, body) pairs of the create mix; ``user_of`` maps a role slot to a username."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i, store in enumerate(("store_sh01", "store_hz01", "store_gz01", "store_sz01")):
        out.append((user_of.get(store, f"staff.{store}"), {
            "type": "store_complaint",
            "title": ["收银时被重复扣款", "顾客投诉收银台排队时间过长", "Promotion price not applied",
                      "生鲜区地面湿滑，顾客险些摔倒"][i],
            "fields": {"store": store, "complaint_category": ["checkout", "service", "price", "environment"][i],
                       "description": "顾客表示已经等待了很长时间，情绪比较激动。现场已向顾客道歉并记录联系方式。",
                       "customer_name": "王芳", "customer_phone": "138 0013 8000"}}))
    out.append((user_of.get("worker.a", "worker.a"), {
        "type": "equipment_repair", "title": "3号冲床运行中停机",
        "fields": {"device_no": "PR-0003", "device_type": "press", "area": "workshop_a", "stopped": True,
                   "fault_description": "设备运行时有异常响声，随后停机。操作工已按下急停按钮。"}}))
    out.append((user_of.get("worker.b", "worker.b"), {
        "type": "equipment_repair", "title": "Control cabinet 2 trips",
        "fields": {"device_no": "CC-0002", "device_type": "control_cabinet", "area": "workshop_b",
                   "fault_description": "Breaker trips every few minutes since this morning."}}))
    out.append((user_of.get("emp.ops", "emp.ops"), {
        "type": "it_helpdesk", "title": "无法连接三楼打印机",
        "fields": {"category": "hardware", "asset_tag": "IT-004512", "location": "总部3楼 3-12工位",
                   "urgency": "medium", "details": "重启后问题依旧，已尝试重新插拔网线。"}}))
    out.append((user_of.get("emp.hr", "emp.hr"), {
        "type": "it_helpdesk", "title": "VPN login fails",
        "fields": {"category": "network", "location": "HQ 5F desk 21", "urgency": "high",
                   "contact_phone": "021 6234 5678"}}))
    out.append((user_of.get("customer.1", "customer.1"), {
        "type": "after_sales", "title": "收到的电热水壶盖子有裂纹",
        "fields": {"order_no": "20260315000123", "request_kind": "exchange", "customer_name": "周敏",
                   "customer_phone": "139 1234 5678", "description": "收到货时外包装完好，打开后发现壶盖有裂纹。",
                   "channel": "app"}}))
    out.append((user_of.get("customer.2", "customer.2"), {
        "type": "after_sales", "title": "Refund for a missing item",
        "fields": {"order_no": "20260402004567", "request_kind": "refund", "refund_amount": 59.9,
                   "customer_name": "Li Na", "customer_phone": "+86 135 0000 1111",
                   "description": "One of the three items in the order was not in the parcel.", "channel": "web"}}))
    return out


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def write_wrk_data(path: Path, items: list[dict[str, Any]]) -> Path:
    lines = ["return {"]
    for it in items:
        body = "nil" if it.get("body") is None else lua_string(json.dumps(it["body"], ensure_ascii=False))
        auth = f'cookie = {lua_string(it["cookie"])}' if "cookie" in it else f'token = "{it["token"]}"'
        lines.append(f'  {{method = "{it["method"]}", path = {lua_string(it["path"])}, {auth}, body = {body}}},')
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Database preparation
# ---------------------------------------------------------------------------------------------

async def _setup_users(url: str, people: dict[str, tuple[list[str], list[str], str | None]],
                       token_for: list[str]) -> dict[str, str]:
    from engine.runtime import storage
    from engine.runtime.auth.accounts import create_user
    from engine.runtime.auth.tokens import create_token
    from engine.runtime.storage.tables import User
    from engine.web.app import load_catalog

    catalog = load_catalog(DEFINITIONS)
    engine = await storage.open_database(url, pool=False)
    try:
        await storage.record_definition_version(catalog)
        have = {r["username"] for r in await User.select(User.username).run()}
        for name, (roles, teams, unit) in people.items():
            if name not in have:
                await create_user(name, None, roles=roles, teams=teams, org_unit=unit)
        return {name: await create_token(name, "load test") for name in token_for}
    finally:
        await storage.close_database(engine)


def setup_users(url: str, people: dict[str, tuple[list[str], list[str], str | None]],
                token_for: list[str]) -> dict[str, str]:
    return asyncio.run(_setup_users(url, people, token_for))


def ensure_big_database(url: str, count: int, log: Any) -> None:
    """Generate the big database with bench/gen_tickets.py unless it already holds ``count`` tickets."""
    have = asyncio.run(_ticket_count(url))
    if have >= count:
        log(f"big database has {have:,} tickets")
        return
    log(f"generating {count:,} tickets into {url} (bench/gen_tickets.py)…")
    subprocess.run([sys.executable, str(HERE / "gen_tickets.py"), "--database-url", url, "--count", str(count),
                    "--fresh"], check=True)


async def _ticket_count(url: str) -> int:
    if is_postgres_url(url):
        import asyncpg

        try:
            conn = await asyncpg.connect(url)
        except Exception:
            return 0
        try:
            return int(await conn.fetchval("SELECT count(*) FROM tickets") or 0) if await conn.fetchval(
                "SELECT to_regclass('tickets') IS NOT NULL") else 0
        finally:
            await conn.close()
    import sqlite3

    from benchlib import sqlite_path

    path = sqlite_path(url)
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT max(id) FROM tickets").fetchone()[0] or 0)
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Server and wrk
# ---------------------------------------------------------------------------------------------

class Server:
    """One server process on 127.0.0.1, started and stopped by this script only."""

    def __init__(self, cmd: list[str], env: dict[str, str], port: int, log_file: Path) -> None:
        self.cmd, self.env, self.port, self.log_file = cmd, env, port, log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        out = self.log_file.open("ab")
        self.proc = subprocess.Popen(self.cmd, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log_file}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"server did not answer on port {self.port} within 120 s; see {self.log_file}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def gongdan_server(url: str, port: int, data_dir: Path, log_file: Path, worker: bool = False) -> Server:
    """``gongdan serve`` on ``url``; without ``worker`` its background worker is off (GONGDAN_WORKER=0), as
    when notifications are delivered by a ``gongdan worker`` process of their own."""
    cmd = [*gongdan_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--definitions",
           str(DEFINITIONS), "--log-level", "warning", "--no-access-log"]
    env = {"DATABASE_URL": url, "GONGDAN_DATA_DIR": str(data_dir), "GONGDAN_WORKER": "1" if worker else "0"}
    return Server(cmd, env, port, log_file)


def bare_server(port: int, log_file: Path) -> Server:
    cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--no-access-log"]
    return Server(cmd, {}, port, log_file)


def wrk(port: int, data: Path, seconds: int, threads: int, connections: int, log: Any) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
           "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "GD_WRK_DATA": str(data)},
                          timeout=seconds + 60)
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed: {proc.stderr}")
    result: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result = json.loads(line[len("WRKJSON "):])
        elif line.strip().startswith("Requests/sec:"):
            result["wrk_requests_per_sec"] = float(line.split(":")[1])
    if not result:
        raise SystemExit(f"no result from wrk:\n{proc.stdout}\n{proc.stderr}")
    if proc.stderr.strip():
        log("wrk: " + proc.stderr.strip().replace("\n", " | ")[:600])
    return result


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def database_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server's processes on this machine (0 without one)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as f:
                    if f.read().strip() != "postgres":
                        continue
            except OSError:
                continue
            total += process_cpu(int(entry))
    return total


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def background_cpu(seconds: float = 2.0) -> float:
    """Share of all cores busy over ``seconds`` (Linux /proc/stat), while the server under test idles."""
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    return (busy1 - busy0) / max(total1 - total0, 1)


def wait_for_quiet(log: Any, limit: float = 0.25, patience: float = 90.0) -> float:
    """Wait (at most ``patience`` seconds) until other processes use less than ``limit`` of the CPUs."""
    deadline = time.monotonic() + patience
    busy = background_cpu()
    while busy > limit and time.monotonic() < deadline:
        log(f"other processes use {100 * busy:.0f}% of the CPUs; waiting")
        busy = background_cpu(5.0)
    return busy


def speed_probe() -> float:
    """Milliseconds a fixed pure-Python loop takes on this machine now (best of 3).

    A shared machine's cores do not always run at one speed; the probe, taken just before each
    run, says whether a slow run met a slow machine."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i
        best = min(best, time.perf_counter() - t0)
    return round(1000 * best, 1)


def code_state() -> dict[str, Any]:
    """The commit and the uncommitted engine files the server ran with."""
    def git(*a: str) -> str:
        proc = subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT)
        return proc.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": git("status", "--porcelain", "--", "engine").splitlines()}


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy not found: pip install py-spy")
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "-f", "raw",
                             "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


IDLE_LEAVES = (
    "_connection_worker_thread (aiosqlite/core.py:59)",  # an aiosqlite thread waiting for work
    "EpollSelector.select (selectors.py:468)",  # the event loop waiting for I/O
    "Runner.run (asyncio/runners.py:118)",  # uvloop (C) waiting for I/O, or running its own code
)
# The event loop thread: asyncio's loop, or uvloop (no Python frame of its own below asyncio.run).
LOOP_FRAMES = ("BaseEventLoop.run_forever", "Runner.run")


def summarise_profile(path: Path, seconds: float, rate: int = 250, top: int = 25) -> dict[str, Any]:
    """Where the server's CPU went, from a py-spy collapsed-stack file (``-f raw``).

    py-spy samples every thread; the aiosqlite threads Piccolo starts per SQLite query spend most
    of their life waiting for work, and the event loop waits in ``select``: those samples are idle
    and left out. ``main_busy`` is the share of the run the event-loop thread was busy (1.0 = one
    core saturated); the lists give each function's share of the event loop's busy samples (self:
    the function itself; total: including what it calls); ``db_threads_busy`` is the time the
    database threads were not waiting for work, in cores. Without ``--native`` py-spy cannot tell
    a database thread running C code from one waiting for the GIL or sleeping in SQLite's busy
    handler, and an event loop waiting for the GIL counts as idle: on SQLite, with its database
    threads, use ``py-spy record --native`` to separate running from waiting.
    """
    main_self: Counter[str] = Counter()
    main_total: Counter[str] = Counter()
    main = db = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        if frames[-1] in IDLE_LEAVES:
            continue
        if any(f.startswith(LOOP_FRAMES) for f in frames):
            main += count
            short = [_short(f) for f in frames]
            main_self[short[-1]] += count
            for f in set(short):
                main_total[f] += count
        elif any(f.startswith("_connection_worker_thread") for f in frames):
            db += count
    expected = max(seconds * rate, 1)
    if not main:
        return {"main_busy": 0.0, "db_threads_busy": round(db / expected, 2), "self": [], "total": []}
    return {
        "main_busy": round(main / expected, 2),
        "db_threads_busy": round(db / expected, 2),
        "self": [(f, round(100 * c / main, 1)) for f, c in main_self.most_common(top)],
        "total": [(f, round(100 * c / main, 1)) for f, c in main_total.most_common(top * 3)],
    }


def _short(frame: str) -> str:
    # "Class.func (pkg/mod.py:123)" -> "pkg/mod.py:Class.func"
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{file}:{name}" if file else name


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------

def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "server_cpu_ms_per_request",
            "database_cpu_ms_per_request", "speed_probe_ms", "machine_busy")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    out["non2xx"] = [r["non2xx"] for r in runs]
    out["socket_errors"] = [r["socket_errors"] for r in runs]
    out["requests"] = [r["requests"] for r in runs]
    return out


def run_scenario(name: str, start: Any, data: Path, args: argparse.Namespace, log: Any,
                 fresh: Any = None) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    total = args.runs + (1 if args.profile else 0)
    prof: dict[str, Any] = {}
    for i in range(total):
        profiling = args.profile and i == args.runs
        if fresh is not None and (i == 0 or args.fresh_each_run):
            data = fresh()
        with start() as server:
            quiet = wait_for_quiet(log)
            state = code_state()
            probe = speed_probe()
            wrk(server.port, data, 3, args.threads, args.connections, log)  # warm-up
            spy = None
            out = OUT / f"profile-{args.engine}-{name}.txt"
            if profiling:
                spy_seconds = max(5, args.duration - 4)
                spy = profile(server.pid, spy_seconds, out)
                time.sleep(1)
            cpu0 = process_cpu(server.pid), database_cpu()
            machine0 = _cpu_times()
            r = wrk(server.port, data, args.duration, args.threads, args.connections, log)
            machine1 = _cpu_times()
            cpu1 = process_cpu(server.pid), database_cpu()
            # all cores busy (1.0) means the run was bound by CPU; well below, by waiting somewhere
            r["machine_busy"] = round((machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1), 3)
            r["server_cpu_ms_per_request"] = round(1000 * (cpu1[0] - cpu0[0]) / max(r["requests"], 1), 3)
            r["database_cpu_ms_per_request"] = round(1000 * (cpu1[1] - cpu0[1]) / max(r["requests"], 1), 3)
            r["background_cpu"] = round(quiet, 3)
            r["speed_probe_ms"] = probe
            r["code"] = state
            if spy is not None:
                spy.wait(timeout=120)
                prof = summarise_profile(out, spy_seconds)
        if profiling:
            log(f"{name}: profiled run {r['rps']:.0f} req/s (not counted); profile in {out}")
            continue
        runs.append(r)
        log(f"{name} run {i + 1}: {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.1f}  p90 {r['p90_ms']:.1f}  "
            f"p95 {r['p95_ms']:.1f}  p99 {r['p99_ms']:.1f} ms  CPU per request: server "
            f"{r['server_cpu_ms_per_request']:.3f} ms, PostgreSQL {r['database_cpu_ms_per_request']:.3f} ms  "
            f"non-2xx {r['non2xx']}  socket errors "
            f"{r['socket_errors']}  machine busy {100 * r['machine_busy']:.0f}%  "
            f"(other load before: {100 * r['background_cpu']:.0f}%, speed probe "
            f"{r['speed_probe_ms']:.0f} ms, {r['code']['commit']}"
            f"{'+' + str(len(r['code']['uncommitted'])) + ' changed' if r['code']['uncommitted'] else ''})")
    return {"runs": runs, "median": medians(runs), "profile": prof}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (databases gongdan_bench_create and gongdan_bench_1m are (re)made)")
    parser.add_argument("--big-url", help="database with the 1M tickets (default: bench/out/sqlite-1m.db or "
                                          "<pg-url>/gongdan_bench_1m)")
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets in the big database")
    parser.add_argument("--scenarios", default="bare,create,list,list-c1,create-1m")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--worker", action="store_true",
                        help="run the background worker inside the server (default: off, the server alone)")
    parser.add_argument("--profile", action="store_true", help="one extra run per scenario under py-spy")
    parser.add_argument("--fresh-each-run", action=argparse.BooleanOptionalAction, default=True,
                        help="create: a new database for every run (default) or one for all runs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    OUT.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    sqlite = args.engine == "sqlite"
    create_url = (f"sqlite:///{OUT / 'load-create.db'}" if sqlite else f"{args.pg_url}/gongdan_bench_create")
    big_url = args.big_url or (f"sqlite:///{OUT / 'sqlite-1m.db'}" if sqlite else f"{args.pg_url}/gongdan_bench_1m")
    data_dir = OUT / f"var-{args.engine}"
    server_log = OUT / f"server-{args.engine}.log"
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    results: dict[str, Any] = {"engine": args.engine, "duration_s": args.duration, "threads": args.threads,
                               "connections": args.connections, "runs": args.runs, "scenarios": {}}
    people = list(BENCH_PEOPLE)

    def create_data(url: str, fresh: bool, name: str) -> Path:
        if fresh:
            fresh_database(url)
        tokens = setup_users(url, BENCH_PEOPLE, people)
        items = [{"method": "POST", "path": "/api/v1/tickets", "token": tokens[user], "body": body}
                 for user, body in create_bodies({})]
        return write_wrk_data(OUT / f"wrk-{name}-{args.engine}.lua", items)

    if "bare" in scenarios:
        items = [{"method": "POST", "path": "/api/v1/tickets", "token": f"gd_bare{i}", "body": body}
                 for i, (_, body) in enumerate(create_bodies({}))]
        data = write_wrk_data(OUT / "wrk-bare.lua", items)
        results["scenarios"]["bare"] = run_scenario(
            "bare", lambda: bare_server(args.port + 1, server_log), data, args, log)

    if "create" in scenarios:
        results["scenarios"]["create"] = run_scenario(
            "create", lambda: gongdan_server(create_url, args.port, data_dir, server_log, args.worker), Path(), args,
            log,
            fresh=lambda: create_data(create_url, True, "create"))
        if "bare" in results["scenarios"]:
            bare = results["scenarios"]["bare"]["median"]["rps"]
            results["scenarios"]["create"]["share_of_bare"] = round(
                results["scenarios"]["create"]["median"]["rps"] / bare, 3)

    if {"list", "list-c1", "create-1m"} & set(scenarios):
        ensure_big_database(big_url, args.tickets, log)
        readers = [f"staff.{s}.001" for s in ("store_sh01", "store_hz01", "store_gz01", "store_sz01")]
        if "list" in scenarios or "list-c1" in scenarios:
            tokens = setup_users(big_url, {}, readers)
            items = [{"method": "GET", "path": "/api/v1/tickets?limit=50", "token": tokens[u]} for u in readers]
            data = write_wrk_data(OUT / f"wrk-list-{args.engine}.lua", items)
        if "list" in scenarios:
            results["scenarios"]["list"] = run_scenario(
                "list", lambda: gongdan_server(big_url, args.port, data_dir, server_log, args.worker), data, args,
                log)
        if "list-c1" in scenarios:
            args_c1 = argparse.Namespace(**{**vars(args), "threads": 1, "connections": 1, "profile": False})
            results["scenarios"]["list-c1"] = run_scenario(
                "list-c1", lambda: gongdan_server(big_url, args.port, data_dir, server_log, args.worker), data,
                args_c1, log)
        if "create-1m" in scenarios:
            args_1m = argparse.Namespace(**{**vars(args), "fresh_each_run": False})
            results["scenarios"]["create-1m"] = run_scenario(
                "create-1m", lambda: gongdan_server(big_url, args.port, data_dir, server_log, args.worker), Path(),
                args_1m, log,
                fresh=lambda: create_data(big_url, False, "create-1m"))

    out = OUT / f"load-{args.engine}.json"
    if out.exists():  # keep the scenarios of earlier invocations that this one did not run
        earlier = json.loads(out.read_text(encoding="utf-8")).get("scenarios", {})
        results["scenarios"] = {**{k: v for k, v in earlier.items() if k not in results["scenarios"]},
                                **results["scenarios"]}
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print()
    print(f"{'scenario':<12} {'req/s':>9} {'p50':>8} {'p90':>8} {'p95':>8} {'p99':>8}  {'CPU/req':>8} {'DB/req':>8}"
          "  non-2xx   target")
    for name, res in results["scenarios"].items():
        m = res["median"]
        target = TARGETS.get((name, args.engine), "")
        extra = f"  ({100 * res['share_of_bare']:.0f}% of bare)" if "share_of_bare" in res else ""
        print(f"{name:<12} {m['rps']:9.1f} {m['p50_ms']:7.1f}ms {m['p90_ms']:7.1f}ms {m['p95_ms']:7.1f}ms "
              f"{m['p99_ms']:7.1f}ms  {m.get('server_cpu_ms_per_request', 0):6.3f}ms "
              f"{m.get('database_cpu_ms_per_request', 0):6.3f}ms"
              f"  {sum(m['non2xx']):>7}   {target}{extra}")
    print(f"\nmedians of {args.runs} runs of {args.duration} s, wrk -t{args.threads} -c{args.connections}; "
          f"details in {out}")
    for name, res in results["scenarios"].items():
        prof = res.get("profile") or {}
        if prof.get("self"):
            print(f"\nprofile of {name}: event loop busy {100 * prof['main_busy']:.0f}% of one core, database threads "
                  f"{100 * prof['db_threads_busy']:.0f}% (incl. GIL waits); share of the event loop's busy time, self:")
            for frame, pct in prof["self"][:12]:
                print(f"  {pct:5.1f}%  {frame}")
            print("  total (with callees), project code:")
            for frame, pct in [t for t in prof["total"] if t[0].startswith("engine/")][:15]:
                print(f"  {pct:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
