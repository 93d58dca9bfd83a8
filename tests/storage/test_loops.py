"""The running loop as the write paths find it (without a system call each time)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from engine.runtime.storage.loops import running_loop


def test_the_running_loop_of_each_run_and_each_thread() -> None:
    async def found() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        first = running_loop()
        await asyncio.sleep(0)
        return first, running_loop()

    first, again = asyncio.run(found())
    assert first is again
    second, _ = asyncio.run(found())  # a new loop in the same thread: found anew
    assert second is not first and not first.is_running()

    in_thread: list[asyncio.AbstractEventLoop] = []

    async def other() -> None:
        in_thread.append(running_loop())
        assert in_thread[0] is asyncio.get_running_loop()

    async def both() -> asyncio.AbstractEventLoop:
        mine = running_loop()
        thread = threading.Thread(target=lambda: asyncio.run(other()))
        thread.start()
        await asyncio.to_thread(thread.join)
        assert running_loop() is mine is asyncio.get_running_loop()
        return mine

    mine = asyncio.run(both())
    assert in_thread and in_thread[0] is not mine


def test_no_loop_outside_one() -> None:
    asyncio.run(asyncio.sleep(0))
    with pytest.raises(RuntimeError):
        running_loop()
