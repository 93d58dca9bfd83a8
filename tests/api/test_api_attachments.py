"""Attachments through HTTP: checked on upload, linked on submit, handed out only to those who may see them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.attachments import accepts, content_type_of, safe_filename, sniff
from engine.web.attachments import content_disposition
from tests.api.conftest import Api

pytestmark = pytest.mark.anyio

REPAIR = {"device_no": "MO-0042", "device_type": "moulding", "area": "workshop_a"}


def png(width: int = 1, height: int = 1) -> bytes:
    """A real, minimal PNG: one white pixel by default."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def blob_files() -> list[Path]:
    """Every file in the blob store of the test's data directory (temporary files included)."""
    root = Path(os.environ["GONGDAN_DATA_DIR"]) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def upload(
    api: Api,
    user: str,
    content: bytes,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
    field: str = "fault_photos",
    type: str | None = "equipment_repair",
    ticket_id: int | None = None,
) -> Any:
    data = {"field": field}
    if type is not None:
        data["type"] = type
    if ticket_id is not None:
        data["ticket_id"] = str(ticket_id)
    return await api.client.post(
        "/api/v1/attachments",
        files={"file": (filename, content, content_type)},
        data=data,
        headers=api._h(user),
    )


async def upload_to_ticket(api: Api, user: str, ticket_id: int, content: bytes, field: str, **kw: str) -> Any:
    return await api.client.post(
        f"/api/v1/tickets/{ticket_id}/attachments",
        files={"file": (kw.get("filename", "evidence.jpg"), content, kw.get("content_type", "image/jpeg"))},
        data={"field": field},
        headers=api._h(user),
    )


async def raise_repair(api: Api, **fields: object) -> Any:
    return await api.post(
        "wang.worker",
        "/api/v1/tickets",
        {"type": "equipment_repair", "title": "Press stops mid-cycle", "fields": {**REPAIR, **fields}},
    )


def complaint(store: str, **fields: object) -> dict[str, object]:
    return {
        "type": "store_complaint",
        "title": "顾客投诉：收银排队太久",
        "fields": {
            "store": store,
            "complaint_category": "service",
            "description": "顾客在收银台排队超过二十分钟，无人引导",
            **fields,
        },
    }


async def test_upload_link_and_download_only_for_those_who_see_the_ticket(api: Api) -> None:
    content = png()
    r = await upload(api, "wang.worker", content, filename="C:\\fakepath\\故障 照片.png")
    assert r.status_code == 201, r.text
    att = r.json()
    assert isinstance(att["id"], str) and att["id"].isdigit()
    assert att["filename"] == "故障 照片.png" and att["content_type"] == "image/png"
    assert att["size"] == len(content) and att["sha256"] == hashlib.sha256(content).hexdigest()
    assert att["ticket_id"] is None and att["field"] == "fault_photos"
    assert r.headers["location"] == f"/api/v1/attachments/{att['id']}"
    assert [p.name for p in blob_files()] == [att["sha256"]]  # stored under its content hash

    # unlinked: only its uploader may fetch it
    assert (await api.get("wang.worker", f"/api/v1/attachments/{att['id']}")).status_code == 200
    assert (await api.get("li.mech", f"/api/v1/attachments/{att['id']}")).status_code == 404

    r = await raise_repair(api, fault_photos=[att["id"]])
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["fields"]["fault_photos"] == [att["id"]] and ticket["assignee"] == "li.mech"
    tid = ticket["id"]

    for user in ("wang.worker", "li.mech", "sun.lead"):  # requester, assignee, the lead who sees every repair
        r = await api.get(user, f"/api/v1/attachments/{att['id']}")
        assert r.status_code == 200, (user, r.text)
        assert r.content == content
        assert r.headers["content-type"].startswith("image/png")
        assert r.headers["x-content-type-options"] == "nosniff"
        disposition = r.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''%E6%95%85%E9%9A%9C%20%E7%85%A7%E7%89%87.png" in disposition
    listed = (await api.get("li.mech", f"/api/v1/tickets/{tid}/attachments")).json()
    assert [(a["id"], a["field"], a["ticket_id"], a["uploaded_by"]) for a in listed] == [
        (att["id"], "fault_photos", tid, "wang.worker")
    ]

    # a store user sees neither the ticket nor its files, nor whether they exist
    for path in (
        f"/api/v1/attachments/{att['id']}",
        f"/api/v1/tickets/{tid}/attachments",
        "/api/v1/attachments/999999",
        "/api/v1/attachments/99999999999",
        "/api/v1/tickets/99999999999/attachments",
    ):
        r = await api.get("staff.sh", path)
        assert r.status_code == 404 and r.json()["status"] == 404, path
    assert (await api.client.get(f"/api/v1/attachments/{att['id']}")).status_code == 401

    # the same bytes again: a second row, one blob
    again = (await upload(api, "wang.worker", content)).json()
    assert again["id"] != att["id"] and again["sha256"] == att["sha256"]
    assert len(blob_files()) == 1


