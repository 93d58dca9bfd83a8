"""engine.schema is pure: it imports neither the runtime, the pages, piccolo nor litestar.

Jinja2 is allowed: message templates of notifications are parsed and checked at compile time with
its sandbox (engine.schema.message_templates), so that `gongdan check` and the server agree on them.
"""

from __future__ import annotations

import subprocess
import sys


def test_schema_imports_no_runtime_or_web_framework() -> None:
    code = (
        "import sys, engine.schema, engine.schema.langschema\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('piccolo', 'litestar', 'asyncpg', 'httpx')"
        " or m.startswith(('engine.runtime', 'engine.render')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
