"""UI languages: English and Simplified Chinese, from gettext catalogs kept as ``.po`` files.

The message catalogs live in ``engine/render/locale/<lang>/LC_MESSAGES/messages.po`` and are
compiled in memory at first use (Babel reads the ``.po`` and writes the ``.mo``), so there is no
build step and no binary file in the repository. English is the source language.

The language of a request is, in order: the ``gongdan_lang`` cookie set by the language switch,
then the best match in ``Accept-Language``, then English. Definition labels follow the same
language and fall back to the other one (:func:`engine.schema.model.label_text`).
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["COOKIE", "LANGUAGES", "negotiate", "translations"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
COOKIE = "gongdan_lang"
# code -> name shown in the switch, in its own language
LANGUAGES: dict[str, str] = {"en": "English", "zh": "简体中文"}


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang``; English (the source language) translates nothing."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def _accept_language(header: str) -> list[tuple[float, str]]:
    out = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag:
            out.append((q - i * 1e-6, tag.lower()))  # equal weights keep the header's order
    return sorted(out, reverse=True)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The request's UI language: the chosen one, else the browser's preference, else English."""
    if cookie in LANGUAGES:
        return cookie
    for q, tag in _accept_language(accept_language or ""):
        if q <= 0:
            continue
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return "en"


def N_(message: str) -> str:
    """Marks a message for the catalog whose translation happens elsewhere (e.g. ``_(state)`` in a template)."""
    return message


# Words that templates translate from data: state categories, priorities, actions, scopes,
# approval decisions and the catalog summary.
DATA_WORDS = (
    N_("open"), N_("active"), N_("waiting"), N_("resolved"), N_("closed"), N_("cancelled"),
    N_("low"), N_("normal"), N_("high"), N_("urgent"),
    N_("create"), N_("view"), N_("comment"), N_("assign"), N_("edit"),
    N_("own"), N_("assigned"), N_("team"), N_("org_unit"), N_("org_subtree"), N_("all"),
    N_("pending"), N_("approve"), N_("reject"), N_("approved"), N_("rejected"),
    N_("ticket types"), N_("flows"), N_("roles"), N_("teams"), N_("org units"), N_("SLA policies"),
    N_("calendars"), N_("reports"),
)


# The list's sort orders as people read them.
SORT_LABELS = {
    "-created_at": N_("Newest first"),
    "created_at": N_("Oldest first"),
    "-updated_at": N_("Recently updated"),
    "updated_at": N_("Least recently updated"),
    "-id": N_("Highest number first"),
    "id": N_("Lowest number first"),
}