async def test_the_assignee_adds_evidence_to_the_ticket_and_completes(api: Api) -> None:
    tid = (await raise_repair(api)).json()["id"]
    for step in ("accept", "start"):
        assert (await api.post("li.mech", f"/api/v1/tickets/{tid}/transitions/{step}")).status_code == 200
    # the requester may neither edit the ticket nor take a step in in_repair; a store user cannot see it
    assert (await upload_to_ticket(api, "wang.worker", tid, JPEG, "evidence_photos")).status_code == 403
    assert (await upload_to_ticket(api, "staff.sh", tid, JPEG, "evidence_photos")).status_code == 404
    # a technician cannot raise repairs, so a file without a ticket is not theirs to upload
    assert (await upload(api, "li.mech", JPEG, field="evidence_photos")).status_code == 403

    r = await upload_to_ticket(api, "li.mech", tid, JPEG, "evidence_photos")
    assert r.status_code == 201, r.text
    evidence = r.json()
    assert (evidence["ticket_id"], evidence["content_type"]) == (tid, "image/jpeg")
    # linked to the ticket, the field unchanged until a step references it
    assert (await api.get("wang.worker", f"/api/v1/tickets/{tid}")).json()["fields"].get("evidence_photos") is None
    via_form = await upload(api, "li.mech", JPEG, field="evidence_photos", type=None, ticket_id=tid)
    assert via_form.status_code == 201 and via_form.json()["ticket_id"] == tid

    done = await api.post(
        "li.mech",
        f"/api/v1/tickets/{tid}/transitions/complete",
        {"fields": {"parts_used": "hydraulic seal ×2", "repair_cost": 320.5, "evidence_photos": [evidence["id"]]}},
    )
    assert done.status_code == 200, done.text
    assert done.json()["fields"]["evidence_photos"] == [evidence["id"]]
    r = await api.get("wang.worker", f"/api/v1/attachments/{evidence['id']}")
    assert r.status_code == 200 and r.content == JPEG
    listed = (await api.get("wang.worker", f"/api/v1/tickets/{tid}/attachments")).json()
    assert [a["id"] for a in listed] == [evidence["id"], via_form.json()["id"]]


