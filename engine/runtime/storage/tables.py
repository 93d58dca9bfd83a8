"""The database tables, as Piccolo classes; the checked-in migrations are generated from them.

Ticket rows keep what every ticket has in typed columns (so queues, scopes and due times are
plain indexed SQL) and the type's own fields in one JSON column. Composite and unique-together
indexes, the PostgreSQL trigram index and the SQLite FTS5 table live in the hand-written second
migration: Piccolo declares only single-column indexes, and it adds table constraints with
``ALTER TABLE … ADD CONSTRAINT``, which SQLite does not have (a unique index does the same job
on both engines).

Foreign keys never cascade from users: people are deactivated, not deleted, and the audit trail
must keep naming them. Ticket-owned rows (events, comments, approvals) refuse a ticket delete
for the same reason.
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

__all__ = [
    "ApiToken",
    "Approval",
    "Attachment",
    "Comment",
    "DefinitionVersion",
    "IdempotencyKey",
    "LoginFailure",
    "Notification",
    "OutboxMessage",
    "SlaDue",
    "TeamMember",
    "Ticket",
    "TicketEvent",
    "User",
    "UserRole",
    "tables",
]

NAME = 100  # ids of roles, teams, org units, states, types: snake_case, short


class User(Table, tablename="users"):
    """An account; deactivated rather than deleted, so history keeps naming it."""

    id = Serial(primary_key=True)
    username = Varchar(length=150, unique=True)
    display_name = Varchar(length=200, default="")
    email = Varchar(length=254, null=True, default=None)
    phone = Varchar(length=50, null=True, default=None)
    # NULL means the account cannot sign in with a password (tokens only).
    password_hash = Text(null=True, default=None)
    active = Boolean(default=True)
    org_unit = Varchar(length=NAME, null=True, default=None, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    # The language of e-mails and in-app notifications ("en" or "zh"); NULL: the server's default.
    language = Varchar(length=10, null=True, default=None)


class UserRole(Table, tablename="user_roles"):
    """A role (from the Role definitions) held by a user; unique per user."""

    id = Serial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    role = Varchar(length=NAME, index=True)


class TeamMember(Table, tablename="team_members"):
    """Membership of a team (from the Teams definition); unique per user."""

    id = Serial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    team = Varchar(length=NAME, index=True)


class ApiToken(Table, tablename="api_tokens"):
    """An API token, stored as the SHA-256 of its secret; revoked tokens stay as history."""

    id = Serial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    name = Varchar(length=NAME, default="")
    token_hash = Varchar(length=64, unique=True)  # sha256 hex; the token itself is never stored
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class LoginFailure(Table, tablename="login_failures"):
    """One failed sign-in; recent rows per username (and per address) drive the lock-out."""

    id = Serial(primary_key=True)
    username = Varchar(length=150)
    ip = Varchar(length=64, null=True, default=None)
    at = Timestamptz(default=TimestamptzNow(), index=True)


class DefinitionVersion(Table, tablename="definition_versions"):
    """A compiled definition set the system ran under: content hash and canonical JSON."""

    id = Serial(primary_key=True)
    hash = Varchar(length=64, unique=True)
    snapshot = Text()
    applied_at = Timestamptz(default=TimestamptzNow())


class Ticket(Table, tablename="tickets"):
    """A ticket: typed core columns for queues, scopes and SLAs; the type's own fields in ``fields``."""

    id = Serial(primary_key=True)
    # NULL only inside the creating transaction: the number derives from the id.
    number = Varchar(length=32, unique=True, null=True, default=None)
    type = Varchar(length=NAME)
    title = Varchar(length=500)
    state = Varchar(length=NAME)
    state_category = Varchar(length=20)
    priority = Varchar(length=NAME)
    requester_id = ForeignKey(references=User, on_delete=OnDelete.restrict, null=False)
    assignee_id = ForeignKey(references=User, on_delete=OnDelete.restrict, null=True, default=None)
    team = Varchar(length=NAME, null=True, default=None)
    org_unit = Varchar(length=NAME, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    resolved_at = Timestamptz(null=True, default=None)
    first_response_at = Timestamptz(null=True, default=None)
    response_due_at = Timestamptz(null=True, default=None, index=True)
    resolution_due_at = Timestamptz(null=True, default=None, index=True)
    # SLA clocks per target (see engine.runtime.slaclock): pauses, met, warned, breached.
    sla = JSONB(default={})
    # Business seconds (the SLA calendar's; wall-clock without an SLA), pauses excluded, for reports.
    first_response_seconds = Integer(null=True, default=None)
    resolution_seconds = Integer(null=True, default=None)
    reopen_count = Integer(default=0)
    definition_version = Varchar(length=64)
    row_version = Integer(default=1)
    fields = JSONB(default={})
    search_text = Text(default="")


class TicketEvent(Table, tablename="ticket_events"):
    """Append-only: the audit trail and the timeline. Rows are never updated or deleted."""

    id = Serial(primary_key=True)
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=False)
    at = Timestamptz(default=TimestamptzNow())
    actor_id = ForeignKey(references=User, on_delete=OnDelete.restrict, null=True, default=None)
    kind = Varchar(length=50)
    from_state = Varchar(length=NAME, null=True, default=None)
    to_state = Varchar(length=NAME, null=True, default=None)
    data = JSONB(default={})


