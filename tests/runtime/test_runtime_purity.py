"""Decisions are pure: importing them pulls in no web framework and no database."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["errors", "permissions", "parties", "routing", "masking", "plans", "fielddata", "approvals",
           "decide", "changes"]


def test_decision_modules_import_no_io_frameworks() -> None:
    code = (
        "import sys\n"
        + "".join(f"import engine.runtime.{m}\n" for m in MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('piccolo', 'litestar', 'sqlite3', 'asyncpg')"
        " or m.startswith('engine.runtime.storage'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_module_declares_all() -> None:
    import importlib

    for m in MODULES:
        module = importlib.import_module(f"engine.runtime.{m}")
        assert module.__all__, m
        for name in module.__all__:
            assert hasattr(module, name), f"{m}.{name}"
