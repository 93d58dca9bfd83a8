"""Every complete YAML document in docs/ compiles, together with the shipped definitions."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from engine.schema import check_definitions
from engine.schema.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def snippets(complete: bool = True) -> list[tuple[str, int, str]]:
    out = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if doc.name == "diagnostics.md":  # its snippets are wrong on purpose
            continue
        text = doc.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            body = m.group(1)
            if bool(re.search(r"^apiVersion:", body, re.M)) == complete:
                out.append((doc.name, text[: m.start()].count("\n") + 2, body))
    return out


SNIPPETS = snippets()


def test_docs_have_snippets() -> None:
    assert len(SNIPPETS) >= 5


@pytest.mark.parametrize(("doc", "line", "body"), SNIPPETS, ids=[f"{d}:{n}" for d, n, _ in SNIPPETS])
def test_snippet_compiles_with_the_shipped_set(doc: str, line: int, body: str, tmp_path: Path) -> None:
    defs = tmp_path / "definitions"
    shutil.copytree(ROOT / "definitions", defs)
    data = YAML(typ="safe", pure=True).load(body)
    folder = KINDS[data["kind"]].folder
    # a snippet that redefines a shipped definition replaces it
    for path in defs.rglob("*.yaml"):
        other = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
        if other.get("kind") == data["kind"] and other["metadata"]["name"] == data["metadata"]["name"]:
            path.unlink()
    (defs / folder).mkdir(exist_ok=True)
    (defs / folder / "snippet.yaml").write_text(body, encoding="utf-8")
    result = check_definitions(defs, display_base=tmp_path)
    errors = [d.render() for d in result.diagnostics if d.severity == "error"]
    assert errors == [], f"{doc}:{line}"


FRAGMENTS = snippets(complete=False)


@pytest.mark.parametrize(("doc", "line", "body"), FRAGMENTS, ids=[f"{d}:{n}" for d, n, _ in FRAGMENTS])
def test_fragment_is_well_formed_yaml(doc: str, line: int, body: str, tmp_path: Path) -> None:
    """Fragments are parts of a definition: they at least parse, with no duplicate keys."""
    from engine.schema.source import read_source

    path = tmp_path / "fragment.yaml"
    path.write_text(body, encoding="utf-8")
    result = read_source(path, "fragment.yaml")
    problems = [d.render() for d in result] if isinstance(result, list) else []
    assert [p for p in problems if " E003 " not in p] == [], f"{doc}:{line}"
