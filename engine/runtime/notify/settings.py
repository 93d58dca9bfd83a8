"""Where notifications go and how hard to try: the SMTP server, the chat webhooks, the retry pacing.

Secrets never live in ``definitions/`` (they are versioned and reviewed in Git); they come from a
config file and from environment variables, the environment winning, so a container can keep the
file in an image and inject the password::

    # gongdan.toml — read from the path given, else $GONGDAN_CONFIG, else ./gongdan.toml if present
    [smtp]
    host = "smtp.example.com"
    port = 587                    # default 25; 587 with security = "starttls", 465 with "tls"
    security = "starttls"         # none | starttls | tls (implicit TLS)
    username = "gongdan"
    password = "…"
    sender = "Gongdan <gongdan@example.com>"
    verify_tls = true             # false only for a test server with a self-signed certificate
    timeout = 10                  # seconds

    [channels.after_sales_wecom]  # a Channel definition's name
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"
    secret = "…"                  # DingTalk/Feishu signing secret; HMAC key of the generic format
    timeout = 10

    [notify]
    base_url = "https://gongdan.example.com"   # links in messages point here
    max_attempts = 8
    backoff_seconds = 30
    backoff_max_seconds = 3600
    lease_seconds = 60
    concurrency = 16

Environment variables, each overriding its key: ``GONGDAN_SMTP_HOST``, ``_PORT``, ``_SECURITY``,
``_USERNAME``, ``_PASSWORD``, ``_SENDER``, ``_VERIFY_TLS``, ``_TIMEOUT``;
``GONGDAN_CHANNEL_<NAME>_URL``, ``_SECRET``, ``_TIMEOUT`` (NAME is the channel name upper-cased
with ``-`` as ``_``); ``GONGDAN_BASE_URL``; ``GONGDAN_NOTIFY_MAX_ATTEMPTS``, ``_BACKOFF_SECONDS``,
``_BACKOFF_MAX_SECONDS``, ``_LEASE_SECONDS``, ``_CONCURRENCY``. An empty variable counts as unset.

Every bad value raises :class:`SettingsError` naming the key and where it came from, e.g.
``GONGDAN_SMTP_PORT: expected a port number 1-65535, got 'smtp'``. Unknown keys in the tables
above and unknown ``GONGDAN_SMTP_*``/``GONGDAN_NOTIFY_*``/``GONGDAN_CHANNEL_*`` variables are
errors too: a misspelt setting silently ignored is a notification silently lost.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from .redaction import MASK, redact_url

__all__ = [
    "NotifySettings",
    "SettingsError",
    "SmtpSettings",
    "WebhookSettings",
    "channel_variable",
    "load_settings",
]

SECURITY_MODES = ("none", "starttls", "tls")
_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


class SettingsError(ValueError):
    """A notification setting is wrong; the message names the key and the file or variable."""


def _repr(obj: object, masked: Mapping[str, Any]) -> str:
    shown = []
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        shown.append(f"{f.name}={masked[f.name](value) if f.name in masked and value else repr(value)}")
    return f"{type(obj).__name__}({', '.join(shown)})"


@dataclass(frozen=True, repr=False)
class SmtpSettings:
    """The SMTP server e-mail notifications are handed to."""

    host: str
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    sender: str = "gongdan@localhost"
    timeout: float = 10.0
    verify_tls: bool = True  # false only for a test server with a self-signed certificate

    def __repr__(self) -> str:
        return _repr(self, {"password": lambda _: repr(MASK)})


@dataclass(frozen=True, repr=False)
class WebhookSettings:
    """Where one chat/webhook Channel posts, and the secret it signs with."""

    url: str
    secret: str | None = None
    timeout: float = 10.0

    def __repr__(self) -> str:
        return _repr(self, {"url": lambda u: repr(redact_url(u)), "secret": lambda _: repr(MASK)})


def _channel_key(name: str) -> str:
    return name.upper().replace("-", "_")


def channel_variable(name: str, suffix: str = "URL") -> str:
    """The environment variable configuring ``suffix`` of channel ``name``: ``GONGDAN_CHANNEL_<NAME>_URL``."""
    return f"GONGDAN_CHANNEL_{_channel_key(name)}_{suffix}"


@dataclass(frozen=True)
class NotifySettings:
    """Everything notification delivery needs to know, loaded once at start-up."""

    smtp: SmtpSettings | None = None
    webhooks: Mapping[str, WebhookSettings] = field(default_factory=lambda: MappingProxyType({}))
    base_url: str = "http://127.0.0.1:8000"  # for links in messages
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    lease_seconds: float = 60.0  # how long a claimed delivery is reserved before another worker may retry it
    concurrency: int = 16

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling, capped."""
        exponent = min(max(attempt, 1) - 1, 1000)  # 2.0**1000 is still a finite float
        return float(min(self.backoff_max_seconds, self.backoff_seconds * 2.0**exponent))

    def webhook(self, channel: str) -> WebhookSettings | None:
        """The webhook of Channel ``channel``; ``after-sales`` and ``after_sales`` name the same one."""
        found = self.webhooks.get(channel)
        if found is None:
            key = _channel_key(channel)
            found = next((hook for name, hook in self.webhooks.items() if _channel_key(name) == key), None)
        return found


