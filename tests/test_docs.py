"""The generated reference pages (docs/configuration.md, docs/cli.md) are current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _gen_docs()


@pytest.mark.parametrize("path", sorted(GEN.pages()), ids=lambda p: p.name)
def test_generated_reference_page_is_current(path):
    expected = GEN.pages()[path]
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.relative_to(ROOT)} is stale: run `make docs` and commit it"
    )


def test_every_setting_says_what_it_does():
    page = GEN.config_markdown()
    undocumented = [
        line.split("|")[1].strip()
        for line in page.splitlines()
        if line.startswith("| `") and line.rstrip().endswith("|  |")
    ]
    assert undocumented == [], (
        "settings without a `#:` comment in src/mqlml/config.py: " + ", ".join(undocumented)
    )


def test_every_command_is_in_the_cli_reference():
    import typer.main

    from mqlml.cli import app

    page = GEN.cli_markdown()
    for name in typer.main.get_command(app).commands:
        assert f"## `mqlml {name}`" in page


def _named_tests() -> list[tuple[str, str, str]]:
    """Every ``tests/x.py::test_y`` (and ``::test_z`` after it) the docs cite, by page."""
    import re

    cell_pattern = re.compile(r"`(tests/[\w/]+\.py)((?:::\w+)?)`((?:, `::\w+`)*)")
    cited = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for cell in cell_pattern.findall(page.read_text(encoding="utf-8")):
            path, first, more = cell
            names = [first] + re.findall(r"`(::\w+)`", more)
            cited += [(page.name, path, n[2:]) for n in names if n]
    return cited


def test_docs_cite_tests_that_exist():
    import ast

    cited = _named_tests()
    assert cited, "docs/methodology.md cites the tests that prove its rules"
    for page, path, name in cited:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"{page} cites {path}::{name}, which does not exist"
