"""Activity features: one definition, run by DuckDB (embedded, the default) or by Spark.

Two stages:

1. **The activity summary** (:func:`summary_sql`): one SQL query, in the subset of SQL both
   DuckDB and Spark SQL run, that turns raw leads (``lead_id``, ``as_of``) and activities
   (``lead_id``, ``occurred_at``, ``activity_type``) into, from the events strictly before
   each lead's ``as_of``, one row per lead and activity type it did (counts per window,
   days since the newest and the oldest event) and one row per lead for all its
   activities (``activity_type`` missing; the same plus active days and the previous
   week's count, for the trend). Every lead has its all-activities row, zeros when it did
   nothing. What differs between the two dialects (timestamps to epoch microseconds,
   quoting) is the :class:`Dialect` adapter.
2. **The spec's columns** (:func:`features_from_summary`, numpy, cheap): the types the
   :class:`~mqlml.features.build.FeatureSpec` keeps take their own columns, the others are
   pooled as ``other`` (counts add, days-since takes the minimum).

A summary table built on Spark (:mod:`mqlml.features.spark`) therefore holds everything any
spec with those windows needs, and ``mqlml train --activity-features`` reads it instead of
the activities. The per-type rows keep the aggregation's cost independent of the number of
activity types (a column per type and window would multiply it).

The definition is the list of :func:`measures`: :func:`summary_sql` renders each as SQL for
DuckDB and Spark, and :func:`numpy_summary` evaluates the same list with numpy. Batches held
in memory of up to :data:`NUMPY_MAX_EVENTS` events (a REST request, a scoring chunk) take
numpy, about a millisecond for one lead where a DuckDB query costs some 20 ms of planning;
larger ones, and Parquet or CSV files (read out of core), take DuckDB. A property test holds
both equal to an obvious reference, and Spark equal to DuckDB.

Times are compared as whole microseconds since the epoch, so an event exactly at ``as_of``
is excluded and a window's edge is exact; ages are reported in days (a float).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mqlml.columns import ACTIVITY_TYPE, AS_OF, LEAD_ID, OCCURRED_AT
from mqlml.errors import MqlmlError

#: Microseconds in a day: ages are whole microseconds until they are reported in days.
DAY_US = 86_400_000_000
#: The pooled activity type (types a spec has no own columns for).
OTHER_ACTIVITY = "other"
#: The 7-day trend: events in the last 7 days minus those in the 7 before.
TREND_DAYS = 7
#: Summary column: events of the week before the last (for the trend).
PREVIOUS_WEEK = "n_prev_7d"
#: Summary column: days since the newest event.
DAYS_SINCE_LAST = "days_since_last"
#: Summary column: days since the oldest event.
DAYS_SINCE_FIRST = "days_since_first"


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL engines: the rest of :func:`summary_sql` is shared."""

    #: Engine name, for messages.
    name: str
    #: SQL of a timestamp expression as whole microseconds since the epoch (BIGINT).
    epoch_us: Callable[[str], str]
    #: A quoted identifier.
    ident: Callable[[str], str]


DUCKDB = Dialect(
    "duckdb", epoch_us=lambda e: f"epoch_us({e})", ident=lambda s: '"' + s.replace('"', '""') + '"'
)
SPARK = Dialect(
    "spark",
    epoch_us=lambda e: f"unix_micros({e})",
    ident=lambda s: "`" + s.replace("`", "``") + "`",
)


@dataclass(frozen=True)
class Measure:
    """One summary column: an aggregate of the ages (microseconds) of a group's events.

    ``kind`` is ``count`` (events with ``lo_days < age <= hi_days``), ``min_days`` /
    ``max_days`` (the smallest / largest age, in days) or ``active_days`` (distinct whole
    days back from as-of among ages ``<= hi_days``). ``per_type``: computed on the
    per-type rows too, else only on the all-activities row.
    """

    name: str
    kind: str
    lo_days: int = 0
    hi_days: int | None = None
    per_type: bool = True


def summary_windows(windows: Sequence[int]) -> tuple[int, ...]:
    """The windows a summary counts: the spec's and the trend's week."""
    return tuple(sorted({*windows, TREND_DAYS}))


def count_column(window: int) -> str:
    """The summary column counting events in the last ``window`` days."""
    return f"n_{window}d"


def active_days_column(windows: Sequence[int]) -> str:
    """The summary column of active days in the longest window."""
    return f"active_days_{max(windows)}d"


