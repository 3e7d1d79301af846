"""Flat mode, the data side: one export with a row per lead, mapped to the contract's tables.

Most teams have one export: a row per lead with pre-aggregated behaviour counts and a
converted flag, sometimes without any date. ``flat:`` in the config says which column is
the outcome and which values of it mean converted, which column orders the rows in time
(a date/time, or a number such as a sequence id), which column identifies a row, which
columns to leave out and which cell values mean "missing" (``Select``, ``unknown``).

This module maps such an export to the contract's names, the same way for training
(:func:`flat_export`: validated leads, the outcome, the time order) and for scoring
(:func:`flat_batch`: the leads table a scoring batch checks). Every remaining column of
the export is a lead attribute, used as a feature as it is; there are no activities.
Labelling the export (and the random split when it has no time order) is the labels
layer's job: :mod:`mqlml.labels.flat`.

With a preset (``flat.preset``, see :mod:`mqlml.data.presets`) the export's lifecycle dates
are the outcome instead: the export becomes a leads and an outcomes table, validated like
any CRM history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mqlml.columns import AS_OF, CREATED_AT, LEAD_ID
from mqlml.config import Config, FlatConfig
from mqlml.data.contract import CrmData, validate_crm, validate_leads
from mqlml.data.presets import preset_tables
from mqlml.data.validate import (
    DATETIME_DTYPE,
    YEARS,
    clean_text,
    map_distinct,
    out_of_years,
    to_utc,
)
from mqlml.errors import ConfigError, DataValidationError, MqlmlError

#: Where rows without dates are placed in time (they keep their order, evenly spaced).
UNDATED_ORIGIN = pd.Timestamp("2000-01-01", tz="UTC")
#: Without ``rows_per_week`` an undated export is taken to span this many weeks.
DEFAULT_UNDATED_WEEKS = 52.0
# Text that looks like a date: 2024-03-05, 05/03/2024, 5.3.2024, with or without a time.
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}.*)?\s*$")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, eq=False)
class FlatExport:
    """A flat export read for training: typed tables, the outcome, the time order.

    Attributes
    ----------
    leads : DataFrame
        Validated leads (``lead_id``, ``created_at`` and the attributes). Without a
        preset: in the export's row order; with one: as in ``crm``.
    target : ndarray or None
        Without a preset: 1.0 where the row converted (``flat.positive_values``), else
        0.0, aligned with ``leads``. ``None`` with a preset.
    crm : CrmData or None
        With a preset: the leads and the outcomes (lifecycle dates) as a CRM history.
    time_ordered : bool
        Whether the rows have a time order (a time column, or ``flat.rows_in_time_order``).
    source : str
        The file name, for messages.
    notes : tuple of str
        Facts about the export for the report.
    """

    leads: pd.DataFrame
    target: np.ndarray | None
    crm: CrmData | None
    time_ordered: bool
    source: str
    notes: tuple[str, ...] = ()


def _require_columns(frame: pd.DataFrame, source: str, wanted: dict[str, str]) -> None:
    missing = [f"flat.{key} {col!r}" for key, col in wanted.items() if col not in frame.columns]
    if missing:
        found = ", ".join(repr(str(c)) for c in frame.columns)
        raise ConfigError(
            f"{source}: {'; '.join(missing)} not found in the file; columns found: {found}"
        )


def blank_placeholders(frame: pd.DataFrame, missing_values) -> pd.DataFrame:
    """Cells whose stripped text equals a placeholder (any case) become missing.

    Exports from web forms write ``Select`` or ``unknown`` where nobody answered; left as
    text they would be a category of their own.

    Parameters
    ----------
    frame : DataFrame
        The export as read.
    missing_values : iterable of str
        The placeholders (``flat.missing_values``).

    Returns
    -------
    DataFrame
    """
    if not missing_values:
        return frame
    tokens = {str(v).strip().casefold() for v in missing_values}
    out = frame.copy()
    for c in out.columns:
        s = out[c]
        if ptypes.is_numeric_dtype(s) or ptypes.is_datetime64_any_dtype(s):
            continue
        placeholder = map_distinct(
            s, lambda v: str(v).strip().casefold() in tokens, dtype=bool, missing=False
        )
        out[c] = s.mask(placeholder)
    return out


def _parse_date_columns(frame: pd.DataFrame, skip: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """Text columns whose every non-empty value is a date become UTC datetimes."""
    out = frame.copy()
    parsed_cols = []
    for c in out.columns:
        if c in skip or not (ptypes.is_string_dtype(out[c]) or ptypes.is_object_dtype(out[c])):
            continue
        values = pd.unique(out[c].dropna().astype("str"))
        if len(values) == 0 or not all(_DATE_LIKE.match(v) for v in values):
            continue
        parsed = to_utc(out[c])
        if parsed[out[c].notna()].notna().all():
            out[c] = parsed
            parsed_cols.append(c)
    return out, parsed_cols


def _undated_times(n: int, rows_per_week: float | None) -> tuple[pd.Series, str]:
    rate = rows_per_week if rows_per_week is not None else max(n, 1) / DEFAULT_UNDATED_WEEKS
    step = pd.Timedelta(days=7) / rate
    times = UNDATED_ORIGIN + step * np.arange(n)
    how = (
        f"{rows_per_week:g} rows a week (flat.rows_per_week)"
        if rows_per_week is not None
        else f"the export taken to span {DEFAULT_UNDATED_WEEKS:g} weeks "
        "(set flat.rows_per_week for the real rate)"
    )
    note = (
        f"no dates in the export: rows keep their order and are spaced evenly at {how}, "
        "which only sets the weeks the MQL capacity counts"
    )
    return pd.Series(times, dtype=DATETIME_DTYPE), note


def _row_times(frame: pd.DataFrame, flat: FlatConfig, source: str) -> tuple[pd.Series, list[str]]:
    """``created_at`` per row (UTC) from ``flat.time_column``, and notes."""
    n = len(frame)
    col = flat.time_column
    if col is None:
        times, note = _undated_times(n, flat.rows_per_week)
        return times, [note]
    text = clean_text(frame[col])
    empty = text.isna()
    if empty.any():
        rows = (np.flatnonzero(empty.to_numpy())[:5] + 1).tolist()
        raise DataValidationError(
            [
                f"{source}, column {col!r} (flat.time_column): empty in {int(empty.sum())} "
                f"rows (rows {rows}); expected a date/time or an ordering number in every row"
            ]
        )
    if all(_NUMBER.fullmatch(v) for v in pd.unique(text)):
        order = np.argsort(pd.to_numeric(text).to_numpy(), kind="stable")
        rank = np.empty(n, dtype=int)
        rank[order] = np.arange(n)
        times, note = _undated_times(n, flat.rows_per_week)
        note = f"{col} is an ordering number, not a date: " + note
        return pd.Series(times.to_numpy()[rank], dtype=DATETIME_DTYPE), [note]
    parsed = to_utc(text)
    # A value without a year ("Feb", "March 5") parses as the year 1: not a moment in the
    # history, and beyond what the time split's arithmetic can hold.
    bad = parsed.isna() | out_of_years(parsed)
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy())[:5] + 1).tolist()
        vals = text[bad].head(5).tolist()
        raise DataValidationError(
            [
                f"{source}, column {col!r} (flat.time_column): not a date/time in "
                f"{int(bad.sum())} rows (rows {rows}, values {vals}); expected a date/time "
                f"with its year ({YEARS[0]}-{YEARS[1]}) such as 2024-03-05 or "
                "2024-03-05T10:00:00+02:00, or an ordering number"
            ]
        )
    return parsed.reset_index(drop=True), []


def _mapped_leads(frame: pd.DataFrame, flat: FlatConfig, source: str) -> tuple[
    pd.DataFrame, list[str]
]:
    """The export's rows as an unvalidated leads table (``lead_id``, ``created_at`` as
    UTC, the attributes), in the export's row order, and notes.

    The target column, if present, is dropped; so are ``flat.exclude_columns``.
    """
    wanted = {"id_column": flat.id_column, "time_column": flat.time_column}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    for i, c in enumerate(flat.exclude_columns):
        wanted[f"exclude_columns[{i}]"] = c
    _require_columns(frame, source, wanted)
    frame = blank_placeholders(frame.reset_index(drop=True), flat.missing_values)
    created, notes = _row_times(frame, flat, source)
    drop = [c for c in (flat.target_column, flat.time_column) if c is not None and c in frame]
    drop += [c for c in flat.exclude_columns if c not in drop]
    attrs = frame.drop(columns=drop)
    if flat.id_column is not None:
        ids = attrs.pop(flat.id_column)
    else:
        ids = pd.Series(np.arange(1, len(frame) + 1), dtype="int64").astype("str")
        notes.append("no flat.id_column: rows are identified by their row number (1-based)")
    for reserved in (LEAD_ID, CREATED_AT, AS_OF):
        if reserved in attrs.columns:
            raise ConfigError(
                f"{source}: the column {reserved!r} is reserved for mqlml; name it in "
                f"flat.id_column / flat.time_column or list it in flat.exclude_columns"
            )
    attrs, date_cols = _parse_date_columns(attrs, skip=set())
    if date_cols:
        notes.append(f"read as dates: {', '.join(date_cols)}")
    if drop:
        notes.append(f"not used as features: {', '.join(drop)}")
    table = pd.concat(
        [pd.DataFrame({LEAD_ID: ids.to_numpy(), CREATED_AT: created.to_numpy()}), attrs], axis=1
    )
    return table, notes


def _preset_leads(
    frame: pd.DataFrame, flat: FlatConfig, source: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """A preset export as an unvalidated leads and outcomes table, and notes."""
    assert flat.preset is not None
    frame = blank_placeholders(frame.reset_index(drop=True), flat.missing_values)
    leads, outcomes, notes = preset_tables(frame, flat.preset, source, flat.exclude_columns)
    leads, date_cols = _parse_date_columns(leads, skip={LEAD_ID, CREATED_AT})
    if date_cols:
        notes.append(f"read as dates: {', '.join(date_cols)}")
    return leads, outcomes, notes


def _flat_target(frame: pd.DataFrame, flat: FlatConfig, source: str) -> tuple[np.ndarray, str]:
    col = flat.target_column
    text = map_distinct(frame[col], lambda v: str(v).strip().casefold(), dtype=object)
    positive = {str(v).strip().casefold() for v in flat.positive_values}
    y = text.isin(positive).to_numpy(dtype=float)
    if y.sum() == 0 or y.sum() == len(y):
        seen = text.dropna().value_counts().head(10).index.tolist()
        what = "no row" if y.sum() == 0 else "every row"
        raise DataValidationError(
            [
                f"{source}, column {col!r} (flat.target_column): {what} has one of "
                f"flat.positive_values {list(flat.positive_values)}; values found: {seen}; "
                "expected both converted and unconverted rows"
            ]
        )
    n_empty = int(text.isna().sum())
    note = f"{col}: {int(y.sum()):,} of {len(y):,} rows converted ({', '.join(positive)})"
    if n_empty:
        note += f"; {n_empty:,} rows with an empty {col} counted as not converted"
    return y, note


def _in_file_order(validated: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Validated (sorted) leads put back in the order of ``table``'s rows."""
    order = clean_text(table[LEAD_ID].astype("str"))
    return validated.set_index(LEAD_ID, drop=False).loc[order].reset_index(drop=True)


