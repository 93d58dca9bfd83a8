"""A fast webhook receiver for the delivery benchmark: accepts every POST, keeps one copy per delivery id.

    python bench/webhook_receiver.py --port 8765

Answers ``{"errcode": 0, "errmsg": "ok", "code": 0}`` (what WeCom, DingTalk and Feishu robots
answer on success), counts requests and distinct ``X-Gongdan-Delivery`` ids, and reports them as
JSON on ``GET /stats``; ``POST /reset`` clears them. A raw asyncio protocol (HTTP/1.1 keep-alive,
Content-Length bodies only) so the receiver is never what limits the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

OK = b'{"errcode": 0, "errmsg": "ok", "code": 0}'


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.ids: set[str] = set()


def _response(body: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


class Receiver(asyncio.Protocol):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[:end + 4 + length]
            method, _, rest = lines[0].partition(" ")
            path = rest.split(" ", 1)[0]
            assert self.transport is not None
            if method == "GET" and path == "/stats":
                body = json.dumps({"requests": self.stats.requests, "delivered": len(self.stats.ids)}).encode()
                self.transport.write(_response(body))
            elif method == "POST" and path == "/reset":
                self.stats.requests = 0
                self.stats.ids.clear()
                self.transport.write(_response(b"{}"))
            else:
                self.stats.requests += 1
                delivery = headers.get("x-gongdan-delivery")
                if delivery:
                    self.stats.ids.add(delivery)
                self.transport.write(_response(OK))


async def serve(host: str, port: int) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Receiver(stats), host, port)
    print(f"receiving on http://{host}:{port}/", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="webhook receiver for the delivery benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
