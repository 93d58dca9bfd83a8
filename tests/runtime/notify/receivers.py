"""Real receivers on 127.0.0.1 for notification tests and benchmarks: an SMTP server and an HTTP server.

Both run on their own event loop in a background thread, so they serve synchronous and
asynchronous tests alike and never share a loop with the code under test. Both record what
arrived, can be told to fail or stall the next N deliveries, and can act as an *idempotent
receiver*: a delivery whose id (``Message-ID`` for mail, ``X-Gongdan-Delivery`` for HTTP) was
already accepted is answered with success but kept apart in ``duplicates``, so a test can assert
"exactly once" after retries.

The HTTP receiver is a raw ``asyncio.Protocol`` (keep-alive, Content-Length bodies): on two cores
it answers several thousand requests per second, enough to benchmark a delivery worker.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

__all__ = [
    "HttpReceiver",
    "ReceivedMail",
    "ReceivedRequest",
    "SmtpReceiver",
    "free_port",
    "make_certificate",
    "server_tls_context",
]

OK_JSON = json.dumps({"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}).encode()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost``/``127.0.0.1`` made with ``openssl``: (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context presenting ``cert``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class _Script:
    """Scripted behaviour for the next deliveries: a FIFO of replies, shared by both receivers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Any] = deque()

    def push(self, n: int, action: Any) -> None:
        with self._lock:
            self._queue.extend([action] * n)

    def pop(self) -> Any:
        with self._lock:
            return self._queue.popleft() if self._queue else None


class _Stall:
    """Sentinel action: hold the reply until ``release()``."""


STALL = _Stall()


# --- SMTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted SMTP transaction."""

    mail_from: str
    recipients: list[str]
    data: bytes
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _Session(Session):
    # aiosmtpd sets this deprecated attribute itself after a successful AUTH; its warning would
    # become an error in the server thread under the test suite's "warnings are errors" rule
    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _Smtp(SMTP):
    def _create_session(self) -> Session:
        return _Session(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.event_handler.receiver._sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.receiver._sessions.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Smtp(self.handler, **self.SMTP_kwargs)


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        action = self.receiver._script_rcpt.pop()
        if action is not None:
            return str(action)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        action = self.receiver._script_data.pop()
        if action is STALL:
            await self.receiver._released.wait()
            return "451 4.3.0 Released after a stall"
        if action is not None:
            return str(action)
        data = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.receiver._record(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), data, parsed))
        return "250 2.0.0 Message accepted for delivery"


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 (aiosmtpd) recording accepted mail.

    ``starttls``: a server TLS context offered (and required) through STARTTLS; ``implicit_tls``:
    one wrapping the whole connection (port 465 style); ``users``: username → password for AUTH
    (PLAIN, LOGIN), required after STARTTLS, offered on implicit TLS; successful logins are listed
    in ``logins`` as ``MECHANISM:user``; ``exclude_auth`` withholds mechanisms (``["PLAIN"]`` forces LOGIN).
    """

    def __init__(self, *, starttls: ssl.SSLContext | None = None, implicit_tls: ssl.SSLContext | None = None,
                 users: Mapping[str, str] | None = None, exclude_auth: Sequence[str] = ()) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.received: list[ReceivedMail] = []
        self.delivered: dict[str, ReceivedMail] = {}
        self.duplicates: list[ReceivedMail] = []
        self.logins: list[str] = []
        self._users = dict(users or {})
        self._sessions: set[_Smtp] = set()  # open server-side connections, closed on stop()
        self._lock = threading.Lock()
        self._script_rcpt = _Script()
        self._script_data = _Script()
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_exclude_mechanism=list(exclude_auth))
        if implicit_tls is not None:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; on an implicit-TLS port every byte is
            # encrypted already, so AUTH is offered there without its TLS requirement
            kwargs.update(ssl_context=implicit_tls, auth_require_tls=False, auth_required=False)
        self._controller = _Controller(_SmtpHandler(self), **kwargs)
        self._released = asyncio.Event()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self._users.get(user) == password:
                with self._lock:
                    self.logins.append(f"{mechanism}:{user}")
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.received.append(mail)
            if mail.message_id in self.delivered:
                self.duplicates.append(mail)
            else:
                self.delivered[mail.message_id] = mail

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release()

        def close_sessions() -> None:
            # aiosmtpd's stop() cancels tasks but leaves open connections to the garbage collector
            for session in list(self._sessions):
                for transport in (session._original_transport, session.transport):
                    if transport is not None:
                        transport.abort()  # type: ignore[attr-defined]

        self._controller.loop.call_soon_threadsafe(close_sessions)
        self._controller.stop()

    def reject_next(self, n: int = 1, reply: str = "451 4.3.0 Try again later", *, at: str = "DATA") -> None:
        """Answer the next ``n`` RCPT or DATA commands with ``reply`` instead of accepting."""
        (self._script_rcpt if at == "RCPT" else self._script_data).push(n, reply)

    def stall_next(self, n: int = 1) -> None:
        """Hold the reply to the next ``n`` DATA commands until :meth:`release` (then answer 451)."""
        self._controller.loop.call_soon_threadsafe(self._released.clear)
        self._script_data.push(n, STALL)

    def release(self) -> None:
        self._controller.loop.call_soon_threadsafe(self._released.set)


# --- HTTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request as it arrived (header names lower-case)."""

    method: str
    target: str  # path and query exactly as sent
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str | None:
        return self.headers.get("x-gongdan-delivery")


