"""The test receivers themselves: many concurrent deliveries land once each; stalls hold and release."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .receivers import HttpReceiver

pytestmark = pytest.mark.anyio


async def test_http_receiver_takes_many_concurrent_requests(http_receiver: HttpReceiver) -> None:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(limits=limits) as client:
        gate = asyncio.Semaphore(32)

        async def post(n: int) -> int:
            async with gate:
                reply = await client.post(http_receiver.url(), content=b'{"n": %d}' % n,
                                          headers={"X-Gongdan-Delivery": f"id-{n % 450}"})
                return reply.status_code

        statuses = await asyncio.gather(*(post(n) for n in range(600)))
    assert set(statuses) == {200}
    assert len(http_receiver.requests) == 600
    assert len(http_receiver.delivered) == 450 and len(http_receiver.duplicates) == 150
    assert http_receiver.wait_for(450, timeout=0)


async def test_http_receiver_stall_holds_until_released(http_receiver: HttpReceiver) -> None:
    http_receiver.stall_next(1)
    async with httpx.AsyncClient() as client:
        held = asyncio.ensure_future(client.post(http_receiver.url(), content=b"{}"))
        assert await asyncio.to_thread(http_receiver.wait_for_requests, 1)
        assert not held.done()  # the request arrived; its reply is held back
        http_receiver.release()
        reply = await held
    assert reply.status_code == 503
    assert len(http_receiver.requests) == 1 and http_receiver.delivered == []
