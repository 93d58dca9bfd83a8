"""Attachments: upload a file for an attachment field, link it to its ticket, hand it out again.

A file is uploaded before the ticket (or the step) that uses it is submitted. The upload is
checked against the field it is meant for — the field's ``accept`` list of MIME types or patterns
(``image/*``) and the size limit — stored by content hash in the blob store, and recorded as an
*unlinked* row owned by the uploader. Submitting the ticket, an edit or a transition with the
attachment's id in that field links it to the ticket, in the same transaction as the ticket write
(``link_attachments``). Ids already in the field pass unchanged; every other id must be an upload
of the same user for the same field that is unlinked or already linked to this ticket, else the
submit fails with ``fields.<field>: unknown attachment '<id>'`` and nothing is written.

Uploading for an existing ticket (``ticket_id``) stores the row linked to that ticket at once; the
field still changes only through an edit or a transition, so the flow's rules on who may change a
field in which state hold for attachments too.

Content types are judged by the file's first bytes, not by its name or the type the client
declares: JPEG, PNG, GIF, WebP, HEIC/HEIF and PDF are recognised by their signatures; a declared
``text/*`` type is believed for content that looks like text; anything else is
``application/octet-stream``. A renamed executable is therefore never an ``image/png``. A file
whose type the field does not accept is refused with 415; one over the limit with 413.

Reading: an attachment linked to a ticket is shown to whoever may view the ticket (and, for a
sensitive field, see that field unmasked); an unlinked upload only to its uploader. Anyone else
gets 404, so ids reveal nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine.schema import CompiledType, FieldError
from engine.schema.kinds.ticket_type import Field

from .decide import available_transitions
from .errors import GongdanError, InvalidInput, NotFound, PermissionDenied
from .masking import masked_fields
from .model import Actor, TicketSnapshot
from .permissions import can, can_create
from .storage import BlobStore, BlobTooLarge
from .storage.tables import Attachment

if TYPE_CHECKING:
    from .service import TicketService

__all__ = [
    "DEFAULT_MAX_UPLOAD_MB",
    "OCTET_STREAM",
    "AttachmentInfo",
    "AttachmentService",
    "FileTooLarge",
    "StoredFile",
    "UnsupportedFile",
    "accepts",
    "content_type_of",
    "link_attachments",
    "max_upload_bytes",
    "safe_filename",
    "sniff",
]

DEFAULT_MAX_UPLOAD_MB = 20
OCTET_STREAM = "application/octet-stream"
_HEAD = 64  # bytes read to recognise a file
_MAX_ID = 2**31 - 1  # row ids are 32-bit on PostgreSQL; a larger one names nothing
_FILENAME_MAX = 255
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})


class FileTooLarge(GongdanError):
    """The upload is larger than the configured limit."""

    status = 413
    title = "Too large"
    code = "file_too_large"

    @property
    def errors(self) -> tuple[FieldError, ...]:
        return (FieldError("file", self.message),)


class UnsupportedFile(GongdanError):
    """The file's content type is not one the field accepts."""

    status = 415
    title = "Unsupported media type"
    code = "unsupported_media_type"

    @property
    def errors(self) -> tuple[FieldError, ...]:
        return (FieldError("file", self.message),)


