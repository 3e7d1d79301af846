"""The one validator: column mapping, required columns and the checks of single columns,
shared by training (:mod:`mqlml.data.contract`) and scoring (:mod:`mqlml.scoring.batch`).

Every check returns the typed column and a list of :class:`Problem`. A problem names the
file, the column, the 1-based data rows (the header not counted) with their values, what
was found and what was expected. A problem with a reject ``reason`` concerns those rows
only: scoring sets them aside as rejects while the rest is scored. A problem without one
concerns the table (a missing column, a duplicated ``lead_id``, a column whose values
cannot be typed without loss): it stops a scoring batch. Training turns every problem
into one :class:`~mqlml.errors.DataValidationError` listing them all.

Each piece of cleaning (text, numbers, dates) has one implementation. Its per-value work
runs once per distinct value and is mapped back (:func:`map_distinct`), so a one-lead REST
request and a million-row batch take the same code path.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mqlml.columns import LEAD_ID, REQUIRED_COLUMNS

#: The dtype of every validated datetime column.
DATETIME_DTYPE = "datetime64[us, UTC]"
#: Example rows shown per problem.
MAX_EXAMPLES = 5
#: What a date/time value should look like, for messages.
DATETIME_EXPECTED = (
    "a date/time such as 2024-03-05, 2024-03-05 10:00:00 or 2024-03-05T10:00:00+02:00"
)
#: Dates outside these years are typos (e.g. 9999-12-31 for "never"), not lead history;
#: they are also beyond what the feature arithmetic (nanoseconds since 1970) can hold.
YEARS = (1900, 2199)
EARLIEST = pd.Timestamp(f"{YEARS[0]}-01-01", tz="UTC")
LATEST = pd.Timestamp(f"{YEARS[1] + 1}-01-01", tz="UTC")
#: Digits beyond which a plain number is an identifier: a float would change it.
MAX_NUMBER_DIGITS = 15

# Words that date parsers read relative to the moment of parsing: never reproducible.
_RELATIVE_WORDS = frozenset({"now", "today", "yesterday", "tomorrow"})
# A time of day followed by a zone: Z, an offset or UTC/GMT. Anything else is naive.
# ASCII classes only ([0-9], not \d), so every regex engine reads them alike.
_HAS_ZONE = re.compile(
    r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?[ \t\n\r\f\v]*"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?|[Uu][Tt][Cc]|[Gg][Mm][Tt])[ \t\n\r\f\v]*$"
)
_SLASH_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/[0-9]{2,4}")
# Plain numbers whose text a float reproduces: no leading zeros, separators or symbols.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PLAIN_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_DIGIT = re.compile(r"[0-9]")
#: Spellings of non-finite numbers: a number the model cannot score, not a missing value.
_NON_FINITE = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)


# --- formatting ------------------------------------------------------------------------


def plural(n: int, word: str, *, many: str | None = None) -> str:
    """A count with its noun: ``"1 row"``, ``"1,200 rows"``.

    Parameters
    ----------
    n : int
        The count.
    word : str
        The noun for one.
    many : str, optional
        The noun for several when it is not ``word + "s"``.

    Returns
    -------
    str
    """
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def quoted(names) -> str:
    """Names as ``'a', 'b'``; ``(none)`` when there are none.

    Parameters
    ----------
    names : iterable of str

    Returns
    -------
    str
    """
    names = list(names)
    return ", ".join(repr(n) for n in names) if names else "(none)"


class Display(str):
    """Text shown as is in a problem line (already quoted and formatted)."""


def format_timestamp(ts: pd.Timestamp) -> str:
    """A timestamp as ``2024-03-05`` at midnight, else ISO 8601 in UTC with a ``Z``.

    Parameters
    ----------
    ts : Timestamp

    Returns
    -------
    str
    """
    ts = ts.tz_convert("UTC") if ts.tzinfo is not None else ts
    if ts == ts.normalize():
        return ts.strftime("%Y-%m-%d")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if ts.microsecond else "%Y-%m-%dT%H:%M:%S"
    return ts.strftime(fmt) + "Z"


def show(value: object) -> str:
    """A short, quoted rendering of one cell value for a problem line or a reject reason.

    Dates beyond the years Python can format (e.g. year -1 from a typed Parquet column)
    are shown by their parts.

    Parameters
    ----------
    value : object
        A cell.

    Returns
    -------
    str
        Quoted and cut to 40 characters; ``(empty)`` for a missing value.
    """
    if isinstance(value, Display):
        return str(value)
    if value is None or (ptypes.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return "(empty)"
    try:
        if isinstance(value, pd.Timestamp | np.datetime64):
            return repr(format_timestamp(pd.Timestamp(value)))
        text = str(value)
    except (ValueError, NotImplementedError, OverflowError):
        if isinstance(value, pd.Timestamp | np.datetime64):
            ts = pd.Timestamp(value)
            return f"'{ts.year}-{ts.month:02d}-{ts.day:02d}'"
        return "(a value that cannot be shown)"
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


# --- problems --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding of the data contract.

    Attributes
    ----------
    source : str
        The file (or table) name.
    column : str or None
        The column concerned; ``None`` for the table as a whole.
    what : str
        What was found, e.g. ``"not a date/time"``.
    expected : str
        What was expected (may be empty when ``what`` says it).
    rows : tuple of int
        The 1-based data rows concerned (the header not counted); empty for the table.
    values : tuple
        The value of each row in ``rows``, as read.
    reason : str or None
        For a problem of single rows: the reject reason after the column name, e.g.
        ``"is empty"``; ``None`` for a problem of the table.
    show_value : bool
        Whether a reject reason ends with the row's value.
    n_rows : int or None
        The number of rows concerned when ``rows`` lists only the first ones.
    """

    source: str
    column: str | None
    what: str
    expected: str = ""
    rows: tuple[int, ...] = ()
    values: tuple = ()
    reason: str | None = None
    show_value: bool = True
    #: How many rows have the problem when ``rows`` lists only the first of them (a check
    #: run in SQL on files read out of core); ``None``: ``rows`` lists them all.
    n_rows: int | None = None

    @property
    def per_row(self) -> bool:
        """Whether setting the rows aside (as rejects) removes the problem."""
        return self.reason is not None and len(self.rows) > 0

    @property
    def message(self) -> str:
        """The problem as one line: file, column, rows with values, expected."""
        where = self.source if self.column is None else f"{self.source}, column '{self.column}'"
        expected = f"; expected {self.expected}" if self.expected else ""
        if not self.rows:
            return f"{where}: {self.what}{expected}"
        n = len(self.rows) if self.n_rows is None else self.n_rows
        more = ", ..." if n > min(MAX_EXAMPLES, len(self.rows)) else ""
        rows = ", ".join(str(r) for r in self.rows[:MAX_EXAMPLES])
        vals = ", ".join(show(v) for v in self.values[:MAX_EXAMPLES])
        at = f"row {rows} (value {vals})" if n == 1 else f"rows {rows}{more} (values {vals}{more})"
        return f"{where}: {self.what} in {plural(n, 'row')}: {at}{expected}"

    def reasons(self) -> list[str]:
        """One reject reason per row of :attr:`rows`: ``<column> <reason>[: <value>]``."""
        if self.reason is None:
            raise ValueError(f"{self.message}: a problem of the table has no reject reason")
        head = f"{self.column} {self.reason}"
        if not self.show_value:
            return [head] * len(self.rows)
        return [f"{head}: {show(v)}" for v in self.values]


