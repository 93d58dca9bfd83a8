"""One message to deliver, and how a delivery fails.

A :class:`Message` is what the outbox hands to the :class:`~engine.runtime.notify.channels.Deliverer`:
already rendered (subject and body in the recipient's language), addressed, and carrying a stable
``id`` — the outbox row's key — that is the same on every retry, so a receiver that has seen the
id can drop the duplicate (e-mail ``Message-ID``, webhook ``X-Gongdan-Delivery`` and
``Idempotency-Key``).

A :class:`DeliveryError` says whether trying again can help (``retryable``): a timeout, a refused
connection, HTTP 429/5xx or an SMTP 4xx reply can; an SMTP 5xx reply, another HTTP 4xx or an error
code in a chat platform's reply cannot — the platform says the request itself is wrong, and
repeating it only repeats the error. Its text is what an admin sees on the dead letter, so it
never contains a password, a webhook key or a signing secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["FORMATS", "DeliveryError", "Format", "Message"]

Format = Literal["email", "generic", "wecom", "dingtalk", "feishu", "slack"]
FORMATS: tuple[Format, ...] = ("email", "generic", "wecom", "dingtalk", "feishu", "slack")


@dataclass(frozen=True)
class Message:
    """One rendered notification for one channel (and, for e-mail, one recipient)."""

    id: str  # stable delivery id (the outbox row's key); the same on every retry
    channel: str  # "email" or a webhook Channel definition's name
    format: Format
    subject: str
    body: str  # plain text
    to: str | None = None  # e-mail address (email only)
    to_name: str | None = None  # the recipient's display name (email only)
    url: str | None = None  # link to the ticket page
    data: Mapping[str, Any] = field(default_factory=dict)  # JSON-ready extras for the generic payload
    created_at: datetime | None = None  # when the event happened


class DeliveryError(Exception):
    """A message could not be delivered; ``retryable`` says whether a later attempt may succeed.

    ``str(error)`` is the admin-facing reason, already free of secrets. ``retry_after`` is the
    wait in seconds the receiver asked for (HTTP ``Retry-After``), when it said.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, retryable={self.retryable})"