def max_upload_bytes() -> int:
    """The upload limit: ``$GONGDAN_MAX_UPLOAD_MB`` megabytes (default 20), read on every upload."""
    raw = os.environ.get("GONGDAN_MAX_UPLOAD_MB", "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        mb = DEFAULT_MAX_UPLOAD_MB
    return max(mb, 0) * 1024 * 1024


# --- judging a file ---------------------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    """The content type the first bytes prove, for the formats a form commonly takes; else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIC_BRANDS:
            return "image/heic"
        if brand in _HEIF_BRANDS:
            return "image/heif"
    return None


def _media_type(declared: str | None) -> str:
    """``text/plain; charset=utf-8`` → ``text/plain``; blank → empty."""
    return (declared or "").split(";", 1)[0].strip().lower()


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut off at the end of the sample
    return True


def content_type_of(head: bytes, declared: str | None) -> str:
    """The type a file is stored and served as: what its bytes prove, else a believable text type."""
    found = sniff(head)
    if found is not None:
        return found
    media = _media_type(declared)
    if media.startswith("text/") and re.fullmatch(r"text/[a-z0-9.+-]+", media) and _looks_like_text(head):
        return media
    return OCTET_STREAM


def accepts(accept: Sequence[str] | None, content_type: str) -> bool:
    """Whether ``content_type`` matches one of the field's ``accept`` entries (None: any type)."""
    if accept is None:
        return True
    media = _media_type(content_type)
    major = media.split("/", 1)[0]
    for entry in accept:
        want = _media_type(entry)
        if want in ("*", "*/*") or want == media:
            return True
        if want.endswith("/*") and want[:-2] == major:
            return True
    return False


def _accept_text(f: Field) -> str:
    return ", ".join(f.accept or ()) or "any type"


def safe_filename(name: str | None) -> str:
    """The name to show: the last path part, without control or format characters, at most 255."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    text = text.strip()
    if text in ("", ".", ".."):
        return "file"
    if len(text) > _FILENAME_MAX:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            text = stem[: _FILENAME_MAX - len(ext) - 1] + "." + ext
        else:
            text = text[:_FILENAME_MAX]
    return text


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment row as the API shows it."""

    id: int
    ticket_id: int | None
    field: str | None
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str | None = None
    created_at: datetime | None = None

    def json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "ticket_id": self.ticket_id,
            "field": self.field,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "uploaded_by": self.uploaded_by,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class StoredFile:
    """An attachment the caller may read, and where its bytes are."""

    info: AttachmentInfo
    path: Path


_COLUMNS = (
    Attachment.id,
    Attachment.ticket_id,
    Attachment.field,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.sha256,
    Attachment.uploaded_by,
    Attachment.uploaded_by.username.as_alias("uploader"),
    Attachment.created_at,
)


def _info(row: Mapping[str, Any]) -> AttachmentInfo:
    return AttachmentInfo(
        id=row["id"],
        ticket_id=row["ticket_id"],
        field=row["field"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        uploaded_by=row.get("uploader"),
        created_at=row.get("created_at"),
    )


def _attachment_id(value: Any) -> int | None:
    """The row id an attachment field entry names (ids travel as strings); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= _MAX_ID else None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        n = int(value.strip())
        return n if 0 < n <= _MAX_ID else None
    return None


# --- linking, called by the ticket service inside its transaction -----------------------------


async def link_attachments(
    ctype: CompiledType,
    actor: Actor,
    ticket_id: int,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> None:
    """Check the ids newly put in the type's attachment fields and link them to the ticket.

    ``before`` and ``after`` are the ticket's field data around the change (``before`` is empty on
    create). Ids already in a field before pass as they are. Each new id must name an upload of
    ``actor`` for that field, unlinked or already linked to this ticket, of a type the field
    accepts. Raises ``InvalidInput`` listing every bad id; call it inside the transaction that
    writes the ticket, so a refusal writes nothing.
    """
    wanted: list[tuple[Field, Any, int | None]] = []
    errors: list[tuple[str, str]] = []
    for f in ctype.spec.fields:
        if f.type != "attachment":
            continue
        old = before.get(f.id) or []
        new = after.get(f.id) or []
        if not isinstance(new, list):
            continue  # the type's schema has already refused it
        seen: set[Any] = set()
        for value in new:
            key = _attachment_id(value)
            if (key if key is not None else value) in seen:
                errors.append((f"fields.{f.id}", f"attachment '{value}' is listed twice"))
                continue
            seen.add(key if key is not None else value)
            if isinstance(old, list) and value in old:
                continue
            wanted.append((f, value, key))
    ids = sorted({key for _, _, key in wanted if key is not None})
    rows: dict[int, Mapping[str, Any]] = {}
    if ids:
        found = await Attachment.select(*_COLUMNS).where(Attachment.id.is_in(ids)).run()
        rows = {r["id"]: r for r in found}
    link: set[int] = set()
    for f, value, key in wanted:
        row = rows.get(key) if key is not None else None
        if (
            row is None
            or row["uploaded_by"] != actor.id
            or row["field"] != f.id
            or row["ticket_id"] not in (None, ticket_id)
        ):
            errors.append((f"fields.{f.id}", f"unknown attachment '{value}'; upload the file for this field first"))
        elif not accepts(f.accept, row["content_type"]):
            errors.append(
                (f"fields.{f.id}", f"attachment '{value}' is {row['content_type']}; this field takes {_accept_text(f)}")
            )
        elif row["ticket_id"] is None:
            link.add(row["id"])
    if errors:
        raise InvalidInput(dict.fromkeys(errors))
    if not link:
        return
    # Only rows still unlinked and still the actor's: a concurrent submit that linked one first wins.
    done = (
        await Attachment.update({Attachment.ticket_id: ticket_id})
        .where(
            Attachment.id.is_in(sorted(link)) & (Attachment.uploaded_by == actor.id) & Attachment.ticket_id.is_null()
        )
        .returning(Attachment.id)
        .run()
    )
    missing = link - {r["id"] for r in done}
    if missing:
        raise InvalidInput(
            [
                (f"fields.{f.id}", f"unknown attachment '{value}'; it was just used elsewhere")
                for f, value, key in wanted
                if key in missing
            ]
        )


# --- upload, download, list --------------------------------------------------------------------


class AttachmentService:
    """Uploads and downloads, judged by the same rules the ticket service applies to tickets."""

    def __init__(self, tickets: TicketService, blobs: BlobStore | None = None, max_size: int | None = None) -> None:
        self.tickets = tickets
        self.blobs = blobs if blobs is not None else BlobStore()
        self.max_size = max_size if max_size is not None else max_upload_bytes()

    async def _target(
        self, actor: Actor, type_name: str | None, field_id: str | None, ticket_id: int | None
    ) -> tuple[Field, TicketSnapshot | None]:
        """The field an upload is for, after checking the actor may upload to it."""
        ticket: TicketSnapshot | None = None
        if ticket_id is not None:
            if not 0 < ticket_id <= _MAX_ID:
                raise NotFound(f"ticket {ticket_id} not found")
            ticket = await self.tickets.get(actor, ticket_id)
            catalog = await self.tickets.catalogs.for_ticket(ticket)
            ctype = catalog.types.get(ticket.type)
            if ctype is None:
                raise NotFound(f"ticket type '{ticket.type}' is not defined")
            if type_name and type_name != ticket.type:
                raise InvalidInput([("type", f"ticket {ticket.number} is of type '{ticket.type}'")])
            if not can(catalog, actor, "edit", ticket) and not available_transitions(catalog, actor, ticket):
                raise PermissionDenied(f"you may not add files to ticket {ticket.number}")
        else:
            catalog = self.tickets.catalog
            if not type_name:
                raise InvalidInput([("type", "is required (or give ticket_id)")])
            found = catalog.types.get(type_name)
            if found is None:
                raise InvalidInput([("type", f"unknown ticket type '{type_name}'")])
            if not can_create(catalog, actor, type_name):
                raise PermissionDenied(f"you may not create '{type_name}' tickets")
            ctype = found
        if not field_id:
            raise InvalidInput([("field", "is required")])
        f = ctype.fields.get(field_id)
        if f is None:
            raise InvalidInput([("field", f"'{field_id}' is not a field of '{ctype.name}'")])
        if f.type != "attachment":
            raise InvalidInput([("field", f"'{field_id}' is not an attachment field")])
        if ticket is not None and field_id in masked_fields(catalog, actor, ctype.name, ticket.requester):
            raise PermissionDenied(f"you may not change '{field_id}'")
        return f, ticket

    async def upload(
        self,
        actor: Actor,
        file: IO[bytes],
        *,
        filename: str | None,
        declared_type: str | None,
        type_name: str | None = None,
        field_id: str | None = None,
        ticket_id: int | None = None,
    ) -> AttachmentInfo:
        """Check and store one file for an attachment field; returns its row.

        ``file`` must be seekable (a spooled upload). Without ``ticket_id`` the actor must be allowed
        to raise tickets of ``type_name`` and the row stays unlinked until a submit names it; with
        it the actor must be able to edit the ticket or take a step on it, and the row is linked.
        Nothing is kept when a check fails.
        """
        f, ticket = await self._target(actor, type_name, field_id, ticket_id)
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        if size > self.max_size:
            raise FileTooLarge(f"is larger than the limit of {_mb(self.max_size)}")
        if size == 0:
            raise InvalidInput([("file", "is empty")])
        head = file.read(_HEAD)
        file.seek(0)
        content_type = content_type_of(head, declared_type)
        if not accepts(f.accept, content_type):
            shown = content_type
            if content_type == OCTET_STREAM and _media_type(declared_type) not in ("", OCTET_STREAM):
                shown = f"{content_type}, not {_media_type(declared_type)} as declared"
            raise UnsupportedFile(f"is {shown}; '{f.id}' takes {_accept_text(f)}")
        try:
            blob = await asyncio.to_thread(self.blobs.put, file, self.max_size)
        except BlobTooLarge as exc:
            raise FileTooLarge(f"is larger than the limit of {_mb(exc.limit)}") from exc
        rows = (
            await Attachment.insert(
                Attachment(
                    ticket_id=ticket.id if ticket is not None else None,
                    field=f.id,
                    filename=safe_filename(filename),
                    content_type=content_type,
                    size=blob.size,
                    sha256=blob.sha256,
                    uploaded_by=actor.id,
                )
            )
            .returning(
                Attachment.id,
                Attachment.ticket_id,
                Attachment.field,
                Attachment.filename,
                Attachment.content_type,
                Attachment.size,
                Attachment.sha256,
                Attachment.created_at,
            )
            .run()
        )
        return _info({**rows[0], "uploader": actor.username})

    async def _readable(self, actor: Actor, row: Mapping[str, Any]) -> bool:
        if row["ticket_id"] is None:
            return bool(row["uploaded_by"] == actor.id)
        try:
            ticket = await self.tickets.get(actor, row["ticket_id"])
        except NotFound:
            return False
        catalog = await self.tickets.catalogs.for_ticket(ticket)
        return row["field"] not in masked_fields(catalog, actor, ticket.type, ticket.requester)

    async def open(self, actor: Actor, attachment_id: int) -> StoredFile:
        """The attachment if the actor may read it; ``NotFound`` otherwise."""
        if not 0 < attachment_id <= _MAX_ID:
            raise NotFound(f"attachment {attachment_id} not found")
        rows = await Attachment.select(*_COLUMNS).where(Attachment.id == attachment_id).run()
        if not rows or not await self._readable(actor, rows[0]):
            raise NotFound(f"attachment {attachment_id} not found")
        info = _info(rows[0])
        path = self.blobs.path(info.sha256)
        if not path.is_file():
            raise NotFound(f"the content of attachment {attachment_id} is missing")
        return StoredFile(info, path)

    async def for_ticket(self, actor: Actor, ticket_id: int) -> list[AttachmentInfo]:
        """Files linked to a ticket the actor may view, except those of fields masked for them."""
        if not 0 < ticket_id <= _MAX_ID:
            raise NotFound(f"ticket {ticket_id} not found")
        ticket = await self.tickets.get(actor, ticket_id)
        catalog = await self.tickets.catalogs.for_ticket(ticket)
        hidden = masked_fields(catalog, actor, ticket.type, ticket.requester)
        rows = await Attachment.select(*_COLUMNS).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id).run()
        return [_info(r) for r in rows if r["field"] not in hidden]


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"
