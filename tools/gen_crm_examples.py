"""Generate docs/crm/<tool>_example.csv: the import file ``mqlml score --crm <tool>`` writes.

The inputs are two real ``mqlml score`` outputs of the same leads a week apart
(docs/crm/scored_week1.csv and scored_week2.csv: six leads of the demo's fresh batch,
scored by a model trained on a synthetic history, as of :data:`WEEK1` and :data:`WEEK2`;
the last lead is new in week 2). The examples are week 2's import files, each lead
compared with its week-1 scoring through the state store, with the default column names.
``tests/scoring/test_crm.py`` fails while an example differs from what the writer gives.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

from mqlml.config import CrmConfig
from mqlml.scoring.crm import TOOLS, export_scores

ROOT = Path(__file__).resolve().parents[1]
CRM_DOCS = ROOT / "docs" / "crm"
#: The scoring moments of the two inputs.
WEEK1 = pd.Timestamp("2025-12-24T00:00:00Z")
WEEK2 = pd.Timestamp("2025-12-31T00:00:00Z")
MODEL = {"name": "demo", "version": "1"}


def _scored(name: str) -> pd.DataFrame:
    return pd.read_csv(CRM_DOCS / name, dtype={"lead_id": "str"})


def example_path(tool: str) -> Path:
    """The documented example of ``tool``'s import file."""
    return CRM_DOCS / f"{tool}_example.csv"


def examples() -> dict[Path, str]:
    """Every example file and the text the writer gives for it."""
    week1, week2 = _scored("scored_week1.csv"), _scored("scored_week2.csv")
    out = {}
    for tool in TOOLS:
        with tempfile.TemporaryDirectory() as tmp:
            scored = Path(tmp) / "scored.csv"
            settings = CrmConfig()
            for frame, moment in ((week1, WEEK1), (week2, WEEK2)):
                at = pd.Series(moment, index=frame.index)
                run = export_scores(frame, at, scored, settings, tool=tool, model=MODEL)
            out[example_path(tool)] = run.import_file.read_text(encoding="utf-8")
    return out


def main() -> int:
    for path, text in examples().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