# --- reading -----------------------------------------------------------------------------------

_SMTP_KEYS = ("host", "port", "security", "username", "password", "sender", "verify_tls", "timeout")
_CHANNEL_KEYS = ("url", "secret", "timeout")
_NOTIFY_KEYS = ("base_url", "max_attempts", "backoff_seconds", "backoff_max_seconds", "lease_seconds",
                "concurrency")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# value as read (TOML value or environment string) and where it came from, for messages
Raw = tuple[Any, str]


def _config_file(env: Mapping[str, str], path: str | Path | None) -> Path | None:
    if path is not None:
        if not Path(path).is_file():
            raise SettingsError(f"{path}: config file not found")
        return Path(path)
    if env.get("GONGDAN_CONFIG"):
        if not Path(env["GONGDAN_CONFIG"]).is_file():
            raise SettingsError(f"GONGDAN_CONFIG: config file {env['GONGDAN_CONFIG']} not found")
        return Path(env["GONGDAN_CONFIG"])
    default = Path("gongdan.toml")
    return default if default.is_file() else None


def _table(doc: Mapping[str, Any], path: tuple[str, ...], allowed: tuple[str, ...], origin: Path) -> dict[str, Raw]:
    dotted = ".".join(path)
    table: Any = doc
    for part in path:
        table = table.get(part, {}) if isinstance(table, Mapping) else None
    if not isinstance(table, Mapping):
        raise SettingsError(f"{origin}: [{dotted}] must be a table")
    for key in table:
        if key not in allowed:
            raise SettingsError(f"{origin}: {dotted}.{key}: unknown key; expected one of {', '.join(allowed)}")
    return {key: (value, f"{origin}: {dotted}.{key}") for key, value in table.items()}


def _text(raw: Raw) -> str:
    value, where = raw
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where}: expected a non-empty string")
    return value.strip()


