"""Build the litestar application for one definition set and one database."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router

from engine.render.templates import STATIC_DIR
from engine.runtime import storage
from engine.runtime.notify.settings import NotifySettings, load_settings
from engine.runtime.service import Catalogs, TicketService
from engine.runtime.worker import Worker
from engine.schema import Catalog, check_definitions, format_diagnostics

from . import problems
from .api import ROUTES
from .pages import PAGE_ROUTES, html_error
from .problems import EXCEPTION_HANDLERS
from .turns import TakeTurns

__all__ = ["DefinitionsInvalid", "create_app", "load_catalog"]

MAX_BODY = int(os.environ.get("GONGDAN_MAX_UPLOAD_MB", "20")) * 1024 * 1024 + 64 * 1024


class DefinitionsInvalid(RuntimeError):
    """The definitions do not compile: the server refuses to start on them."""


def load_catalog(definitions: Path) -> Catalog:
    result = check_definitions(definitions)
    if result.catalog is None:
        errors = [d for d in result.diagnostics if d.severity == "error"]
        raise DefinitionsInvalid(f"{definitions} has {len(errors)} errors:\n{format_diagnostics(errors)}")
    return result.catalog


def create_app(definitions: Path | Catalog, database_url: str | None = None, *, worker: bool = False,
               settings: NotifySettings | None = None) -> Litestar:
    """The app; on start-up it opens (and creates or upgrades) the database and records the definition version.

    With ``worker`` the background worker (SLA sweeps, notifications) runs in the server's event loop.
    """
    catalog = definitions if isinstance(definitions, Catalog) else load_catalog(definitions)
    notify = settings or load_settings()
    holder: dict[str, Any] = {}

    async def start(app: Litestar) -> None:
        holder["engine"] = await storage.open_database(database_url)
        await storage.record_definition_version(catalog)
        catalogs = Catalogs(catalog)
        app.state.service = TicketService(catalogs)
        app.state.notify_settings = notify
        app.state.definitions_loaded_at = datetime.now(UTC)
        if worker:
            holder["worker"] = background = Worker(catalogs, notify)
            holder["stop"] = stop_event = asyncio.Event()
            holder["task"] = asyncio.create_task(background.run(stop_event), name="gongdan-worker")

    async def stop(app: Litestar) -> None:
        if "task" in holder:
            holder.pop("stop").set()
            await holder.pop("task")
            await holder.pop("worker").aclose()
        if "engine" in holder:
            await storage.close_database(holder.pop("engine"))

    problems.HTML_ERROR = html_error
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], include_in_schema=False, cache_control=None,
        send_as_attachment=False,
    )
    return Litestar(
        route_handlers=[*ROUTES, *PAGE_ROUTES, static],
        on_startup=[start],
        on_shutdown=[stop],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[TakeTurns],
        openapi_config=OpenAPIConfig(
            title="Gongdan", version="1.0.0", description="Work orders: raise, assign, handle, archive."
        ),
        request_max_body_size=MAX_BODY,
        state=State({"catalog": catalog}),
    )