def flat_export(frame: pd.DataFrame, config: Config, *, source: str = "export") -> FlatExport:
    """Map and validate a flat export for training.

    Parameters
    ----------
    frame : DataFrame
        The export as read (:func:`mqlml.data.files.read_table`).
    config : Config
        ``config.flat`` says which columns mean what; ``config.data`` supplies the
        column mapping of a preset export's tables.
    source : str
        The file name, for messages.

    Returns
    -------
    FlatExport

    Raises
    ------
    ConfigError
        When ``config.flat`` is missing or names columns the export does not have.
    DataValidationError
        When the outcome, the time column or the leads break the contract.
    """
    flat = config.flat
    if flat is None:
        raise ConfigError("flat mode needs a flat: section in the config")
    if flat.preset is not None:
        leads, outcomes, notes = _preset_leads(frame, flat, source)
        crm = validate_crm(leads, None, outcomes, config.data, sources={"leads": source})
        return FlatExport(crm.leads, None, crm, True, source, tuple(notes))
    _require_columns(frame, source, {"target_column": flat.target_column})
    frame = frame.reset_index(drop=True)
    y, target_note = _flat_target(frame, flat, source)
    table, notes = _mapped_leads(frame, flat, source)
    leads = _in_file_order(validate_leads(table, source), table)
    ordered = flat.time_column is not None or flat.rows_in_time_order
    return FlatExport(leads, y, None, ordered, source, (target_note, *notes))


def flat_batch(frame: pd.DataFrame, flat: FlatConfig | None, *, source: str = "export"):
    """Map a flat export to the leads table a scoring batch checks.

    The same placeholders, exclusions, id and time handling as at training; the target
    column may be absent. Rows keep their file order. Without a preset, ``as_of`` (the
    scoring moment of a row) is its time: a flat row's attributes describe the lead as
    exported; with a preset the scoring moment is the batch's.

    Parameters
    ----------
    frame : DataFrame
        The export as read.
    flat : FlatConfig
        The model's ``flat:`` settings.
    source : str
        The file name, for messages.

    Returns
    -------
    DataFrame
        ``lead_id``, ``created_at``, the attributes and (without a preset) ``as_of``,
        not yet validated (see :func:`mqlml.scoring.batch.check_batch`).

    Raises
    ------
    MqlmlError
        When the model was not trained in flat mode, or the export lacks its columns.
    """
    if flat is None:
        raise MqlmlError("the model was not trained in flat mode")
    if flat.preset is not None:
        return _preset_leads(frame, flat, source)[0]
    table, _ = _mapped_leads(frame, flat, source)
    table[AS_OF] = table[CREATED_AT]
    return table
