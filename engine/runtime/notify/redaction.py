"""Keeping secrets out of what admins see: webhook URLs shown without their keys, error text scrubbed.

Chat platforms put the credential in the webhook URL itself — in the query (WeCom ``?key=…``,
DingTalk ``?access_token=…``) or in the path (Feishu ``/hook/<uuid>``, Slack
``/services/T…/B…/<token>``) — so an error message, a log line or a ``repr`` that shows the URL
hands out the right to post into the group. :func:`redact_url` keeps what identifies the endpoint
(scheme, host, port, the ordinary path words) and replaces the rest with ``***``;
:func:`scrub` removes known secrets from any text that came back from elsewhere (a reply body, an
exception message) before it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

__all__ = ["MASK", "redact_url", "scrub", "url_secrets"]

MASK = "***"


def _looks_secret(segment: str) -> bool:
    # Path words of the known platforms are short and alphabetic ("cgi-bin", "open-apis", "hook");
    # tokens are long or mix letters and digits (UUIDs, Slack's T0123ABCD ids).
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    return len(segment) >= 16 or (len(segment) >= 8 and has_digit and has_alpha)


def redact_url(url: str) -> str:
    """``url`` with user info, query values, token-like path segments and the fragment masked.

    ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=6a4f…`` becomes
    ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***``.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{MASK}@" if "@" in parts.netloc else "") + host + (f":{port}" if port is not None else "")
    path = "/".join(MASK if _looks_secret(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(f"{key}={MASK}" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that :func:`redact_url` hides: query values, token-like path segments, user info."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    if "@" in parts.netloc:
        found.append(parts.netloc.rsplit("@", 1)[0])
    found.extend(value for _, value in parse_qsl(parts.query, keep_blank_values=True))
    found.extend(seg for seg in parts.path.split("/") if _looks_secret(seg))
    return found


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***`` (longest first).

    Secrets shorter than four characters are left alone: masking every "a" or "1" in a message
    would make it unreadable and protects nothing.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
