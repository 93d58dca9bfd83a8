"""The running event loop, without a system call on every ask.

On Python 3.11 ``asyncio.get_running_loop()`` calls ``getpid()`` each time (to notice a process
forked while its loop ran); on a virtual machine that system call costs microseconds, and the
write paths ask for the loop several times per request. A thread runs one loop at a time, so the
loop this thread last found stays the answer while it is running; a forked child forgets it.
"""

from __future__ import annotations

import asyncio
import os
import threading

__all__ = ["running_loop"]

_LOCAL = threading.local()


def running_loop() -> asyncio.AbstractEventLoop:
    """The event loop running in this thread (RuntimeError when none is)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_LOCAL, "loop", None)
    if loop is None or not loop.is_running():
        loop = _LOCAL.loop = asyncio.get_running_loop()
    return loop


def _forget() -> None:
    _LOCAL.__dict__.clear()


os.register_at_fork(after_in_child=_forget)