def _number(raw: Raw, kind: type[int] | type[float], low: float, high: float | None, what: str) -> Any:
    value, where = raw
    if isinstance(value, str):
        try:
            value = kind(value.strip())
        except ValueError:
            raise SettingsError(f"{where}: expected {what}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
        raise SettingsError(f"{where}: expected {what}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{where}: expected {what}, got {value!r}")
    return kind(value)


def _seconds(raw: Raw) -> float:
    return float(_number(raw, float, 0.001, None, "a positive number of seconds"))


def _flag(raw: Raw) -> bool:
    value, where = raw
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise SettingsError(f"{where}: expected true or false, got {value!r}")


def _http_url(raw: Raw, secret: bool) -> str:
    url = _text(raw)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # a webhook URL carries its key: never echo it into a message or a log
        shown = "" if secret else f", got {url!r}"
        raise SettingsError(f"{raw[1]}: expected an http:// or https:// URL{shown}")
    return url


def _smtp(raw: dict[str, Raw]) -> SmtpSettings | None:
    if "host" not in raw:
        if raw:
            where = next(iter(raw.values()))[1]
            raise SettingsError(f"{where}: set but there is no SMTP host (GONGDAN_SMTP_HOST or smtp.host)")
        return None
    security = _text(raw["security"]).lower() if "security" in raw else "none"
    if security not in SECURITY_MODES:
        raise SettingsError(f"{raw['security'][1]}: expected one of none, starttls, tls, got {security!r}")
    port = _number(raw["port"], int, 1, 65535, "a port number 1-65535") if "port" in raw else _DEFAULT_PORTS[security]
    username = _text(raw["username"]) if "username" in raw else None
    password = raw["password"][0] if "password" in raw else None
    if password is not None and not isinstance(password, str):
        raise SettingsError(f"{raw['password'][1]}: expected a string")
    if (username is None) != (password is None):
        where = (raw.get("username") or raw["password"])[1]
        raise SettingsError(f"{where}: SMTP username and password are set together (one is missing)")
    sender = _text(raw["sender"]) if "sender" in raw else "gongdan@localhost"
    if "@" not in parseaddr(sender)[1]:
        raise SettingsError(f"{raw['sender'][1]}: expected an e-mail address, got {sender!r}")
    return SmtpSettings(
        host=_text(raw["host"]), port=port, security=security,  # type: ignore[arg-type]
        username=username, password=password, sender=sender,
        timeout=_seconds(raw["timeout"]) if "timeout" in raw else 10.0,
        verify_tls=_flag(raw["verify_tls"]) if "verify_tls" in raw else True,
    )


def _webhook(name: str, raw: dict[str, Raw]) -> WebhookSettings:
    if "url" not in raw:
        where = next(iter(raw.values()))[1]
        raise SettingsError(f"{where}: set but channel '{name}' has no URL "
                            f"({channel_variable(name)} or channels.{name}.url)")
    return WebhookSettings(
        url=_http_url(raw["url"], secret=True),
        secret=_text(raw["secret"]) if "secret" in raw else None,
        timeout=_seconds(raw["timeout"]) if "timeout" in raw else 10.0,
    )


def _notify(raw: dict[str, Raw], smtp: SmtpSettings | None, hooks: dict[str, WebhookSettings]) -> NotifySettings:
    values: dict[str, Any] = {}
    if "base_url" in raw:
        values["base_url"] = _http_url(raw["base_url"], secret=False).rstrip("/")
    for key in ("max_attempts", "concurrency"):
        if key in raw:
            values[key] = _number(raw[key], int, 1, None, "a whole number of at least 1")
    for key in ("backoff_seconds", "backoff_max_seconds", "lease_seconds"):
        if key in raw:
            values[key] = _seconds(raw[key])
    settings = NotifySettings(smtp=smtp, webhooks=MappingProxyType(hooks), **values)
    if settings.backoff_max_seconds < settings.backoff_seconds:
        where = (raw.get("backoff_max_seconds") or raw["backoff_seconds"])[1]
        raise SettingsError(f"{where}: backoff_max_seconds ({settings.backoff_max_seconds:g}) is less than "
                            f"backoff_seconds ({settings.backoff_seconds:g})")
    return settings


def load_settings(environ: Mapping[str, str] | None = None, path: str | Path | None = None) -> NotifySettings:
    """Read the config file (if any) and the environment into :class:`NotifySettings`.

    ``environ`` defaults to ``os.environ``; ``path`` to ``$GONGDAN_CONFIG``, else ``./gongdan.toml``
    when it exists. Raises :class:`SettingsError` on the first bad value.
    """
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    origin = _config_file(env, path)
    doc: dict[str, Any] = {}
    if origin is not None:
        try:
            doc = tomllib.loads(origin.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{origin}: not a valid TOML file: {exc}") from None
    smtp_raw = _table(doc, ("smtp",), _SMTP_KEYS, origin) if origin else {}
    notify_raw = _table(doc, ("notify",), _NOTIFY_KEYS, origin) if origin else {}
    channels: dict[str, tuple[str, dict[str, Raw]]] = {}  # by key: (name, raw values)
    file_channels = doc.get("channels", {})
    if not isinstance(file_channels, Mapping):
        raise SettingsError(f"{origin}: [channels] must hold one table per channel, e.g. [channels.ops_wecom]")
    for name in file_channels:
        key = _channel_key(name)
        if key in channels:
            raise SettingsError(f"{origin}: channels.{name}: the same channel as channels.{channels[key][0]}")
        channels[key] = (name, _table(doc, ("channels", name), _CHANNEL_KEYS, origin))  # type: ignore[arg-type]

    for var, value in sorted(env.items()):
        if var.startswith("GONGDAN_SMTP_"):
            key = var.removeprefix("GONGDAN_SMTP_").lower()
            if key not in _SMTP_KEYS:
                raise SettingsError(f"{var}: unknown setting; expected one of "
                                    + ", ".join(f"GONGDAN_SMTP_{k.upper()}" for k in _SMTP_KEYS))
            smtp_raw[key] = (value, var)
        elif var.startswith("GONGDAN_NOTIFY_"):
            key = var.removeprefix("GONGDAN_NOTIFY_").lower()
            if key not in _NOTIFY_KEYS or key == "base_url":
                raise SettingsError(f"{var}: unknown setting; expected GONGDAN_BASE_URL or one of "
                                    + ", ".join(f"GONGDAN_NOTIFY_{k.upper()}" for k in _NOTIFY_KEYS[1:]))
            notify_raw[key] = (value, var)
        elif var == "GONGDAN_BASE_URL":
            notify_raw["base_url"] = (value, var)
        elif var.startswith("GONGDAN_CHANNEL_"):
            rest = var.removeprefix("GONGDAN_CHANNEL_")
            suffix = next((s for s in _CHANNEL_KEYS if rest.endswith(f"_{s.upper()}")), None)
            key = rest[: -len(suffix) - 1] if suffix else ""
            if not suffix or not key:
                raise SettingsError(f"{var}: expected GONGDAN_CHANNEL_<NAME>_URL, _SECRET or _TIMEOUT")
            channels.setdefault(key, (key.lower(), {}))[1][suffix] = (value, var)

    hooks = {name: _webhook(name, raw) for name, raw in channels.values()}
    return _notify(notify_raw, _smtp(smtp_raw), hooks)
