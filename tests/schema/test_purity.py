"""engine.schema is pure: it imports neither the runtime, the pages, piccolo nor litestar."""

from __future__ import annotations

import subprocess
import sys


def test_schema_imports_no_runtime_or_web_framework() -> None:
    code = (
        "import sys, engine.schema, engine.schema.langschema\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('piccolo', 'litestar', 'asyncpg', 'jinja2')"
        " or m.startswith(('engine.runtime', 'engine.render')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
