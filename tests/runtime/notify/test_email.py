"""E-mail delivery through a real SMTP server on 127.0.0.1: plain, STARTTLS + AUTH, implicit TLS, failures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.runtime.notify.channels import Deliverer, DeliveryError, Message
from engine.runtime.notify.mail import message_id
from engine.runtime.notify.settings import NotifySettings, SmtpSettings

from .conftest import SMTP_PASSWORD, SMTP_USER
from .receivers import SmtpReceiver, free_port, server_tls_context

pytestmark = pytest.mark.anyio

MESSAGE = Message(
    id="01JD7Q3ZK8",
    channel="email",
    format="email",
    subject="工单 RP-0042 已受理：注塑机漏油",
    body="王小明您好，\n您的报修“注塑机漏油”已由李工受理。",
    to="wang@example.com",
    to_name="王小明",
    url="http://gongdan.local/tickets/RP-0042",
    created_at=datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
)


async def send(smtp: SmtpSettings, message: Message = MESSAGE) -> None:
    async with Deliverer(NotifySettings(smtp=smtp)) as deliverer:
        await deliverer.send(message)


async def refused(smtp: SmtpSettings, message: Message = MESSAGE) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await send(smtp, message)
    return caught.value


async def test_plain_delivery_keeps_chinese_and_the_delivery_id(smtp_receiver: SmtpReceiver) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_receiver.port, sender="Gongdan 工单 <gongdan@example.com>")
    await send(smtp)
    [mail] = smtp_receiver.received
    assert (mail.mail_from, mail.recipients) == ("gongdan@example.com", ["wang@example.com"])
    headers = mail.message
    assert headers["Subject"] == "工单 RP-0042 已受理：注塑机漏油"
    assert headers["From"] == "Gongdan 工单 <gongdan@example.com>"
    assert headers["To"] == "王小明 <wang@example.com>"
    assert headers["Message-ID"] == "<01JD7Q3ZK8@gongdan>"
    assert headers["X-Gongdan-Delivery"] == "01JD7Q3ZK8"
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["Date"] == "Mon, 02 Mar 2026 08:30:00 +0000"
    assert headers.get_content_type() == "text/plain" and headers.get_content_charset() == "utf-8"
    assert headers.get_content() == ("王小明您好，\n您的报修“注塑机漏油”已由李工受理。\n\n"
                                     "http://gongdan.local/tickets/RP-0042\n")
    # the raw message is 7-bit clean: any relay passes it unchanged
    assert mail.data.isascii()


async def test_same_delivery_twice_is_recognisable_as_a_duplicate(smtp_receiver: SmtpReceiver) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_receiver.port)
    await send(smtp)
    await send(smtp)
    assert list(smtp_receiver.delivered) == ["<01JD7Q3ZK8@gongdan>"]
    assert len(smtp_receiver.duplicates) == 1


@pytest.mark.parametrize(("withheld", "mechanism"), [([], "PLAIN"), (["PLAIN"], "LOGIN")])
async def test_starttls_with_auth(certificate: tuple[Path, Path], withheld: list[str], mechanism: str) -> None:
    receiver = SmtpReceiver(starttls=server_tls_context(*certificate), users={SMTP_USER: SMTP_PASSWORD},
                            exclude_auth=withheld).start()
    try:
        await send(SmtpSettings(host="127.0.0.1", port=receiver.port, security="starttls", username=SMTP_USER,
                                password=SMTP_PASSWORD, verify_tls=False))
        assert receiver.logins == [f"{mechanism}:{SMTP_USER}"]
        assert receiver.received[0].message["Subject"] == MESSAGE.subject
    finally:
        receiver.stop()


async def test_implicit_tls_with_auth(smtps_receiver: SmtpReceiver) -> None:
    await send(SmtpSettings(host="127.0.0.1", port=smtps_receiver.port, security="tls", username=SMTP_USER,
                            password=SMTP_PASSWORD, verify_tls=False))
    assert smtps_receiver.logins == [f"PLAIN:{SMTP_USER}"]
    assert smtps_receiver.received[0].message.get_content().startswith("王小明您好")


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_untrusted_certificate_is_permanent(security: str, starttls_receiver: SmtpReceiver,
                                                  smtps_receiver: SmtpReceiver) -> None:
    port = starttls_receiver.port if security == "starttls" else smtps_receiver.port
    error = await refused(SmtpSettings(host="127.0.0.1", port=port, security=security,  # type: ignore[arg-type]
                                       username=SMTP_USER, password=SMTP_PASSWORD))
    assert not error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{port}: "
                          "the server's TLS certificate is not accepted (self-signed certificate)")


async def test_wrong_password_is_permanent_and_not_shown(starttls_receiver: SmtpReceiver) -> None:
    error = await refused(SmtpSettings(host="127.0.0.1", port=starttls_receiver.port, security="starttls",
                                       username=SMTP_USER, password="wrong-密码-123", verify_tls=False))
    assert not error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{starttls_receiver.port}: "
                          "authentication failed: 535 5.7.8 Authentication credentials invalid")
    assert starttls_receiver.received == []


async def test_plain_client_against_a_server_requiring_starttls_is_permanent(starttls_receiver: SmtpReceiver) -> None:
    error = await refused(SmtpSettings(host="127.0.0.1", port=starttls_receiver.port))
    assert not error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{starttls_receiver.port}: "
                          "sender refused: 530 Must issue a STARTTLS command first")


async def test_unknown_mailbox_550_is_permanent(smtp_receiver: SmtpReceiver) -> None:
    smtp_receiver.reject_next(1, "550 5.1.1 Unknown mailbox", at="RCPT")
    error = await refused(SmtpSettings(host="127.0.0.1", port=smtp_receiver.port))
    assert not error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{smtp_receiver.port}: "
                          "recipient refused: 550 5.1.1 Unknown mailbox")


async def test_451_is_retryable_and_the_retry_arrives_once(smtp_receiver: SmtpReceiver) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_receiver.port)
    smtp_receiver.reject_next(1, "451 4.3.0 Try again later")
    error = await refused(smtp)
    assert error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{smtp_receiver.port}: "
                          "message refused: 451 4.3.0 Try again later")
    await send(smtp)
    assert list(smtp_receiver.delivered) == ["<01JD7Q3ZK8@gongdan>"] and smtp_receiver.duplicates == []


async def test_greylisted_recipient_4xx_is_retryable(smtp_receiver: SmtpReceiver) -> None:
    smtp_receiver.reject_next(1, "450 4.2.0 Greylisted, come back later", at="RCPT")
    error = await refused(SmtpSettings(host="127.0.0.1", port=smtp_receiver.port))
    assert error.retryable


async def test_server_down_is_retryable() -> None:
    port = free_port()
    error = await refused(SmtpSettings(host="127.0.0.1", port=port))
    assert error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{port}: Error connecting to "
                          f"127.0.0.1 on port {port}: [Errno 111] Connect call failed ('127.0.0.1', {port})")


async def test_stalled_server_times_out_retryably(smtp_receiver: SmtpReceiver) -> None:
    smtp_receiver.stall_next(1)
    error = await refused(SmtpSettings(host="127.0.0.1", port=smtp_receiver.port, timeout=0.3))
    assert error.retryable
    assert str(error) == (f"e-mail 01JD7Q3ZK8 to wang@example.com via 127.0.0.1:{smtp_receiver.port}: "
                          "no answer within 0.3 s")


async def test_email_not_configured() -> None:
    async with Deliverer(NotifySettings()) as deliverer:
        with pytest.raises(DeliveryError) as caught:
            await deliverer.send(MESSAGE)
    assert not caught.value.retryable
    assert str(caught.value) == "e-mail is not configured (GONGDAN_SMTP_HOST)"


@pytest.mark.parametrize(
    ("to", "message"),
    [
        (None, "e-mail 01JD7Q3ZK8 has no recipient address"),
        ("wang@example.com\r\nBcc: all@example.com", "e-mail 01JD7Q3ZK8: invalid recipient address "
                                                     "'wang@example.com\\r\\nBcc: all@example.com'"),
    ],
)
async def test_bad_recipient_is_permanent(to: str | None, message: str, smtp_receiver: SmtpReceiver) -> None:
    bad = Message(**{**MESSAGE.__dict__, "to": to})
    error = await refused(SmtpSettings(host="127.0.0.1", port=smtp_receiver.port), bad)
    assert (str(error), error.retryable) == (message, False)
    assert smtp_receiver.received == []


async def test_line_breaks_in_the_subject_cannot_inject_headers(smtp_receiver: SmtpReceiver) -> None:
    sneaky = Message(**{**MESSAGE.__dict__, "subject": "Hello\r\nBcc: all@example.com"})
    await send(SmtpSettings(host="127.0.0.1", port=smtp_receiver.port), sneaky)
    [mail] = smtp_receiver.received
    assert mail.message["Subject"] == "Hello Bcc: all@example.com" and mail.message["Bcc"] is None
    assert mail.recipients == ["wang@example.com"]


def test_message_id_escapes_odd_characters() -> None:
    assert message_id("outbox:17") == "<outbox%3A17@gongdan>"
    assert message_id("a b<c>") == "<a%20b%3Cc%3E@gongdan>"
    assert message_id("7f3a-01.x") == "<7f3a-01.x@gongdan>"