async def test_an_edit_keeps_existing_files_and_links_new_ones(api: Api) -> None:
    first = (await upload(api, "wang.worker", png())).json()
    ticket = (await raise_repair(api, fault_photos=[first["id"]])).json()
    tid = ticket["id"]
    second = (await upload_to_ticket(api, "li.mech", tid, png(2, 1), "fault_photos", content_type="image/png")).json()
    r = await api.patch("li.mech", f"/api/v1/tickets/{tid}", {"fields": {"fault_photos": [first["id"], second["id"]]}})
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["fault_photos"] == [first["id"], second["id"]]
    # the same id twice is a mistake, not a second file
    r = await api.patch("li.mech", f"/api/v1/tickets/{tid}", {"fields": {"fault_photos": [second["id"], second["id"]]}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fields.fault_photos"


async def test_oversized_upload_is_413_and_keeps_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGDAN_MAX_UPLOAD_MB", "1")
    big = png() + b"\x00" * (1024 * 1024)
    r = await upload(api, "wang.worker", big)
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["status"] == 413 and body["title"] and body["errors"][0]["field"] == "file"
    assert "1 MB" in body["errors"][0]["message"]
    assert blob_files() == []
    assert (await upload(api, "wang.worker", png())).status_code == 201  # under the limit it is fine


async def test_types_the_field_does_not_accept_are_refused(api: Api) -> None:
    text = "设备铭牌看不清\n".encode()
    cases = [
        ("a text file", text, "notes.txt", "text/plain"),
        ("text renamed .png", text, "photo.png", "image/png"),
        ("a program renamed .png", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120, "photo.png", "image/png"),
        ("a PDF", PDF, "scan.pdf", "application/pdf"),
        ("HTML declared as an image", b"<html><script>alert(1)</script></html>", "x.gif", "image/gif"),
    ]
    for name, content, filename, declared in cases:
        r = await upload(api, "wang.worker", content, filename=filename, content_type=declared)
        assert r.status_code == 415, (name, r.text)
        body = r.json()
        assert body["status"] == 415 and body["errors"][0]["field"] == "file", name
        assert "image/*" in body["errors"][0]["message"], name

    bad_targets = [
        ({"type": "nope"}, "type"),
        ({"field": "device_no"}, "field"),
        ({"field": "colour"}, "field"),
        ({"type": None}, "type"),
    ]
    for change, field in bad_targets:
        r = await upload(api, "wang.worker", png(), **change)  # type: ignore[arg-type]
        assert r.status_code == 422, (change, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (change, r.json())
    assert (await upload(api, "wang.worker", b"")).status_code == 422
    r = await api.client.post(
        "/api/v1/attachments", data={"type": "equipment_repair", "field": "fault_photos"}, headers=api._h("wang.worker")
    )
    assert r.status_code in (400, 422)  # no file part
    # a store user may not raise repairs, so may not upload for them either
    assert (await upload(api, "staff.sh", png())).status_code == 403
    assert blob_files() == []

    # a field that takes PDFs does, whatever the file is called
    r = await upload(
        api,
        "staff.sh",
        PDF,
        filename="小票",
        content_type="application/octet-stream",
        type="store_complaint",
        field="photos",
    )
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "application/pdf"


async def test_someone_elses_or_an_unknown_upload_is_refused_and_nothing_is_written(api: Api) -> None:
    theirs = (await upload(api, "staff.sh", png(), type="store_complaint", field="photos")).json()
    r = await api.post("staff.hz", "/api/v1/tickets", complaint("store_hz01", photos=[theirs["id"]]))
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "fields.photos",
            "message": f"unknown attachment '{theirs['id']}'; upload the file for this field first",
        }
    ]
    assert (await api.get("staff.hz", "/api/v1/tickets")).json()["items"] == []
    # still unlinked: its owner can use it
    r = await api.post("staff.sh", "/api/v1/tickets", complaint("store_sh01", photos=[theirs["id"]]))
    assert r.status_code == 201, r.text

    for bogus in ("a1", "999999", "99999999999", "-1", theirs["id"]):
        r = await raise_repair(api, fault_photos=[bogus])
        assert r.status_code == 422, (bogus, r.text)
        assert r.json()["errors"][0]["field"] == "fields.fault_photos"
        assert r.json()["errors"][0]["message"].startswith(f"unknown attachment '{bogus}'")
    assert (await api.get("wang.worker", "/api/v1/tickets")).json()["items"] == []

    # one's own upload, but for another field or already on another ticket
    mine = (await upload(api, "wang.worker", png())).json()
    tid = (await raise_repair(api, fault_photos=[mine["id"]])).json()["id"]
    r = await raise_repair(api, fault_photos=[mine["id"]])
    assert r.status_code == 422 and "unknown attachment" in r.text
    for step in ("accept", "start"):
        assert (await api.post("li.mech", f"/api/v1/tickets/{tid}/transitions/{step}")).status_code == 200
    photo = (await upload_to_ticket(api, "li.mech", tid, JPEG, "fault_photos")).json()
    before = (await api.get("li.mech", f"/api/v1/tickets/{tid}")).json()
    r = await api.post(
        "li.mech",
        f"/api/v1/tickets/{tid}/transitions/complete",
        {"fields": {"parts_used": "seal", "repair_cost": 1, "evidence_photos": [photo["id"]]}},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fields.evidence_photos", r.text
    after = (await api.get("li.mech", f"/api/v1/tickets/{tid}")).json()
    assert (after["state"], after["row_version"], after["fields"]) == (
        before["state"],
        before["row_version"],
        before["fields"],
    )


async def test_two_submits_racing_for_one_upload_link_it_once(api: Api) -> None:
    att = (await upload(api, "wang.worker", png())).json()
    results = await asyncio.gather(
        raise_repair(api, fault_photos=[att["id"]]), raise_repair(api, fault_photos=[att["id"]])
    )
    assert sorted(r.status_code for r in results) == [201, 422]
    assert len((await api.get("wang.worker", "/api/v1/tickets")).json()["items"]) == 1


def test_content_is_judged_by_its_bytes() -> None:
    assert sniff(png()) == "image/png" and sniff(JPEG) == "image/jpeg" and sniff(PDF) == "application/pdf"
    assert sniff(b"GIF89a\x01\x00") == "image/gif"
    assert sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "image/heic"
    assert content_type_of(b"MZ\x90\x00", "image/png") == "application/octet-stream"
    assert content_type_of("报修说明".encode(), "text/plain; charset=utf-8") == "text/plain"
    assert content_type_of(b"a\x00b", "text/plain") == "application/octet-stream"
    assert content_type_of(png(), "text/plain") == "image/png"
    assert accepts(["image/*"], "image/heic") and not accepts(["image/*"], "application/pdf")
    assert accepts(["image/*", "application/pdf"], "application/pdf") and accepts(None, "text/plain")


def test_filenames_lose_their_path_but_keep_their_name() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\王\\照片 1.jpg") == "照片 1.jpg"
    assert safe_filename("invoice\u202egpj.exe") == "invoicegpj.exe"
    assert safe_filename("..") == "file" and safe_filename(None) == "file"
    long = safe_filename("x" * 300 + ".jpeg")
    assert len(long) == 255 and long.endswith(".jpeg")
    assert content_disposition('a"b.png') == "attachment; filename=\"a_b.png\"; filename*=UTF-8''a%22b.png"
