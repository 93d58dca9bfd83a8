"""Webhook delivery through a real HTTP receiver on 127.0.0.1: each format's exact payload, signatures,
error classification, secrets kept out of error text, truncation within platform limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import pytest

from engine.runtime.notify.channels import Deliverer, DeliveryError, Message
from engine.runtime.notify.settings import NotifySettings, WebhookSettings

from .receivers import HttpReceiver, free_port

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
LINK = "http://gongdan.local/tickets/RP-0042"


def message(fmt: str, *, channel: str = "ops", **changes: Any) -> Message:
    values: dict[str, Any] = {
        "id": "d-0042", "channel": channel, "format": fmt, "subject": "RP-0042 已受理",
        "body": "注塑机漏油\n李工已受理。", "url": LINK, "created_at": NOW,
        "data": {"event": "assigned", "ticket": "RP-0042"},
    }
    return Message(**{**values, **changes})


@pytest.fixture
async def deliver(http_receiver: HttpReceiver) -> AsyncIterator[Any]:
    """``await deliver(message, url=..., secret=...)``: one Deliverer with channel "ops" at the receiver."""
    deliverers: list[Deliverer] = []

    async def run(msg: Message, *, path: str = "/hook", secret: str | None = None, timeout: float = 5.0) -> None:
        hook = WebhookSettings(url=http_receiver.url(path), secret=secret, timeout=timeout)
        deliverer = Deliverer(NotifySettings(webhooks={msg.channel: hook}))
        deliverers.append(deliverer)
        await deliverer.send(msg)

    yield run
    for deliverer in deliverers:
        await deliverer.aclose()


async def failure(deliver: Any, msg: Message, **kwargs: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await deliver(msg, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("fmt", "payload"),
    [
        ("wecom", {"msgtype": "markdown", "markdown": {
            "content": f"**RP-0042 已受理**\n注塑机漏油\n李工已受理。\n[{LINK}]({LINK})"}}),
        ("dingtalk", {"msgtype": "markdown", "markdown": {
            "title": "RP-0042 已受理",
            "text": f"**RP-0042 已受理**\n\n注塑机漏油\n\n李工已受理。\n\n[{LINK}]({LINK})"}}),
        ("feishu", {"msg_type": "text", "content": {"text": f"RP-0042 已受理\n注塑机漏油\n李工已受理。\n{LINK}"}}),
        ("slack", {"text": f"*RP-0042 已受理*\n注塑机漏油\n李工已受理。\n<{LINK}>"}),
        ("generic", {"id": "d-0042", "subject": "RP-0042 已受理", "body": "注塑机漏油\n李工已受理。", "url": LINK,
                     "created_at": "2026-03-02T08:30:00+00:00", "event": "assigned", "ticket": "RP-0042"}),
    ],
)
async def test_payload_of_each_format(fmt: str, payload: dict[str, Any], deliver: Any,
                                      http_receiver: HttpReceiver) -> None:
    await deliver(message(fmt))
    [request] = http_receiver.delivered
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.json() == payload
    assert request.headers["x-gongdan-delivery"] == "d-0042"
    assert request.headers["content-type"] == "application/json; charset=utf-8"


async def test_generic_signature_verifies(deliver: Any, http_receiver: HttpReceiver) -> None:
    await deliver(message("generic"), secret="whsec-🔑-secret")
    [request] = http_receiver.delivered
    timestamp = request.headers["x-gongdan-timestamp"]
    expected = hmac.new("whsec-🔑-secret".encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-gongdan-signature"], f"sha256={expected}")
    assert request.headers["idempotency-key"] == "d-0042"
    assert abs(int(timestamp) - datetime.now(UTC).timestamp()) < 300


async def test_generic_without_secret_is_unsigned_and_data_cannot_replace_the_id(
        deliver: Any, http_receiver: HttpReceiver) -> None:
    await deliver(message("generic", data={"id": "forged", "event": "created"}, url=None, created_at=None))
    [request] = http_receiver.delivered
    assert "x-gongdan-signature" not in request.headers
    assert request.json() == {"id": "d-0042", "subject": "RP-0042 已受理", "body": "注塑机漏油\n李工已受理。",
                              "url": None, "created_at": None, "event": "created"}


async def test_dingtalk_signing(deliver: Any, http_receiver: HttpReceiver) -> None:
    secret = "SEC0123456789abcdef"
    await deliver(message("dingtalk"), path="/robot/send?access_token=tok123456", secret=secret)
    [request] = http_receiver.delivered
    assert request.query["access_token"] == "tok123456"
    ts = request.query["timestamp"]
    assert abs(int(ts) / 1000 - datetime.now(UTC).timestamp()) < 300
    sign = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert request.query["sign"] == sign
    assert request.target.endswith(f"&timestamp={ts}&sign={quote_plus(sign)}")  # URL-encoded as DingTalk asks


async def test_feishu_signing(deliver: Any, http_receiver: HttpReceiver) -> None:
    secret = "feishu-secret"
    await deliver(message("feishu"), secret=secret)
    [request] = http_receiver.delivered
    body = request.json()
    ts = body["timestamp"]
    assert abs(int(ts) - datetime.now(UTC).timestamp()) < 300
    # Feishu's recipe: the key is "timestamp\nsecret", the signed message is empty
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert body == {"timestamp": ts, "sign": expected, "msg_type": "text",
                    "content": {"text": f"RP-0042 已受理\n注塑机漏油\n李工已受理。\n{LINK}"}}


@pytest.mark.parametrize(
    ("fmt", "status", "reply", "retryable", "reason"),
    [
        ("generic", 500, b"scripted failure", True, "HTTP 500: scripted failure"),
        ("generic", 503, b"", True, "HTTP 503"),
        ("generic", 408, b"slow", True, "HTTP 408: slow"),
        ("generic", 400, {"error": "bad event"}, False, 'HTTP 400: {"error": "bad event"}'),
        ("generic", 404, b"no such hook", False, "HTTP 404: no such hook"),
        ("slack", 404, b"channel_not_found", False, "HTTP 404: channel_not_found"),
        ("slack", 410, b"channel_is_archived", False, "HTTP 410: channel_is_archived"),
        ("wecom", 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, False,
         "wecom error 93000: invalid webhook url"),
        ("wecom", 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, True,
         "wecom error 45009: api freq out of limit"),
        ("wecom", 200, {"errcode": -1, "errmsg": "system busy"}, True, "wecom error -1: system busy"),
        ("wecom", 200, b"<html>portal</html>", False,
         "HTTP 200 but the reply is not a JSON object: <html>portal</html>"),
        ("dingtalk", 200, {"errcode": 310000, "errmsg": "sign not match"}, False,
         "dingtalk error 310000: sign not match"),
        ("dingtalk", 200, {"errcode": 130101, "errmsg": "send too fast"}, True,
         "dingtalk error 130101: send too fast"),
        ("feishu", 200, {"code": 19021, "msg": "sign match fail"}, False, "feishu error 19021: sign match fail"),
        ("feishu", 200, {"code": 11232, "msg": "frequency limited"}, True, "feishu error 11232: frequency limited"),
        ("feishu", 500, b"upstream", True, "HTTP 500: upstream"),
    ],
)
async def test_error_classification(fmt: str, status: int, reply: Any, retryable: bool, reason: str,
                                    deliver: Any, http_receiver: HttpReceiver) -> None:
    http_receiver.reply_next(1, status, reply)
    error = await failure(deliver, message(fmt))
    assert error.retryable is retryable
    assert str(error) == f"channel 'ops' (http://127.0.0.1:{http_receiver.port}/hook): {reason}"
    assert http_receiver.delivered == []


@pytest.mark.parametrize("reply", [{"StatusCode": 0, "StatusMessage": "success"}, {"code": 0, "msg": "success"}])
async def test_feishu_accepts_both_reply_shapes(reply: dict[str, Any], deliver: Any,
                                                http_receiver: HttpReceiver) -> None:
    http_receiver.reply_next(1, 200, reply)
    await deliver(message("feishu"))
    assert len(http_receiver.requests) == 1


async def test_429_is_retryable_with_retry_after(deliver: Any, http_receiver: HttpReceiver) -> None:
    http_receiver.reply_next(1, 429, b"slow down", {"Retry-After": "7"})
    error = await failure(deliver, message("slack"))
    assert (error.retryable, error.retry_after) == (True, 7.0)
    assert str(error) == f"channel 'ops' (http://127.0.0.1:{http_receiver.port}/hook): HTTP 429: slow down"


async def test_redirect_is_not_followed(deliver: Any, http_receiver: HttpReceiver) -> None:
    http_receiver.reply_next(1, 301, b"", {"Location": "https://new.example.com/hook?key=moved-key-123"})
    error = await failure(deliver, message("generic"))
    assert not error.retryable
    assert str(error) == (f"channel 'ops' (http://127.0.0.1:{http_receiver.port}/hook): HTTP 301 redirect to "
                          "https://new.example.com/hook?key=*** is not followed; configure the final URL")
    assert len(http_receiver.requests) == 1


async def test_secrets_are_redacted_from_error_text(deliver: Any, http_receiver: HttpReceiver) -> None:
    key = "6a4f1d2e-1b38-4d1b-a994-790f21fc8d30"
    # a receiver that echoes what it got must not make the key or the secret visible
    echo = f"bad request to /cgi-bin/webhook/send?key={key} signed with SECsigning-secret"
    http_receiver.reply_next(1, 400, echo.encode())
    error = await failure(deliver, message("generic"), path=f"/cgi-bin/webhook/send?key={key}",
                          secret="SECsigning-secret")
    text = str(error) + repr(error)
    assert key not in text and "SECsigning-secret" not in text
    assert str(error) == (f"channel 'ops' (http://127.0.0.1:{http_receiver.port}/cgi-bin/webhook/send?key=***): "
                          "HTTP 400: bad request to /cgi-bin/webhook/send?key=*** signed with ***")


async def test_path_token_is_redacted(deliver: Any, http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next(1, 502)
    error = await failure(deliver, message("feishu"),
                          path="/open-apis/bot/v2/hook/f19a2b3c-aaaa-bbbb-cccc-1234567890ab")
    assert str(error) == (f"channel 'ops' (http://127.0.0.1:{http_receiver.port}/open-apis/bot/v2/hook/***): "
                          "HTTP 502: scripted failure")


async def test_stalled_receiver_times_out_retryably(deliver: Any, http_receiver: HttpReceiver) -> None:
    http_receiver.stall_next(1)
    error = await failure(deliver, message("generic"), timeout=0.2)
    assert error.retryable
    assert str(error) == f"channel 'ops' (http://127.0.0.1:{http_receiver.port}/hook): no answer within 0.2 s"


async def test_receiver_down_is_retryable() -> None:
    port = free_port()
    hook = WebhookSettings(url=f"http://127.0.0.1:{port}/hook?key=k-9f8e7d6c5b")
    async with Deliverer(NotifySettings(webhooks={"ops": hook})) as deliverer:
        with pytest.raises(DeliveryError) as caught:
            await deliverer.send(message("wecom"))
    assert caught.value.retryable
    assert str(caught.value) == f"channel 'ops' (http://127.0.0.1:{port}/hook?key=***): All connection attempts failed"


async def test_channel_without_url_is_permanent() -> None:
    async with Deliverer(NotifySettings()) as deliverer:
        with pytest.raises(DeliveryError) as caught:
            await deliverer.send(message("wecom", channel="after-sales-wecom"))
    assert not caught.value.retryable
    assert str(caught.value) == ("channel 'after-sales-wecom' has no webhook URL: set "
                                 "GONGDAN_CHANNEL_AFTER_SALES_WECOM_URL or url in [channels.after-sales-wecom] "
                                 "of the config file")


async def test_retry_after_failure_arrives_once_at_an_idempotent_receiver(deliver: Any,
                                                                          http_receiver: HttpReceiver) -> None:
    http_receiver.fail_next(1, 503)
    with pytest.raises(DeliveryError):
        await deliver(message("generic"))
    await deliver(message("generic"))
    await deliver(message("generic"))  # e.g. the worker lost its lease after the receiver had answered
    assert [r.delivery_id for r in http_receiver.delivered] == ["d-0042"]
    assert len(http_receiver.duplicates) == 1 and len(http_receiver.requests) == 3


@pytest.mark.parametrize(("fmt", "limit"), [("wecom", 4096), ("dingtalk", 20000), ("feishu", 19000)])
async def test_long_chinese_messages_fit_the_byte_limit(fmt: str, limit: int, deliver: Any,
                                                        http_receiver: HttpReceiver) -> None:
    await deliver(message(fmt, body="漏油" * 20000))
    [request] = http_receiver.delivered
    payload = request.json()  # parses: the cut never split a character
    text = {"wecom": lambda: payload["markdown"]["content"], "dingtalk": lambda: payload["markdown"]["text"],
            "feishu": lambda: payload["content"]["text"]}[fmt]()
    size = len(text.encode("utf-8"))
    assert limit - 3 <= size <= limit  # a 3-byte character may not fit in the last bytes
    assert text.startswith("**RP-0042 已受理**" if fmt != "feishu" else "RP-0042 已受理\n")
    assert text.endswith(f"…\n\n[{LINK}]({LINK})" if fmt == "dingtalk" else
                         f"…\n[{LINK}]({LINK})" if fmt == "wecom" else f"…\n{LINK}")
    assert len(request.body) <= 20 * 1024 or fmt == "dingtalk"


async def test_long_slack_message_fits_40000_characters(deliver: Any, http_receiver: HttpReceiver) -> None:
    await deliver(message("slack", body="a<b " * 20000))
    [request] = http_receiver.delivered
    text = request.json()["text"]
    assert len(text) == 40000 and text.endswith(f"…\n<{LINK}>")
    assert "a&lt;b" in text and "a<b" not in text
