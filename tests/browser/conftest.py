"""Browser tests: real headless Chromium (Debian's package) against a real `gongdan serve` on SQLite.

The server is started the way a newcomer starts it — `gongdan demo`, then `gongdan serve` on
127.0.0.1 — in a fresh data folder, once per test session; each test gets a fresh browser context
(no cookies), so it signs in as whom it needs.

The server runs without its background worker (``GONGDAN_WORKER=0``): notifications would otherwise
appear whenever its next round happens to run. A test that needs them runs one round itself with
``gongdan worker --once`` on the same data folder (:func:`run_worker_once`), so what the pages show
is settled before the browser looks.
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


GONGDAN = [sys.executable, "-m", "engine.cli"]


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the session's server: its own data folder, no background worker."""
    data = tmp_path_factory.mktemp("gongdan-browser")
    env = {**os.environ, "GONGDAN_DATA_DIR": str(data), "GONGDAN_SECRET_KEY": "browser-tests", "GONGDAN_WORKER": "0"}
    env.pop("DATABASE_URL", None)
    return env


def run_worker_once(env: dict[str, str]) -> str:
    """One round of the worker (SLA sweep, notifications) on the server's database; what it printed."""
    done = subprocess.run([*GONGDAN, "worker", "--once", "--definitions", str(ROOT / "definitions")], env=env,
                          check=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.stdout


@pytest.fixture(scope="session")
def server(server_env: dict[str, str]) -> Iterator[str]:
    env = server_env
    data = Path(env["GONGDAN_DATA_DIR"])
    gongdan = GONGDAN
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
