"""Fixtures: real SMTP and HTTP receivers on 127.0.0.1 (see receivers.py), a self-signed certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .receivers import HttpReceiver, SmtpReceiver, make_certificate, server_tls_context

# AUTH account of the TLS receivers
SMTP_USER = "gongdan"
SMTP_PASSWORD = "pa55-w0rd-不要泄露"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """A plain SMTP server, no TLS, no AUTH."""
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def starttls_receiver(certificate: tuple[Path, Path]) -> Iterator[SmtpReceiver]:
    """An SMTP server that requires STARTTLS and AUTH (``SMTP_USER``/``SMTP_PASSWORD``)."""
    receiver = SmtpReceiver(starttls=server_tls_context(*certificate), users={SMTP_USER: SMTP_PASSWORD}).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtps_receiver(certificate: tuple[Path, Path]) -> Iterator[SmtpReceiver]:
    """An SMTP server on implicit TLS (port 465 style) that requires AUTH."""
    receiver = SmtpReceiver(implicit_tls=server_tls_context(*certificate), users={SMTP_USER: SMTP_PASSWORD}).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """An idempotent HTTP receiver answering 200 with a reply every chat format accepts."""
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()
