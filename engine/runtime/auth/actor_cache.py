"""A short-lived, in-process memory of which actor an API token stands for.

Every API request names its caller by token; looking the token, its user, roles and teams up
again for each of them is one query per request. The server remembers the answer for
:data:`TTL` seconds (``GONGDAN_TOKEN_CACHE_SECONDS``, default 5; 0 turns the memory off).

Revocation: revoking tokens, deactivating a user or changing roles and teams *in the server
process* forgets everything at once. The same changes made by another process (``gongdan token
revoke``, ``gongdan user grant`` from the command line, a second server) take effect in this
process after at most :data:`TTL` seconds.
"""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = ["TTL", "forget_all", "get", "put"]

TTL = float(os.environ.get("GONGDAN_TOKEN_CACHE_SECONDS", "5"))
_MAX = 10_000  # entries; the memory starts again when full

_entries: dict[tuple[int, str], tuple[float, Any]] = {}


def get(engine: object, token_hash: str) -> Any | None:
    """The remembered value for a token on this engine's database, or None."""
    if TTL <= 0:
        return None
    hit = _entries.get((id(engine), token_hash))
    if hit is None:
        return None
    if hit[0] <= time.monotonic():
        _entries.pop((id(engine), token_hash), None)
        return None
    return hit[1]


def put(engine: object, token_hash: str, value: Any) -> None:
    if TTL <= 0:
        return
    if len(_entries) >= _MAX:
        _entries.clear()
    _entries[(id(engine), token_hash)] = (time.monotonic() + TTL, value)


def forget_all() -> None:
    """Forget every token: called whenever this process revokes tokens or changes a user."""
    _entries.clear()