def rows_problem(
    mask,
    values: pd.Series,
    *,
    source: str,
    column: str,
    what: str,
    expected: str,
    reason: str | None = None,
    show_value: bool = True,
) -> Problem | None:
    """The problem of the rows where ``mask`` holds, or ``None`` when there are none.

    Parameters
    ----------
    mask : array-like of bool
        Aligned by position with the data rows.
    values : Series
        The values to show, aligned with ``mask``.
    source, column, what, expected, reason, show_value
        See :class:`Problem`; ``reason`` makes it a problem of single rows.

    Returns
    -------
    Problem or None
    """
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    if len(positions) == 0:
        return None
    shown = values.to_numpy(dtype=object)[positions]
    return Problem(
        source=source,
        column=column,
        what=what,
        expected=expected,
        rows=tuple((positions + 1).tolist()),
        values=tuple(shown.tolist()),
        reason=reason,
        show_value=show_value,
    )


def messages(problems) -> list[str]:
    """The one-line message of each problem, in order.

    Parameters
    ----------
    problems : iterable of Problem

    Returns
    -------
    list of str
    """
    return [p.message for p in problems]


def _add(problems: list[Problem], problem: Problem | None) -> None:
    if problem is not None:
        problems.append(problem)


# --- one implementation per cleaning step ------------------------------------------------


