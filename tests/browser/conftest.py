"""Browser tests: real headless Chromium (Debian's package) against a real `gongdan serve` on SQLite.

The server is started the way a newcomer starts it — `gongdan demo`, then `gongdan serve` on
127.0.0.1 — in a fresh data folder, once per test session; each test gets a fresh browser context
(no cookies), so it signs in as whom it needs.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
PASSWORD = "gongdan-demo"
ROOT = Path(__file__).resolve().parents[2]

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def png_file(path: Path, width: int = 8, height: int = 8) -> Path:
    """A real PNG (a red square) for photo uploads."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xd0\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("gongdan-browser")
    env = {**os.environ, "GONGDAN_DATA_DIR": str(data), "GONGDAN_SECRET_KEY": "browser-tests"}
    env.pop("DATABASE_URL", None)
    gongdan = [sys.executable, "-m", "engine.cli"]
    subprocess.run([*gongdan, "demo", "--definitions", str(ROOT / "definitions")], env=env, check=True,
                   cwd=ROOT, capture_output=True, timeout=120)
    port = _free_port()
    log = (data / "serve.log").open("w")
    proc = subprocess.Popen([*gongdan, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--definitions", str(ROOT / "definitions")], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("gongdan serve did not start:\n" + (data / "serve.log").read_text()) from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    errors = [line for line in (data / "serve.log").read_text().splitlines() if "Traceback" in line]
    assert not errors, "the server logged a traceback during the browser tests"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: Playwright's sync API holds an event loop in this thread while it runs, so it
    # must be stopped before the asyncio tests of other modules run.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make test does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return png_file(tmp_path / "fault.png")
