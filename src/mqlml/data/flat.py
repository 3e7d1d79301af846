"""Flat mode: one export with a row per lead instead of three tables.

Most teams have one export: a row per lead with pre-aggregated behaviour counts and a
converted flag, sometimes without any date. ``flat:`` in the config says which column is
the outcome and which values of it mean converted, which column orders the rows in time
(a date/time, or a number such as a sequence id), which column identifies a row, which
columns to leave out and which cell values mean "missing" (``Select``, ``unknown``).

The result is a :class:`~mqlml.training.pipeline.LabelledLeads`, so everything downstream
(features, leakage and drift audits, model, calibration, thresholds, report, scoring)
is the same as for a CRM history. Every remaining column of the export is a lead
attribute, used as a feature as it is; the activities table is empty.

Without a time column there is no honest time-ordered split: rows are split at random,
stratified by the outcome, and :class:`OptimisticSplitWarning` says so, since metrics on
a random split overstate how the model does on future leads.

With a preset (``flat.preset``, see :mod:`mqlml.data.presets`) the export's lifecycle dates
are the outcome instead: the export becomes a leads and an outcomes table and is
labelled like any CRM history (horizon, maturity).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import train_test_split

from mqlml.columns import AS_OF, CREATED_AT, LEAD_ID, SQL_AT, WON_AT
from mqlml.config import Config, FlatConfig
from mqlml.data import files as io
from mqlml.data.contract import DATETIME_DTYPE, empty_activities, validate_crm, validate_leads
from mqlml.errors import ConfigError, DataValidationError, InsufficientDataError, MqlmlError
from mqlml.labels.labelling import CONVERTED_BEFORE_AS_OF, ELIGIBLE, IMMATURE
from mqlml.labels.split import SLICES, Period, TimeSplit
from mqlml.training.pipeline import LabelledLeads, label_history

#: Where rows without dates are placed in time (they keep their order, evenly spaced).
UNDATED_ORIGIN = pd.Timestamp("2000-01-01", tz="UTC")
#: Without ``rows_per_week`` an undated export is taken to span this many weeks.
DEFAULT_UNDATED_WEEKS = 52.0
# Text that looks like a date: 2024-03-05, 05/03/2024, 5.3.2024, with or without a time.
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}.*)?\s*$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class OptimisticSplitWarning(UserWarning):
    """A flat export without a time column was split at random: metrics may be optimistic."""


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
    """
    if not missing_values:
        return frame
    tokens = {str(v).strip().casefold() for v in missing_values}
    out = frame.copy()
    for c in out.columns:
        s = out[c]
        if ptypes.is_numeric_dtype(s) or ptypes.is_datetime64_any_dtype(s):
            continue
        folded = s.astype("str").str.strip().str.casefold()
        out[c] = s.mask(s.notna() & folded.isin(tokens))
    return out


def _parse_date_columns(frame: pd.DataFrame, skip: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """Text columns whose every non-empty value is a date become UTC datetimes."""
    out = frame.copy()
    parsed_cols = []
    for c in out.columns:
        if c in skip or not (ptypes.is_string_dtype(out[c]) or ptypes.is_object_dtype(out[c])):
            continue
        text = out[c].dropna().astype("str")
        if text.empty or not text.str.match(_DATE_LIKE).all():
            continue
        parsed = to_utc(out[c])
        if parsed[out[c].notna()].notna().all():
            out[c] = parsed
            parsed_cols.append(c)
    return out, parsed_cols


def to_utc(s: pd.Series) -> pd.Series:
    """Text dates in any common format or time zone as UTC datetimes (NaT when unparsable).

    ISO 8601 first; other formats value by value, slash dates as month/day/year and
    times without a zone taken as UTC.
    """
    text = s.astype("str").str.strip().where(s.notna())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each value's outcome is checked by the caller
        out = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        rest = text.notna() & out.isna()
        if rest.any():
            out = out.astype(DATETIME_DTYPE)
            out[rest] = pd.to_datetime(
                text[rest], utc=True, errors="coerce", format="mixed"
            ).astype(DATETIME_DTYPE)
    return out.astype(DATETIME_DTYPE)


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


def _row_times(
    frame: pd.DataFrame, flat: FlatConfig, source: str
) -> tuple[pd.Series, pd.Series, list[str]]:
    """``created_at`` per row (UTC), the row order it implies, and notes."""
    notes: list[str] = []
    n = len(frame)
    col = flat.time_column
    if col is None:
        times, note = _undated_times(n, flat.rows_per_week)
        return times, pd.Series(np.arange(n)), [note]
    raw = frame[col]
    text = raw.astype("str").str.strip().where(raw.notna())
    empty = text.isna()
    if empty.any():
        rows = (np.flatnonzero(empty.to_numpy())[:5] + 1).tolist()
        raise DataValidationError(
            [
                f"{source}, column {col!r} (flat.time_column): empty in {int(empty.sum())} "
                f"rows (rows {rows}); expected a date/time or an ordering number in every row"
            ]
        )
    if text.str.fullmatch(_NUMBER).all():
        order_key = pd.to_numeric(text)
        order = pd.Series(np.argsort(order_key.to_numpy(), kind="stable"))
        rank = np.empty(n, dtype=int)
        rank[order.to_numpy()] = np.arange(n)
        times, note = _undated_times(n, flat.rows_per_week)
        notes.append(f"{col} is an ordering number, not a date: " + note)
        return pd.Series(times.to_numpy()[rank], dtype=DATETIME_DTYPE), order, notes
    parsed = to_utc(raw)
    bad = parsed.isna()
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy())[:5] + 1).tolist()
        vals = text[bad].head(5).tolist()
        raise DataValidationError(
            [
                f"{source}, column {col!r} (flat.time_column): not a date/time in "
                f"{int(bad.sum())} rows (rows {rows}, values {vals}); expected a date/time "
                "such as 2024-03-05 or 2024-03-05T10:00:00+02:00, or an ordering number"
            ]
        )
    order = pd.Series(np.argsort(parsed.to_numpy(), kind="stable"))
    return parsed.reset_index(drop=True), order, notes