def map_distinct(
    s: pd.Series, fn: Callable[[object], object], *, dtype, missing: object = None
) -> pd.Series:
    """``fn`` applied once per distinct non-missing value of ``s``, mapped back to every row.

    One code path for any length: a REST request of one lead and a batch with a million
    rows of a few hundred distinct values are both cheap.

    Parameters
    ----------
    s : Series
        The values.
    fn : callable
        Maps one value to its result.
    dtype : dtype
        Of the result.
    missing : object
        The result where ``s`` is missing.

    Returns
    -------
    Series
        Aligned with ``s`` (same index and name).
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [fn(v) for v in uniques.tolist()] if len(uniques) else []
    mapped[-1] = missing  # code -1
    return pd.Series(mapped[codes], index=s.index, dtype=dtype, name=s.name)


def text_of_codes(codes: np.ndarray, values) -> pd.api.extensions.ExtensionArray:
    """Text (dtype ``str``) of ``values[codes]``; missing where a code is negative or its
    value is None. Built in Arrow from the distinct values: making a Python object of every
    row first costs about a second per million rows.

    Parameters
    ----------
    codes : ndarray of int
        Per row, a position in ``values`` (``-1``: missing).
    values : sequence of str or None
        The distinct values.

    Returns
    -------
    ExtensionArray
        dtype ``str``, one value per code.
    """
    import pyarrow as pa

    values = list(values)
    none = np.array([v is None for v in values] + [True], dtype=bool)
    codes = np.asarray(codes, dtype=np.int64)
    missing = none[codes]  # code -1 reads the last entry: missing
    names = pa.array(["" if v is None else v for v in values], type=pa.large_string())
    text = pa.DictionaryArray.from_arrays(pa.array(codes, mask=missing), names)
    return pd.array(text.cast(pa.large_string()), dtype="str")


def as_text(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Text (dtype ``str``) of an array of strings and missing values, built from its
    distinct values (:func:`text_of_codes`): a batch's reason sentences repeat a lot."""
    codes, distinct = pd.factorize(values)
    return text_of_codes(codes, distinct.tolist())


@dataclass(frozen=True, eq=False)
class _Cleaned:
    """Cleaned text as codes into its distinct values: the per-value work of every check
    below runs on ``values`` and is mapped back through ``codes`` (``-1``: missing)."""

    codes: np.ndarray
    values: list  # distinct stripped text; None where only whitespace
    index: pd.Index
    name: object

    def series(self, values: list | None = None) -> pd.Series:
        """Text per row (dtype ``str``), from ``values`` (default: the cleaned text)."""
        text = text_of_codes(self.codes, self.values if values is None else values)
        return pd.Series(text, index=self.index, name=self.name)

    def rows(self, test: Callable[[str], bool]) -> np.ndarray:
        """Per row: whether its (non-missing) text passes ``test``."""
        hit = [v is not None and bool(test(v)) for v in self.values]
        return np.array([*hit, False], dtype=bool)[self.codes]

    def numbers(self, keep: Callable[[str], bool]) -> np.ndarray:
        """Per row: the number its text spells (``float64``), NaN unless ``keep(text)``."""
        kept = [v for v in self.values if v is not None and keep(v)]
        parsed = pd.to_numeric(pd.Series(kept, dtype="str"), errors="coerce")
        lookup = dict(zip(kept, parsed.astype("float64").tolist(), strict=True))
        table = [lookup.get(v, np.nan) if v is not None else np.nan for v in self.values]
        return np.array([*table, np.nan], dtype="float64")[self.codes]


