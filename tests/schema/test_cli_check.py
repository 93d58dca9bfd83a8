"""`gongdan check` as admins and CI use it: exit codes, formats, and no traceback on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]

BAD_FILES: dict[str, bytes] = {
    "tabs.yaml": b"apiVersion: gongdan/v1\nkind: Role\nmetadata:\n\tname: x\n",
    "quote.yaml": b"apiVersion: gongdan/v1\nkind: Role\nmetadata: {name: 'x}\n",
    "indent.yaml": b"apiVersion: gongdan/v1\nkind: Role\nmetadata:\n    name: x\n  version: 1\n",
    "empty.yaml": b"",
    "notyaml.yaml": b"This is a memo, not a definition.\n",
    "kind.yaml": b"apiVersion: gongdan/v1\nkind: Workflow\nmetadata: {name: x}\nspec: {}\n",
    "latin1.yaml": "apiVersion: gongdan/v1\nkind: Role\nmetadata: {name: caf\u00e9}\n".encode("latin-1"),
    "bomb.yaml": (
        b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(8)
        )
    ),
}


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    d = tmp_path / "defs"
    d.mkdir()
    for name, data in BAD_FILES.items():
        (d / name).write_bytes(data)
    (d / "huge.yaml").write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n")
    return d


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=ROOT)


def test_bad_input_gives_one_diagnostic_per_file_and_no_traceback(bad_dir: Path) -> None:
    start = time.monotonic()
    proc = run_cli("check", str(bad_dir))
    assert time.monotonic() - start < 30  # a generous bound: only guards against a hang
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    codes = {}
    for line in proc.stdout.splitlines()[:-1]:
        file, lineno, col, rest = line.split(":", 3)
        codes[Path(file).name] = rest.split()[0]
        assert int(lineno) >= 1 and int(col) >= 1
    assert codes == {
        "tabs.yaml": "E001",
        "quote.yaml": "E001",
        "indent.yaml": "E001",
        "empty.yaml": "E002",
        "notyaml.yaml": "E003",
        "kind.yaml": "E108",
        "latin1.yaml": "E006",
        "bomb.yaml": "E005",
        "huge.yaml": "E004",
    }


def test_tab_hint_and_position(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(bad_dir / "tabs.yaml")]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(":4:1: E001 found character that cannot start any token; "
                          "indent with spaces; YAML does not allow tab characters for indentation")


def test_json_and_github_formats(bad_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(bad_dir / "kind.yaml"), "--format", "json"]) == 1
    items = json.loads(capsys.readouterr().out)
    assert [(i["code"], i["severity"], i["line"], i["col"]) for i in items] == [("E108", "error", 2, 7)]
    assert items[0]["hint"].startswith("use one of: OrgUnits")
    assert main(["check", str(bad_dir / "kind.yaml"), "--format", "github"]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith("::error file=") and ",line=2,col=7,title=E108::unknown kind 'Workflow'" in line


def test_missing_directory_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_shipped_set_passes_with_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ROOT / "definitions")]) == 0
    out = capsys.readouterr().out
    assert "0 errors, 0 warnings" in out and "definition version" in out


def test_warnings_alone_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "role.yaml").write_text(
        "apiVersion: gongdan/v1\nkind: Role\nmetadata: {name: idle}\nspec: {label: Idle}\n", encoding="utf-8"
    )
    assert main(["check", str(tmp_path)]) == 0
    assert "W403 role 'idle' grants nothing" in capsys.readouterr().out
