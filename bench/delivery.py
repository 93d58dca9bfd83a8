"""Notification delivery throughput: outbox messages per second to a local webhook receiver.

    python bench/delivery.py --engine sqlite
    python bench/delivery.py --engine postgresql

Starts ``bench/webhook_receiver.py`` in its own process, fills a fresh database with
``--messages`` (5,000) pending outbox messages for the shipped WeCom channel
(``after_sales_wecom``, URL pointed at the receiver), and lets the worker's delivery step
(:meth:`engine.runtime.notify.outbox.Outbox.deliver`: claim a batch with a lease, send
concurrently, record the outcomes) run until every message is sent. The figure is messages
delivered per second of that loop; the receiver confirms each delivery id arrived once. The
median of ``--runs`` runs is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import DEFINITIONS, OUT, drop_database, fresh_database
from engine.runtime import storage
from engine.runtime.notify.outbox import Outbox
from engine.runtime.notify.settings import NotifySettings, WebhookSettings
from engine.runtime.service import Catalogs
from engine.runtime.storage.sql import fetch, sqlite_time
from engine.schema import check_definitions

URLS = {
    "sqlite": f"sqlite:///{OUT / 'delivery.db'}",
    "postgresql": "postgresql://postgres@127.0.0.1:5432/gongdan_bench_delivery",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(port: int, path: str = "/stats", method: str = "GET") -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST"
                                 else None)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return dict(json.loads(resp.read()))


async def _fill(count: int, now: datetime) -> None:
    postgres = storage.is_postgres()
    at = now if postgres else sqlite_time(now)
    cols = "(key, row_kind, source, channel, lang, subject, body, status, attempts, next_attempt_at, created_at)"
    for start in range(0, count, 1000):
        n = min(1000, count - start)
        args: list[Any] = []
        for i in range(start, start + n):
            args.extend((f"bench-{now.timestamp():.0f}-{i}", "after_sales/bench", f"GD-{i:06d} 时效预警",
                         f"工单 GD-{i:06d}“左耳没有声音”需在 2026-11-27 09:00 前完成首次响应。", at, at))
        row = "({}, 'message', {}, 'after_sales_wecom', 'zh', {}, {}, 'pending', 0, {}, {})"
        await fetch(f"INSERT INTO notification_outbox {cols} VALUES " + ", ".join([row] * n), *args)


async def _run_once(url: str, port: int, count: int, concurrency: int) -> float:
    result = check_definitions(Path(DEFINITIONS))
    assert result.catalog is not None
    storage.configure(url)
    engine = await storage.open_database(url)
    settings = NotifySettings(webhooks={"after_sales_wecom": WebhookSettings(url=f"http://127.0.0.1:{port}/wecom")},
                              concurrency=concurrency)
    outbox = Outbox(Catalogs(result.catalog), settings)
    try:
        now = datetime.now(UTC)
        await _fill(count, now)
        sent = 0
        start = time.perf_counter()
        while sent < count:
            done = await outbox.deliver(datetime.now(UTC), limit=500)
            if done.dead or done.retried:
                raise SystemExit(f"delivery failed: {done}")
            if not (done.sent or done.retried or done.dead):
                break
            sent += done.sent
        elapsed = time.perf_counter() - start
        if sent != count:
            raise SystemExit(f"only {sent} of {count} sent")
        return elapsed
    finally:
        await outbox.aclose()
        await storage.close_database(engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=sorted(URLS), default="sqlite")
    parser.add_argument("--database-url", help="default: a fresh bench database of the engine")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    url = args.database_url or URLS[args.engine]
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, str(Path(__file__).with_name("webhook_receiver.py")),
                                 "--port", str(port)], stdout=subprocess.DEVNULL)
    rates = []
    try:
        for _ in range(100):
            try:
                _stats(port)
                break
            except OSError:
                time.sleep(0.05)
        for i in range(args.runs):
            fresh_database(url)
            _stats(port, "/reset", "POST")
            elapsed = asyncio.run(_run_once(url, port, args.messages, args.concurrency))
            stats = _stats(port)
            if stats["delivered"] != args.messages:
                raise SystemExit(f"the receiver has {stats['delivered']} deliveries, expected {args.messages}")
            rate = args.messages / elapsed
            rates.append(rate)
            print(f"run {i + 1}: {args.messages} messages in {elapsed:.2f} s = {rate:,.0f} messages/s "
                  f"({stats['requests']} requests, {stats['delivered']} distinct deliveries)", flush=True)
    finally:
        receiver.terminate()
        receiver.wait(10)
        if not args.database_url:
            drop_database(url)
    print(json.dumps({"engine": args.engine, "messages": args.messages, "concurrency": args.concurrency,
                      "runs": [round(r) for r in rates], "median_per_second": round(statistics.median(rates))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