def _cleaned(s: pd.Series) -> _Cleaned:
    """``s`` as stripped text, factorized (numbers and other values become their text)."""
    textual = (ptypes.is_string_dtype(s.dtype) and not ptypes.is_object_dtype(s.dtype)) or (
        ptypes.is_object_dtype(s.dtype) and ptypes.infer_dtype(s, skipna=True) == "string"
    )
    codes, uniques = pd.factorize(s if textual else s.astype("str"), use_na_sentinel=True)
    # Python's str.strip removes exactly what pandas' (pyarrow's) .str.strip does, for
    # every code point (checked once over all of Unicode).
    values = [v.strip() or None for v in uniques.tolist()]
    return _Cleaned(np.asarray(codes), values, s.index, s.name)


def _is_textual(s: pd.Series) -> bool:
    return (
        ptypes.is_string_dtype(s)
        or ptypes.is_object_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def clean_text(s: pd.Series) -> pd.Series:
    """Values as stripped text (dtype ``str``); empty and whitespace-only become missing.

    Stripping runs once per distinct value.

    Parameters
    ----------
    s : Series
        Text or any other values (numbers become their text).

    Returns
    -------
    Series
        dtype ``str``, same index and name.
    """
    return _cleaned(s).series()


def normalise_ids(raw: pd.Series) -> pd.Series:
    """Lead ids as stripped text; integral floats lose their ``.0`` so ``123.0`` is ``123``.

    Parameters
    ----------
    raw : Series
        The ``lead_id`` column as read.

    Returns
    -------
    Series
        dtype ``str``; empty ids missing.
    """
    if ptypes.is_float_dtype(raw):
        vals = raw.dropna()
        if ((vals == np.floor(vals)) & (vals.abs() < 2**53)).all():
            raw = raw.astype("Int64")
    return clean_text(raw)


def among(values: pd.Series, ids) -> np.ndarray:
    """Whether each of ``values`` is one of ``ids``; a missing value never is.

    Arrow's hash lookup: pandas' ``Series.isin`` on text first turns every one of ``ids``
    into an Arrow scalar, seconds for a million lead ids.

    Parameters
    ----------
    values : Series
        The values looked up (e.g. the ``lead_id`` of each activity).
    ids : array-like
        The values looked for; missing ones are ignored.

    Returns
    -------
    ndarray of bool
        One per value, aligned positionally.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(values, from_pandas=True)
        wanted = pa.array(pd.Series(ids).dropna(), from_pandas=True).cast(array.type)
        found = pc.is_in(array, value_set=wanted, skip_nulls=True).fill_null(False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # Mixed or non-Arrow values: pandas' own lookup.
        hit = values.isin(set(pd.Series(ids).dropna())).to_numpy(dtype=bool)
        return hit & values.notna().to_numpy()
    return found.to_numpy(zero_copy_only=False)


def normalise_categories(text: pd.Series) -> pd.Series:
    """Lowercase, whitespace runs as ``_`` (computed once per distinct value).

    Parameters
    ----------
    text : Series
        Cleaned text (see :func:`clean_text`).

    Returns
    -------
    Series
        dtype ``str``.
    """
    codes, uniques = pd.factorize(text)
    if len(uniques) == 0:
        return text.astype("str")
    norm = pd.Series(uniques, dtype="str").str.lower().str.replace(r"\s+", "_", regex=True)
    out = pd.Series(norm.to_numpy(dtype=object).take(codes), index=text.index, dtype="str")
    return out.mask(codes < 0)


def _plain_number(v: str) -> bool:
    return (
        _PLAIN_NUMBER.fullmatch(v) is not None and len(_DIGIT.findall(v)) <= MAX_NUMBER_DIGITS
    )


def _lossless_numeric(cleaned: _Cleaned) -> pd.Series | None:
    """The text as numbers when every non-empty value is a plain number, else ``None``.

    Plain: no leading zeros, separators, units or symbols, and at most
    :data:`MAX_NUMBER_DIGITS` digits (longer digit strings are identifiers). ``int64``
    when every row holds an integer, else ``float64``.
    """
    present = [v for v in cleaned.values if v is not None]
    if not present or not all(_plain_number(v) for v in present):
        return None
    num = pd.Series(cleaned.numbers(_plain_number), index=cleaned.index, name=cleaned.name)
    every_row = len(present) == len(cleaned.values) and (cleaned.codes >= 0).all()
    if every_row and all(_PLAIN_INTEGER.fullmatch(v) for v in present):
        return num.astype("int64")
    return num


def clean_attribute(s: pd.Series, name: str, *, text_columns=()) -> pd.Series:
    """A lead attribute: text stripped (numeric when lossless); other dtypes kept.

    Parameters
    ----------
    s : Series
        The column as read.
    name : str
        Its name.
    text_columns : collection of str
        Columns that stay text even when every value is a number.

    Returns
    -------
    Series
    """
    if not _is_textual(s):
        return s
    cleaned = _cleaned(s)
    num = None if name in text_columns else _lossless_numeric(cleaned)
    return cleaned.series() if num is None else num


def to_utc(values: pd.Series, *, dayfirst: bool | None = None) -> pd.Series:
    """Dates and times in any common format or time zone as UTC (NaT when not a date/time).

    ISO 8601 first (vectorised); other formats value by value. Slash dates take one order
    for the whole column (:func:`slash_date_order`). Times without a zone are taken as
    UTC. Words that parsers read relative to the moment of parsing (``now``, ``today``)
    are not dates: the result could not be reproduced. Each distinct value is parsed once.

    Parameters
    ----------
    values : Series
        Text (stripped here; empty is missing).
    dayfirst : bool, optional
        Order of slash dates when the column's values leave it open (``data.dayfirst``).

    Returns
    -------
    Series
        dtype :data:`DATETIME_DTYPE`, aligned with ``values``.
    """
    return _parse_utc(_cleaned(values), dayfirst)[0]


@dataclass(frozen=True)
class SlashOrder:
    """How a column's slash dates (``05/01/2026``) are read.

    ``dayfirst`` is the order; ``basis`` says what decided it: ``"values"`` (some value
    has a first part above 12, or a second), ``"setting"`` (``data.dayfirst``) or
    ``"default"`` (month first: every value was ambiguous and nothing was set);
    ``example`` is a value that decided it, or an ambiguous one.
    """

    dayfirst: bool
    basis: str
    example: str


def slash_date_order(values, dayfirst: bool | None = None) -> SlashOrder | None:
    """The one day/month order of a column's slash dates, decided by all of them.

    ``21/12/2025`` can only be day first, so one such value makes the whole column day
    first (``05/01/2026`` beside it is 5 January); ``12/21/2025`` makes it month first.
    When both kinds occur the more frequent wins (the others then fail to parse). When
    every value is ambiguous, ``dayfirst`` decides, else month first. None: no slash dates.
    """
    slash = [v for v in values if v is not None and _SLASH_DATE.search(v)]
    if not slash:
        return None
    parts = [tuple(int(x) for x in _SLASH_DATE.search(v).groups()) for v in slash]
    day_first = [v for v, (a, b) in zip(slash, parts, strict=True) if a > 12 >= b]
    month_first = [v for v, (a, b) in zip(slash, parts, strict=True) if b > 12 >= a]
    if day_first or month_first:
        first = len(day_first) >= len(month_first)
        return SlashOrder(first, "values", (day_first if first else month_first)[0])
    if dayfirst is not None:
        return SlashOrder(bool(dayfirst), "setting", slash[0])
    return SlashOrder(False, "default", slash[0])


def _parse_utc(
    cleaned: _Cleaned, dayfirst: bool | None = None
) -> tuple[pd.Series, SlashOrder | None]:
    """:func:`to_utc` of cleaned text, and how its slash dates were read."""
    dates = [v if v is not None and v.lower() not in _RELATIVE_WORDS else None
             for v in cleaned.values]
    text = pd.Series([*dates, None], dtype="str")  # the last one: missing rows (code -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each value's outcome is checked by the caller
        out = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        out = out.astype(DATETIME_DTYPE)
        rest = text.notna() & out.isna()
        order = slash_date_order(text[rest].tolist(), dayfirst) if rest.any() else None
        if rest.any():
            out[rest] = pd.to_datetime(
                text[rest], utc=True, errors="coerce", format="mixed",
                dayfirst=order is not None and order.dayfirst,
            ).astype(DATETIME_DTYPE)
        if order is not None:
            # A value that only fits the other order is not read that way: the column has one.
            against = text.map(lambda v: _against_order(v, order.dayfirst), na_action="ignore")
            out[rest & against.fillna(False).astype(bool)] = pd.NaT
    parsed = pd.Series(out.array.take(cleaned.codes), index=cleaned.index, name=cleaned.name)
    return parsed, order


def _against_order(value: str, dayfirst: bool) -> bool:
    match = _SLASH_DATE.search(value)
    if match is None:
        return False
    a, b = int(match.group(1)), int(match.group(2))
    return b > 12 >= a if dayfirst else a > 12 >= b


# --- the columns of a table --------------------------------------------------------------


def map_columns(
    df, *, source: str, table: str, mapping: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Rename ``{their: our}`` columns (``data.column_mapping.<table>``).

    Parameters
    ----------
    df : DataFrame
        The table as read.
    source : str
        The file name, for messages.
    table : str
        ``leads``, ``activities`` or ``outcomes``: names the mapping in messages.
    mapping : mapping of str to str, optional
        Their column -> ours.

    Returns
    -------
    frame : DataFrame or None
        With our names and a fresh 0..n-1 index; ``None`` when the columns are ambiguous.
    problems : list of Problem
    """
    if not isinstance(df, pd.DataFrame):
        return None, [Problem(source, None, f"expected a table, got {type(df).__name__}")]
    problems: list[Problem] = []
    cols = [str(c) for c in df.columns]
    repeated = sorted(c for c, k in Counter(cols).items() if k > 1)
    if repeated:
        what = f"columns {quoted(repeated)} appear more than once"
        return None, [Problem(source, None, what, "each column name once")]
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in cols]
    if unknown:
        problems.append(
            Problem(
                source,
                None,
                f"data.column_mapping.{table} renames {quoted(unknown)}, but the file "
                f"has no such column; columns found: {quoted(cols)}",
            )
        )
    renames = {k: v for k, v in mapping.items() if k in cols and k != v}
    new_cols = [renames.get(c, c) for c in cols]
    clashes = sorted(c for c, k in Counter(new_cols).items() if k > 1)
    for target in clashes:
        origins = [c for c in cols if renames.get(c, c) == target]
        problems.append(
            Problem(
                source,
                None,
                f"data.column_mapping.{table} would create the column '{target}' "
                f"more than once (from {quoted(origins)})",
                f"exactly one column named or mapped to '{target}'",
            )
        )
    if clashes:
        return None, problems
    return df.set_axis(new_cols, axis=1).reset_index(drop=True), problems


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


