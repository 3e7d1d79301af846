"""Scores into the CRM: the import file each tool expects, and what changed since last time.

``mqlml score --crm salesforce|hubspot|dynamics`` writes ``<out>.<tool>.csv`` beside the
output: per scored lead its record id, score, grade, MQL flag, tier and top reasons, with
``became_mql``, ``grade_changed`` and the score trend against the previous scoring of the
same lead (:mod:`mqlml.scoring.changes`), under column names set in the ``crm`` section
of the configuration (:class:`mqlml.config.CrmConfig`). Values are spelled as each tool's
import reads them:

==========  ==================  ===========================  ===================
tool        true / false        scoring moment               record id (default)
==========  ==================  ===========================  ===================
salesforce  ``true``/``false``  ``2026-05-04T08:00:00.000Z``  ``Id``
hubspot     ``true``/``false``  ``2026-05-04`` (date)         ``hs_object_id``
dynamics    ``1``/``0``         ``2026-05-04T08:00:00Z``      ``leadid``
==========  ==================  ===========================  ===================

:func:`export_scores` runs the whole step after a batch is scored: compare with the state
store, write the import file (atomically), post the new MQLs to the webhook, and only then
record the batch in the store, so a failed delivery is flagged and sent again next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mqlml.columns import (
    BECAME_MQL,
    GRADE,
    GRADE_CHANGED,
    IS_MQL,
    LEAD_ID,
    POSITIVE,
    SCORE,
    SCORE_CHANGE,
    SCORE_TREND,
    SCORED_AT,
    TIER,
    reason_text,
)
from mqlml.config import CrmConfig
from mqlml.data import files as io
from mqlml.errors import MqlmlError
from mqlml.scoring.changes import (
    ScoreState,
    changed_rows,
    compare,
    default_state_path,
    format_moments,
)
from mqlml.scoring.webhook import Delivery, mql_messages, post

#: The CRMs mqlml writes an import file for.
TOOLS = ("salesforce", "hubspot", "dynamics")


@dataclass(frozen=True)
class _Spelling:
    """How one tool's import reads a boolean and a moment."""

    true: str
    false: str
    moment: str  # strftime pattern of the UTC moment


_SPELLING = {
    "salesforce": _Spelling("true", "false", "%Y-%m-%dT%H:%M:%S.000Z"),
    "hubspot": _Spelling("true", "false", "%Y-%m-%d"),
    "dynamics": _Spelling("1", "0", "%Y-%m-%dT%H:%M:%SZ"),
}


def check_tool(tool: str, parameter: str = "--crm", *, optional: bool = False) -> str:
    """``tool`` if mqlml writes its import file.

    Parameters
    ----------
    tool : str
    parameter : str
        The option or argument that gave ``tool``, named in the error.
    optional : bool
        Whether ``None`` is also accepted by the caller (said in the error).

    Raises
    ------
    MqlmlError
        Naming the tools it knows.
    """
    if tool not in TOOLS:
        other = " or None" if optional else ""
        raise MqlmlError(f"{parameter} must be one of {', '.join(TOOLS)}{other}, got {tool!r}")
    return tool


