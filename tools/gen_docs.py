"""Generate docs/configuration.md from the config model and docs/cli.md from the CLI.

Run ``make docs`` after changing a setting or a flag; ``tests/test_docs.py`` fails while
either page is stale. The settings' descriptions are the ``#:`` comments above each field
in ``src/mqlml/config.py`` (one place to document a setting).
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.config import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PAGE = ROOT / "docs" / "configuration.md"
CLI_PAGE = ROOT / "docs" / "cli.md"
HELP_WIDTH = 100


def _field_comments(cls: type) -> dict[str, str]:
    """``#:`` comment lines right above each annotated field of a class, by field name."""
    lines, _ = inspect.getsourcelines(cls)
    tree = ast.parse(_dedent(lines))
    out: dict[str, str] = {}
    source = _dedent(lines).splitlines()
    for node in tree.body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            comment: list[str] = []
            i = node.lineno - 2
            while i >= 0 and source[i].strip().startswith("#:"):
                comment.insert(0, source[i].strip()[2:].strip())
                i -= 1
            out[node.target.id] = " ".join(comment)
    return out


def _dedent(lines: list[str]) -> str:
    indent = len(lines[0]) - len(lines[0].lstrip())
    return "".join(line[indent:] if len(line) >= indent else line for line in lines)


def _type_name(annotation: object) -> str:
    section = _section_model(annotation)
    if section is not None:
        return f"{section.__name__} | None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = repr(annotation).replace("typing.", "").replace("pathlib.", "")
    return text.replace("NoneType", "None")


def _section_model(annotation: object) -> type[BaseModel] | None:
    """The settings model of a section field (``X`` or ``X | None``), else None."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, tuple):
        value = list(value)
    return "`" + json.dumps(value, default=str) + "`"


def _section_rows(model: type[BaseModel], prefix: str) -> tuple[list[str], list[type]]:
    comments = _field_comments(model)
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        section = _section_model(annotation)
        if section is not None:
            nested.append((f"{prefix}{name}", section))
            if section is annotation:
                continue
        text = comments.get(name, "").replace("|", "\\|")
        kind = _type_name(annotation).replace("|", "\\|")
        rows.append(f"| `{prefix}{name}` | `{kind}` | {_default(field)} | {text} |")
    return rows, nested


def config_markdown() -> str:
    """The configuration reference, one table per section of :class:`mqlml.Config`."""
    parts = [
        "# Configuration reference",
        "",
        "Generated from `mqlml.config.Config` by `make docs`; do not edit by hand.",
        "A YAML file passed with `--config` holds any of these settings (unknown keys are an",
        "error); flags of `mqlml train` override them.",
        "",
    ]
    queue: list[tuple[str, type[BaseModel]]] = [("", Config)]
    while queue:
        prefix, model = queue.pop(0)
        rows, nested = _section_rows(model, prefix)
        title = prefix.rstrip(".") or "top level"
        doc = inspect.getdoc(model) if model.__doc__ else ""
        parts += [f"## `{title}`", ""]
        if doc and model is not Config:
            parts += [doc, ""]
        if rows:
            parts += ["| setting | type | default | meaning |", "|---|---|---|---|", *rows, ""]
        queue.extend((f"{name}.", cls) for name, cls in nested)
    return "\n".join(parts).rstrip() + "\n"


def cli_markdown() -> str:
    """The CLI reference: ``mqlml --help`` and every command's ``--help``."""
    runner = CliRunner()
    env = {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": str(HELP_WIDTH)}

    def help_text(args: list[str]) -> str:
        res = runner.invoke(
            app, [*args, "--help"], env=env, terminal_width=HELP_WIDTH, prog_name="mqlml"
        )
        assert res.exit_code == 0, res.output
        return "\n".join(line.rstrip() for line in res.output.splitlines()).strip()

    import typer.main

    commands = sorted(typer.main.get_command(app).commands)
    parts = [
        "# Command-line reference",
        "",
        "Generated from `mqlml.cli` by `make docs`; do not edit by hand.",
        "",
        "```",
        help_text([]),
        "```",
        "",
    ]
    for name in commands:
        parts += [f"## `mqlml {name}`", "", "```", help_text([name]), "```", ""]
    return "\n".join(parts).rstrip() + "\n"


def pages() -> dict[Path, str]:
    """Every generated page and its text."""
    return {CONFIG_PAGE: config_markdown(), CLI_PAGE: cli_markdown()}


def main() -> int:
    for path, text in pages().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
