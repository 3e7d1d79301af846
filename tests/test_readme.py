"""Every shell block of the README and of docs/ runs as written, in order, from a fresh copy.

A new user's first hour: `make demo`, then each command the README and the docs show, with
MLflow tracking on (the default). Blocks that need a running server are marked in the page
with an HTML comment ``<!-- not run: needs a server -->`` on the line before the block and are
left out here (the REST and registry tests start real servers). ``make test`` itself is
skipped: it is the suite this test runs in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_MARK = "<!-- not run:"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```sh\n(?P<body>.*?)```", re.DOTALL)


def shell_blocks(path: Path) -> list[str]:
    """The ``sh`` code blocks of a markdown page, without those marked as not run."""
    text = "\n" + path.read_text(encoding="utf-8")
    return [
        m.group("body")
        for m in BLOCK.finditer(text)
        if not m.group("before").strip().startswith(SKIP_MARK)
    ]


def pages() -> list[Path]:
    """README first (it sets the environment up), then the docs in name order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def script(stamp: str) -> str:
    """One bash script of every block, stopping at the first failing command."""
    lines = [
        "set -euo pipefail",
        'trap \'echo "FAILED: $BASH_COMMAND" >&2\' ERR',
    ]
    for page in pages():
        for body in shell_blocks(page):
            lines.append(f"echo '### {page.relative_to(ROOT)}' >&2")
            for line in body.replace("\\\n", " ").splitlines():
                if line.split("#", 1)[0].strip() == "make test":
                    continue
                # The venv is the one running this suite: make must not reinstall it.
                lines.append(re.sub(r"^(\s*)make ", rf"\1make -o {stamp} ", line))
    return "\n".join(lines) + "\n"


def test_shell_blocks_are_found_and_the_demo_comes_first():
    first = shell_blocks(ROOT / "README.md")[0]
    assert "make demo" in first and "make test" in first


def test_a_block_marked_as_needing_a_server_is_left_out(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```sh\necho run\n```\n<!-- not run: needs a server -->\n```sh\nserve\n```\n"
    )
    assert shell_blocks(page) == ["echo run\n"]


def _fresh_copy(dest: Path) -> None:
    """The project's files as a clean checkout has them (tracked and not ignored)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.mark.slow
def test_every_readme_and_docs_command_runs_from_a_fresh_copy(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "mqlml"
    _fresh_copy(clone)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    stamp = ".venv/.installed"
    (clone / "run-docs.sh").write_text(script(stamp))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(clone / "src")
    env["HOME"] = str(tmp_path / "home")
    res = subprocess.run(
        ["bash", "run-docs.sh"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert res.returncode == 0, res.stderr[-4000:] + res.stdout[-2000:]
    # Tracking was on: the README's trainings logged runs into the working folder's store.
    assert (clone / "mlflow.db").exists()
