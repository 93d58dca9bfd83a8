"""What was sent, as people and admins read it: in-app notifications, a ticket's deliveries, the outbox.

Every query is scoped in SQL: a person's notifications are read and marked with ``user_id`` in
the ``WHERE`` clause, so another person's notification is simply not found (404, never 403 —
its existence does not leak). Lists are pages by keyset on the id, newest first: the cursor is
the last id shown, and the next page starts strictly below it, so rows arriving meanwhile never
shift a page.

The unread count is counted up to a cap (``99+`` is shown above it) through the partial index
on unread notifications per user, so the bell in every page header costs one short index range
however many notifications a person has.

Retrying a dead message puts it back in the queue exactly as the worker would schedule a first
attempt (pending, no attempts, due now); its last error stays until an attempt succeeds, so an
admin still sees why it died while it waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .. import storage
from ..errors import InvalidInput, NotFound, TransitionNotAllowed
from ..storage.sql import fetch_rows
from ..storage.tables import Notification, OutboxMessage

__all__ = [
    "MAX_LIMIT",
    "OUTBOX_STATUSES",
    "UNREAD_CAP",
    "Delivery",
    "InboxItem",
    "check_status",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "outbox_messages",
    "parse_cursor",
    "retry_dead",
    "ticket_deliveries",
    "unread_count",
]

MAX_LIMIT = 100
UNREAD_CAP = 99  # shown as "99+" above this
OUTBOX_STATUSES = ("dead", "pending", "sent")
TICKET_DELIVERIES = 200  # newest first; a ticket with more shows its latest


@dataclass(frozen=True)
class InboxItem:
    """One in-app notification of one person."""

    id: int
    ticket_id: int | None
    ticket_number: str | None
    subject: str
    body: str
    created_at: datetime | None
    read_at: datetime | None

    @property
    def unread(self) -> bool:
        return self.read_at is None

    def json(self) -> dict[str, Any]:
        """The API shape."""
        return {**asdict(self), "unread": self.unread}


@dataclass(frozen=True)
class Delivery:
    """One message of the outbox: to whom, by which channel, and how its delivery went."""

    id: int
    key: str  # the delivery id receivers see on every attempt (Message-ID, X-Gongdan-Delivery)
    ticket_id: int | None
    ticket_number: str | None
    channel: str
    recipient: str | None  # username; None for chat channels and plain addresses
    recipient_name: str | None
    address: str | None
    subject: str
    status: str  # pending | sent | dead
    attempts: int
    created_at: datetime | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    source: str

    def json(self, *, full: bool = True) -> dict[str, Any]:
        """The API shape; without ``full`` the error, the rule that made it and the delivery id are left out
        (for recipients: an error may name the mail server, and rules and ids are the admins' business)."""
        out = asdict(self)
        if not full:
            out.update(last_error=None, source=None, key=None)
        return out


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_cursor(cursor: str | None) -> int | None:
    """The id a cursor names (the last row of the previous page); InvalidInput when it is not one."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise InvalidInput([("cursor", "is not a valid cursor")])
    return int(cursor)


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput([("limit", f"must be between 1 and {MAX_LIMIT}")])
    return limit


def _page(rows: Sequence[Any], limit: int) -> tuple[Sequence[Any], str | None]:
    """The rows of one page (``limit + 1`` were read) and the next page's cursor."""
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1]["id"])
    return rows, None


# ---------------------------------------------------------------- a person's notifications


def _item(row: Mapping[str, Any]) -> InboxItem:
    return InboxItem(
        id=row["id"], ticket_id=row["ticket_id"], ticket_number=row["ticket_number"], subject=row["subject"],
        body=row["body"], created_at=_time(row["created_at"]), read_at=_time(row["read_at"]),
    )


def _inbox_select() -> Any:
    return Notification.select(
        Notification.id, Notification.ticket_id, Notification.ticket_id.number.as_alias("ticket_number"),
        Notification.subject, Notification.body, Notification.created_at, Notification.read_at,
    )


async def list_notifications(user_id: int, *, unread_only: bool = False, limit: int = 50,
                             cursor: str | None = None) -> tuple[list[InboxItem], str | None]:
    """One page of the person's notifications, newest first, and the next page's cursor (None: last page)."""
    limit = _check_limit(limit)
    after = parse_cursor(cursor)
    clauses: list[Any] = [Notification.user_id == user_id]
    if unread_only:
        clauses.append(Notification.read_at.is_null())
    if after is not None:
        clauses.append(Notification.id < after)
    rows = await _inbox_select().where(*clauses).order_by(Notification.id, ascending=False).limit(limit + 1).run()
    shown, nxt = _page(rows, limit)
    return [_item(r) for r in shown], nxt


async def unread_count(user_id: int, cap: int = UNREAD_CAP) -> int:
    """The person's unread notifications, counted up to ``cap + 1`` (above ``cap`` means "more")."""
    rows = await fetch_rows(
        "SELECT COUNT(*) FROM (SELECT 1 FROM notifications WHERE user_id = {} AND read_at IS NULL LIMIT {}) AS n",
        user_id, cap + 1)
    return int(rows[0][0])


