"""A field and a transition added in YAML appear on the pages after a restart, with no code change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from engine.runtime.auth.accounts import actor_for_user, create_user
from engine.web import sessions
from engine.web.app import create_app
from tests.storage.conftest import Backend, db, pg_database  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]

NEW_FIELD = """    - id: shift_lead
      type: text
      label: {en: Shift lead on duty, zh: 当班班长}
      help: {en: Who can let the technician in., zh: 谁能带维修工进车间。}
"""
NEW_TRANSITION = """    - id: escalate
      label: {en: Escalate to the lead, zh: 上报主管}
      from: [reported, accepted]
      to: reported
      who: {relations: [assignee]}
"""


def edited_copy(tmp_path: Path) -> Path:
    root = tmp_path / "definitions"
    shutil.copytree(ROOT / "definitions", root)
    form = root / "forms" / "equipment_repair.yaml"
    text = form.read_text()
    form.write_text(text.replace("  fields:\n", "  fields:\n" + NEW_FIELD, 1))
    flow = root / "flows" / "repair.yaml"
    text = flow.read_text()
    flow.write_text(text.replace("  transitions:\n", "  transitions:\n" + NEW_TRANSITION, 1))
    return root


async def test_added_field_and_transition_show_on_the_pages(db: Backend, tmp_path: Path) -> None:  # noqa: F811
    definitions = edited_copy(tmp_path)
    await create_user("worker1", None, roles=["worker"], org_unit="workshop_a")
    await create_user("mech1", None, roles=["technician"], teams=["mechanical"], org_unit="factory")
    worker, mech = (await actor_for_user("worker1")).id, (await actor_for_user("mech1")).id
    app = create_app(definitions, db.url)
    async with AsyncTestClient(app=app) as client:
        worker_session = sessions.new_session(worker)
        client.cookies.set(sessions.COOKIE, sessions.encode(worker_session))
        form = await client.get("/tickets/new/equipment_repair")
        assert form.status_code == 200
        assert 'name="f.shift_lead"' in form.text and "Shift lead on duty" in form.text
        assert "Who can let the technician in." in form.text
        data = {"title": "注塑机报警", "f.device_no": "MO-0042", "f.device_type": "moulding", "f.area": "workshop_a",
                "f.shift_lead": "王班长", "_csrf": worker_session.csrf,
                "_fields": ["device_no", "device_type", "area", "shift_lead"]}
        created = await client.post("/tickets/new/equipment_repair", data=data, follow_redirects=False)
        assert created.status_code == 303, created.text
        path = created.headers["location"].split("?")[0]
        client.cookies.set(sessions.COOKIE, sessions.encode(sessions.new_session(mech)))
        page = await client.get(path)
        assert "Shift lead on duty" in page.text and "王班长" in page.text
        assert 'data-transition="escalate"' in page.text and "Escalate to the lead" in page.text
        zh = await client.get(path, headers={"Accept-Language": "zh-CN"})
        assert "当班班长" in zh.text and "上报主管" in zh.text
