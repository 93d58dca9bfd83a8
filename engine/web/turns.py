"""Requests take their turns in the event loop in the order they arrived.

The server runs every request in one event loop. A handler whose database calls return without
waiting (SQLite on the loop's own thread, a cached actor) runs from start to finish in one go,
so the requests the loop picked up in one poll run back to back, and the order in which the
next poll's requests are taken is not the order in which they came. Under load the result is a
long tail: with 16 clients and a 1.5 ms page, most requests wait ~16 pages' time, some twice
that (p90 25 ms, p99 48 ms, measured with a CPU-bound handler and wrk). One yield to the loop
before the handler starts lets every request that arrived meanwhile get in line first: the
same handler then answers in 25 ms at p99, at the same throughput (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["TakeTurns"]


class TakeTurns:
    """ASGI middleware: an HTTP request yields to the event loop once before the app handles it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(0)
        await self.app(scope, receive, send)
