"""How long a group of writes waits for more members before it is written.

Both write groups — SQLite's transactions sharing one COMMIT (:mod:`.transaction`) and
PostgreSQL's pipelined creates (:mod:`.pg_batch`) — use one rule. A request that arrives while a
group is open needs two turns of the event loop to join it: one to be read and parsed, one to
run up to its write (requests take turns, see ``engine.web.turns``). So the group waits as long
as members keep coming, and is written once two turns pass without a new one: under load it
holds most of the requests in flight, and an idle server writes a lone request after two empty
turns. A bound on the wait and on the size keeps the latency a member pays small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .loops import running_loop

__all__ = ["MOST", "WAIT", "while_joining"]

WAIT = 0.004  # seconds a group may wait for members
MOST = 64  # members a group takes at most


async def while_joining(size: Callable[[], int], *, stop: Callable[[], bool] = lambda: False) -> None:
    """Return once two turns of the loop pass with ``size()`` unchanged, after :data:`WAIT`
    seconds, at :data:`MOST` members, or as soon as ``stop()`` is true."""
    loop = running_loop()
    deadline = loop.time() + WAIT
    seen, quiet = size(), 0
    while quiet < 2 and seen < MOST and loop.time() < deadline and not stop():
        await asyncio.sleep(0)
        now = size()
        quiet = quiet + 1 if now == seen else 0
        seen = now
