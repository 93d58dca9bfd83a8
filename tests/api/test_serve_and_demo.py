"""`gongdan demo` and `gongdan serve` as a newcomer runs them: a real server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from engine.cli import main
from tests.storage.conftest import Backend

ROOT = Path(__file__).resolve().parents[2]


def test_demo_creates_a_user_per_role_and_tickets_once(db: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--definitions", str(ROOT / "definitions")]) == 0
    out = capsys.readouterr().out
    assert "password 'gongdan-demo'" in out and " 11 new tickets" in out and "skipped" not in out
    for role in ("technician", "store_manager", "region_manager", "finance_approver", "customer"):
        assert f" {role} " in out
    assert main(["demo", "--definitions", str(ROOT / "definitions")]) == 0
    assert " 0 new tickets" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(url: str, token: str | None = None, body: object = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_creates_the_database_and_answers_over_http(tmp_path: Path) -> None:
    env = {**os.environ, "GONGDAN_DATA_DIR": str(tmp_path / "var")}
    env.pop("DATABASE_URL", None)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--no-access-log"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # bounded wait for start-up
            try:
                if _call(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            server.terminate()
            pytest.fail(f"server did not start: {server.communicate(timeout=10)[0][-2000:]}")
        assert (tmp_path / "var" / "gongdan.db").exists()  # created on first serve
        subprocess.run(
            [
                sys.executable,
                "-m",
                "engine.cli",
                "user",
                "add",
                "w1",
                "--password",
                "secret-pw-1",
                "--role",
                "worker",
                "--org-unit",
                "workshop_a",
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        token = subprocess.run(
            [sys.executable, "-m", "engine.cli", "token", "create", "w1"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        status, body = _call(
            f"{base}/api/v1/tickets",
            token,
            {
                "type": "equipment_repair",
                "title": "Press 3 stops",
                "fields": {"device_no": "PR-0003", "device_type": "press", "area": "workshop_a"},
            },
        )
        assert status == 201, body
        status, schema = _call(f"{base}/schema/openapi.json")
        assert status == 200 and "/api/v1/tickets" in schema["paths"]  # type: ignore[index]
        assert _call(f"{base}/api/v1/tickets")[0] == 401
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=10)
