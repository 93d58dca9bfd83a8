"""The Jinja2 environment of the pages: autoescaping everywhere, one environment per UI language.

Every template is escaped (``autoescape=True`` for all of them, not only ``.html``), so a
``<script>`` typed into any field shows as text. Undefined names fail loudly instead of
rendering empty. Translations come from :mod:`engine.render.i18n` through Jinja's i18n
extension (``{% trans %}`` and ``_()``), new-style, so translated strings are escaped too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from engine.schema.model import label_text

from .i18n import N_, translations

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "TZ_COOKIE", "ZONE", "environment", "error_text", "local_time", "render",
           "viewer_zone"]

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


def _zone() -> ZoneInfo:
    name = os.environ.get("GONGDAN_TIMEZONE", "Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


ZONE = _zone()
# The browser's own time zone (an IANA name), set by app.js: times are shown where the viewer is.
TZ_COOKIE = "gongdan_tz"
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


@lru_cache(maxsize=256)
def viewer_zone(name: str | None) -> ZoneInfo:
    """The zone a viewer's browser reported (the ``gongdan_tz`` cookie), else the site's zone."""
    if not name or len(name) > 64 or not _ZONE_NAME.match(name):
        return ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZONE


def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M", zone: ZoneInfo | None = None) -> str:
    """A stored (UTC) time in ``zone``: the viewer's, else the site's (GONGDAN_TIMEZONE, default Asia/Shanghai)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone or ZONE).strftime(fmt)


@pass_context
def _localtime_filter(context: Context, value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    zone = context.get("zone")
    return local_time(value, fmt, zone if isinstance(zone, ZoneInfo) else None)


def _is_overdue(due: datetime | None, now: datetime | None = None) -> bool:
    if due is None:
        return False
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return due < (now or datetime.now(UTC))


def _due_soon(due: datetime | None, hours: int = 4) -> bool:
    if due is None:
        return False
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    return now <= due < now + timedelta(hours=hours)


# Messages of the runtime (English) and the words in them, as the UI shows them.
_ERROR_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^is required$"), N_("is required")),
    (re.compile(r"^is not a field of this ticket type$"), N_("is not a field of this ticket type")),
    (re.compile(r"^must be at most (?P<n>\d+) characters$"), N_("must be at most %(n)s characters")),
    (re.compile(r"^must be at least (?P<n>\d+) characters$"), N_("must be at least %(n)s characters")),
    (re.compile(r"^must be at least (?P<n>[-\d.e+]+)$"), N_("must be at least %(n)s")),
    (re.compile(r"^must be at most (?P<n>[-\d.e+]+)$"), N_("must be at most %(n)s")),
    (re.compile(r"^must be one of: (?P<n>.*)$"), N_("must be one of: %(n)s")),
    (re.compile(r"^may hold at most (?P<n>\d+) items$"), N_("may hold at most %(n)s items")),
    (re.compile(r"^must not repeat a value$"), N_("must not repeat a value")),
    (re.compile(r"^does not have the required format$"), N_("does not have the required format")),
    (re.compile(r"^must be an? (?P<n>.+)$"), N_("must be %(n)s")),
    (re.compile(r"^cannot be changed by this step$"), N_("cannot be changed by this step")),
    (re.compile(r"^cannot be changed in state '(?P<n>.+)'$"), N_("cannot be changed in state '%(n)s'")),
]


def error_text(message: str, gettext: Callable[[str], str]) -> str:
    """A runtime message in the UI language (known messages are in the catalog; others stay as they are)."""
    for pattern, msgid in _ERROR_PATTERNS:
        m = pattern.match(message)
        if m:
            translated = gettext(msgid)
            return translated % m.groupdict() if m.groupdict() else translated
    return gettext(message)


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=os.environ.get("GONGDAN_TEMPLATE_RELOAD") == "1",
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["label"] = lambda value, default="": label_text(value, lang, default)
    env.filters["localtime"] = _localtime_filter
    env.filters["overdue"] = _is_overdue
    env.filters["due_soon"] = _due_soon
    env.filters["error_text"] = lambda message: error_text(message, translations(lang).gettext)
    env.globals["lang"] = lang
    return env


def render(lang: str, template: str, context: Mapping[str, Any]) -> str:
    return environment(lang).get_template(template).render(context)


def markup(text: str) -> Markup:
    return Markup(text)