def missing_columns(
    df: pd.DataFrame, *, source: str, table: str, required=None, why: str = ""
) -> Problem | None:
    """The problem naming every required column ``df`` lacks, or ``None``.

    Parameters
    ----------
    df : DataFrame
        The table after mapping.
    source : str
        The file name, for messages.
    table : str
        Names the mapping to fix it with.
    required : sequence of str, optional
        Default: the table's contract (:data:`mqlml.columns.REQUIRED_COLUMNS`).
    why : str
        Said after the names (why they are needed).

    Returns
    -------
    Problem or None
    """
    required = REQUIRED_COLUMNS[table] if required is None else required
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return None
    found = [str(c) for c in df.columns]
    return Problem(
        source,
        None,
        f"missing required column{'s' if len(missing) > 1 else ''} "
        f"{quoted(missing)}{why}; columns found: {quoted(found)}. If the file names them "
        f"differently, map them with data.column_mapping.{table}, "
        f"e.g. {_mapping_hint(missing, found)}",
    )


def check_ids(
    raw: pd.Series, *, source: str, unique: str | None = None
) -> tuple[pd.Series, list[Problem]]:
    """``lead_id`` as stripped text; empty ids are row problems, repeated ones the table's.

    Parameters
    ----------
    raw : Series
        The column as read.
    source : str
        The file name, for messages.
    unique : str, optional
        When given, ids must be unique; this says what was expected (e.g. "each lead_id
        exactly once").

    Returns
    -------
    ids : Series
    problems : list of Problem
    """
    ids = normalise_ids(raw)
    problems: list[Problem] = []
    _add(
        problems,
        rows_problem(
            ids.isna(),
            raw,
            source=source,
            column=LEAD_ID,
            what="empty lead_id",
            expected="a non-empty identifier in every row",
            reason="is empty",
            show_value=False,
        ),
    )
    if unique is not None:
        dup = ids.notna() & ids.duplicated(keep=False)
        if dup.any():
            n_ids = int(ids[dup].nunique())
            _add(
                problems,
                rows_problem(
                    dup,
                    ids,
                    source=source,
                    column=LEAD_ID,
                    what=f"duplicated lead_id ({plural(n_ids, 'distinct id')})",
                    expected=unique,
                ),
            )
    return ids, problems


