"""The data contract: validating and typing the three CRM tables for training.

``leads`` (one row per lead), ``activities`` (one row per event) and ``outcomes`` (at most
one row per lead that reached SQL). The checks of single columns live in
:mod:`mqlml.data.validate`, shared with scoring; this module composes them per table and
across tables. Every function here is a pure function of DataFrames except
:func:`load_crm`, the I/O edge.

Validation reports every problem at once: all three tables are checked, then a single
:class:`~mqlml.errors.DataValidationError` lists each problem with the file, the column,
up to five example rows (1-based positions among the data rows, the header not counted)
with their values, what was expected and how many rows are affected.

Typing after validation:

* ``lead_id`` is text (``str``) in every table, stripped, so ``123`` and ``"123"`` join.
* Datetimes are ``datetime64[us, UTC]``; times without a time zone are taken as UTC.
* Other text is stripped and empty text is missing. Lead attributes other than the
  recognised text ones become numeric when every non-empty value is a plain number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mqlml.columns import (
    ACTIVITY_TYPE,
    COUNTRY,
    CREATED_AT,
    DATETIME_COLUMNS,
    DEAL_VALUE,
    DETAIL,
    EMAIL,
    INDUSTRY,
    JOB_TITLE,
    LEAD_ID,
    LEAD_SOURCE,
    LOST_AT,
    OCCURRED_AT,
    RECOGNISED_LEAD_ATTRIBUTES,
    SQL_AT,
    WON_AT,
)
from mqlml.config import DataConfig
from mqlml.data import files as io
from mqlml.data.activity_files import is_out_of_core
from mqlml.data.validate import (
    DATETIME_DTYPE,
    DATETIME_EXPECTED,
    Display,
    Problem,
    check_datetimes,
    check_ids,
    clean_attribute,
    clean_text,
    format_timestamp,
    map_columns,
    messages,
    missing_columns,
    normalise_categories,
    plural,
    quoted,
    rows_problem,
    to_utc,
)
from mqlml.errors import ConfigError, DataValidationError, MqlmlError

if TYPE_CHECKING:
    from mqlml.data.activity_files import ActivityFiles

__all__ = [
    "ACTIVITY_COLUMNS",
    "DATETIME_DTYPE",
    "OUTCOME_COLUMNS",
    "TABLES",
    "TEXT_LEAD_ATTRIBUTES",
    "Checked",
    "CrmData",
    "check_activities",
    "check_leads",
    "check_outcomes",
    "empty_activities",
    "empty_outcomes",
    "load_crm",
    "snapshot_time",
    "validate_activities",
    "validate_crm",
    "validate_leads",
    "validate_outcomes",
]

TABLES = ("leads", "activities", "outcomes")
#: Columns of the validated activities table, in order.
ACTIVITY_COLUMNS = (LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE, DETAIL)
#: Columns of the validated outcomes table, in order.
OUTCOME_COLUMNS = (LEAD_ID, SQL_AT, WON_AT, LOST_AT, DEAL_VALUE)
#: Recognised lead attributes that always stay text, even when they look like numbers.
TEXT_LEAD_ATTRIBUTES = (EMAIL, JOB_TITLE, INDUSTRY, COUNTRY, LEAD_SOURCE)


@dataclass(frozen=True, eq=False)
class CrmData:
    """The three validated tables.

    Attributes
    ----------
    leads : DataFrame
        ``lead_id`` (str, unique), ``created_at`` (UTC) and every other lead column,
        sorted by ``created_at`` then ``lead_id``.
    activities : DataFrame
        ``lead_id``, ``occurred_at``, ``activity_type`` (lowercase, spaces as ``_``),
        ``detail``; sorted by ``lead_id`` then ``occurred_at``. Empty when absent.
    outcomes : DataFrame
        ``lead_id`` (unique), ``sql_at``, ``won_at``, ``lost_at`` (UTC, NaT when not
        reached) and ``deal_value`` (float); sorted by ``lead_id``.
    notes : tuple of str
        Non-fatal facts about the data, with counts, for the report.
    activity_files : ActivityFiles, optional
        Activities in Parquet files, checked but read out of core
        (:mod:`mqlml.data.activity_files`); ``activities`` is then empty and the features
        come from their summary at each lead's as-of.
    activities_latest : Timestamp, optional
        The newest ``occurred_at`` in ``activity_files`` (for the data's end).
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    notes: tuple[str, ...] = ()
    activity_files: ActivityFiles | None = None
    activities_latest: pd.Timestamp | None = None


@dataclass
class Checked:
    """One table after checking, in input row order.

    Attributes
    ----------
    frame : DataFrame or None
        The typed table (positional index, rows as in the input); ``None`` when its
        columns make it unusable (ambiguous or missing).
    problems : list of Problem
        Everything that breaks the contract.
    notes : list of str
        Facts worth reporting.
    naive : dict of str to int
        Per datetime column, the values without a time zone (taken as UTC).
    filled_sql : Series or None
        Outcomes only: rows whose ``sql_at`` was taken from ``won_at``.
    """

    frame: pd.DataFrame | None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    naive: dict[str, int] = field(default_factory=dict)
    filled_sql: pd.Series | None = None
    #: Order of slash dates a column leaves open (``data.dayfirst``).
    dayfirst: bool | None = None

    def add(self, problems) -> None:
        """Record problems (``None`` entries are skipped)."""
        self.problems.extend(p for p in problems if p is not None)

    def datetimes(self, raw: pd.Series, source: str, column: str, *, required: bool,
                  years: bool = False):
        """:func:`~mqlml.data.validate.check_datetimes`, its findings recorded here."""
        checked = check_datetimes(raw, source=source, column=column, required=required,
                                  years=years, dayfirst=self.dayfirst)
        self.add(checked.problems)
        self.notes.extend(checked.notes)
        if checked.naive:
            self.naive[column] = checked.naive
        return checked


# --- per-table checks ------------------------------------------------------------------


def _prepare(
    df, source: str, table: str, mapping: Mapping[str, str] | None, dayfirst: bool | None = None
) -> Checked:
    """Mapping and required columns; the frame comes back with a fresh position index."""
    mapped, problems = map_columns(df, source=source, table=table, mapping=mapping)
    if mapped is None:
        return Checked(None, problems)
    missing = missing_columns(mapped, source=source, table=table)
    if missing is not None:
        return Checked(None, [*problems, missing])
    return Checked(mapped, problems, dayfirst=dayfirst)


def check_leads(
    df: pd.DataFrame,
    *,
    source: str = "leads",
    mapping: Mapping[str, str] | None = None,
    dayfirst: bool | None = None,
) -> Checked:
    """Check and type the leads table, keeping the input row order.

    Parameters
    ----------
    df : DataFrame
        The leads as read.
    source : str
        The file name, for messages.
    mapping : mapping of str to str, optional
        ``{their_column: our_column}`` renames applied first.

    Returns
    -------
    Checked
    """
    checked = _prepare(df, source, "leads", mapping, dayfirst)
    if checked.frame is None:
        return checked
    df = checked.frame
    if len(df) == 0:
        checked.add([Problem(source, None, "the table has no rows", "at least one lead")])
        checked.frame = None
        return checked
    ids, problems = check_ids(df[LEAD_ID], source=source, unique="each lead_id exactly once")
    checked.add(problems)
    created = checked.datetimes(df[CREATED_AT], source, CREATED_AT, required=True).parsed
    out = {LEAD_ID: ids, CREATED_AT: created}
    empty_columns = []
    for col in df.columns:
        if col in out:
            continue
        out[col] = clean_attribute(df[col], col, text_columns=TEXT_LEAD_ATTRIBUTES)
        if out[col].isna().all():
            empty_columns.append(col)
    if empty_columns:
        which = "column" if len(empty_columns) == 1 else "columns"
        checked.notes.append(f"{source}: {which} {quoted(empty_columns)} empty in every row")
    absent = [c for c in RECOGNISED_LEAD_ATTRIBUTES if c not in df.columns]
    if absent:
        checked.notes.append(
            f"{source}: recognised lead attributes not in the file: {', '.join(absent)}"
        )
    checked.frame = pd.DataFrame(out)
    return checked


def check_activities(
    df: pd.DataFrame,
    *,
    source: str = "activities",
    mapping: Mapping[str, str] | None = None,
    years: bool = False,
    dayfirst: bool | None = None,
) -> Checked:
    """Check and type the activities table on its own, keeping the input row order.

    Parameters
    ----------
    df : DataFrame
        The activities as read.
    source : str
        The file name, for messages.
    mapping : mapping of str to str, optional
        ``{their_column: our_column}`` renames applied first.
    years : bool
        Whether an ``occurred_at`` outside :data:`mqlml.data.validate.YEARS` is a problem.

    Returns
    -------
    Checked
        Rows with problems are kept (NaT / missing where a value was unusable).
    """
    checked = _prepare(df, source, "activities", mapping, dayfirst)
    if checked.frame is None:
        return checked
    df = checked.frame
    ids, problems = check_ids(df[LEAD_ID], source=source)
    checked.add(problems)
    occurred = checked.datetimes(
        df[OCCURRED_AT], source, OCCURRED_AT, required=True, years=years
    ).parsed
    kind = clean_text(df[ACTIVITY_TYPE])
    checked.add(
        [
            rows_problem(
                kind.isna(),
                df[ACTIVITY_TYPE],
                source=source,
                column=ACTIVITY_TYPE,
                what="empty",
                expected="an activity category such as 'email_open' in every row",
                reason="is empty",
                show_value=False,
            )
        ]
    )
    detail = (
        clean_text(df[DETAIL])
        if DETAIL in df.columns
        else pd.Series(np.nan, index=df.index, dtype="str")
    )
    _note_ignored(df, source, ACTIVITY_COLUMNS, checked)
    checked.frame = pd.DataFrame(
        {
            LEAD_ID: ids,
            OCCURRED_AT: occurred,
            ACTIVITY_TYPE: normalise_categories(kind),
            DETAIL: detail,
        }
    )
    return checked


def check_outcomes(
    df: pd.DataFrame,
    *,
    source: str = "outcomes",
    mapping: Mapping[str, str] | None = None,
    dayfirst: bool | None = None,
) -> Checked:
    """Check and type the outcomes table on its own, keeping the input row order.

    A lead with ``won_at`` but no ``sql_at`` is taken to have reached SQL when won.

    Parameters
    ----------
    df : DataFrame
        The outcomes as read.
    source : str
        The file name, for messages.
    mapping : mapping of str to str, optional
        ``{their_column: our_column}`` renames applied first.

    Returns
    -------
    Checked
    """
    checked = _prepare(df, source, "outcomes", mapping, dayfirst)
    if checked.frame is None:
        return checked
    df = checked.frame
    ids, problems = check_ids(
        df[LEAD_ID], source=source, unique="at most one outcome row per lead"
    )
    checked.add(problems)
    parsed: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for col in DATETIME_COLUMNS["outcomes"]:
        if col in df.columns:
            column = checked.datetimes(df[col], source, col, required=False)
            parsed[col], bad[col] = column.parsed, column.bad
        else:
            parsed[col] = pd.Series(pd.NaT, index=df.index, dtype=DATETIME_DTYPE)
            bad[col] = pd.Series(False, index=df.index)
    sql, won = parsed[SQL_AT], parsed[WON_AT]
    filled = sql.isna() & ~bad[SQL_AT] & won.notna()
    if filled.any():
        sql = sql.mask(filled, won)
        checked.notes.append(
            f"{source}: {plural(int(filled.sum()), 'lead')} won without an sql_at; "
            "treated as reaching SQL when won (sql_at set to won_at)"
        )
    checked.filled_sql = filled
    early = won.notna() & sql.notna() & (won < sql)
    checked.add(
        [
            rows_problem(
                early,
                _versus(won, sql, SQL_AT, early),
                source=source,
                column=WON_AT,
                what="won_at before sql_at",
                expected="won_at at or after sql_at (a deal is won after the lead reaches SQL)",
            )
        ]
    )
    deal = _check_deal_value(df, source, checked)
    _note_ignored(df, source, OUTCOME_COLUMNS, checked)
    checked.frame = pd.DataFrame(
        {LEAD_ID: ids, SQL_AT: sql, WON_AT: won, LOST_AT: parsed[LOST_AT], DEAL_VALUE: deal}
    )
    return checked


def _check_deal_value(df: pd.DataFrame, source: str, checked: Checked) -> pd.Series:
    if DEAL_VALUE not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    raw = df[DEAL_VALUE]
    if ptypes.is_numeric_dtype(raw) and not ptypes.is_bool_dtype(raw):
        num = raw.astype("float64")
        not_number = raw.notna() & ~np.isfinite(num.fillna(0.0))
    else:
        text = clean_text(raw)
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        not_number = text.notna() & (num.isna() | ~np.isfinite(num.fillna(0.0)))
    expected = "a number >= 0 such as 1200 or 1200.50 (no currency symbols or separators)"
    negative = ~not_number & (num < 0)
    checked.add(
        [
            rows_problem(not_number, raw, source=source, column=DEAL_VALUE,
                         what="not a number", expected=expected + ", or empty"),
            rows_problem(negative, raw, source=source, column=DEAL_VALUE, what="negative",
                         expected=expected),
        ]
    )
    return num.mask(not_number)


def _versus(values: pd.Series, other: pd.Series, other_name: str, mask: pd.Series) -> pd.Series:
    """Display ``'<value>' vs <other_name> '<other>'`` for the masked rows."""
    shown = pd.Series(None, index=values.index, dtype=object)
    for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
        v, o = format_timestamp(values.iloc[i]), format_timestamp(other.iloc[i])
        shown.iloc[i] = Display(f"'{v}' vs {other_name} '{o}'")
    return shown


def _note_ignored(df: pd.DataFrame, source: str, kept: tuple[str, ...], checked: Checked) -> None:
    ignored = [c for c in df.columns if c not in kept]
    if ignored:
        checked.notes.append(f"{source}: ignored columns not in the contract: {quoted(ignored)}")


# --- public API ----------------------------------------------------------------------------


def _raise_if(checked: Checked) -> pd.DataFrame:
    if checked.problems or checked.frame is None:
        raise DataValidationError(messages(checked.problems))
    return checked.frame


def validate_leads(
    df: pd.DataFrame, source: str = "leads", mapping: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Validate and type the leads table.

    Parameters
    ----------
    df : DataFrame
        The leads as read (CSV columns may all be text).
    source : str
        The file name or path used in problem messages.
    mapping : mapping of str to str, optional
        ``{their_column: our_column}`` renames applied first.

    Returns
    -------
    DataFrame
        ``lead_id`` (str), ``created_at`` (UTC) and all other columns (stripped text, or
        numbers when every non-empty value is a plain number), sorted by ``created_at``
        then ``lead_id``.

    Raises
    ------
    DataValidationError
        Listing every problem in the table.
    """
    return _sort_leads(_raise_if(check_leads(df, source=source, mapping=mapping)))


def validate_activities(
    df: pd.DataFrame, source: str = "activities", mapping: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Validate and type the activities table on its own (no check against leads).

    Parameters
    ----------
    df : DataFrame
        The activities as read.
    source : str
        The file name or path used in problem messages.
    mapping : mapping of str to str, optional
        ``{their_column: our_column}`` renames applied first.

    Returns
    -------
    DataFrame
        Columns ``lead_id``, ``occurred_at`` (UTC), ``activity_type`` (stripped,
        lowercase, whitespace as ``_``) and ``detail``, sorted by ``lead_id`` then
        ``occurred_at``. Other columns are dropped.

    Raises
    ------
    DataValidationError
        Listing every problem in the table.
    """
    return _sort_activities(_raise_if(check_activities(df, source=source, mapping=mapping)))


def validate_outcomes(
    df: pd.DataFrame, source: str = "outcomes", mapping: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Validate and type the outcomes table on its own (no check against leads).

    A lead with ``won_at`` but no ``sql_at`` is taken to have reached SQL when won.

    Parameters
    ----------
    df : DataFrame
        The outcomes as read.
    source : str
        The file name or path used in problem messages.
    mapping : mapping of str to str, optional
        ``{their_column: our_column}`` renames applied first.

    Returns
    -------
    DataFrame
        Columns ``lead_id``, ``sql_at``, ``won_at``, ``lost_at`` (UTC, NaT when not
        reached or absent) and ``deal_value`` (float, NaN when absent), sorted by
        ``lead_id``.

    Raises
    ------
    DataValidationError
        Listing every problem in the table.
    """
    return _sort_outcomes(_raise_if(check_outcomes(df, source=source, mapping=mapping)))


def empty_activities() -> pd.DataFrame:
    """An activities table with the contract's columns and dtypes and no rows."""
    return pd.DataFrame(
        {
            LEAD_ID: pd.Series(dtype="str"),
            OCCURRED_AT: pd.Series(dtype=DATETIME_DTYPE),
            ACTIVITY_TYPE: pd.Series(dtype="str"),
            DETAIL: pd.Series(dtype="str"),
        }
    )


def empty_outcomes() -> pd.DataFrame:
    """An outcomes table with the contract's columns and dtypes and no rows."""
    return pd.DataFrame(
        {
            LEAD_ID: pd.Series(dtype="str"),
            SQL_AT: pd.Series(dtype=DATETIME_DTYPE),
            WON_AT: pd.Series(dtype=DATETIME_DTYPE),
            LOST_AT: pd.Series(dtype=DATETIME_DTYPE),
            DEAL_VALUE: pd.Series(dtype="float64"),
        }
    )


def validate_crm(
    leads: pd.DataFrame,
    activities: pd.DataFrame | ActivityFiles | None,
    outcomes: pd.DataFrame | None,
    config: DataConfig | None = None,
    sources: Mapping[str, str] | None = None,
) -> CrmData:
    """Validate the three tables together and report every problem at once.

    Besides each table's own checks, every ``lead_id`` in activities and outcomes must
    be a lead, and ``sql_at`` / ``won_at`` / ``lost_at`` must not precede the lead's
    ``created_at``.

    Parameters
    ----------
    leads : DataFrame
        The leads table as read.
    activities : DataFrame, ActivityFiles or None
        The activities table; ``None`` when there is none (an empty table and a note);
        :class:`~mqlml.data.activity_files.ActivityFiles` are checked in SQL with the same
        checks and messages, and kept out of core.
    outcomes : DataFrame or None
        The outcomes table; ``None`` when there is none (no lead reached SQL; a note).
    config : DataConfig, optional
        Supplies ``column_mapping``.
    sources : mapping of str to str, optional
        Display name (file path) per table for messages; defaults to the table name.

    Returns
    -------
    CrmData
        Typed, sorted tables and the notes.

    Raises
    ------
    DataValidationError
        Listing every problem across all three tables.
    """
    config = config or DataConfig()
    names = {t: (sources or {}).get(t, t) for t in TABLES}
    maps = config.column_mapping
    day = config.dayfirst
    checks = {
        "leads": check_leads(
            leads, source=names["leads"], mapping=maps.get("leads"), dayfirst=day
        )
    }
    absent_notes: list[str] = []
    files = None if isinstance(activities, pd.DataFrame) or activities is None else activities
    if files is not None:
        checks["activities"] = Checked(empty_activities())
    elif activities is None:
        checks["activities"] = Checked(empty_activities())
        absent_notes.append("no activities table: features use lead attributes only (0 activities)")
    else:
        checks["activities"] = check_activities(
            activities, source=names["activities"], mapping=maps.get("activities"), dayfirst=day
        )
    if outcomes is None:
        checks["outcomes"] = Checked(empty_outcomes())
        absent_notes.append("no outcomes table: no lead is known to have reached SQL")
    else:
        checks["outcomes"] = check_outcomes(
            outcomes, source=names["outcomes"], mapping=maps.get("outcomes"), dayfirst=day
        )

    notes = absent_notes + [n for c in checks.values() for n in c.notes]
    lead_frame = checks["leads"].frame
    latest = None
    if files is not None:
        # Checked in SQL over every row, against the leads when they are usable.
        found = files.check(lead_frame, leads_source=names["leads"])
        checks["activities"].problems.extend(found.problems)
        notes.extend(found.notes)
        if found.naive:
            checks["activities"].naive[OCCURRED_AT] = found.naive
        latest = found.latest
    if lead_frame is not None:
        for table in ("activities", "outcomes"):
            frame = checks[table].frame
            if frame is None or (table == "activities" and (activities is None or files)):
                continue
            if table == "outcomes" and outcomes is None:
                continue
            if len(frame) == 0:
                notes.append(f"{names[table]}: the table has no rows")
            else:
                _cross_check(frame, lead_frame, table, names, checks[table], notes)
    problems = [p for c in checks.values() for p in c.problems]
    if files is not None:
        names["activities"] = files.source
    naive = [
        f"{names[t]} {col} ({plural(n, 'value')})"
        for t, c in checks.items()
        for col, n in c.naive.items()
    ]
    if naive:
        notes.append("times without a time zone were taken as UTC: " + "; ".join(naive))
    if problems or any(c.frame is None for c in checks.values()):
        raise DataValidationError(messages(problems))
    return CrmData(
        leads=_sort_leads(checks["leads"].frame),
        activities=_sort_activities(checks["activities"].frame),
        outcomes=_sort_outcomes(checks["outcomes"].frame),
        notes=tuple(notes),
        activity_files=files,
        activities_latest=latest,
    )


def unknown_leads_problem(
    mask, ids: pd.Series, n_ids: int, source: str, leads_source: str
) -> Problem | None:
    """The problem of activity or outcome rows whose ``lead_id`` is not a lead.

    Parameters
    ----------
    mask : array-like of bool
        The rows of unknown leads.
    ids : Series
        Their ``lead_id`` (aligned with ``mask``).
    n_ids : int
        How many distinct ids are unknown.
    source, leads_source : str
        The table's file and the leads' file.

    Returns
    -------
    Problem or None
    """
    return rows_problem(
        mask,
        ids,
        source=source,
        column=LEAD_ID,
        what=f"lead_id not in {leads_source} ({plural(n_ids, 'distinct id')})",
        expected=f"every lead_id to appear in {leads_source}",
    )


def activity_notes(
    n_before: int, n_without: int, n_leads: int, source: str, leads_source: str
) -> list[str]:
    """The notes on activities against leads: events before their lead's creation and
    leads without any event."""
    notes = []
    if n_before:
        n = plural(n_before, "activity", many="activities")
        notes.append(f"{source}: {n} happened before their lead's created_at")
    notes.append(f"{leads_source}: {n_without:,} of {n_leads:,} leads have no activities")
    return notes


def _cross_check(
    frame: pd.DataFrame,
    leads: pd.DataFrame,
    table: str,
    names: Mapping[str, str],
    checked: Checked,
    notes: list[str],
) -> None:
    """Checks of ``frame`` (activities or outcomes, original row order) against leads."""
    source, leads_source = names[table], names["leads"]
    known = frame[LEAD_ID].isin(set(leads[LEAD_ID].dropna()))
    unknown = frame[LEAD_ID].notna() & ~known
    n_ids = int(frame.loc[unknown, LEAD_ID].nunique())
    checked.add([unknown_leads_problem(unknown, frame[LEAD_ID], n_ids, source, leads_source)])
    first = leads.dropna(subset=[LEAD_ID]).drop_duplicates(LEAD_ID)
    created = frame[LEAD_ID].map(first.set_index(LEAD_ID)[CREATED_AT])
    if table == "activities":
        before = frame[OCCURRED_AT].notna() & created.notna() & (frame[OCCURRED_AT] < created)
        with_activity = leads[LEAD_ID].isin(set(frame[LEAD_ID].dropna()))
        notes.extend(activity_notes(
            int(before.sum()), int((~with_activity).sum()), len(leads), source, leads_source
        ))
        return
    filled = checked.filled_sql
    assert filled is not None
    for col, mask in (
        (SQL_AT, ~filled),
        (WON_AT, filled),  # sql_at came from won_at: name the column the user wrote
        (LOST_AT, pd.Series(True, index=frame.index)),
    ):
        when = frame[col]
        early = mask & when.notna() & created.notna() & (when < created)
        checked.add(
            [
                rows_problem(
                    early,
                    _versus(when, created, CREATED_AT, early),
                    source=source,
                    column=col,
                    what=f"{col} before the lead's created_at",
                    expected=f"{col} at or after the lead's created_at in {leads_source}",
                )
            ]
        )


def _sort_leads(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) < 2:  # nothing to sort; sort_values costs a REST request dearly
        return df.reset_index(drop=True)
    return df.sort_values([CREATED_AT, LEAD_ID], kind="mergesort").reset_index(drop=True)


def _sort_activities(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) < 2:
        return df.reset_index(drop=True)
    keys = [LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]
    return df.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _sort_outcomes(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(LEAD_ID, kind="mergesort").reset_index(drop=True)


# --- I/O edge and snapshot ---------------------------------------------------------------


def load_crm(
    data_dir: str | Path | None, config: DataConfig, *, require_outcomes: bool = True
) -> CrmData:
    """Read and validate the CRM tables.

    Each table's path comes from ``config`` (``data.leads`` etc.) when set, else from
    ``<data_dir>/<table>`` with one of :data:`mqlml.data.files.TABLE_SUFFIXES`. ``leads``
    is required, and ``outcomes`` too unless ``require_outcomes`` is false (scoring). A
    missing activities table gives an empty one and a note.

    Parameters
    ----------
    data_dir : path, optional
        Directory holding the tables.
    config : DataConfig
        Paths, ``column_mapping``.
    require_outcomes : bool
        Whether a missing outcomes table is an error.

    Returns
    -------
    CrmData
        See :func:`validate_crm`.

    Raises
    ------
    MqlmlError
        When a required file is missing, ambiguous or unreadable (all such listed).
    DataValidationError
        When the tables break the data contract.
    """
    errors: list[str] = []
    directory = Path(data_dir) if data_dir is not None else None
    if directory is not None and not directory.is_dir():
        errors.append(f"{directory}: data directory not found")
        directory = None
    paths: dict[str, Path] = {}
    for table in TABLES:
        required = table == "leads" or (table == "outcomes" and require_outcomes)
        configured = getattr(config, table)
        if configured is not None:
            paths[table] = Path(configured)
            continue
        if directory is None:
            if required and not errors:
                errors.append(
                    f"no {table} table: give a data directory or set data.{table} in the config"
                )
            continue
        present = [s for s in io.TABLE_SUFFIXES if (directory / f"{table}{s}").is_file()]
        if table == "activities" and not present and (directory / table).is_dir():
            paths[table] = directory / table  # a folder of Parquet files (e.g. from Spark)
            continue
        if not present and not required:
            continue
        try:
            paths[table] = io.find_table(directory, table)
        except MqlmlError as exc:
            errors.append(str(exc))
    frames: dict[str, pd.DataFrame | ActivityFiles] = {}
    for table, path in paths.items():
        try:
            if table == "activities" and is_out_of_core(path):
                frames[table] = activity_files(path, config)
            else:
                frames[table] = io.read_table(path)
        except MqlmlError as exc:
            errors.append(str(exc))
    if errors:
        raise MqlmlError("\n".join(errors))
    return validate_crm(
        frames["leads"],
        frames.get("activities"),
        frames.get("outcomes"),
        config,
        sources={t: str(p) for t, p in paths.items()},
    )


def activity_files(path: str | Path, config: DataConfig) -> ActivityFiles:
    """Activities at ``path`` to read out of core, with ``config``'s mapping and DuckDB limits.

    Parameters
    ----------
    path : str or path
        A Parquet file, a folder of them or a glob (:func:`is_out_of_core`).
    config : DataConfig
        ``column_mapping.activities``, ``memory_limit``, ``temp_directory``, ``threads``.
    """
    from mqlml.data.activity_files import ActivityFiles

    return ActivityFiles(
        path, mapping=config.column_mapping.get("activities"),
        memory_limit=config.memory_limit, temp_directory=config.temp_directory,
        threads=config.threads,
    )


def snapshot_time(crm: CrmData, config: DataConfig) -> pd.Timestamp:
    """The end of the data: ``config.snapshot_at`` (UTC) else the latest timestamp seen.

    Raises
    ------
    ConfigError
        When ``snapshot_at`` is not a date/time.
    MqlmlError
        When no table holds any timestamp.
    """
    if config.snapshot_at is not None:
        parsed = to_utc(pd.Series([str(config.snapshot_at)], dtype="str")).iloc[0]
        if pd.isna(parsed):
            raise ConfigError(
                f"data.snapshot_at {config.snapshot_at!r} is not a date/time; "
                f"expected {DATETIME_EXPECTED}"
            )
        return pd.Timestamp(parsed)
    latest = [
        frame[col].max()
        for frame, cols in (
            (crm.leads, (CREATED_AT,)),
            (crm.activities, (OCCURRED_AT,)),
            (crm.outcomes, (SQL_AT, WON_AT, LOST_AT)),
        )
        for col in cols
        if col in frame.columns and frame[col].notna().any()
    ]
    if crm.activities_latest is not None:
        latest.append(crm.activities_latest)
    if not latest:
        raise MqlmlError("no timestamps in the data; set data.snapshot_at")
    return pd.Timestamp(max(latest))
