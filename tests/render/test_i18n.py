"""The UI catalogs: every marked message has a Chinese translation, placeholders survive, the template is current.

A new ``_()`` / ``gettext`` / ``N_`` string in a template or in the page code fails here until
``engine/render/locale/zh/LC_MESSAGES/messages.po`` translates it, and ``messages.pot`` must be
re-extracted whenever the set of messages changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from engine.render.i18n import LANGUAGES, negotiate, translations

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "engine" / "render" / "locale"
POT = LOCALE / "messages.pot"
ZH_PO = LOCALE / "zh" / "LC_MESSAGES" / "messages.po"

# The same extraction as babel.cfg (and `pybabel extract -k N_`).
METHOD_MAP = [
    ("engine/render/**.py", "python"),
    ("engine/web/pages.py", "python"),
    ("engine/render/templates/**.html", "jinja2.ext:babel_extract"),
]
OPTIONS_MAP = {"engine/render/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
EXTRACT_ARGS = ["-F", "babel.cfg", "-k", "N_", "--no-location", "--omit-header", "--sort-output"]

UPDATE_HINT = (
    "Update the catalogs from the repository root:\n"
    "  .venv/bin/pybabel extract " + " ".join(EXTRACT_ARGS) + " -o engine/render/locale/messages.pot .\n"
    "  .venv/bin/pybabel update -i engine/render/locale/messages.pot -d engine/render/locale -l zh --no-wrap\n"
    "then translate the new (empty or '#, fuzzy') entries in engine/render/locale/zh/LC_MESSAGES/messages.po."
)

# %(name)s and its conversion (%(n)d, %(x)r ...): the part of a message the code fills in
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa])")

Key = tuple[str, str | None]  # (msgid, msgctxt)


def _key(message: str | Sequence[str], context: str | None) -> Key:
    return (message if isinstance(message, str) else message[0], context)


@pytest.fixture(scope="module")
def extracted() -> dict[Key, list[str]]:
    """Every message marked in the pages' code and templates -> where it is used."""
    found: dict[Key, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, METHOD_MAP, OPTIONS_MAP, KEYWORDS
    ):
        found.setdefault(_key(message, context), []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def zh() -> Catalog:
    with ZH_PO.open("rb") as f:
        return read_po(f, locale="zh")


def _read_ids(path: Path) -> set[Key]:
    with path.open("rb") as f:
        return {_key(m.id, m.context) for m in read_po(f) if m.id}


def _names(text: str) -> list[tuple[str, str]]:
    return sorted(PLACEHOLDER.findall(text))


def test_extraction_finds_the_pages_messages(extracted: dict[Key, list[str]]) -> None:
    assert len(extracted) > 100
    assert ("My work", None) in extracted  # a template
    assert ("Wrong username or password.", None) in extracted  # engine/web/pages.py
    assert ("must be at most %(n)s characters", None) in extracted  # N_() in engine/render/templates.py
    assert ("Newest first", None) in extracted  # a sort label marked with N_ in engine/render/i18n.py


def test_every_message_has_a_chinese_translation(extracted: dict[Key, list[str]], zh: Catalog) -> None:
    missing, fuzzy = [], []
    for (msgid, context), where in sorted(extracted.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        entry = zh.get(msgid, context=context)
        strings = [] if entry is None else [entry.string] if isinstance(entry.string, str) else list(entry.string or ())
        label = f"{msgid!r}" + (f" (context {context!r})" if context else "") + f"  [{where[0]}]"
        if not strings or not all(s and s.strip() for s in strings):
            missing.append(label)
        elif entry is not None and entry.fuzzy:
            fuzzy.append(label)
    problems = [f"untranslated: {m}" for m in missing] + [f"fuzzy: {m}" for m in fuzzy]
    assert not problems, (
        f"{len(problems)} UI message(s) lack a reviewed zh translation in {ZH_PO.relative_to(ROOT)}:\n  "
        + "\n  ".join(problems)
        + "\n"
        + UPDATE_HINT
    )


def test_translations_keep_the_placeholders(zh: Catalog) -> None:
    wrong = []
    for m in zh:
        if not m.id or not m.string:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        expected = {name for text in ids for name in _names(text)}
        for text in strings:
            got = _names(text)
            if set(got) != expected:  # the same names (order and repetition may differ in Chinese)
                wrong.append(f"{m.id!r}: msgid has {sorted(expected)}, translation {text!r} has {got}")
                continue
            if got:  # the translation formats with the values the code passes
                try:
                    text % {name: "x" for name, _conv in got}
                except (ValueError, TypeError, KeyError) as exc:
                    wrong.append(f"{m.id!r}: translation {text!r} does not format: {exc}")
    assert not wrong, "translations whose %(name)s placeholders differ from the msgid:\n  " + "\n  ".join(wrong)


def test_catalog_header(zh: Catalog) -> None:
    assert zh.locale is not None and zh.locale.language == "zh"
    assert zh.num_plurals == 1
    assert zh.charset.lower() == "utf-8"


def test_chinese_translations_at_runtime() -> None:
    zh = translations("zh")
    assert zh.gettext("My work") == "我的工作"
    assert zh.gettext("is required") == "必填"
    assert zh.gettext("must be at most %(n)s characters") % {"n": 20} == "最多 20 个字符"
    assert translations("en").gettext("My work") == "My work"  # English is the source language


@pytest.mark.parametrize(
    ("cookie", "header", "lang"),
    [
        (None, "zh-CN,zh;q=0.9", "zh"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US", "en"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR, zh-TW;q=0.5", "zh"),  # the best language the UI has
        (None, "zh;q=0, en;q=0.1", "en"),  # q=0: not acceptable
        ("en", "zh-CN,zh;q=0.9", "en"),  # the switch's cookie wins over the browser
        ("zh", "en-US", "zh"),
        ("fr", "zh-CN", "zh"),  # an unknown cookie is ignored
        ("", None, "en"),
        (None, None, "en"),
        (None, "", "en"),
        (None, "garbage", "en"),
        (None, ";;q=abc,,,*;q=", "en"),
        ("<script>", "\x00\xff", "en"),
    ],
)
def test_negotiate(cookie: str | None, header: str | None, lang: str) -> None:
    assert negotiate(cookie, header) == lang
    assert lang in LANGUAGES


def test_messages_pot_is_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extracted: dict[Key, list[str]]
) -> None:
    out = tmp_path / "messages.pot"
    monkeypatch.chdir(ROOT)
    # the exact command of babel.cfg's header, run in-process
    log = logging.getLogger("babel")
    handlers = list(log.handlers)
    try:
        CommandLineInterface().run(["pybabel", "-q", "extract", *EXTRACT_ARGS, "-o", str(out), "."])  # type: ignore[no-untyped-call]
    finally:
        log.handlers[:] = handlers  # pybabel adds a handler on pytest's captured stderr
    fresh, committed = _read_ids(out), _read_ids(POT)
    added, gone = sorted(fresh - committed), sorted(committed - fresh)
    assert not added and not gone, (
        f"{POT.relative_to(ROOT)} is stale: new {[k[0] for k in added]}, removed {[k[0] for k in gone]}\n"
        + UPDATE_HINT
    )
    # this test's extraction sees the same files as babel.cfg
    assert set(extracted) == fresh, "METHOD_MAP in this test no longer matches babel.cfg"