def _valid_id(value: int) -> bool:
    return 0 < value < 2**31  # ids are 32-bit serials; anything else cannot exist


async def _one(user_id: int, notification_id: int) -> InboxItem:
    if not _valid_id(notification_id):
        raise NotFound(f"notification {notification_id} not found")
    rows = await _inbox_select().where(
        (Notification.id == notification_id) & (Notification.user_id == user_id)).run()
    if not rows:
        raise NotFound(f"notification {notification_id} not found")
    return _item(rows[0])


async def mark_read(user_id: int, notification_id: int, now: datetime) -> InboxItem:
    """Mark one of the person's notifications read (again is fine); NotFound when it is not theirs."""
    if not _valid_id(notification_id):
        raise NotFound(f"notification {notification_id} not found")
    async with storage.transaction():
        await Notification.update({Notification.read_at: now}).where(
            (Notification.id == notification_id) & (Notification.user_id == user_id)
            & Notification.read_at.is_null()).run()
    return await _one(user_id, notification_id)


async def mark_all_read(user_id: int, now: datetime) -> int:
    """Mark every unread notification of the person read; how many were unread."""
    async with storage.transaction():
        rows = await Notification.update({Notification.read_at: now}).where(
            (Notification.user_id == user_id) & Notification.read_at.is_null()).returning(Notification.id).run()
    return len(rows)


# ---------------------------------------------------------------- deliveries and the outbox


def _delivery_select() -> Any:
    o = OutboxMessage
    return o.select(
        o.id, o.key, o.ticket_id, o.ticket_id.number.as_alias("ticket_number"), o.channel,
        o.recipient_id.username.as_alias("recipient"), o.recipient_id.display_name.as_alias("recipient_name"),
        o.address, o.subject, o.status, o.attempts, o.created_at, o.sent_at, o.next_attempt_at, o.last_error,
        o.source,
    )


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=row["id"], key=row["key"], ticket_id=row["ticket_id"], ticket_number=row["ticket_number"],
        channel=row["channel"] or "",
        recipient=row["recipient"], recipient_name=(row["recipient_name"] or row["recipient"]) if row["recipient"]
        else None, address=row["address"], subject=row["subject"] or "", status=row["status"],
        attempts=int(row["attempts"] or 0), created_at=_time(row["created_at"]), sent_at=_time(row["sent_at"]),
        next_attempt_at=_time(row["next_attempt_at"]), last_error=row["last_error"], source=row["source"] or "",
    )


async def ticket_deliveries(ticket_id: int, recipient_id: int | None = None) -> list[Delivery]:
    """The messages sent (or being sent) about a ticket, newest first; only those to ``recipient_id`` if given.

    The caller decides who may see which (see ``engine.web.api``): staff see every delivery, a
    requester only what was sent to them.
    """
    clauses: list[Any] = [(OutboxMessage.ticket_id == ticket_id) & (OutboxMessage.row_kind == "message")]
    if recipient_id is not None:
        clauses.append(OutboxMessage.recipient_id == recipient_id)
    rows = await _delivery_select().where(*clauses).order_by(OutboxMessage.id, ascending=False).limit(
        TICKET_DELIVERIES).run()
    return [_delivery(r) for r in rows]


def check_status(status: str | None) -> str | None:
    """An outbox status filter; InvalidInput naming ``status`` for anything else."""
    if status in (None, ""):
        return None
    if status not in OUTBOX_STATUSES:
        raise InvalidInput([("status", f"must be one of: {', '.join(OUTBOX_STATUSES)}")])
    return status


async def outbox_messages(status: str | None = None, *, limit: int = 50,
                          cursor: str | None = None) -> tuple[list[Delivery], str | None]:
    """One page of outbox messages (all, or of one status), newest first, for admins."""
    status = check_status(status)
    limit = _check_limit(limit)
    after = parse_cursor(cursor)
    clauses: list[Any] = [OutboxMessage.row_kind == "message"]
    if status is not None:
        clauses.append(OutboxMessage.status == status)
    if after is not None:
        clauses.append(OutboxMessage.id < after)
    rows = await _delivery_select().where(*clauses).order_by(OutboxMessage.id, ascending=False).limit(
        limit + 1).run()
    shown, nxt = _page(rows, limit)
    return [_delivery(r) for r in shown], nxt


async def retry_dead(message_id: int, now: datetime) -> Delivery:
    """Queue a dead message for another round of attempts; NotFound if there is no such message,
    TransitionNotAllowed (409) unless it is dead."""
    o = OutboxMessage
    if not _valid_id(message_id):
        raise NotFound(f"message {message_id} not found")
    async with storage.transaction():
        rows = await o.select(o.status).where((o.id == message_id) & (o.row_kind == "message")).run()
        if not rows:
            raise NotFound(f"message {message_id} not found")
        if rows[0]["status"] != "dead":
            raise TransitionNotAllowed(
                f"message {message_id} is {rows[0]['status']}: only dead messages can be retried")
        await o.update({o.status: "pending", o.attempts: 0, o.next_attempt_at: now, o.locked_until: None}).where(
            (o.id == message_id) & (o.status == "dead")).run()
    found = await _delivery_select().where(o.id == message_id).run()
    return _delivery(found[0])