class Comment(Table, tablename="comments"):
    """A comment on a ticket; ``internal`` ones are hidden from requesters."""

    id = Serial(primary_key=True)
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=False)
    author_id = ForeignKey(references=User, on_delete=OnDelete.restrict, null=False)
    body = Text()
    internal = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class Attachment(Table, tablename="attachments"):
    """An uploaded file's metadata; the bytes live in the blob store under ``sha256``."""

    id = Serial(primary_key=True)
    # NULL between upload and the submit that links it to its ticket.
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=True, default=None,
                           index=True)
    field = Varchar(length=NAME, null=True, default=None)
    filename = Varchar(length=255)
    content_type = Varchar(length=255)
    size = BigInt()
    sha256 = Varchar(length=64, index=True)  # the blob's name in the blob store
    uploaded_by = ForeignKey(references=User, on_delete=OnDelete.restrict, null=False)
    created_at = Timestamptz(default=TimestamptzNow())


class Approval(Table, tablename="approvals"):
    """One approver's decision at one level of one approval step of a ticket."""

    id = Serial(primary_key=True)
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=False)
    approval_id = Varchar(length=NAME)
    level_id = Varchar(length=NAME)
    approver_id = ForeignKey(references=User, on_delete=OnDelete.restrict, null=False)
    decision = Varchar(length=20, default="pending")  # pending | approved | rejected | skipped
    comment = Text(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    round = Integer(default=1)  # a reopened approval starts a new round; old rows stay as history


class IdempotencyKey(Table, tablename="idempotency_keys"):
    """A client-chosen key that makes a repeated create return the first ticket; unique per user."""

    id = Serial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    key = Varchar(length=200)
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class SlaDue(Table, tablename="sla_due"):
    """The next instant an SLA sweep must look at a ticket (a warning or a breach); no row: none.

    A narrow table of its own: the sweep moves these instants all the time, and an indexed column
    on ``tickets`` would make each move rewrite every index of the ticket (on PostgreSQL an update
    that changes an indexed column cannot be a heap-only update).
    """

    id = Serial(primary_key=True)
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.cascade, null=False, unique=True)
    next_at = Timestamptz(index=True)


class OutboxMessage(Table, tablename="notification_outbox"):
    """The transactional outbox: written in the transaction of the event that causes it.

    An ``event`` row asks the worker to work out who hears about ``event_id`` (it is written with
    the event); the worker turns it into one ``message`` row per recipient and channel, each
    delivered with retries (``attempts``, ``next_attempt_at``) until sent or dead-lettered.
    ``key`` is the stable delivery id receivers see on every attempt.
    """

    id = Serial(primary_key=True)
    key = Varchar(length=64, unique=True)
    row_kind = Varchar(length=10)  # event | message
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=True, default=None)
    event_id = ForeignKey(references=TicketEvent, on_delete=OnDelete.restrict, null=True, default=None)
    source = Varchar(length=250, default="")  # the rule or SLA action that made the message
    channel = Varchar(length=NAME, null=True, default=None)
    recipient_id = ForeignKey(references=User, on_delete=OnDelete.restrict, null=True, default=None)
    address = Varchar(length=254, null=True, default=None)
    lang = Varchar(length=10, null=True, default=None)
    subject = Text(default="")
    body = Text(default="")
    # pending → sent | dead (messages); pending → done (event rows once expanded)
    status = Varchar(length=10, default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    locked_until = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class Notification(Table, tablename="notifications"):
    """An in-app notification: the bell in the page header counts the unread ones."""

    id = Serial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    ticket_id = ForeignKey(references=Ticket, on_delete=OnDelete.restrict, null=True, default=None)
    outbox_id = ForeignKey(references=OutboxMessage, on_delete=OnDelete.restrict, null=True, default=None,
                           unique=True)
    subject = Text(default="")
    body = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)


_TABLES: tuple[type[Table], ...] = (
    User, UserRole, TeamMember, ApiToken, LoginFailure, DefinitionVersion,
    Ticket, TicketEvent, Comment, Attachment, Approval, IdempotencyKey, SlaDue, OutboxMessage, Notification,
)


def tables() -> tuple[type[Table], ...]:
    """Every table, parents before the tables that reference them."""
    return _TABLES
