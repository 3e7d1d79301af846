"""Clear the outputs and execution counts of the notebooks before a commit.

    python tools/clear_notebooks.py [NOTEBOOK ...]     (default: notebooks/*.ipynb)

Notebooks are committed without outputs (tests/test_notebooks.py checks it): outputs hold
machine-specific paths and timings, bloat diffs, and `make test` runs every cell anyway.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def clear(path: Path) -> bool:
    """Clear one notebook in place; True when it changed."""
    book = nbformat.read(path, as_version=4)
    changed = False
    for cell in book.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count = [], None
            changed = True
        # Run-time metadata (timings, scroll state) churns like outputs do.
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    if changed:
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(book, tmp)
        tmp.replace(path)
    return changed


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        print(f"{'cleared' if clear(path) else 'clean  '} {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