def crm_path(out: str | Path, tool: str) -> Path:
    """The import file beside an output: ``scored.csv`` -> ``scored.salesforce.csv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.{check_tool(tool)}.csv")


def crm_table(
    changes: pd.DataFrame, tool: str, settings: CrmConfig | None = None
) -> pd.DataFrame:
    """The import file of ``tool``: one row per lead of ``changes``, every value as text
    but the score and score change (integers, so the CSV formula guard leaves ``-3`` alone).

    Parameters
    ----------
    changes : DataFrame
        Scored leads with their changes, from :func:`mqlml.scoring.changes.compare`.
    tool : {"salesforce", "hubspot", "dynamics"}
    settings : CrmConfig, optional
        Column names (``settings.<tool>``) and rows (``settings.rows``); default the
        built-in names and every lead.

    Returns
    -------
    DataFrame
        Columns in the order record id, score, grade, MQL flag, tier, reasons, became
        MQL, grade changed, score change, score trend, scoring moment; those named ``""``
        are left out. Empty cells are missing values (no previous score, fewer reasons).
    """
    settings = settings or CrmConfig()
    names = getattr(settings, check_tool(tool))
    spell = _SPELLING[tool]
    if settings.rows == "changed":
        changes = changes[changed_rows(changes).to_numpy()]

    def flag(column: str) -> pd.Series:
        return changes[column].astype(bool).map({True: spell.true, False: spell.false})

    def number(column: str) -> pd.Series:
        return changes[column].astype("Int64")

    columns = [
        (names.record_id, changes[LEAD_ID].astype("str")),
        (names.score, number(SCORE)),
        (names.grade, changes[GRADE].astype("str")),
        (names.is_mql, flag(IS_MQL)),
        (names.tier, changes[TIER].astype("str")),
        *(
            (name, changes[reason_text(POSITIVE, i)].astype("str"))
            for i, name in enumerate(names.reasons, start=1)
        ),
        (names.became_mql, flag(BECAME_MQL)),
        (names.grade_changed, flag(GRADE_CHANGED)),
        (names.score_change, number(SCORE_CHANGE)),
        (names.score_trend, changes[SCORE_TREND].astype("str")),
        (
            names.scored_at,
            format_moments(changes[SCORED_AT], spell.moment),
        ),
    ]
    table = pd.DataFrame({name: values for name, values in columns if name})
    return table.reset_index(drop=True)


def crm_csv(table: pd.DataFrame, *, safe_csv: bool = True) -> str:
    """The import file's text: UTF-8 CSV, comma-separated, fields quoted only when needed,
    ``\\n`` line ends, empty cells for missing values; with ``safe_csv``, text cells a
    spreadsheet would run as a formula are neutralised
    (:func:`mqlml.data.files.neutralise_formulas`)."""
    table = io.neutralise_formulas(table) if safe_csv else table
    return table.to_csv(index=False, lineterminator="\n")


@dataclass(frozen=True, eq=False)
class CrmRun:
    """What :func:`export_scores` did.

    Attributes
    ----------
    changes : DataFrame
        The scored leads with what changed since their previous scoring.
    import_file : Path or None
        The CRM import file written, if a tool was asked for.
    import_rows : int
        Rows in it.
    state_path : Path
        The state store compared with and updated.
    deliveries : list of Delivery
        The webhook messages delivered.
    """

    changes: pd.DataFrame
    import_file: Path | None
    import_rows: int
    state_path: Path
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line: leads that became MQLs, changed grade, moved; what was written/sent."""
        c = self.changes
        trend = c[SCORE_TREND].value_counts()
        parts = [
            f"{int(c[BECAME_MQL].sum()):,} became MQL",
            f"{int(c[GRADE_CHANGED].sum()):,} changed grade",
            f"score up {int(trend.get('up', 0)):,}, down {int(trend.get('down', 0)):,}, "
            f"same {int(trend.get('same', 0)):,}, new {int(trend.get('new', 0)):,}",
        ]
        if self.import_file is not None:
            parts.append(f"{self.import_rows:,} rows -> {self.import_file}")
        if self.deliveries:
            parts.append(f"{len(self.deliveries):,} webhook messages delivered")
        return "changes since the last scoring: " + "; ".join(parts)


def export_scores(
    scored: pd.DataFrame,
    scored_at: pd.Series,
    out: str | Path,
    settings: CrmConfig,
    *,
    tool: str | None = None,
    model: Mapping[str, object] | None = None,
    safe_csv: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> CrmRun:
    """Compare a scored batch with the previous scoring, write the CRM import file, post
    the new MQLs, then record the batch in the state store.

    Parameters
    ----------
    scored : DataFrame
        The scored leads (:data:`mqlml.columns.SCORE_COLUMNS`).
    scored_at : Series
        Their scoring moments (UTC), aligned with ``scored``.
    out : path
        The scored output: the import file goes beside it (:func:`crm_path`), and so
        does the state store unless ``settings.state_path`` says where.
    settings : CrmConfig
        Column names, rows, state store and webhook.
    tool : {"salesforce", "hubspot", "dynamics"}, optional
        The CRM whose import file to write; none: only compare (and post).
    model : mapping, optional
        ``name`` and ``version`` of the model, kept in the store and the messages.
    safe_csv : bool
        Neutralise text cells of the import file a spreadsheet would run as a formula
        (an id or a reason starting with ``=``); off: write them as they are.
    sleep : callable
        Waits between webhook attempts (tests pass a stub).

    Returns
    -------
    CrmRun

    Raises
    ------
    MqlmlError
        When the store cannot be read or written, or a message cannot be delivered
        (:class:`mqlml.scoring.webhook.WebhookError`): the store is then left as it was,
        so the next run flags those leads, and posts them, again.
    """
    if tool is not None:
        check_tool(tool)
    model = dict(model or {})
    state_path = Path(settings.state_path) if settings.state_path else default_state_path(out)
    state = ScoreState(state_path)
    changes = compare(scored, scored_at, state.previous(scored[LEAD_ID]))
    import_file, rows = None, 0
    if tool is not None:
        table = crm_table(changes, tool, settings)
        text = crm_csv(table, safe_csv=safe_csv)
        import_file, rows = io.write_text(text, crm_path(out, tool)), len(table)
    deliveries = []
    if settings.webhook.url:
        n_reasons = len(getattr(settings, tool).reasons) if tool else 3
        for message in mql_messages(changes, model, per=settings.webhook.per,
                                    n_reasons=n_reasons):
            deliveries.append(post(message, settings.webhook, sleep=sleep))
    version = model.get("version")
    state.record(changes, f"{model.get('name')}/{version}" if version else model.get("name"))
    return CrmRun(changes, import_file, rows, state_path, deliveries)
