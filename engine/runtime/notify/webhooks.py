"""Webhook requests for each chat platform, and what their replies mean (pure: no network here).

Every request carries ``X-Gongdan-Delivery: <message id>``. Chat messages are the subject in bold,
the body and the ticket link, cut to the platform's limit without breaking a UTF-8 character (the
body is shortened and ends in "…"; the subject and the link are kept).

``generic`` — for your own receiver. ``POST`` of the JSON object
``{"id", "subject", "body", "url", "created_at", …data}`` (the message's ``data`` keys follow; they
never replace the five named first) with the headers ``X-Gongdan-Delivery`` and ``Idempotency-Key``
(both the delivery id, the same on every retry: store it and drop a request whose id you have
seen), ``X-Gongdan-Timestamp`` (Unix seconds when the request was signed) and, when the channel has
a secret, ``X-Gongdan-Signature: sha256=<hex>``. To verify a request:

1. take the raw request body as bytes, before any JSON parsing;
2. compute ``hex(HMAC-SHA256(key=secret, msg=timestamp + "." + raw body))`` with the timestamp
   exactly as sent in ``X-Gongdan-Timestamp``;
3. compare it with the hex after ``sha256=`` in constant time (Python: ``hmac.compare_digest``);
4. refuse a timestamp more than a few minutes away from your clock, so a captured request cannot
   be replayed later.

Reply 2xx once the message is stored. 408, 429 (with ``Retry-After`` seconds if you like) and 5xx
are retried later with the same id; any other status is final.

``wecom`` — WeCom (企业微信) group robot, markdown of at most 4096 bytes; success is HTTP 200 with
``errcode`` 0. ``dingtalk`` — DingTalk (钉钉) custom robot, markdown up to 20,000 bytes; with a
secret the URL gets ``timestamp`` (ms) and ``sign`` = Base64(HMAC-SHA256(secret, "ts\\nsecret"))
as DingTalk documents; success is ``errcode`` 0. ``feishu`` — Feishu/Lark custom bot, a text message;
with a secret the body gets ``timestamp`` (s) and ``sign`` = Base64(HMAC-SHA256(key="ts\\nsecret",
msg="")); success is ``code`` 0 (older replies: ``StatusCode`` 0). ``slack`` — Slack incoming
webhook, mrkdwn text up to 40,000 characters; success is HTTP 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from .message import DeliveryError, Message
from .redaction import redact_url
from .settings import WebhookSettings

__all__ = [
    "LIMITS",
    "WebhookRequest",
    "build_request",
    "check_reply",
    "generic_signature",
    "truncate_utf8",
]

# (limit, unit) of a chat message's text. Feishu documents 20 KB for a custom bot's whole request
# body, so its text keeps room for the JSON around it.
LIMITS: Mapping[str, tuple[int, str]] = {
    "wecom": (4096, "bytes"),
    "dingtalk": (20000, "bytes"),
    "feishu": (19000, "bytes"),
    "slack": (40000, "chars"),
}
ELLIPSIS = "…"

# Error codes that mean "too many requests, try later" or "busy", as the platforms document them:
# WeCom 45009 (api freq out of limit), DingTalk 130101 (send too fast) and 410100 (rate limited),
# Feishu 11232 (frequency limited); -1 is "system busy, retry later" on WeCom and DingTalk.
RETRYABLE_CODES: Mapping[str, frozenset[int]] = {
    "wecom": frozenset({-1, 45009}),
    "dingtalk": frozenset({-1, 130101, 410100}),
    "feishu": frozenset({11232}),
}
RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookRequest:
    """One ready-to-send POST: where, the exact body bytes and the headers."""

    url: str
    body: bytes
    headers: Mapping[str, str]


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``max_bytes`` (no split character)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    # the cut may fall inside a multi-byte sequence: dropping the incomplete tail is exactly "ignore"
    return data[: max(max_bytes, 0)].decode("utf-8", errors="ignore")


def _fit(head: str, body: str, tail: str, fmt: str) -> str:
    """``head + body + tail`` within the format's limit, shortening the body first."""
    limit, unit = LIMITS[fmt]
    size: Callable[[str], int] = (lambda s: len(s.encode("utf-8"))) if unit == "bytes" else len

    def cut(text: str, room: int) -> str:
        return truncate_utf8(text, room) if unit == "bytes" else text[: max(room, 0)]

    if size(head + body + tail) <= limit:
        return head + body + tail
    room = limit - size(head) - size(tail) - size(ELLIPSIS)
    if room > 0:
        return head + cut(body, room) + ELLIPSIS + tail
    return cut(head + body + tail, limit - size(ELLIPSIS)) + ELLIPSIS  # a subject longer than the limit


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reserves these three; everything else is shown as written
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json(payload: Mapping[str, Any]) -> bytes:
    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON-ready")

    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=default).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise DeliveryError(f"message data cannot be sent as JSON: {exc}", retryable=False) from None


