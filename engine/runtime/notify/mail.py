"""Notification e-mail: the MIME message built from a :class:`Message`, and what SMTP failures mean.

The e-mail is plain UTF-8 text (subject encoded per RFC 2047, body in Base64 when it is not
ASCII, so Chinese arrives intact through any relay) with the ticket link at the end. Its
``Message-ID`` is ``<{delivery id}@gongdan>`` — the same on every retry — so a mail system or a
person can recognise a second copy; ``Auto-Submitted: auto-generated`` (RFC 3834) keeps vacation
responders from answering.

An SMTP reply code decides whether to try again: 4xx is the server's "not now" (greylisting, full
queue, 451 local error), 5xx its "never" (550 unknown mailbox, 535 wrong password, 554 refused).
A refused or lost connection or a timeout is retried; a certificate the client does not trust and
a server that lacks a required extension (STARTTLS, AUTH) are configuration mistakes and are not.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

import aiosmtplib

from .message import DeliveryError, Message
from .settings import SmtpSettings

__all__ = ["build_email", "envelope_sender", "message_id", "smtp_failure"]

# characters a msg-id's left part may hold as they are (RFC 5322 dot-atom text); others are %-escaped
_ATEXT = "!#$&'*+/=?^_`{|}~.-"


def message_id(delivery_id: str) -> str:
    """The ``Message-ID`` of delivery ``delivery_id``: ``<{id}@gongdan>``, odd characters %-escaped."""
    return f"<{quote(delivery_id, safe=_ATEXT)}@gongdan>"


def envelope_sender(smtp: SmtpSettings) -> str:
    """The bare address of ``smtp.sender`` (which may carry a display name), for ``MAIL FROM``."""
    return parseaddr(smtp.sender)[1]


def _one_line(text: str) -> str:
    # header values may not hold line breaks; a template that renders one must not break the mail
    return " ".join(text.split())


def build_email(message: Message, smtp: SmtpSettings) -> EmailMessage:
    """The e-mail that delivers ``message``; :class:`DeliveryError` (permanent) for a bad address."""
    if not message.to:
        raise DeliveryError(f"e-mail {message.id} has no recipient address", retryable=False)
    mail = EmailMessage()
    try:
        mail["To"] = Address(display_name=_one_line(message.to_name or ""), addr_spec=message.to.strip())
    except (ValueError, IndexError, TypeError):  # the email package raises all three for bad addresses
        raise DeliveryError(f"e-mail {message.id}: invalid recipient address {message.to!r}",
                            retryable=False) from None
    mail["From"] = smtp.sender
    mail["Subject"] = _one_line(message.subject)
    mail["Message-ID"] = message_id(message.id)
    when = message.created_at or datetime.now(UTC)
    mail["Date"] = format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Gongdan-Delivery"] = message.id
    text = message.body
    if message.url and message.url not in text:
        text = f"{text.rstrip()}\n\n{message.url}"
    cte = "quoted-printable" if text.isascii() else "base64"
    mail.set_content(text, charset="utf-8", cte=cte)
    return mail


def _reply(code: int, text: str) -> str:
    return f"{code} {_one_line(text)}".strip()


def smtp_failure(exc: BaseException, where: str, timeout: float) -> DeliveryError:
    """The :class:`DeliveryError` for ``exc`` raised while sending; ``where`` starts its message."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        replies = "; ".join(_reply(r.code, r.message) for r in exc.recipients)
        return DeliveryError(f"{where}: recipient refused: {replies}", retryable=all(400 <= c < 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = {
            aiosmtplib.SMTPAuthenticationError: "authentication failed",
            aiosmtplib.SMTPSenderRefused: "sender refused",
            aiosmtplib.SMTPDataError: "message refused",
        }.get(type(exc), "server replied")
        return DeliveryError(f"{where}: {what}: {_reply(exc.code, exc.message)}", retryable=exc.code < 500)
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(cause, ssl.SSLCertVerificationError):
        detail = getattr(exc if isinstance(exc, ssl.SSLError) else cause, "verify_message", "") or "not trusted"
        return DeliveryError(f"{where}: the server's TLS certificate is not accepted ({detail})", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return DeliveryError(f"{where}: no answer within {timeout:g} s", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return DeliveryError(f"{where}: {exc}", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return DeliveryError(f"{where}: {str(exc) or type(exc).__name__}", retryable=True)
    return DeliveryError(f"{where}: {type(exc).__name__}: {exc}", retryable=True)