@dataclass(frozen=True, eq=False)
class DateColumn:
    """A date/time column after checking.

    Attributes
    ----------
    parsed : Series
        UTC (:data:`DATETIME_DTYPE`), NaT where empty or not a date/time.
    bad : Series of bool
        Non-empty values that are not a date/time.
    problems : list of Problem
    naive : int
        Values without a time zone (taken as UTC).
    notes : list of str
        Facts worth reporting (slash dates read as month/day/year).
    """

    parsed: pd.Series
    bad: pd.Series
    problems: list[Problem]
    naive: int = 0
    notes: tuple[str, ...] = ()


def out_of_years(parsed: pd.Series) -> pd.Series:
    """Where a parsed time lies outside :data:`YEARS`.

    Parameters
    ----------
    parsed : Series
        UTC times (NaT allowed: never outside).

    Returns
    -------
    Series of bool
    """
    return parsed.notna() & ((parsed < EARLIEST) | (parsed >= LATEST))


def _text_dates(
    raw: pd.Series, source: str, column: str, dayfirst: bool | None, warn: bool = True
) -> tuple[pd.Series, pd.Series, int, list[str]]:
    """Text parsed to UTC: the times, the values that are not dates, how many parsed
    values had no zone, and a note on slash dates (a warning when their order is a guess)."""
    cleaned = _cleaned(raw)
    parsed, order = _parse_utc(cleaned, dayfirst)
    ok = parsed.notna().to_numpy()
    bad = pd.Series(cleaned.rows(lambda v: True) & ~ok, index=raw.index)
    naive = int((cleaned.rows(lambda v: _HAS_ZONE.search(v) is None) & ok).sum())
    slash = int((cleaned.rows(lambda v: _SLASH_DATE.search(v) is not None) & ok).sum())
    notes = []
    if slash and order is not None:
        read = "day/month/year" if order.dayfirst else "month/day/year"
        why = {
            "values": f"{order.example} fits only that order",
            "setting": f"data.dayfirst is {str(order.dayfirst).lower()}",
            "default": "every one could be either; set data.dayfirst to decide",
        }[order.basis]
        message = (
            f"{source}: {plural(slash, 'value')} of {column} use a slash date such as "
            f"{order.example}, all read as {read} ({why}); prefer ISO 8601 (2024-03-05)"
        )
        notes.append(message)
        if order.basis == "default" and warn:
            warnings.warn(message, UserWarning, stacklevel=4)
    return parsed, bad, naive, notes