def measures(windows: Sequence[int]) -> tuple[Measure, ...]:
    """The summary's measures: the one definition of every activity feature.

    Parameters
    ----------
    windows : sequence of int
        The spec's look-back windows in days.
    """
    w_all = summary_windows(windows)
    return (
        *(Measure(count_column(w), "count", 0, w) for w in w_all),
        Measure(PREVIOUS_WEEK, "count", TREND_DAYS, 2 * TREND_DAYS, per_type=False),
        Measure(DAYS_SINCE_LAST, "min_days"),
        Measure(DAYS_SINCE_FIRST, "max_days"),
        # A day is 24 hours back from as-of, not a calendar day of some time zone.
        Measure(active_days_column(windows), "active_days", 0, max(windows), per_type=False),
    )


def _sql_of(m: Measure, age: str) -> str:
    if m.kind == "count":
        cond = f"{age} <= {m.hi_days * DAY_US}"
        if m.lo_days:
            cond = f"{age} > {m.lo_days * DAY_US} AND {cond}"
        return f"count(*) FILTER (WHERE {cond})"
    if m.kind == "min_days":
        return f"CAST(min({age}) AS DOUBLE) / {DAY_US}"
    if m.kind == "max_days":
        return f"CAST(max({age}) AS DOUBLE) / {DAY_US}"
    if m.kind == "active_days":
        return (
            f"count(DISTINCT CASE WHEN {age} <= {m.hi_days * DAY_US} "
            f"THEN floor({age} / {DAY_US}.0) END)"
        )
    raise ValueError(f"measure {m.name!r}: unknown kind {m.kind!r}")


def summary_sql(
    windows: Sequence[int],
    dialect: Dialect,
    *,
    leads: str = "leads",
    activities: str = "activities",
    key: str | None = None,
) -> str:
    """The activity summary as one SQL query: the activity features' one definition.

    Parameters
    ----------
    windows : sequence of int
        Look-back windows in days (the trend's 7 days are added).
    dialect : Dialect
        :data:`DUCKDB` or :data:`SPARK`.
    leads, activities : str
        Relations (tables, views or table functions): ``lead_id`` (unique) and ``as_of``;
        ``lead_id``, ``occurred_at`` and ``activity_type``.
    key : str, optional
        A column of ``leads`` to return instead of ``lead_id`` and ``as_of`` (an integer
        row number is cheaper to group and to fetch than text).

    Returns
    -------
    str
        A query of the columns ``lead_id``, ``as_of`` (or ``key``), ``activity_type`` and
        one per :func:`measures`: a row per lead and activity type it did before as-of,
        and a row per lead with ``activity_type`` missing for all its activities.
    """
    q = dialect.ident
    keys = [key] if key else [LEAD_ID, AS_OF]
    ms = measures(windows)
    as_of_us, occurred_us = dialect.epoch_us(f"l.{AS_OF}"), dialect.epoch_us(f"a.{OCCURRED_AT}")

    def events(join: str) -> str:
        # Strictly before as-of: an event at the scoring moment itself is not yet known.
        return (
            f"SELECT {', '.join(f'l.{k} AS {k}' for k in keys)}, a.{ACTIVITY_TYPE} AS "
            f"{ACTIVITY_TYPE}, {as_of_us} - {occurred_us} AS age_us "
            f"FROM {leads} l {join} JOIN {activities} a "
            f"ON a.{LEAD_ID} = l.{LEAD_ID} AND {as_of_us} > {occurred_us}"
        )

    group = ", ".join(f"e.{k}" for k in keys)
    per_type = ",\n  ".join(
        f"{_sql_of(m, 'e.age_us') if m.per_type else _null(m)} AS {q(m.name)}" for m in ms
    )
    per_lead = ",\n  ".join(f"{_sql_of(m, 'e.age_us')} AS {q(m.name)}" for m in ms)
    return f"""
SELECT {group}, e.{ACTIVITY_TYPE} AS {ACTIVITY_TYPE},
  {per_type}
FROM ({events("")}) e
WHERE e.{ACTIVITY_TYPE} IS NOT NULL
GROUP BY {group}, e.{ACTIVITY_TYPE}
UNION ALL
SELECT {group}, CAST(NULL AS STRING) AS {ACTIVITY_TYPE},
  {per_lead}
FROM ({events("LEFT")}) e
GROUP BY {group}
"""


