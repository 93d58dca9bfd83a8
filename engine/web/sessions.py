"""Web sessions: a signed cookie, rotated at every sign-in, with a CSRF token for unsafe methods.

The cookie carries the user id, a random session id, the CSRF token and when it was issued,
signed with HMAC-SHA256. It is HttpOnly and SameSite=Lax (Secure when GONGDAN_COOKIE_SECURE=1,
i.e. behind HTTPS). Every request re-reads the user, so a deactivated account is out at once.
The signing key comes from GONGDAN_SECRET_KEY, else from a file created once in the data folder;
never from the definitions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runtime.storage import data_dir

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "MAX_AGE",
    "Session",
    "clear_cookie_header",
    "cookie_header",
    "decode",
    "new_session",
    "secret_key",
]

COOKIE = "gongdan_session"
CSRF_HEADER = "x-csrf-token"
MAX_AGE = 12 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Session:
    user_id: int
    sid: str
    csrf: str
    issued: int

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf)


_KEY: bytes | None = None


def secret_key() -> bytes:
    """The signing key: GONGDAN_SECRET_KEY, or a random key kept in ``<data dir>/secret_key`` (0600)."""
    global _KEY
    env = os.environ.get("GONGDAN_SECRET_KEY")
    if env:
        return env.encode()
    if _KEY is None:
        path: Path = data_dir() / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        _KEY = path.read_text().strip().encode()
    return _KEY


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(payload: str) -> str:
    return _b64(hmac.new(secret_key(), payload.encode(), hashlib.sha256).digest())


def new_session(user_id: int) -> Session:
    """A fresh session: new id and new CSRF token, so signing in again rotates both."""
    return Session(user_id, secrets.token_urlsafe(16), secrets.token_urlsafe(24), int(time.time()))


def encode(session: Session) -> str:
    payload = _b64(json.dumps([session.user_id, session.sid, session.csrf, session.issued]).encode())
    return f"{payload}.{_sign(payload)}"


def decode(value: str | None, now: float | None = None) -> Session | None:
    """The session in a cookie value, or None when it is missing, forged or expired."""
    if not value or "." not in value:
        return None
    payload, sig = value.rsplit(".", 1)
    if not hmac.compare_digest(sig, _sign(payload)):
        return None
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = Session(int(raw[0]), str(raw[1]), str(raw[2]), int(raw[3]))
    except (ValueError, TypeError, IndexError):
        return None
    if (now or time.time()) - session.issued > MAX_AGE:
        return None
    return session


def _flags() -> str:
    secure = "; Secure" if os.environ.get("GONGDAN_COOKIE_SECURE") == "1" else ""
    return f"; Path=/; HttpOnly; SameSite=Lax{secure}"


def cookie_header(session: Session) -> str:
    return f"{COOKIE}={encode(session)}; Max-Age={MAX_AGE}{_flags()}"


def clear_cookie_header() -> str:
    return f"{COOKIE}=; Max-Age=0{_flags()}"