def check_datetimes(
    raw: pd.Series,
    *,
    source: str,
    column: str,
    required: bool,
    years: bool = False,
    dayfirst: bool | None = None,
    warn_ambiguous: bool = True,
) -> DateColumn:
    """Parse a date/time column to UTC and report what is not a date/time.

    Numbers in a date column are a problem of the table (the export wrote the wrong
    type); an unparseable value, an empty required one and (with ``years``) a date
    outside :data:`YEARS` are problems of their rows.

    Parameters
    ----------
    raw : Series
        The column as read (text, datetimes or numbers).
    source, column : str
        For messages.
    required : bool
        Whether an empty value is a problem.
    years : bool
        Whether dates outside :data:`YEARS` are problems.
    dayfirst : bool, optional
        Order of slash dates when every one is ambiguous (``data.dayfirst``); unset, they
        are read month first with a warning naming the column and an example.
    warn_ambiguous : bool
        Whether that warning is raised (else it is only among the notes).

    Returns
    -------
    DateColumn
    """
    problems: list[Problem] = []
    naive, notes = 0, []
    expected = DATETIME_EXPECTED + ("" if required else ", or an empty cell")
    if ptypes.is_datetime64_any_dtype(raw):
        if getattr(raw.dt, "tz", None) is None:
            naive = int(raw.notna().sum())
            parsed = raw.dt.tz_localize("UTC")
        else:
            parsed = raw.dt.tz_convert("UTC")
        parsed = parsed.astype(DATETIME_DTYPE)
        bad = pd.Series(False, index=raw.index)
    elif ptypes.is_numeric_dtype(raw) or ptypes.is_bool_dtype(raw):
        bad = raw.notna()
        what = "numbers, not dates/times"
        expected = DATETIME_EXPECTED + " (the column holds numbers; export it as dates)"
        _add(problems, rows_problem(bad, raw, source=source, column=column, what=what,
                                    expected=expected))
        return DateColumn(pd.Series(pd.NaT, index=raw.index, dtype=DATETIME_DTYPE), bad, problems)
    else:
        parsed, bad, naive, notes = _text_dates(raw, source, column, dayfirst, warn_ambiguous)
        _add(
            problems,
            rows_problem(bad, raw, source=source, column=column, what="not a date/time",
                         expected=expected, reason="is not a date/time"),
        )
    if required:
        _add(
            problems,
            rows_problem(parsed.isna() & ~bad, raw, source=source, column=column, what="empty",
                         expected=DATETIME_EXPECTED + " in every row", reason="is empty",
                         show_value=False),
        )
    if years:
        _add(
            problems,
            rows_problem(
                out_of_years(parsed), raw, source=source, column=column,
                what=f"outside the years {YEARS[0]}-{YEARS[1]}",
                expected=f"a date/time in the years {YEARS[0]}-{YEARS[1]}",
                reason=f"is outside the years {YEARS[0]}-{YEARS[1]}",
            ),
        )
    return DateColumn(parsed, bad, problems, naive, tuple(notes))


def check_numbers(raw: pd.Series, *, source: str, column: str) -> tuple[pd.Series, list[Problem]]:
    """A column the schema says is numeric, as ``float64``.

    Plain numbers are kept; ``NaN`` / ``inf`` spelled out or stored are row problems (a
    number nothing can score, not a missing value); other text (``1,200``, ``n/a``) is a
    problem of the table: its values cannot become numbers without loss.

    Parameters
    ----------
    raw : Series
        The column as read.
    source, column : str
        For messages.

    Returns
    -------
    values : Series
        ``float64``; empty cells missing.
    problems : list of Problem
    """
    problems: list[Problem] = []
    finite = "is not a finite number"
    if ptypes.is_bool_dtype(raw):
        return raw.astype("float64"), problems
    if ptypes.is_numeric_dtype(raw):
        values = raw.astype("float64")
        _add(problems, rows_problem(raw.notna() & np.isinf(values), raw, source=source,
                                    column=column, what="not a finite number",
                                    expected="a finite number", reason=finite))
        return values, problems
    if not (ptypes.is_string_dtype(raw) or ptypes.is_object_dtype(raw)):
        what = f"holds {raw.dtype} values"
        problems.append(Problem(source, column, what, "numbers (the model was trained on numbers)"))
        return pd.Series(np.nan, index=raw.index), problems
    cleaned = _cleaned(raw)
    non_finite = cleaned.rows(lambda v: v.lower() in _NON_FINITE)
    plain = cleaned.rows(_plain_number)
    values = pd.Series(cleaned.numbers(_plain_number), index=raw.index, name=raw.name)
    # A plain number too large for a float (1e400) reads as infinity: not finite either.
    non_finite = non_finite | (plain & np.isinf(values.to_numpy(dtype="float64")))
    lossy = cleaned.rows(lambda v: True) & ~plain & ~non_finite
    _add(
        problems,
        rows_problem(
            lossy, raw, source=source, column=column, what="not a number",
            expected="a plain number such as 120 or 0.5 (no separators, units or leading "
            "zeros; the model was trained on numbers), or an empty cell for a missing value",
        ),
    )
    _add(problems, rows_problem(non_finite, raw, source=source, column=column,
                                what="not a finite number", expected="a finite number",
                                reason=finite))
    return values, problems