def _null(m: Measure) -> str:
    return f"CAST(NULL AS {'DOUBLE' if m.kind.endswith('_days') else 'BIGINT'})"


# --- the same measures by numpy, for small batches ------------------------------------------


def numpy_summary(
    lead_pos: np.ndarray, activity_type: np.ndarray, age_us: np.ndarray, n_leads: int,
    windows: Sequence[int],
) -> dict[str, np.ndarray]:
    """:func:`summary_sql`'s rows computed by numpy (for batches too small for a query).

    Parameters
    ----------
    lead_pos : ndarray of int
        Each event's lead, as a position in ``0..n_leads-1``.
    activity_type : ndarray of object
        Each event's type (text; missing events count only in the all-activities row).
    age_us : ndarray of int64
        Each event's age at its lead's as-of, in microseconds; only positive ages count.
    n_leads : int
        Number of leads.
    windows : sequence of int
        Look-back windows in days.

    Returns
    -------
    dict
        ``key`` (the lead's position), ``activity_type`` (None on the all-activities row)
        and one array per :func:`measures`: the rows of :func:`summary_sql`, in no order.
    """
    before = age_us > 0
    lead_pos, activity_type, age_us = lead_pos[before], activity_type[before], age_us[before]
    typed = pd.notna(activity_type)
    codes, names = pd.factorize(activity_type[typed])
    n_types = len(names)
    cell = lead_pos[typed] * max(n_types, 1) + codes
    cells = np.unique(cell)
    out: dict[str, list[np.ndarray]] = {"key": [cells // max(n_types, 1), np.arange(n_leads)]}
    out[ACTIVITY_TYPE] = [
        np.asarray(names, dtype=object)[cells % max(n_types, 1)],
        np.full(n_leads, None, dtype=object),
    ]
    groups = (
        (np.searchsorted(cells, cell), len(cells), age_us[typed]),
        (lead_pos, n_leads, age_us),
    )
    for m in measures(windows):
        parts = []
        for level, (g, size, age) in enumerate(groups):
            if level == 0 and not m.per_type:
                parts.append(np.full(size, np.nan))
            else:
                parts.append(_numpy_of(m, g, size, age))
        out[m.name] = parts
    return {k: np.concatenate(v) for k, v in out.items()}


def _numpy_of(m: Measure, g: np.ndarray, size: int, age: np.ndarray) -> np.ndarray:
    if m.kind == "count":
        keep = (age > m.lo_days * DAY_US) & (age <= m.hi_days * DAY_US)
        return np.bincount(g[keep], minlength=size).astype(float)
    if m.kind in ("min_days", "max_days"):
        big = np.iinfo(np.int64).max
        if m.kind == "min_days":
            acc = np.full(size, big, dtype=np.int64)
            np.minimum.at(acc, g, age)
        else:
            acc = np.full(size, -1, dtype=np.int64)
            np.maximum.at(acc, g, age)
        empty = (acc == big) | (acc < 0)
        return np.where(empty, np.nan, acc.astype(float) / DAY_US)
    if m.kind == "active_days":
        keep = age <= m.hi_days * DAY_US
        day = age[keep] // DAY_US
        span = int(day.max()) + 1 if len(day) else 1
        distinct = np.unique(g[keep].astype(np.int64) * span + day)
        return np.bincount(distinct // span, minlength=size).astype(float)
    raise ValueError(f"measure {m.name!r}: unknown kind {m.kind!r}")


# --- stage 2: the spec's columns from the summary -------------------------------------------


def features_from_summary(
    key: np.ndarray,
    activity_type: np.ndarray,
    values: dict[str, np.ndarray],
    n_leads: int,
    activity_types: Sequence[str],
    windows: Sequence[int],
) -> dict[str, np.ndarray]:
    """The spec's activity feature columns from the summary's rows.

    Parameters
    ----------
    key : ndarray of int
        Each summary row's lead, as a position in ``0..n_leads-1``.
    activity_type : ndarray of object
        Each row's type; missing on a lead's all-activities row.
    values : dict
        Measure name -> array of the rows' values (:func:`measures`).
    n_leads : int
        Number of leads; each must have its all-activities row.
    activity_types : sequence of str
        The spec's own types; every other type is pooled as ``other`` (counts add,
        days-since takes the minimum).
    windows : sequence of int
        The spec's windows.

    Returns
    -------
    dict
        Feature column -> float array of ``n_leads`` values.
    """
    windows = tuple(sorted(set(windows)))
    types = (*activity_types, OTHER_ACTIVITY)
    total = pd.isna(activity_type)
    lead_rows = np.full(n_leads, -1)
    lead_rows[key[total]] = np.flatnonzero(total)
    if (lead_rows < 0).any():
        raise MqlmlError(
            f"activity summary: {int((lead_rows < 0).sum()):,} leads have no all-activities row"
        )
    typed = np.flatnonzero(~total)
    # Looked up once per distinct type: millions of rows hold a few dozen types.
    codes, kinds = pd.factorize(activity_type[typed])
    own = pd.Index(activity_types).get_indexer(kinds).take(codes)
    col = np.where(own < 0, len(types) - 1, own)
    cell = key[typed] * len(types) + col
    out: dict[str, np.ndarray] = {}

    def f(name: str) -> np.ndarray:
        return np.asarray(values[name], dtype=float)

    for w in windows:
        counts = np.bincount(
            cell, weights=np.nan_to_num(f(count_column(w))[typed]), minlength=n_leads * len(types)
        ).reshape(n_leads, len(types))
        for j, t in enumerate(types):
            out[f"n_{t}_{w}d"] = counts[:, j]
    last = np.full(n_leads * len(types), np.inf)
    np.fmin.at(last, cell, f(DAYS_SINCE_LAST)[typed])
    last = np.where(np.isinf(last), np.nan, last).reshape(n_leads, len(types))
    for j, t in enumerate(types):
        out[f"days_since_last_{t}"] = last[:, j]
    lead = {m: f(m)[lead_rows] for m in values}
    for w in windows:
        out[f"n_all_{w}d"] = np.nan_to_num(lead[count_column(w)])
    active = active_days_column(windows)
    out[active] = np.nan_to_num(lead[active])
    out["trend_7d"] = np.nan_to_num(lead[count_column(TREND_DAYS)] - lead[PREVIOUS_WEEK])
    out["days_since_last_activity"] = lead[DAYS_SINCE_LAST]
    out["days_since_first_activity"] = lead[DAYS_SINCE_FIRST]
    return out


# --- the DuckDB engine ----------------------------------------------------------------------

_LOCAL = threading.local()
#: Below this many events a batch is summarised by numpy: a DuckDB query costs ~20 ms of
#: planning whatever its size, numpy a fraction of a millisecond per thousand events
#: (measured: one lead 1 ms vs 20 ms; 20k leads / 400k events 0.3 s vs 0.7 s).
NUMPY_MAX_EVENTS = 1_000_000


def _connection():
    """This thread's in-process DuckDB connection (opened once: opening costs milliseconds)."""
    import duckdb

    con = getattr(_LOCAL, "con", None)
    if con is None:
        con = duckdb.connect()
        _LOCAL.con = con
    return con


#: Activities as a DataFrame, or Parquet / CSV files (globs allowed).
ActivitiesSource = pd.DataFrame | str | Path | Sequence[str | Path]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _activities_relation(con, activities: ActivitiesSource) -> str:
    """A relation over the activities on ``con``: a registered frame or a file scan."""
    if isinstance(activities, pd.DataFrame):
        con.register("mqlml_activities", activities[[LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]])
        return "mqlml_activities"
    paths = [activities] if isinstance(activities, str | Path) else list(activities)
    files = [str(p) for p in paths]
    listed = "[" + ", ".join(_literal(f) for f in files) + "]"
    if all(f.lower().endswith((".parquet", ".pq")) for f in files):
        return f"read_parquet({listed})"
    if all(f.lower().endswith((".csv", ".tsv")) for f in files):
        return (
            f"(SELECT {LEAD_ID}, CAST({OCCURRED_AT} AS TIMESTAMPTZ) AS {OCCURRED_AT}, "
            f"{ACTIVITY_TYPE} FROM read_csv({listed}, all_varchar = true))"
        )
    raise MqlmlError(
        f"activities {files}: expected Parquet files (a glob such as 'acts/*.parquet') or CSV"
    )


def _configure(con, memory_limit: str | None, temp_directory: str | Path | None) -> None:
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {_literal(memory_limit)}")
    if temp_directory is not None:
        con.execute(f"SET temp_directory = {_literal(str(temp_directory))}")


def duckdb_summary(
    leads: pd.DataFrame,
    activities: ActivitiesSource,
    windows: Sequence[int],
    *,
    by_position: bool = False,
    memory_limit: str | None = None,
    temp_directory: str | Path | None = None,
):
    """The activity summary (:func:`summary_sql`) computed by DuckDB in this process.

    Parameters
    ----------
    leads : DataFrame
        ``lead_id`` (unique) and ``as_of`` (UTC times).
    activities : DataFrame, path or sequence of paths
        Validated activities, or Parquet files (globs allowed; read out of core, never
        whole in memory) or CSV files with ``lead_id``, ``occurred_at``, ``activity_type``.
    windows : sequence of int
        Look-back windows in days.
    by_position : bool
        Key the rows by the lead's position in ``leads`` (column ``key``) instead of
        ``lead_id`` and ``as_of``.
    memory_limit, temp_directory : optional
        DuckDB's memory cap (e.g. ``"3GB"``) and where it spills beyond it.

    Returns
    -------
    pyarrow.Table
        The summary's rows, in no particular order.
    """
    con = _connection()
    _configure(con, memory_limit, temp_directory)
    frame = leads[[LEAD_ID, AS_OF]]
    if by_position:
        frame = frame.assign(key=np.arange(len(frame), dtype=np.int64))
    con.register("mqlml_leads", frame)
    try:
        acts = _activities_relation(con, activities)
        sql = summary_sql(
            windows, DUCKDB, leads="mqlml_leads", activities=acts,
            key="key" if by_position else None,
        )
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("mqlml_leads")
        if isinstance(activities, pd.DataFrame):
            con.unregister("mqlml_activities")


def _arrays(table) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A summary's activity types (object, None on all-activities rows) and measures."""
    types = table.column(ACTIVITY_TYPE).to_numpy(zero_copy_only=False)
    values = {
        name: table.column(name).to_numpy(zero_copy_only=False).astype(float)
        for name in table.column_names
        if name not in (LEAD_ID, AS_OF, ACTIVITY_TYPE, "key")
    }
    return types, values


def activity_features(
    leads: pd.DataFrame,
    activities: pd.DataFrame,
    as_of_us: np.ndarray,
    activity_types: Sequence[str],
    windows: Sequence[int],
    *,
    engine: str | None = None,
) -> dict[str, np.ndarray]:
    """The spec's activity features of ``leads`` at ``as_of_us`` (strictly before it).

    Parameters
    ----------
    leads : DataFrame
        ``lead_id`` unique.
    activities : DataFrame
        Validated activities; those of other leads are ignored.
    as_of_us : ndarray of int64
        Each lead's as-of, microseconds since the epoch.
    activity_types, windows : sequence
        The spec's own activity types and windows.
    engine : {"duckdb", "numpy"}, optional
        Default: numpy up to :data:`NUMPY_MAX_EVENTS` events, else DuckDB.

    Returns
    -------
    dict
        Feature column -> float array, one value per lead.
    """
    n = len(leads)
    if engine is None:
        engine = "numpy" if len(activities) <= NUMPY_MAX_EVENTS else "duckdb"
    if engine == "duckdb":
        frame = pd.DataFrame(
            {LEAD_ID: leads[LEAD_ID].to_numpy(),
             AS_OF: pd.to_datetime(as_of_us, unit="us", utc=True)}
        )
        table = duckdb_summary(frame, activities, windows, by_position=True)
        key = table.column("key").to_numpy()
        types, values = _arrays(table)
    elif engine == "numpy":
        lead_pos = pd.Index(leads[LEAD_ID]).get_indexer(activities[LEAD_ID])
        keep = lead_pos >= 0
        t_us = _epoch_us(activities[OCCURRED_AT])[keep]
        lead_pos = lead_pos[keep]
        summary = numpy_summary(
            lead_pos, activities[ACTIVITY_TYPE].to_numpy(dtype=object)[keep],
            as_of_us[lead_pos] - t_us, n, windows,
        )
        key, types = summary.pop("key"), summary.pop(ACTIVITY_TYPE)
        values = summary
    else:
        raise ValueError(f"engine: expected 'duckdb' or 'numpy', got {engine!r}")
    return features_from_summary(key, types, values, n, activity_types, windows)


def _epoch_us(values: pd.Series) -> np.ndarray:
    """Times as whole microseconds since the epoch (UTC; times without a zone are UTC)."""
    array = values.array
    if isinstance(array, pd.arrays.DatetimeArray):
        # Straight from the array: a REST request's one lead should not pay for parsing.
        return array.as_unit("us").asi8
    return pd.to_datetime(values, utc=True).dt.as_unit("us").astype("int64").to_numpy()


# --- a summary table built elsewhere (Spark) ------------------------------------------------


def features_from_table(
    table: pd.DataFrame,
    lead_ids: pd.Series,
    as_of: pd.Series,
    activity_types: Sequence[str],
    windows: Sequence[int],
    *,
    source: str = "activity summary",
) -> dict[str, np.ndarray]:
    """The spec's activity features of ``lead_ids`` from a summary table (e.g. from Spark).

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`summary_sql` keyed by ``lead_id`` and ``as_of``.
    lead_ids : Series
        The leads, in order.
    as_of : Series
        Each lead's as-of (aligned with ``lead_ids``), which the table's must equal:
        features at another moment are not the ones these labels need.
    activity_types, windows : sequence
        The spec's own activity types and windows.
    source : str
        The table's name in messages (its file).

    Raises
    ------
    MqlmlError
        Naming the file, column and row: a missing column (or window), a lead absent from
        the table, or a lead whose as-of differs.
    """
    need = [LEAD_ID, AS_OF, ACTIVITY_TYPE, *(m.name for m in measures(windows))]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise MqlmlError(
            f"{source}: missing columns {missing}; expected an activity summary "
            f"(mqlml.features.spark.activity_summary) with windows {list(windows)} days"
        )
    total = table[ACTIVITY_TYPE].isna().to_numpy()
    ids = table[LEAD_ID].astype("str").to_numpy()
    index = pd.Index(ids[total])
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        rows = (np.flatnonzero(total & (ids == dup))[:5] + 1).tolist()
        raise MqlmlError(
            f"{source}: column {LEAD_ID!r}: lead {dup!r} has several all-activities rows "
            f"(rows {rows}); expected one per lead"
        )
    pos = index.get_indexer(lead_ids.astype("str"))
    if (pos < 0).any():
        absent = lead_ids[pos < 0]
        raise MqlmlError(
            f"{source}: column {LEAD_ID!r}: {len(absent):,} of {len(lead_ids):,} leads are not "
            f"in it (first {absent.iloc[:5].tolist()}); expected a row for every lead"
        )
    theirs = _epoch_us(table[AS_OF])
    wanted = _epoch_us(as_of)
    lead_rows = np.flatnonzero(total)[pos]
    wrong = np.flatnonzero(theirs[lead_rows] != wanted)
    if len(wrong):
        i = wrong[0]
        raise MqlmlError(
            f"{source}: column {AS_OF!r}, row {lead_rows[i] + 1} (lead {lead_ids.iloc[i]!r}): "
            f"{pd.Timestamp(theirs[lead_rows[i]], unit='us', tz='UTC').isoformat()}, expected "
            f"{pd.Timestamp(wanted[i], unit='us', tz='UTC').isoformat()} (the lead's as-of in "
            f"these labels); {len(wrong):,} leads differ"
        )
    # Each row's lead position; rows of leads not asked for are dropped here.
    where = pd.Index(lead_ids.astype("str")).get_indexer(ids)
    rows = np.flatnonzero(where >= 0)
    rows = rows[theirs[rows] == wanted[where[rows]]]
    values = {m.name: pd.to_numeric(table[m.name]).to_numpy(dtype=float, na_value=np.nan)[rows]
              for m in measures(windows)}
    types = table[ACTIVITY_TYPE].to_numpy(dtype=object, na_value=None)[rows]
    return features_from_summary(
        where[rows], types, values, len(lead_ids), activity_types, windows
    )


@dataclass(frozen=True, eq=False)
class ActivitySummary:
    """A prebuilt activity summary (e.g. from Spark) standing in for the raw activities.

    Attributes
    ----------
    table : DataFrame
        Rows of :func:`summary_sql` keyed by ``lead_id`` and ``as_of``.
    source : str
        Where it came from (its file), for messages.
    files : ActivityFiles, optional
        The :class:`~mqlml.data.activity_files.ActivityFiles` it was computed from, when
        read out of core: other aggregates (the current rules' counts) are queried from them.
    keyed : tuple of (DataFrame, ndarray), optional
        When computed here for known leads (:func:`files_summary`): those leads' ``lead_id``
        and ``as_of`` in order, and each table row's lead as a position among them. The
        features of those very leads then need no lookup by ``lead_id``
        (:meth:`positions`).
    """

    table: pd.DataFrame
    source: str
    files: object = None
    keyed: tuple[pd.DataFrame, np.ndarray] | None = None

    @classmethod
    def read(cls, path: str | Path) -> ActivitySummary:
        """Read a summary written as Parquet: one file, or the folder Spark writes."""
        path = Path(path)
        if not path.exists():
            raise MqlmlError(f"{path}: activity summary not found")
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise MqlmlError(f"{path}: could not be read as Parquet: {exc}") from None
        missing = [c for c in (LEAD_ID, AS_OF, ACTIVITY_TYPE) if c not in table.columns]
        if missing:
            raise MqlmlError(
                f"{path}: missing columns {missing}; expected an activity summary "
                "(mqlml.features.spark.activity_summary written as Parquet)"
            )
        return cls(table, str(path))

    def check(self, lead_ids: pd.Series, as_of: pd.Series, windows: Sequence[int]) -> None:
        """Refuse, naming file, column and row, a table lacking a lead, a measure of
        ``windows``, or whose as-of of a lead is not ``as_of``."""
        features_from_table(self.table, lead_ids, as_of, (), windows, source=self.source)

    def features(
        self, lead_ids: pd.Series, as_of: pd.Series, activity_types: Sequence[str],
        windows: Sequence[int],
    ) -> dict[str, np.ndarray]:
        """The spec's activity features of ``lead_ids`` (:func:`features_from_table`)."""
        key = self.positions(lead_ids, as_of)
        if key is None:
            return features_from_table(
                self.table, lead_ids, as_of, activity_types, windows, source=self.source
            )
        # The summary of exactly these leads at these moments: its rows are theirs.
        values = {m.name: pd.to_numeric(self.table[m.name]).to_numpy(dtype=float, na_value=np.nan)
                  for m in measures(windows)}
        types = self.table[ACTIVITY_TYPE].to_numpy(dtype=object, na_value=None)
        return features_from_summary(key, types, values, len(lead_ids), activity_types, windows)

    def positions(self, lead_ids: pd.Series, as_of: pd.Series) -> np.ndarray | None:
        """Each table row's lead as a position in ``lead_ids``, when this summary was
        computed for exactly these leads at these moments (``keyed``); else None."""
        if self.keyed is None:
            return None
        leads, key = self.keyed
        same = (
            len(leads) == len(lead_ids)
            and leads[LEAD_ID].reset_index(drop=True).equals(
                lead_ids.astype("str").reset_index(drop=True))
            and np.array_equal(_epoch_us(leads[AS_OF]), _epoch_us(as_of))
        )
        return key if same else None

    def type_rows(self, lead_ids: pd.Series, as_of: pd.Series) -> pd.DataFrame:
        """``lead_id`` and ``activity_type`` of each type each lead did before its as-of:
        what :func:`~mqlml.features.build.fit_feature_spec` counts leads per type from."""
        typed = self.table[self.table[ACTIVITY_TYPE].notna()]
        moment = pd.Series(_epoch_us(as_of), index=lead_ids.astype("str").to_numpy())
        ids = typed[LEAD_ID].astype("str")
        mine = ids.map(moment).to_numpy() == _epoch_us(typed[AS_OF])
        return typed.loc[mine, [LEAD_ID, ACTIVITY_TYPE]].reset_index(drop=True)

    def restrict(self, lead_ids: pd.Series) -> ActivitySummary:
        """The rows of ``lead_ids`` only."""
        keep = self.table[LEAD_ID].astype("str").isin(lead_ids.astype("str"))
        return ActivitySummary(self.table[keep].reset_index(drop=True), self.source, self.files)


def _utc_us(times: pd.Series) -> pd.DatetimeIndex:
    """Times in UTC to the microsecond, by position (a Series' index dropped); not through
    ``to_numpy``, which makes a Timestamp object of every zoned time (3 s per million)."""
    return pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("us")


def files_summary(
    files, lead_ids: pd.Series, as_of: pd.Series, windows: Sequence[int]
) -> ActivitySummary:
    """The activity summary of ``lead_ids`` at ``as_of`` from activities read out of core.

    One DuckDB query (:func:`summary_sql`) over the checked files
    (:class:`~mqlml.data.activity_files.ActivityFiles`): the events are never held in
    memory, only the summary (a row per lead and type it did, and one per lead). Activity
    types are normalised as in memory (:func:`~mqlml.data.validate.normalise_categories`)
    on the summary's few distinct values; rows whose types normalise alike are merged.

    Parameters
    ----------
    files : ActivityFiles
        Checked activity files (rows with problems are left out).
    lead_ids : Series
        The leads, in order (unique).
    as_of : Series
        Each lead's as-of (aligned); events strictly before it count.
    windows : sequence of int
        Look-back windows in days.

    Returns
    -------
    ActivitySummary
    """
    from mqlml.data.validate import normalise_categories, text_of_codes

    frame = pd.DataFrame({
        LEAD_ID: lead_ids.astype("str").to_numpy(),
        AS_OF: _utc_us(as_of),
        "key": np.arange(len(lead_ids), dtype=np.int64),
    })
    con = files.con
    con.register("mqlml_summary_leads", frame)
    try:
        # Grouped by the lead's position (an integer groups faster than text and a time).
        sql = summary_sql(windows, DUCKDB, leads="mqlml_summary_leads",
                          activities=files.relation(), key="key")
        table = files.run(sql)
    finally:
        con.unregister("mqlml_summary_leads")
    key = table["key"].to_numpy()
    table.insert(0, AS_OF, frame[AS_OF].array.take(key))
    # Taken as Arrow text: through Python objects costs seconds for millions of rows.
    table.insert(0, LEAD_ID, lead_ids.astype("str").reset_index(drop=True).array.take(key))
    codes, uniques = pd.factorize(table[ACTIVITY_TYPE])
    norm = normalise_categories(pd.Series(uniques, dtype="str")).to_numpy(dtype=object)
    table[ACTIVITY_TYPE] = text_of_codes(codes, norm)
    if len(set(norm)) < len(norm):
        # "Email Open" and "email open" are one type in memory: merge their rows.
        agg = {m.name: ("sum" if m.kind == "count" else "min" if m.kind == "min_days"
                        else "max") for m in measures(windows) if m.per_type}
        agg.update({m.name: "first" for m in measures(windows) if not m.per_type})
        typed = table[table[ACTIVITY_TYPE].notna()]
        merged = typed.groupby([LEAD_ID, AS_OF, ACTIVITY_TYPE, "key"], sort=False,
                               as_index=False).agg(agg)
        table = pd.concat([merged, table[table[ACTIVITY_TYPE].isna()]], ignore_index=True)
    key = table.pop("key").to_numpy()
    leads = pd.DataFrame({LEAD_ID: lead_ids.astype("str").reset_index(drop=True),
                          AS_OF: frame[AS_OF]})
    return ActivitySummary(table, str(files), files, keyed=(leads, key))


def files_type_counts(
    files, lead_ids: pd.Series, as_of: pd.Series, window_days: int | None
) -> dict[str, np.ndarray]:
    """Events per lead and (normalised) type before as-of, within ``window_days`` if given:
    an SQL aggregate over activities read out of core (the current rules sheet's counts).

    Returns
    -------
    dict
        Activity type -> int array aligned with ``lead_ids``.
    """
    from mqlml.data.validate import normalise_categories

    frame = pd.DataFrame({
        "key": np.arange(len(lead_ids), dtype=np.int64),
        LEAD_ID: lead_ids.astype("str").to_numpy(),
        AS_OF: _utc_us(as_of),
    })
    lo = "" if window_days is None else (
        f" AND a.{OCCURRED_AT} >= l.{AS_OF} - INTERVAL {int(window_days)} DAY")
    con = files.con
    con.register("mqlml_count_leads", frame)
    try:
        table = files.run(
            f"SELECT l.key, a.{ACTIVITY_TYPE}, count(*) AS n FROM mqlml_count_leads l "
            f"JOIN {files.relation()} a ON a.{LEAD_ID} = l.{LEAD_ID} "
            f"AND a.{OCCURRED_AT} < l.{AS_OF}{lo} GROUP BY ALL"
        )
    finally:
        con.unregister("mqlml_count_leads")
    types = normalise_categories(table[ACTIVITY_TYPE].astype("str"))
    out: dict[str, np.ndarray] = {}
    for kind, part in table.groupby(types.to_numpy(), sort=True):
        out[str(kind)] = np.bincount(
            part["key"].to_numpy(), weights=part["n"].to_numpy(), minlength=len(lead_ids)
        ).astype(int)
    return out
