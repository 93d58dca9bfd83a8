"""``gongdan serve`` and ``gongdan demo``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from pathlib import Path

from engine.runtime import storage
from engine.runtime.demo import DEMO_PASSWORD, seed_demo
from engine.runtime.notify.outbox import unconfigured_channels
from engine.runtime.notify.settings import SettingsError, load_settings
from engine.runtime.service import Catalogs, TicketService
from engine.runtime.worker import Worker, worker_enabled
from engine.web.app import DefinitionsInvalid, load_catalog

__all__ = ["register"]

# Allocations between two collections of the youngest generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def _definitions(args: argparse.Namespace) -> Path:
    return Path(args.definitions or os.environ.get("GONGDAN_DEFINITIONS", "definitions"))


def _settle_heap() -> None:
    """Keep what start-up built (modules, the compiled catalog, templates) out of garbage collection.

    Every collection of the oldest generation walks every live object; after start-up most of them
    live as long as the process. Frozen, they are never walked again, and a request's short-lived
    objects are collected young and cheaply.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.web.app import create_app

    try:
        catalog = load_catalog(_definitions(args))
        settings = load_settings()
    except (DefinitionsInvalid, SettingsError) as exc:
        print(f"gongdan: error: {exc}", file=sys.stderr)
        return 1
    url = storage.database_url()
    background = args.worker and worker_enabled()
    print(f"Gongdan on http://{args.host}:{args.port}/ — database {storage.describe(url)}, "
          f"definition version {catalog.version[:12]}, worker {'on' if background else 'off'}", flush=True)
    for warning in unconfigured_channels(catalog, settings) if background else ():
        print(f"gongdan: warning: {warning}", file=sys.stderr, flush=True)
    app = create_app(catalog, url, worker=background, settings=settings)
    app.on_startup.append(_settle_heap)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


async def _work(definitions: Path, once: bool) -> int:
    catalog = load_catalog(definitions)
    settings = load_settings()
    engine = await storage.open_database()
    worker = Worker(Catalogs(catalog), settings)
    try:
        await storage.record_definition_version(catalog)
        if once:
            done = await worker.run_once()
            print(f"worker: {done.sla.warnings} SLA warnings, {done.sla.breaches} breaches, {done.expanded} events "
                  f"expanded, {done.delivery.sent} sent, {done.delivery.retried} to retry, "
                  f"{done.delivery.dead} dead-lettered")
            return 0
        print(f"Gongdan worker — database {storage.describe(storage.database_url())}, "
              f"definition version {catalog.version[:12]}", flush=True)
        for warning in unconfigured_channels(catalog, settings):
            print(f"gongdan: warning: {warning}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)
        return 0
    finally:
        await worker.aclose()
        await storage.close_database(engine)


async def _rebuild(definitions: Path) -> int:
    from datetime import UTC, datetime

    from engine.runtime.slarebuild import rebuild_clocks

    catalog = load_catalog(definitions)
    engine = await storage.open_database()
    try:
        await storage.record_definition_version(catalog)
        made = await rebuild_clocks(Catalogs(catalog), datetime.now(UTC))
    finally:
        await storage.close_database(engine)
    print(f"sla: clocks for {made} unfinished tickets that had none")
    return 0


def _sla_rebuild(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_rebuild(_definitions(args)))
    except (DefinitionsInvalid, storage.DatabaseConfigError) as exc:
        print(f"gongdan: error: {exc}", file=sys.stderr)
        return 1


def _worker(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_work(_definitions(args), args.once))
    except (DefinitionsInvalid, SettingsError, storage.DatabaseConfigError) as exc:
        print(f"gongdan: error: {exc}", file=sys.stderr)
        return 1


async def _seed(definitions: Path) -> int:
    catalog = load_catalog(definitions)
    engine = await storage.open_database()
    try:
        await storage.record_definition_version(catalog)
        users, made = await seed_demo(catalog, TicketService(Catalogs(catalog)))
    finally:
        await storage.close_database(engine)
    print(f"demo: {len(users)} users (password '{DEMO_PASSWORD}'), {made} new tickets")
    width = max(len(u.username) for u in users)
    for u in users:
        print(f"  {u.username:<{width}}  {', '.join(u.roles):<22} {u.org_unit or ''}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_seed(_definitions(args)))
    except DefinitionsInvalid as exc:
        print(f"gongdan: error: {exc}", file=sys.stderr)
        return 1
    except storage.DatabaseConfigError as exc:
        print(f"gongdan: error: {exc}", file=sys.stderr)
        return 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the web server (creates or upgrades the database first)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--definitions", help="definition folder (default $GONGDAN_DEFINITIONS or ./definitions)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                   help="run the background worker (SLA sweeps, notifications) in the server; "
                        "GONGDAN_WORKER=0 turns it off too")
    p.set_defaults(handler=_serve)
    p = sub.add_parser("worker", help="run the background worker (SLA sweeps, notifications) on its own")
    p.add_argument("--definitions", help="definition folder (default $GONGDAN_DEFINITIONS or ./definitions)")
    p.add_argument("--once", action="store_true", help="do one round and exit")
    p.set_defaults(handler=_worker)
    sla = sub.add_parser("sla", help="SLA clocks").add_subparsers(dest="sla_command", metavar="COMMAND",
                                                                 required=True)
    p = sla.add_parser("rebuild", help="clocks for unfinished tickets raised before their type had them "
                                       "(replayed from their history; past thresholds count as fired)")
    p.add_argument("--definitions", help="definition folder (default $GONGDAN_DEFINITIONS or ./definitions)")
    p.set_defaults(handler=_sla_rebuild)
    p = sub.add_parser("demo", help="create demo users (one per role) and demo tickets")
    p.add_argument("--definitions", help="definition folder (default $GONGDAN_DEFINITIONS or ./definitions)")
    p.set_defaults(handler=_demo)
