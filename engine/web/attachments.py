"""Attachments over HTTP: upload a file for an attachment field, list a ticket's files, download one.

* ``POST /api/v1/attachments`` (multipart: ``file``, ``type``, ``field``; or ``ticket_id`` instead
  of ``type`` for a file meant for an existing ticket) → 201 with the attachment; put its ``id`` in
  the field when creating the ticket, editing it or taking a step.
* ``POST /api/v1/tickets/{id}/attachments`` (multipart: ``file``, ``field``) → 201, the file linked
  to that ticket at once; the field itself changes only by an edit or a transition.
* ``GET /api/v1/tickets/{id}/attachments`` → the files linked to a ticket the caller may view.
* ``GET /api/v1/attachments/{id}`` → the bytes, always as a download, never sniffed by the browser.

Errors keep the one problem shape: 413 over the size limit (``GONGDAN_MAX_UPLOAD_MB``, default 20),
415 for a type the field does not accept, 422 for an unknown type or field, 403 when the caller may
not add files there, 404 for a file or ticket the caller may not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ETag, State, UploadFile
from litestar.params import FromPath, MultipartBody
from litestar.response import File

from engine.runtime.attachments import AttachmentInfo, AttachmentService
from engine.runtime.model import Actor
from engine.runtime.service import TicketService
from engine.runtime.storage import BlobStore

__all__ = ["AttachmentsController", "attachment_service", "content_disposition"]


@dataclass
class Upload:
    """A file for an attachment field of a new ticket (``type``) or of an existing one (``ticket_id``)."""

    file: UploadFile
    field: str
    type: str | None = None
    ticket_id: int | None = None


@dataclass
class TicketUpload:
    """A file for an attachment field of the ticket in the path."""

    file: UploadFile
    field: str


async def _caller(request: Request[Any, Any, Any]) -> Actor:
    from .api import current_actor  # api.py lists this controller among its routes

    return await current_actor(request)


def attachment_service(state: State) -> AttachmentService:
    tickets: TicketService = state.service
    blobs = state.get("blobs")
    return AttachmentService(tickets, blobs if isinstance(blobs, BlobStore) else None)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%;' else "_" for ch in filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _store(
    request: Request[Any, Any, Any],
    state: State,
    file: UploadFile,
    *,
    field: str,
    type_name: str | None,
    ticket_id: int | None,
) -> Response[dict[str, Any]]:
    try:
        actor = await _caller(request)
        info = await attachment_service(state).upload(
            actor,
            file.file,
            filename=file.filename,
            declared_type=file.content_type,
            type_name=(type_name or "").strip() or None,
            field_id=field.strip(),
            ticket_id=ticket_id,
        )
    finally:
        await file.close()
    return Response(info.json(), status_code=201, headers={"Location": f"/api/v1/attachments/{info.id}"})


class AttachmentsController(Controller):
    path = "/api/v1"
    tags = ["attachments"]

    @post("/attachments", status_code=201)
    async def upload(
        self, request: Request[Any, Any, Any], state: State, data: MultipartBody[Upload]
    ) -> Response[dict[str, Any]]:
        """Upload a file for an attachment field; the answer's `id` goes into that field on submit.

        Give `type` for a ticket still to be raised (the caller must be allowed to raise it), or
        `ticket_id` for an existing ticket the caller may edit or take a step on.
        """
        return await _store(request, state, data.file, field=data.field, type_name=data.type, ticket_id=data.ticket_id)

    @post("/tickets/{ticket_id:int}/attachments", status_code=201)
    async def upload_to_ticket(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int], data: MultipartBody[TicketUpload]
    ) -> Response[dict[str, Any]]:
        """Upload a file for an attachment field of this ticket; it is linked to the ticket at once.

        The field is not changed: reference the `id` in an edit or a transition, so the flow's
        rules on who may change the field when still apply.
        """
        return await _store(request, state, data.file, field=data.field, type_name=None, ticket_id=ticket_id)

    @get("/tickets/{ticket_id:int}/attachments")
    async def list_for_ticket(
        self, request: Request[Any, Any, Any], state: State, ticket_id: FromPath[int]
    ) -> list[dict[str, Any]]:
        """Files linked to the ticket, oldest first."""
        actor = await _caller(request)
        items: list[AttachmentInfo] = await attachment_service(state).for_ticket(actor, ticket_id)
        return [i.json() for i in items]

    @get("/attachments/{attachment_id:int}", media_type="application/octet-stream")
    async def download(self, request: Request[Any, Any, Any], state: State, attachment_id: FromPath[int]) -> File:
        """The file, to those who may view its ticket (or to its uploader before it is linked)."""
        actor = await _caller(request)
        stored = await attachment_service(state).open(actor, attachment_id)
        info = stored.info
        return File(
            path=stored.path,
            filename=info.filename,
            media_type=info.content_type,
            etag=ETag(value=info.sha256),
            headers={
                "Content-Disposition": content_disposition(info.filename),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-cache",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )
