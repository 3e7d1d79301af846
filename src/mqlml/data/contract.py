"""The data contract: validating and typing the three CRM tables.

``leads`` (one row per lead), ``activities`` (one row per event) and ``outcomes`` (at most
one row per lead that reached SQL). Every function here is a pure function of DataFrames
except :func:`load_crm`, the I/O edge.

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

import difflib
import re
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    REQUIRED_COLUMNS,
    SQL_AT,
    WON_AT,
)
from mqlml.config import DataConfig
from mqlml.data import files as io
from mqlml.errors import ConfigError, DataValidationError, MqlmlError

TABLES = ("leads", "activities", "outcomes")
#: Columns of the validated activities table, in order.
ACTIVITY_COLUMNS = (LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE, DETAIL)
#: Columns of the validated outcomes table, in order.
OUTCOME_COLUMNS = (LEAD_ID, SQL_AT, WON_AT, LOST_AT, DEAL_VALUE)
#: Recognised lead attributes that always stay text, even when they look like numbers.
TEXT_LEAD_ATTRIBUTES = (EMAIL, JOB_TITLE, INDUSTRY, COUNTRY, LEAD_SOURCE)
#: The dtype of every validated datetime column.
DATETIME_DTYPE = "datetime64[us, UTC]"
#: Example rows shown per problem.
MAX_EXAMPLES = 5

_DATETIME_EXPECTED = (
    "a date/time such as 2024-03-05, 2024-03-05 10:00:00 or 2024-03-05T10:00:00+02:00"
)
# Words that date parsers read relative to the moment of parsing: never reproducible.
_RELATIVE_WORDS = frozenset({"now", "today", "yesterday", "tomorrow"})
# A time of day followed by a zone: Z, an offset or UTC/GMT. Anything else is naive.
_HAS_ZONE = (
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*"
    r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?|[Uu][Tt][Cc]|[Gg][Mm][Tt])\s*$"
)
_SLASH_DATE = r"^\d{1,2}/\d{1,2}/\d{2,4}"
_HAS_ZONE_RE = re.compile(_HAS_ZONE)
_SLASH_DATE_RE = re.compile(_SLASH_DATE)
# Plain numbers whose text a float reproduces: no leading zeros, separators or symbols.
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_PLAIN_INTEGER = re.compile(r"^[+-]?(?:0|[1-9]\d*)$")
_MAX_NUMBER_DIGITS = 15
_DIGIT = re.compile(r"\d")


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
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    notes: tuple[str, ...] = ()


@dataclass
class _Checked:
    """One table after checking: the typed frame (``None`` when unusable) and findings."""

    frame: pd.DataFrame | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    naive: dict[str, int] = field(default_factory=dict)
    filled_sql: pd.Series | None = None


# --- formatting ------------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


class _Display(str):
    """Text shown as is in a problem line (already quoted and formatted)."""


def _show(value: object) -> str:
    """A short, quoted rendering of one cell value for a problem line."""
    if isinstance(value, _Display):
        return str(value)
    if value is None or (ptypes.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return "(empty)"
    if isinstance(value, pd.Timestamp):
        return repr(_format_ts(value))
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _format_ts(ts: pd.Timestamp) -> str:
    ts = ts.tz_convert("UTC") if ts.tzinfo is not None else ts
    if ts == ts.normalize():
        return ts.strftime("%Y-%m-%d")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if ts.microsecond else "%Y-%m-%dT%H:%M:%S"
    return ts.strftime(fmt) + "Z"


def _rows_problem(
    source: str, column: str, mask: pd.Series, values: pd.Series, what: str, expected: str
) -> str | None:
    """A problem line for the rows where ``mask`` holds, or ``None`` when there are none.

    ``mask`` and ``values`` are aligned by position with the original data rows.
    """
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    n = len(positions)
    if n == 0:
        return None
    shown = positions[:MAX_EXAMPLES]
    more = ", ..." if n > MAX_EXAMPLES else ""
    rows = ", ".join(str(p + 1) for p in shown)
    vals = ", ".join(_show(values.iloc[p]) for p in shown)
    if n == 1:
        where = f"row {rows} (value {vals})"
    else:
        where = f"rows {rows}{more} (values {vals}{more})"
    return (
        f"{source}, column '{column}': {what} in {_plural(n, 'row')}: {where}; expected {expected}"
    )


def _add(problems: list[str], problem: str | None) -> None:
    if problem is not None:
        problems.append(problem)


# --- cleaning helpers ------------------------------------------------------------------


def _clean_text(s: pd.Series) -> pd.Series:
    """Values as stripped text (dtype ``str``); empty and whitespace-only become missing."""
    plain = ascii_texts(s)
    if plain is not None:
        text = [v.strip() or None if v is not None else None for v in plain]
        return pd.Series(text, index=s.index, dtype="str", name=s.name)
    text = s.astype("str").str.strip()
    return text.mask(text == "")


#: Up to this many rows, text is cleaned value by value (pandas' per-call cost dominates).
_FEW_ROWS = 64
# Control characters that string libraries disagree about as whitespace.
_ODD_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def ascii_texts(s: pd.Series) -> list | None:
    """A few values as ASCII ``str`` or ``None`` (missing), or ``None`` when not all are so.

    For such values Python's ``str`` methods and ``re`` give exactly what pandas' ``.str``
    methods give, so short Series (the per-call cost of pandas dominates there) can take a
    per-value path. Longer Series than a few dozen values always get ``None``.
    """
    if len(s) > _FEW_ROWS:
        return None
    out: list = []
    for v in s.tolist():
        if isinstance(v, str):
            if not v.isascii() or _ODD_CONTROL.search(v):
                return None
            out.append(v)
        elif v is None or v is pd.NA or (isinstance(v, float) and v != v):
            out.append(None)
        else:
            return None
    return out


def _normalise_ids(raw: pd.Series) -> pd.Series:
    """Lead ids as stripped text; integral floats lose their ``.0`` so ``123.0`` is ``123``."""
    if ptypes.is_float_dtype(raw):
        vals = raw.dropna()
        if ((vals == np.floor(vals)) & (vals.abs() < 2**53)).all():
            raw = raw.astype("Int64")
    return _clean_text(raw)


def _normalise_categories(text: pd.Series) -> pd.Series:
    """Lowercase, whitespace runs as ``_`` (computed once per distinct value)."""
    codes, uniques = pd.factorize(text)
    if len(uniques) == 0:
        return text.astype("str")
    norm = pd.Series(uniques, dtype="str").str.lower().str.replace(r"\s+", "_", regex=True)
    out = pd.Series(norm.to_numpy(dtype=object).take(codes), index=text.index, dtype="str")
    return out.mask(codes < 0)


def _is_textual(s: pd.Series) -> bool:
    return (
        ptypes.is_string_dtype(s)
        or ptypes.is_object_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def _lossless_numeric(text: pd.Series) -> pd.Series | None:
    """``text`` as numbers when every non-empty value is a plain number, else ``None``."""
    few = ascii_texts(text)
    if few is not None:
        # The same tests value by value (Python's re is what pandas runs for these).
        present = [v for v in few if v is not None]
        if not present or not all(_PLAIN_NUMBER.fullmatch(v) for v in present):
            return None
        if max(len(_DIGIT.findall(v)) for v in present) > _MAX_NUMBER_DIGITS:
            return None
        num = pd.to_numeric(text, errors="coerce")
        if len(present) == len(text) and all(_PLAIN_INTEGER.fullmatch(v) for v in present):
            return num.astype("int64")
        return num.astype("float64")
    vals = text.dropna()
    if vals.empty or not vals.str.fullmatch(_PLAIN_NUMBER).all():
        return None
    if vals.str.count(r"\d").max() > _MAX_NUMBER_DIGITS:
        return None  # long digit strings are identifiers; a float would change them
    num = pd.to_numeric(text, errors="coerce")
    if len(vals) == len(text) and vals.str.fullmatch(_PLAIN_INTEGER).all():
        return num.astype("int64")
    return num.astype("float64")


def _clean_attribute(s: pd.Series, name: str) -> pd.Series:
    """A lead attribute: text stripped (numeric when lossless); other dtypes kept."""
    if not _is_textual(s):
        return s
    text = _clean_text(s)
    if name in TEXT_LEAD_ATTRIBUTES:
        return text
    num = _lossless_numeric(text)
    return text if num is None else num


# --- column mapping and required columns -------------------------------------------------


def _quoted(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(repr(n) for n in names) if names else "(none)"


def _apply_mapping(
    df: pd.DataFrame, source: str, table: str, mapping: Mapping[str, str] | None
) -> tuple[pd.DataFrame | None, list[str]]:
    """Rename ``{their: our}`` columns. ``None`` frame when the columns are ambiguous."""
    problems: list[str] = []
    cols = [str(c) for c in df.columns]
    repeated = sorted(c for c, k in Counter(cols).items() if k > 1)
    if repeated:
        problems.append(
            f"{source}: columns {_quoted(repeated)} appear more than once; "
            "expected each column name once"
        )
        return None, problems
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in cols]
    if unknown:
        problems.append(
            f"{source}: data.column_mapping.{table} renames {_quoted(unknown)}, but the file "
            f"has no such column; columns found: {_quoted(cols)}"
        )
    renames = {k: v for k, v in mapping.items() if k in cols and k != v}
    new_cols = [renames.get(c, c) for c in cols]
    clashes = sorted(c for c, k in Counter(new_cols).items() if k > 1)
    for target in clashes:
        origins = [c for c in cols if renames.get(c, c) == target]
        problems.append(
            f"{source}: data.column_mapping.{table} would create the column '{target}' "
            f"more than once (from {_quoted(origins)}); expected exactly one column "
            f"named or mapped to '{target}'"
        )
    if clashes:
        return None, problems
    return df.set_axis(new_cols, axis=1), problems


def _mapping_hint(missing: list[str], found: list[str]) -> str:
    """An example ``column_mapping`` entry, guessing the user's name for a missing column."""

    def norm(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())

    target = missing[0]
    by_norm = {norm(c): c for c in found}
    guess = by_norm.get(norm(target))
    if guess is None:
        close = difflib.get_close_matches(norm(target), list(by_norm), n=1, cutoff=0.6)
        guess = by_norm[close[0]] if close else "Your Column"
    return f"{{{guess!r}: {target!r}}}"


def _require_columns(
    df: pd.DataFrame, source: str, table: str, required=None, why: str = ""
) -> str | None:
    """The message naming every column of ``required`` (default: the table's contract)
    that ``df`` lacks, or None; ``why`` follows the names (e.g. why they are needed)."""
    required = REQUIRED_COLUMNS[table] if required is None else required
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return None
    found = [str(c) for c in df.columns]
    return (
        f"{source}: missing required column{'s' if len(missing) > 1 else ''} "
        f"{_quoted(missing)}{why}; columns found: {_quoted(found)}. If the file names them "
        f"differently, map them with data.column_mapping.{table}, "
        f"e.g. {_mapping_hint(missing, found)}"
    )


def _prepare(
    df: pd.DataFrame, source: str, table: str, mapping: Mapping[str, str] | None
) -> _Checked:
    """Mapping and required columns; the frame comes back with a fresh position index."""
    if not isinstance(df, pd.DataFrame):
        return _Checked(None, [f"{source}: expected a table, got {type(df).__name__}"])
    mapped, problems = _apply_mapping(df, source, table, mapping)
    if mapped is None:
        return _Checked(None, problems)
    missing = _require_columns(mapped, source, table)
    if missing is not None:
        return _Checked(None, [*problems, missing])
    return _Checked(mapped.reset_index(drop=True), problems)


# --- typed columns -------------------------------------------------------------------------


def _parse_datetimes(
    raw: pd.Series, source: str, column: str, required: bool, checked: _Checked
) -> tuple[pd.Series, pd.Series]:
    """Parse ``raw`` to UTC; record problems and facts on ``checked``.

    Returns the parsed column and the mask of non-empty values that failed to parse.
    """
    index = raw.index
    expected = _DATETIME_EXPECTED + ("" if required else ", or an empty cell")
    if ptypes.is_datetime64_any_dtype(raw):
        if getattr(raw.dt, "tz", None) is None:
            checked.naive[column] = int(raw.notna().sum())
            parsed = raw.dt.tz_localize("UTC")
        else:
            parsed = raw.dt.tz_convert("UTC")
        bad = pd.Series(False, index=index)
        empty = raw.isna()
    elif ptypes.is_numeric_dtype(raw) or ptypes.is_bool_dtype(raw):
        bad = raw.notna()
        _add(
            checked.problems,
            _rows_problem(source, column, bad, raw, "a number, not a date/time", expected),
        )
        parsed = pd.Series(pd.NaT, index=index, dtype=DATETIME_DTYPE)
        empty = raw.isna()
    else:
        text = _clean_text(raw)
        few = ascii_texts(text)
        if few is None:
            relative = text.str.lower().isin(_RELATIVE_WORDS)
        else:
            words = [v is not None and v.lower() in _RELATIVE_WORDS for v in few]
            relative = pd.Series(words, index=text.index, dtype=bool)
        with warnings.catch_warnings():
            # Each value's outcome is checked below; parser chatter adds nothing.
            warnings.simplefilter("ignore")
            # ISO 8601 first (fast, vectorised); element-wise inference for the rest.
            parsed = pd.to_datetime(
                text.mask(relative), utc=True, errors="coerce", format="ISO8601"
            )
            rest = text.notna() & ~relative & parsed.isna()
            if rest.any():
                parsed = parsed.astype(DATETIME_DTYPE)
                parsed[rest] = pd.to_datetime(
                    text[rest], utc=True, errors="coerce", format="mixed"
                ).astype(DATETIME_DTYPE)
        bad = text.notna() & parsed.isna()
        empty = text.isna()
        _add(
            checked.problems,
            _rows_problem(source, column, bad, raw, "not a date/time", expected),
        )
        ok = text.notna() & ~bad
        if few is None:
            naive = int((ok & ~text.str.contains(_HAS_ZONE).fillna(False).astype(bool)).sum())
            slash = int((ok & text.str.contains(_SLASH_DATE).fillna(False).astype(bool)).sum())
        else:
            good = [v for v, k in zip(few, ok.to_numpy(), strict=True) if k]
            naive = sum(_HAS_ZONE_RE.search(v) is None for v in good)
            slash = sum(_SLASH_DATE_RE.search(v) is not None for v in good)
        if naive:
            checked.naive[column] = naive
        if slash:
            checked.notes.append(
                f"{source}: {_plural(slash, 'value')} of {column} use a slash date such as "
                "03/05/2024, read as month/day/year; prefer ISO 8601 (2024-03-05)"
            )
    if required:
        _add(
            checked.problems,
            _rows_problem(
                source,
                column,
                empty,
                raw,
                "empty",
                _DATETIME_EXPECTED + " in every row",
            ),
        )
    return parsed.astype(DATETIME_DTYPE), bad


def _check_lead_ids(
    raw: pd.Series, source: str, checked: _Checked, unique: bool, what_unique: str
) -> pd.Series:
    ids = _normalise_ids(raw)
    _add(
        checked.problems,
        _rows_problem(
            source,
            LEAD_ID,
            ids.isna(),
            raw,
            "empty lead_id",
            "a non-empty identifier in every row",
        ),
    )
    if unique:
        dup = ids.notna() & ids.duplicated(keep=False)
        n_ids = int(ids[dup].nunique())
        _add(
            checked.problems,
            _rows_problem(
                source,
                LEAD_ID,
                dup,
                ids,
                f"duplicated lead_id ({_plural(n_ids, 'distinct id')})",
                what_unique,
            ),
        )
    return ids


# --- per-table checks ------------------------------------------------------------------


def _check_leads(df: pd.DataFrame, source: str, mapping: Mapping[str, str] | None) -> _Checked:
    checked = _prepare(df, source, "leads", mapping)
    if checked.frame is None:
        return checked
    df = checked.frame
    if len(df) == 0:
        checked.problems.append(f"{source}: the table has no rows; expected at least one lead")
        checked.frame = None
        return checked
    ids = _check_lead_ids(df[LEAD_ID], source, checked, True, "each lead_id exactly once")
    created, _ = _parse_datetimes(df[CREATED_AT], source, CREATED_AT, True, checked)
    out = {LEAD_ID: ids, CREATED_AT: created}
    empty_columns = []
    for col in df.columns:
        if col in out:
            continue
        out[col] = _clean_attribute(df[col], col)
        if out[col].isna().all():
            empty_columns.append(col)
    if empty_columns:
        which = "column" if len(empty_columns) == 1 else "columns"
        checked.notes.append(f"{source}: {which} {_quoted(empty_columns)} empty in every row")
    absent = [c for c in RECOGNISED_LEAD_ATTRIBUTES if c not in df.columns]
    if absent:
        checked.notes.append(
            f"{source}: recognised lead attributes not in the file: {', '.join(absent)}"
        )
    checked.frame = pd.DataFrame(out)
    return checked


def _check_activities(df: pd.DataFrame, source: str, mapping: Mapping[str, str] | None) -> _Checked:
    checked = _prepare(df, source, "activities", mapping)
    if checked.frame is None:
        return checked
    df = checked.frame
    ids = _check_lead_ids(df[LEAD_ID], source, checked, False, "")
    occurred, _ = _parse_datetimes(df[OCCURRED_AT], source, OCCURRED_AT, True, checked)
    kind = _clean_text(df[ACTIVITY_TYPE])
    _add(
        checked.problems,
        _rows_problem(
            source,
            ACTIVITY_TYPE,
            kind.isna(),
            df[ACTIVITY_TYPE],
            "empty",
            "an activity category such as 'email_open' in every row",
        ),
    )
    kind = _normalise_categories(kind)
    detail = (
        _clean_text(df[DETAIL])
        if DETAIL in df.columns
        else pd.Series(np.nan, index=df.index, dtype="str")
    )
    _note_ignored(df, source, ACTIVITY_COLUMNS, checked)
    checked.frame = pd.DataFrame(
        {LEAD_ID: ids, OCCURRED_AT: occurred, ACTIVITY_TYPE: kind, DETAIL: detail}
    )
    return checked


def _check_outcomes(df: pd.DataFrame, source: str, mapping: Mapping[str, str] | None) -> _Checked:
    checked = _prepare(df, source, "outcomes", mapping)
    if checked.frame is None:
        return checked
    df = checked.frame
    ids = _check_lead_ids(df[LEAD_ID], source, checked, True, "at most one outcome row per lead")
    parsed: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for col in DATETIME_COLUMNS["outcomes"]:
        if col in df.columns:
            parsed[col], bad[col] = _parse_datetimes(df[col], source, col, False, checked)
        else:
            parsed[col] = pd.Series(pd.NaT, index=df.index, dtype=DATETIME_DTYPE)
            bad[col] = pd.Series(False, index=df.index)
    sql, won = parsed[SQL_AT], parsed[WON_AT]
    filled = sql.isna() & ~bad[SQL_AT] & won.notna()
    if filled.any():
        sql = sql.mask(filled, won)
        checked.notes.append(
            f"{source}: {_plural(int(filled.sum()), 'lead')} won without an sql_at; "
            "treated as reaching SQL when won (sql_at set to won_at)"
        )
    checked.filled_sql = filled
    early = won.notna() & sql.notna() & (won < sql)
    _add(
        checked.problems,
        _rows_problem(
            source,
            WON_AT,
            early,
            _versus(won, sql, SQL_AT, early),
            "won_at before sql_at",
            "won_at at or after sql_at (a deal is won after the lead reaches SQL)",
        ),
    )
    deal = _check_deal_value(df, source, checked)
    _note_ignored(df, source, OUTCOME_COLUMNS, checked)
    checked.frame = pd.DataFrame(
        {LEAD_ID: ids, SQL_AT: sql, WON_AT: won, LOST_AT: parsed[LOST_AT], DEAL_VALUE: deal}
    )
    return checked


def _check_deal_value(df: pd.DataFrame, source: str, checked: _Checked) -> pd.Series:
    if DEAL_VALUE not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    raw = df[DEAL_VALUE]
    if ptypes.is_numeric_dtype(raw) and not ptypes.is_bool_dtype(raw):
        num = raw.astype("float64")
        not_number = raw.notna() & ~np.isfinite(num.fillna(0.0))
    else:
        text = _clean_text(raw)
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        not_number = text.notna() & (num.isna() | ~np.isfinite(num.fillna(0.0)))
    expected = "a number >= 0 such as 1200 or 1200.50 (no currency symbols or separators)"
    _add(
        checked.problems,
        _rows_problem(source, DEAL_VALUE, not_number, raw, "not a number", expected + ", or empty"),
    )
    negative = ~not_number & (num < 0)
    _add(
        checked.problems,
        _rows_problem(source, DEAL_VALUE, negative, raw, "negative", expected),
    )
    return num.mask(not_number)


def _versus(values: pd.Series, other: pd.Series, other_name: str, mask: pd.Series) -> pd.Series:
    """Display ``'<value>' vs <other_name> '<other>'`` for the first masked rows."""
    shown = pd.Series(None, index=values.index, dtype=object)
    for i in np.flatnonzero(np.asarray(mask, dtype=bool))[:MAX_EXAMPLES]:
        v, o = _format_ts(values.iloc[i]), _format_ts(other.iloc[i])
        shown.iloc[i] = _Display(f"'{v}' vs {other_name} '{o}'")
    return shown


def _note_ignored(df: pd.DataFrame, source: str, kept: tuple[str, ...], checked: _Checked) -> None:
    ignored = [c for c in df.columns if c not in kept]
    if ignored:
        checked.notes.append(f"{source}: ignored columns not in the contract: {_quoted(ignored)}")


# --- public API ----------------------------------------------------------------------------


def _raise_if(checked: _Checked) -> pd.DataFrame:
    if checked.problems or checked.frame is None:
        raise DataValidationError(checked.problems)
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
    return _sort_leads(_raise_if(_check_leads(df, source, mapping)))


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
    return _sort_activities(_raise_if(_check_activities(df, source, mapping)))


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
    return _sort_outcomes(_raise_if(_check_outcomes(df, source, mapping)))


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
    activities: pd.DataFrame | None,
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
    activities : DataFrame or None
        The activities table; ``None`` when there is none (an empty table and a note).
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
    checks = {"leads": _check_leads(leads, names["leads"], maps.get("leads"))}
    absent_notes: list[str] = []
    if activities is None:
        checks["activities"] = _Checked(empty_activities())
        absent_notes.append("no activities table: features use lead attributes only (0 activities)")
    else:
        checks["activities"] = _check_activities(
            activities, names["activities"], maps.get("activities")
        )
    if outcomes is None:
        checks["outcomes"] = _Checked(empty_outcomes())
        absent_notes.append("no outcomes table: no lead is known to have reached SQL")
    else:
        checks["outcomes"] = _check_outcomes(outcomes, names["outcomes"], maps.get("outcomes"))

    notes = absent_notes + [n for c in checks.values() for n in c.notes]
    lead_frame = checks["leads"].frame
    if lead_frame is not None:
        for table in ("activities", "outcomes"):
            frame = checks[table].frame
            if frame is None or (table == "activities" and activities is None):
                continue
            if table == "outcomes" and outcomes is None:
                continue
            if len(frame) == 0:
                notes.append(f"{names[table]}: the table has no rows")
            else:
                _cross_check(frame, lead_frame, table, names, checks[table], notes)
    problems = [p for c in checks.values() for p in c.problems]
    naive = [
        f"{names[t]} {col} ({_plural(n, 'value')})"
        for t, c in checks.items()
        for col, n in c.naive.items()
    ]
    if naive:
        notes.append("times without a time zone were taken as UTC: " + "; ".join(naive))
    if problems or any(c.frame is None for c in checks.values()):
        raise DataValidationError(problems)
    return CrmData(
        leads=_sort_leads(checks["leads"].frame),
        activities=_sort_activities(checks["activities"].frame),
        outcomes=_sort_outcomes(checks["outcomes"].frame),
        notes=tuple(notes),
    )


def _cross_check(
    frame: pd.DataFrame,
    leads: pd.DataFrame,
    table: str,
    names: Mapping[str, str],
    checked: _Checked,
    notes: list[str],
) -> None:
    """Checks of ``frame`` (activities or outcomes, original row order) against leads."""
    source, leads_source = names[table], names["leads"]
    known = frame[LEAD_ID].isin(set(leads[LEAD_ID].dropna()))
    unknown = frame[LEAD_ID].notna() & ~known
    n_ids = int(frame.loc[unknown, LEAD_ID].nunique())
    _add(
        checked.problems,
        _rows_problem(
            source,
            LEAD_ID,
            unknown,
            frame[LEAD_ID],
            f"lead_id not in {leads_source} ({_plural(n_ids, 'distinct id')})",
            f"every lead_id to appear in {leads_source}",
        ),
    )
    first = leads.dropna(subset=[LEAD_ID]).drop_duplicates(LEAD_ID)
    created = frame[LEAD_ID].map(first.set_index(LEAD_ID)[CREATED_AT])
    if table == "activities":
        before = frame[OCCURRED_AT].notna() & created.notna() & (frame[OCCURRED_AT] < created)
        if before.any():
            n_before = _plural(int(before.sum()), "activity", "activities")
            notes.append(f"{source}: {n_before} happened before their lead's created_at")
        with_activity = leads[LEAD_ID].isin(set(frame[LEAD_ID].dropna()))
        notes.append(
            f"{leads_source}: {int((~with_activity).sum()):,} of {len(leads):,} leads have "
            "no activities"
        )
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
        _add(
            checked.problems,
            _rows_problem(
                source,
                col,
                early,
                _versus(when, created, CREATED_AT, early),
                f"{col} before the lead's created_at",
                f"{col} at or after the lead's created_at in {leads_source}",
            ),
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
    ``<data_dir>/<table>.csv`` or ``.parquet``. ``leads`` is required, and ``outcomes``
    too unless ``require_outcomes`` is false (scoring). A missing activities table gives
    an empty one and a note.

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
        if not present and not required:
            continue
        try:
            paths[table] = io.find_table(directory, table)
        except MqlmlError as exc:
            errors.append(str(exc))
    frames: dict[str, pd.DataFrame] = {}
    for table, path in paths.items():
        try:
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
        value = str(config.snapshot_at).strip()
        parsed = pd.NaT
        if value.lower() not in _RELATIVE_WORDS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(
                    pd.Series([value], dtype="str"), utc=True, errors="coerce", format="mixed"
                ).iloc[0]
        if pd.isna(parsed):
            raise ConfigError(
                f"data.snapshot_at {config.snapshot_at!r} is not a date/time; "
                f"expected {_DATETIME_EXPECTED}"
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
    if not latest:
        raise MqlmlError("no timestamps in the data; set data.snapshot_at")
    return pd.Timestamp(max(latest))