@dataclass(frozen=True)
class Reply:
    """A scripted HTTP reply."""

    status: int = 200
    body: bytes = OK_JSON
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} Scripted", f"Content-Length: {len(self.body)}",
                 "Content-Type: application/json"] + [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class _HttpProtocol(asyncio.Protocol):
    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting = False  # a stalled reply is pending; later requests wait behind it
        self.stalled: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.receiver._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.process()

    def process(self) -> None:
        while not self.waiting and self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            parts = urlsplit(target)
            request = ReceivedRequest(method, target, parts.path, dict(parse_qsl(parts.query)), headers, body)
            reply = self.receiver._answer(request)
            if reply is STALL:
                self.waiting = True
                self.stalled = asyncio.ensure_future(self._after_release())
                return
            self.transport.write(reply)

    async def _after_release(self) -> None:
        await self.receiver._released.wait()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(Reply(503, b"released after a stall").encode())
        self.waiting = False
        self.process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.receiver._connections.discard(self)


class HttpReceiver:
    """An HTTP/1.1 server on 127.0.0.1 recording every request and answering 200 with ``OK_JSON``.

    ``OK_JSON`` satisfies every format at once (WeCom/DingTalk ``errcode`` 0, Feishu ``code`` 0).
    Every request lands in ``requests``; those answered with the default reply also in ``delivered``
    (scripted replies are failures or oddities, never a delivery). ``idempotent``: a request whose
    ``X-Gongdan-Delivery`` was already accepted is answered 200 and recorded in ``duplicates``
    instead of ``delivered``.
    """

    def __init__(self, *, idempotent: bool = True) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.idempotent = idempotent
        self.requests: list[ReceivedRequest] = []
        self.delivered: list[ReceivedRequest] = []
        self.duplicates: list[ReceivedRequest] = []
        self._seen: set[str] = set()
        self._lock = threading.Condition()
        self._script = _Script()
        self._ok = Reply().encode()
        self._loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: set[_HttpProtocol] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="http-receiver")

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> HttpReceiver:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: _HttpProtocol(self), self.host, 0, backlog=1024), self._loop)
        self._server = future.result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self.release()

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.abort()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)  # let the aborted transports report connection_lost

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def reply_next(self, n: int = 1, status: int = 200, body: bytes | Any = OK_JSON,
                   headers: Mapping[str, str] | None = None) -> None:
        """Answer the next ``n`` requests with this reply (``body`` other than bytes is sent as JSON)."""
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self._script.push(n, Reply(status, raw, dict(headers or {})))

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` requests with HTTP ``status`` (not accepted)."""
        self.reply_next(n, status, b"scripted failure")

    def stall_next(self, n: int = 1) -> None:
        """Hold the reply to the next ``n`` requests until :meth:`release` (then answer 503)."""
        self._loop.call_soon_threadsafe(self._released.clear)
        self._script.push(n, STALL)

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._released.set)

    def wait_for(self, delivered: int, timeout: float = 10.0) -> bool:
        """Block until at least ``delivered`` distinct deliveries were accepted (False on timeout)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.delivered) >= delivered, timeout)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests arrived, whatever they were answered (False on timeout)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def _answer(self, request: ReceivedRequest) -> bytes | _Stall:
        action = self._script.pop()
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
        if action is STALL:
            return STALL
        if isinstance(action, Reply):
            return action.encode()  # scripted replies are deviations: recorded in requests only
        with self._lock:
            key = request.delivery_id
            if self.idempotent and key is not None and key in self._seen:
                self.duplicates.append(request)
            else:
                if key is not None:
                    self._seen.add(key)
                self.delivered.append(request)
            self._lock.notify_all()
        return self._ok