def flat_leads(frame: pd.DataFrame, flat: FlatConfig, source: str = "export") -> tuple[
    pd.DataFrame, list[str]
]:
    """The export's rows as validated leads (``lead_id``, ``created_at``, attributes).

    The target column, if present, is dropped; so are ``flat.exclude_columns``.
    ``as_of`` (the scoring moment of a row) is its ``created_at``: a flat row's
    attributes describe the lead as exported.

    Returns
    -------
    leads : DataFrame
        In the export's row order (index 0..n-1), with an ``as_of`` column.
    notes : list of str
    """
    wanted = {"id_column": flat.id_column, "time_column": flat.time_column}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    for i, c in enumerate(flat.exclude_columns):
        wanted[f"exclude_columns[{i}]"] = c
    _require_columns(frame, source, wanted)
    frame = frame.reset_index(drop=True)
    frame = blank_placeholders(frame, flat.missing_values)
    created, _, notes = _row_times(frame, flat, source)
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
    table = pd.concat(
        [pd.DataFrame({LEAD_ID: ids.to_numpy(), CREATED_AT: created.to_numpy()}), attrs], axis=1
    )
    leads = validate_leads(table, source).set_index(LEAD_ID, drop=False)
    leads = leads.loc[table[LEAD_ID].astype("str").str.strip()].reset_index(drop=True)
    leads[AS_OF] = leads[CREATED_AT]
    if drop:
        notes.append(f"not used as features: {', '.join(drop)}")
    return leads, notes


def _flat_target(frame: pd.DataFrame, flat: FlatConfig, source: str) -> tuple[np.ndarray, str]:
    col = flat.target_column
    text = frame[col].astype("str").str.strip().str.casefold().where(frame[col].notna())
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


def stratified_split(
    created: pd.Series, y: np.ndarray, fractions: tuple[float, float, float], seed: int = 0
) -> TimeSplit:
    """Random train / calibration / test positions with the same conversion rate in each.

    Only for data without any time order; see :class:`OptimisticSplitWarning`.
    """
    idx = np.arange(len(y))
    rest_share = fractions[1] + fractions[2]
    train, rest = train_test_split(idx, test_size=rest_share, stratify=y, random_state=seed)
    cal, test = train_test_split(
        rest, test_size=fractions[2] / rest_share, stratify=y[rest], random_state=seed
    )
    parts = (np.sort(train), np.sort(cal), np.sort(test))
    periods = tuple(
        Period(
            name=name,
            start=created.iloc[p].min(),
            end=created.iloc[p].max(),
            n_leads=len(p),
            n_positive=int(y[p].sum()),
        )
        for name, p in zip(SLICES, parts, strict=True)
    )
    return TimeSplit(train=parts[0], calibration=parts[1], test=parts[2], periods=periods)


