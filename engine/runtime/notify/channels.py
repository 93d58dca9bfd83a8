"""Delivering one notification: e-mail over SMTP, chat and generic webhooks over HTTP.

The outbox worker calls :meth:`Deliverer.send` once per attempt. A call either returns (the
receiver accepted the message) or raises :class:`DeliveryError` whose ``retryable`` tells the
worker to try again later or to give up; its text is safe to store and show (webhook keys, signing
secrets and the SMTP password are masked). Nothing here retries or sleeps: pacing is the worker's,
through :meth:`NotifySettings.backoff <engine.runtime.notify.settings.NotifySettings.backoff>`.

One :class:`Deliverer` serves the whole process: it keeps one pooled ``httpx.AsyncClient`` (no
redirects followed — a webhook URL that moved is a configuration to fix, not a hop to take with
the message) and one TLS context for SMTP. Close it with :meth:`Deliverer.aclose` or use it as
``async with Deliverer(settings) as deliverer: …``.

The payloads, signatures and reply meanings of each webhook format are described in
:mod:`engine.runtime.notify.webhooks`; the e-mail in :mod:`engine.runtime.notify.mail`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from types import TracebackType

import aiosmtplib
import httpx

from .mail import build_email, envelope_sender, smtp_failure
from .message import DeliveryError, Message
from .redaction import redact_url, scrub, url_secrets
from .settings import NotifySettings, SmtpSettings, channel_variable
from .webhooks import build_request, check_reply

__all__ = ["Deliverer", "DeliveryError", "Message"]

USER_AGENT = "Gongdan-Notify/1"


def _tls_context(smtp: SmtpSettings | None) -> ssl.SSLContext | None:
    if smtp is None or smtp.security == "none":
        return None
    context = ssl.create_default_context()  # loads the CA store once, not on every connection
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Smtp(aiosmtplib.SMTP):
    """aiosmtplib's client, closing a connection it gives up on at once.

    A session that failed (refused login, refused certificate, timeout) is closed with ``abort``:
    a polite TLS shutdown needs another round trip the failed session will not wait for, and would
    leave the socket open until the garbage collector finds it.
    """

    def close(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.Transport) and not transport.is_closing():
            transport.abort()
        super().close()


class Deliverer:
    """Sends :class:`Message` s through the channels configured in :class:`NotifySettings`."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        slots = max(settings.concurrency, 1)
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(10.0),
            limits=httpx.Limits(max_connections=slots, max_keepalive_connections=slots),
            headers={"User-Agent": USER_AGENT},
        )
        self._smtp_tls = _tls_context(settings.smtp)

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        await self._client.aclose()

    async def send(self, message: Message) -> None:
        """Deliver ``message`` once; :class:`DeliveryError` if it was not accepted."""
        if message.format == "email":
            await self._send_email(message)
        else:
            await self._send_webhook(message)

    async def _send_email(self, message: Message) -> None:
        smtp = self.settings.smtp
        if smtp is None:
            raise DeliveryError("e-mail is not configured (GONGDAN_SMTP_HOST)", retryable=False)
        mail = build_email(message, smtp)
        assert message.to is not None  # build_email refuses a message without one
        where = f"e-mail {message.id} to {message.to} via {smtp.host}:{smtp.port}"
        try:
            client = _Smtp(
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                use_tls=smtp.security == "tls",
                start_tls=smtp.security == "starttls",
                validate_certs=smtp.verify_tls,
                tls_context=self._smtp_tls,
                timeout=smtp.timeout,
            )
            async with client:
                await client.send_message(mail, sender=envelope_sender(smtp), recipients=[message.to.strip()])
        except Exception as exc:  # every failure is classified; cancellation (BaseException) passes
            failure = smtp_failure(exc, where, smtp.timeout)
            raise DeliveryError(scrub(failure.message, [smtp.password]), retryable=failure.retryable) from None

    async def _send_webhook(self, message: Message) -> None:
        hook = self.settings.webhook(message.channel)
        if hook is None:
            raise DeliveryError(
                f"channel '{message.channel}' has no webhook URL: set {channel_variable(message.channel)} "
                f"or url in [channels.{message.channel}] of the config file", retryable=False)
        where = f"channel '{message.channel}' ({redact_url(hook.url)})"
        secrets = [*url_secrets(hook.url), hook.secret]
        try:
            request = build_request(message, hook, time.time())
            response = await self._client.post(request.url, content=request.body, headers=dict(request.headers),
                                               timeout=hook.timeout)
            check_reply(message.format, where, response.status_code, response.headers, response.content)
        except DeliveryError as exc:
            raise DeliveryError(scrub(exc.message, secrets), retryable=exc.retryable,
                                retry_after=exc.retry_after) from None
        except httpx.TimeoutException:
            raise DeliveryError(f"{where}: no answer within {hook.timeout:g} s", retryable=True) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise DeliveryError(f"{where}: not a usable http:// or https:// URL", retryable=False) from None
        except httpx.TransportError as exc:
            detail = scrub(str(exc) or type(exc).__name__, secrets)
            raise DeliveryError(f"{where}: {detail}", retryable=True) from None
