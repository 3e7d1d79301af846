"""The notebooks run: their code cells execute top to bottom without error."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    namespace: dict = {}
    for i, cell in enumerate(code):
        try:
            exec(compile(cell, f"{path.name}[cell {i}]", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - report which cell failed
            pytest.fail(f"{path.name} code cell {i} failed: {exc!r}")


def test_there_is_a_notebook():
    assert NOTEBOOKS