def generic_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Gongdan-Signature`` of a generic webhook request: ``sha256=`` + hex HMAC of ``ts.body``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _generic(message: Message, hook: WebhookSettings, now: float, headers: dict[str, str]) -> WebhookRequest:
    payload: dict[str, Any] = {
        "id": message.id,
        "subject": message.subject,
        "body": message.body,
        "url": message.url,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }
    payload.update((k, v) for k, v in message.data.items() if k not in payload)
    body = _json(payload)
    timestamp = str(int(now))
    headers.update({"Idempotency-Key": message.id, "X-Gongdan-Timestamp": timestamp})
    if hook.secret:
        headers["X-Gongdan-Signature"] = generic_signature(hook.secret, timestamp, body)
    return WebhookRequest(hook.url, body, headers)


def _hmac_b64(key: str, msg: str) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), msg.encode("utf-8"), hashlib.sha256).digest()).decode()


def build_request(message: Message, hook: WebhookSettings, now: float) -> WebhookRequest:
    """The POST that delivers ``message`` through ``hook`` in ``message.format``, signed at ``now`` (Unix s)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Gongdan-Delivery": message.id}
    fmt, subject, url = message.format, _one_line(message.subject), message.url
    if fmt == "generic":
        return _generic(message, hook, now, headers)
    if fmt == "wecom":
        text = _fit(f"**{subject}**\n", message.body, f"\n[{url}]({url})" if url else "", fmt)
        return WebhookRequest(hook.url, _json({"msgtype": "markdown", "markdown": {"content": text}}), headers)
    if fmt == "dingtalk":
        # DingTalk's markdown joins single newlines into one line; a blank line keeps the body's lines
        body = message.body.replace("\n", "\n\n")
        text = _fit(f"**{subject}**\n\n", body, f"\n\n[{url}]({url})" if url else "", fmt)
        target = hook.url
        if hook.secret:
            ts = str(int(now * 1000))
            sign = quote_plus(_hmac_b64(hook.secret, f"{ts}\n{hook.secret}"))
            target += ("&" if "?" in target else "?") + f"timestamp={ts}&sign={sign}"
        payload = {"msgtype": "markdown", "markdown": {"title": truncate_utf8(subject, 256), "text": text}}
        return WebhookRequest(target, _json(payload), headers)
    if fmt == "feishu":
        text = _fit(f"{subject}\n", message.body, f"\n{url}" if url else "", fmt)
        feishu: dict[str, Any] = {}
        if hook.secret:
            ts = str(int(now))
            feishu = {"timestamp": ts, "sign": _hmac_b64(f"{ts}\n{hook.secret}", "")}
        return WebhookRequest(hook.url, _json({**feishu, "msg_type": "text", "content": {"text": text}}), headers)
    if fmt == "slack":
        text = _fit(f"*{_slack_escape(subject)}*\n", _slack_escape(message.body), f"\n<{url}>" if url else "", fmt)
        return WebhookRequest(hook.url, _json({"text": text}), headers)
    raise DeliveryError(f"unknown message format {fmt!r}", retryable=False)


def _snippet(body: bytes) -> str:
    text = _one_line(body[:400].decode("utf-8", errors="replace"))
    return text[:200] + ("…" if len(text) > 200 else "")


def _status(where: str, status: int, body: bytes) -> str:
    snippet = _snippet(body)
    return f"{where}: HTTP {status}" + (f": {snippet}" if snippet else "")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:  # an HTTP date: the worker's own backoff applies
        return None


def check_reply(fmt: str, where: str, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`DeliveryError` unless the reply to a ``fmt`` webhook means "delivered".

    ``where`` starts the message (the channel and its redacted URL); ``headers`` keys are lower-case.
    """
    if status in RETRYABLE_STATUS or status >= 500:
        raise DeliveryError(_status(where, status, body), retryable=True,
                            retry_after=_retry_after(headers.get("retry-after")))
    if 300 <= status < 400:
        location = redact_url(headers.get("location", ""))
        raise DeliveryError(f"{where}: HTTP {status} redirect to {location} is not followed; "
                            "configure the final URL", retryable=False)
    if not 200 <= status < 300:
        raise DeliveryError(_status(where, status, body), retryable=False)
    if fmt in ("generic", "slack"):
        return
    try:
        reply = json.loads(body)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise DeliveryError(f"{where}: HTTP {status} but the reply is not a JSON object: {_snippet(body)}",
                            retryable=False)
    if fmt == "feishu":
        code = reply.get("code", reply.get("StatusCode"))
        text = reply.get("msg", reply.get("StatusMessage", ""))
    else:
        code, text = reply.get("errcode"), reply.get("errmsg", "")
    if code == 0:
        return
    retryable = isinstance(code, int) and code in RETRYABLE_CODES.get(fmt, frozenset())
    raise DeliveryError(f"{where}: {fmt} error {code}: {text}", retryable=retryable)