def label_flat(frame: pd.DataFrame, config: Config, source: str = "export") -> LabelledLeads:
    """Label a flat export: one row per lead, the outcome in a column.

    Parameters
    ----------
    frame : DataFrame
        The export as read (text cells).
    config : Config
        ``config.flat`` says which columns mean what.
    source : str
        The file name, for messages.

    Returns
    -------
    LabelledLeads
        Leads in time order (file order without a time column), every row labelled; with
        a precomputed stratified random ``split`` when there is no time column.

    Warns
    -----
    OptimisticSplitWarning
        When there is no time column.
    """
    flat = config.flat
    if flat is None:
        raise ConfigError("flat mode needs a flat: section in the config")
    if flat.preset is not None:
        return label_preset(frame, config, source)
    _require_columns(frame, source, {"target_column": flat.target_column})
    frame = frame.reset_index(drop=True)
    y, target_note = _flat_target(frame, flat, source)
    leads, notes = flat_leads(frame, flat, source)
    notes = [target_note, *notes]
    split = None
    if flat.time_column is not None or flat.rows_in_time_order:
        order = np.lexsort((leads[LEAD_ID].to_numpy(dtype=str), leads[CREATED_AT].to_numpy()))
        leads = leads.iloc[order].reset_index(drop=True)
        y = y[order]
    else:
        message = (
            f"{source}: no flat.time_column, so rows are split at random (stratified by "
            f"{flat.target_column}); test metrics may be optimistic because the model is "
            "tested on leads from the same period it learned from. Name a date or "
            "ordering column in flat.time_column (or set flat.rows_in_time_order when the "
            "rows are oldest first) for an honest time-ordered split."
        )
        warnings.warn(message, OptimisticSplitWarning, stacklevel=2)
        notes.append("WARNING: " + message)
        n_pos, n = int(y.sum()), len(y)
        if min(n_pos, n - n_pos) < 3:
            raise InsufficientDataError(
                f"{source}: {n_pos} converted of {n} rows; at least 3 of each are needed"
            )
        if config.split.calibration_positives is not None:
            raise ConfigError(
                f"split.calibration_positives is {config.split.calibration_positives}, but "
                f"{source} has no time order (no flat.time_column or rows_in_time_order): "
                "the newest leads are unknown. Remove it or give the time order."
            )
        split = stratified_split(leads[CREATED_AT], y, config.split_fractions, flat.seed)
    counts = {
        "leads": len(leads),
        ELIGIBLE: len(leads),
        IMMATURE: 0,
        CONVERTED_BEFORE_AS_OF: 0,
        "positives": int(y.sum()),
    }
    return LabelledLeads(
        leads=leads.drop(columns=[AS_OF]),
        as_of=leads[AS_OF].rename(AS_OF),
        y=y,
        activities=empty_activities(),
        label_counts=counts,
        snapshot=pd.Timestamp(leads[CREATED_AT].max()),
        notes=tuple(notes),
        split=split,
    )


def label_preset(frame: pd.DataFrame, config: Config, source: str = "export") -> LabelledLeads:
    """Label a Salesforce or HubSpot export through its preset (lifecycle dates as outcomes)."""
    from mqlml.data.presets import preset_tables

    flat = config.flat
    assert flat is not None and flat.preset is not None
    frame = blank_placeholders(frame.reset_index(drop=True), flat.missing_values)
    leads, outcomes, notes = preset_tables(frame, flat.preset, source, flat.exclude_columns)
    leads, date_cols = _parse_date_columns(leads, skip={LEAD_ID, CREATED_AT})
    if date_cols:
        notes.append(f"read as dates: {', '.join(date_cols)}")
    crm = validate_crm(leads, None, outcomes, config.data, sources={"leads": source})
    labelled = label_history(crm, config)
    by_lead = crm.outcomes.set_index(LEAD_ID)
    event = SQL_AT if config.labels.target == "sql" else WON_AT
    outcome_at = labelled.leads[LEAD_ID].map(by_lead[event]) if len(by_lead) else None
    crm_notes = [n for n in labelled.notes if "no activities table" not in n]
    return LabelledLeads(
        leads=labelled.leads,
        as_of=labelled.as_of,
        y=labelled.y,
        activities=labelled.activities,
        label_counts=labelled.label_counts,
        snapshot=labelled.snapshot,
        notes=tuple([*notes, *crm_notes]),
        outcome_at=outcome_at,
    )


def load_flat(path: str | Path, config: Config) -> LabelledLeads:
    """Read a flat export (CSV, XLSX or Parquet) and label it (:func:`label_flat`)."""
    frame = io.read_export(path)
    return label_flat(frame, config, str(path))


def scoring_leads(frame: pd.DataFrame, config: Config, source: str = "export") -> pd.DataFrame:
    """A flat export's rows made ready to score with a model trained in flat mode.

    The same placeholders, exclusions, id and time handling as at training; the target
    column may be absent. Rows keep their file order; ``as_of`` is each row's time.
    """
    flat = config.flat
    if flat is None:
        raise MqlmlError("the model was not trained in flat mode")
    if flat.preset is not None:
        from mqlml.data.presets import preset_tables

        frame = blank_placeholders(frame.reset_index(drop=True), flat.missing_values)
        leads, _, _ = preset_tables(frame, flat.preset, source, flat.exclude_columns)
        leads, _ = _parse_date_columns(leads, skip={LEAD_ID, CREATED_AT})
        out = validate_leads(leads, source).set_index(LEAD_ID, drop=False)
        out = out.loc[leads[LEAD_ID].astype("str").str.strip()].reset_index(drop=True)
        out[AS_OF] = pd.Timestamp.now(tz="UTC")
        return out
    leads, _ = flat_leads(frame, flat, source)
    return leads
