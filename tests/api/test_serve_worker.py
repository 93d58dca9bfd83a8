"""`gongdan serve` runs the worker: a ticket raised over HTTP reaches a real SMTP server and a real chat webhook."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.test_serve_and_demo import _call, _free_port
from tests.runtime.notify.receivers import HttpReceiver, SmtpReceiver

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def _until(check: object, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_the_server_notifies_the_team_by_chat_and_the_lead_by_mail(tmp_path: Path) -> None:
    smtp = SmtpReceiver().start()
    hook = HttpReceiver().start()
    env = {**os.environ, "GONGDAN_DATA_DIR": str(tmp_path / "var"), "GONGDAN_SMTP_HOST": smtp.host,
           "GONGDAN_SMTP_PORT": str(smtp.port), "GONGDAN_CHANNEL_MAINTENANCE_DINGTALK_URL": hook.url("/dingtalk"),
           "GONGDAN_WORKER_POLL_SECONDS": "0.1", "GONGDAN_BASE_URL": "https://gongdan.example.com"}
    env.pop("DATABASE_URL", None)
    env.pop("GONGDAN_WORKER", None)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--no-access-log"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        if not _until(lambda: _healthy(base)):
            server.terminate()
            pytest.fail(f"server did not start: {server.communicate(timeout=10)[0][-2000:]}")
        _cli(env, "user", "add", "w1", "--password", "secret-pw-1", "--role", "worker", "--org-unit", "workshop_a")
        _cli(env, "user", "add", "lead", "--password", "secret-pw-2", "--role", "maintenance_lead", "--org-unit",
             "factory", "--email", "lead@example.com")
        _cli(env, "user", "add", "mech", "--password", "secret-pw-3", "--role", "technician", "--team",
             "mechanical", "--org-unit", "factory")
        token = _cli(env, "token", "create", "w1")
        status, body = _call(f"{base}/api/v1/tickets", token, {
            "type": "equipment_repair", "title": "注塑机漏油",
            "fields": {"device_no": "MO-0003", "device_type": "moulding", "area": "workshop_a", "stopped": True,
                       "fault_description": "液压油从合模缸下方滴漏，已停机。"}})
        assert status == 201, body
        number = body["number"]  # type: ignore[index]
        assert _until(lambda: len(hook.delivered) == 1), "the DingTalk group got nothing"
        post = hook.delivered[0].json()
        assert post["msgtype"] == "markdown" and number in post["markdown"]["title"]
        assert _until(lambda: len(smtp.delivered) == 1), "the maintenance lead got no mail"
        [mail] = smtp.delivered.values()
        assert mail.recipients == ["lead@example.com"]
        assert str(mail.message["Subject"]) == f"Line stopped: {number}"
        assert "https://gongdan.example.com/tickets/" in mail.message.get_content()
    finally:
        server.terminate()
        out = server.communicate(timeout=20)[0]
        smtp.stop()
        hook.stop()
    assert "worker on" in out


def _healthy(base: str) -> bool:
    try:
        return _call(f"{base}/healthz")[0] == 200
    except OSError:
        return False
