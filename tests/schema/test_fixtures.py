"""Golden fixtures: every diagnostic code, at the exact file, line and column it must point to.

``fixtures/_base/`` is a small, complete, valid definition set. Each other folder of ``fixtures/`` is
named after one diagnostic code and holds files that are laid over a copy of ``_base`` (a file at the
same relative path replaces the base file, other files are added). What the check must report is
written in the fixture files themselves as YAML comments::

    to: donee  # expect: E203 @25:11

For files that cannot hold a comment (empty, binary, too large) and for diagnostics in base files the
fixture leaves untouched, the folder has an ``expect.txt`` with lines ``<file> <CODE> @<line>:<col>``.
Files that must not be committed (10 MB, invalid UTF-8, NUL bytes) are written by ``GENERATED``.

The check must report exactly the expected set: a missing diagnostic fails, and so does an extra one.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.schema import CODES, Diagnostic, check_definitions
from engine.schema.source import MAX_BYTES, MAX_NODES

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "_base"
SIDECAR = "expect.txt"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"

# Generous: a set of this size checks in a few milliseconds; the limit only catches runaway input
# handling (alias expansion, huge files), which would take minutes or exhaust memory.
TIME_LIMIT = 5.0

_EXPECT = re.compile(r"\bexpect:\s*([EW]\d{3})\s*@(\d+):(\d+)")
_SIDECAR_LINE = re.compile(r"^(\S+)\s+([EW]\d{3})\s*@(\d+):(\d+)$")

Expectation = tuple[str, str, int, int]  # file, code, line, col

# Codes in CODES that no definition can trigger yet. Each still has a fixture folder (holding only a
# README) and a section in docs/diagnostics.md; test_reserved_codes_are_not_reported keeps this honest.
RESERVED: dict[str, str] = {}


# --- generated fixtures --------------------------------------------------------------------------


def _make_e004(root: Path) -> None:
    """A 10 MB file: refused by its size before it is read."""
    target = root / "forms" / "huge.yaml"
    with target.open("wb") as fh:
        fh.write(b"apiVersion: gongdan/v1\nkind: TicketType\n")
        line = b"# " + b"x" * 1021 + b"\n"  # 1 KB per line
        for _ in range(10 * 1024):
            fh.write(line)
    assert target.stat().st_size > MAX_BYTES


def _make_e006(root: Path) -> None:
    """Files that are not UTF-8 text: a Latin-1 byte after Chinese text, an image, UTF-16."""
    role = "apiVersion: gongdan/v1\nkind: Role\nmetadata:\n  name: {}\nspec:\n  label: {}\n  admin: true\n"
    mixed = role.format("cafe", "{zh: 报修, en: Caf\x00}").encode("utf-8").replace(b"\x00", b"\xe9")
    (root / "roles" / "mixed.yaml").write_bytes(mixed)  # é in Latin-1 at line 6, character 26
    (root / "roles" / "logo.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
    (root / "roles" / "utf16.yaml").write_bytes(role.format("utf16", "Staff").encode("utf-16-le"))


GENERATED: dict[str, Callable[[Path], None]] = {
    "E004": _make_e004,
    "E006": _make_e006,
}


# --- harness -------------------------------------------------------------------------------------


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _fixture_files(fixture: Path) -> list[Path]:
    return sorted(p for p in fixture.rglob("*") if p.is_file() and p.name not in (SIDECAR, "README.md"))


def build(name: str, root: Path) -> set[Expectation]:
    """Lay fixture ``name`` over a copy of ``_base`` in ``root``; return what the check must report."""
    fixture = FIXTURES / name
    shutil.copytree(BASE, root, dirs_exist_ok=True)
    expected: set[Expectation] = set()
    for src in _fixture_files(fixture):
        rel = src.relative_to(fixture).as_posix()
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        for line in src.read_bytes().decode("utf-8").splitlines():
            comment = line.partition("#")[2]
            for code, ln, col in _EXPECT.findall(comment):
                expected.add((rel, code, int(ln), int(col)))
    sidecar = fixture / SIDECAR
    if sidecar.exists():
        for raw in sidecar.read_text(encoding="utf-8").splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = _SIDECAR_LINE.match(line)
            assert m, f"{sidecar}: cannot read expectation {raw!r}"
            expected.add((m[1], m[2], int(m[3]), int(m[4])))
    if name in GENERATED:
        GENERATED[name](root)
    return expected


def run(root: Path) -> tuple[list[Diagnostic], float]:
    start = time.perf_counter()
    result = check_definitions(root, display_base=root)
    return result.diagnostics, time.perf_counter() - start


def found(diagnostics: list[Diagnostic]) -> set[Expectation]:
    return {(d.file.replace("\\", "/"), d.code, d.line, d.col) for d in diagnostics}


def check_fixture(name: str, root: Path) -> list[Diagnostic]:
    """Check fixture ``name`` laid over ``_base``; fail unless it reports exactly what it expects."""
    expected = build(name, root)
    assert any(code == name for _f, code, _l, _c in expected), f"fixture {name} expects no {name}"
    diagnostics, elapsed = run(root)
    got = found(diagnostics)
    listing = "\n".join(d.render() for d in diagnostics) or "(none)"
    missing = sorted(expected - got)
    extra = sorted(got - expected)
    assert not missing and not extra, f"missing: {missing}\nextra: {extra}\nreported:\n{listing}"
    assert elapsed < TIME_LIMIT, f"checking fixture {name} took {elapsed:.1f} s"
    return diagnostics


def rendered(name: str, root: Path) -> list[str]:
    return [d.render() for d in check_fixture(name, root)]


# --- tests ---------------------------------------------------------------------------------------


def test_base_is_valid(tmp_path: Path) -> None:
    shutil.copytree(BASE, tmp_path, dirs_exist_ok=True)
    result = check_definitions(tmp_path, display_base=tmp_path)
    assert [d.render() for d in result.diagnostics] == []
    assert result.catalog is not None
    assert result.files == 9


@pytest.mark.parametrize("name", fixture_names())
def test_fixture(name: str, tmp_path: Path) -> None:
    check_fixture(name, tmp_path)


def test_every_code_has_a_fixture() -> None:
    names = set(fixture_names())
    assert sorted(set(CODES) - names) == [], "codes without a fixture folder"
    assert sorted(names - set(CODES)) == [], "fixture folders named after no code"


def test_reserved_codes_are_not_reported() -> None:
    """A reserved code that some check starts to report needs a real fixture instead."""
    engine = Path(__file__).resolve().parents[2] / "engine" / "schema"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in engine.rglob("*.py") if p.name != "diagnostics.py")
    for code in RESERVED:
        assert f'"{code}"' not in sources, f"{code} is reported now: give it a fixture and drop it from RESERVED"
        assert (FIXTURES / code / "README.md").exists()


def test_input_limits_finish_fast(tmp_path: Path) -> None:
    """The alias bomb, deep nesting and the 10 MB file stop early instead of expanding everything."""
    for name in ("E004", "E005"):
        root = tmp_path / name
        build(name, root)
        _diagnostics, elapsed = run(root)
        assert elapsed < 2.0, f"{name} took {elapsed:.1f} s"


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 100_000 + "]" * 100_000 + "\n",  # flow nesting
        "- " * 200_000 + "x\n",  # block sequences on one line
        "a: " + "{b: " * 50_000 + "}" * 50_000 + "\n",
    ],
)
def test_very_deep_nesting_is_refused_quickly(text: str, tmp_path: Path) -> None:
    """Tens of thousands of levels would crash the YAML composer or keep it busy for minutes."""
    shutil.copytree(BASE, tmp_path, dirs_exist_ok=True)
    (tmp_path / "teams" / "deep.yaml").write_text(text, encoding="utf-8")
    diagnostics, elapsed = run(tmp_path)
    assert [(d.file, d.code) for d in diagnostics] == [("teams/deep.yaml", "E005")]
    assert "nested more than 64 levels deep" in diagnostics[0].message
    assert elapsed < 2.0


# --- exact messages ------------------------------------------------------------------------------


def test_message_unknown_state_with_hint(tmp_path: Path) -> None:
    lines = rendered("E203", tmp_path)
    assert (
        "flows/repair.yaml:25:11: E203 transition 'complete' targets unknown state 'donee'; did you mean 'done'?"
    ) in lines
    assert "sla/standard.yaml:7:24: E203 pause state 'waiting' is not in flow 'repair' of ticket type 'repair'" in lines


def test_message_unknown_key_with_hint(tmp_path: Path) -> None:
    assert rendered("E101", tmp_path) == [
        "forms/leave.yaml:8:3: E101 unknown key 'owner' in spec; "
        "allowed keys: label, description, flow, default_priority, sla, title, fields, layout",
        "forms/leave.yaml:12:7: E101 unknown key 'requird' in spec.fields[0]; did you mean 'required'?",
    ]


def test_message_duplicate_key(tmp_path: Path) -> None:
    assert rendered("E007", tmp_path) == [
        "calendars/weekend.yaml:10:5: E007 duplicate key 'sat' (first at line 8); "
        "keep one of them: YAML would silently use only the last",
        "teams/more.yaml:7:39: E007 duplicate key 'label' (first at line 7); "
        "keep one of them: YAML would silently use only the last",
    ]


def test_message_syntax_errors(tmp_path: Path) -> None:
    lines = rendered("E001", tmp_path)
    assert (
        "teams/tabs.yaml:7:1: E001 found character that cannot start any token; "
        "indent with spaces; YAML does not allow tab characters for indentation"
    ) in lines
    assert "roles/quote.yaml:7:10: E001 found unexpected end of stream; a quote was opened and never closed" in lines
    assert (
        "sla/bracket.yaml:7:13: E001 did not find expected ',' or ']'; a bracket was opened and never closed"
    ) in lines


def test_message_alias_bomb(tmp_path: Path) -> None:
    lines = rendered("E005", tmp_path)
    assert (
        f"roles/laughs.yaml:7:28: E005 document is more than {MAX_NODES:,} nodes after expanding aliases; "
        "remove recursive or repeated aliases"
    ) in lines


def test_message_not_utf8(tmp_path: Path) -> None:
    lines = rendered("E006", tmp_path)
    assert "roles/mixed.yaml:6:26: E006 byte 0xe9 is not valid UTF-8; save the file as UTF-8" in lines
    assert "roles/utf16.yaml:1:1: E006 file contains NUL bytes; it is not a text file" in lines


def test_message_wrong_type(tmp_path: Path) -> None:
    lines = rendered("E102", tmp_path)
    assert "forms/overtime.yaml:12:17: E102 spec.fields[0].required must be true or false, not text" in lines
    assert "forms/leave.yaml:8:11: E102 spec.fields must be a list, not a mapping" in lines


def test_message_unknown_option_value(tmp_path: Path) -> None:
    lines = rendered("E204", tmp_path)
    assert (
        "flows/repair.yaml:42:27: E204 'electric' is not an option of 'device_type'; did you mean 'electrical'?"
    ) in lines


def test_message_duplicate_name(tmp_path: Path) -> None:
    assert rendered("E106", tmp_path) == [
        "roles/lead_copy.yaml:4:9: E106 Role 'lead' is also defined in roles/lead.yaml:4; "
        "give each definition its own name",
    ]


# --- docs/diagnostics.md -------------------------------------------------------------------------

_HEADING = re.compile(r"^## ([EW]\d{3}) — (.+)$", re.M)


def _doc_sections() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    marks = list(_HEADING.finditer(text))
    return {
        m[1]: text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)] for i, m in enumerate(marks)
    }


def test_docs_have_a_section_per_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    headings = {m[1]: m[2] for m in _HEADING.finditer(text)}
    assert sorted(set(CODES) - set(headings)) == [], "codes without a section in docs/diagnostics.md"
    assert sorted(set(headings) - set(CODES)) == [], "sections for codes that do not exist"
    for code, title in CODES.items():
        assert headings[code] == title, f"heading of {code} must read '## {code} — {title}'"
    assert list(headings) == list(CODES), "sections must follow the order of CODES"


_OUTPUT = re.compile(r"^definitions/(\S+?):(\d+):(\d+): ([EW]\d{3}) .*$", re.M)


@pytest.mark.parametrize("code", [c for c in CODES if c not in RESERVED])
def test_docs_output_lines_are_real(code: str, tmp_path: Path) -> None:
    """Every output line a section shows is what `gongdan check definitions` prints for its fixture."""
    section = _doc_sections()[code]
    shown = [m[0] for m in _OUTPUT.finditer(section)]
    assert any(f": {code} " in line for line in shown), f"section {code} shows no output line for {code}"
    actual = {"definitions/" + line for line in rendered(code, tmp_path)}
    for line in shown:
        assert line in actual, f"section {code} shows a line the check does not print:\n{line}"
