"""Activities read out of core: Parquet files checked in SQL by DuckDB, never loaded whole.

``mqlml train --activities`` and ``mqlml score --activities`` (and the Python API) decide
by the *kind* of input, not by its size (:func:`is_out_of_core`): a Parquet file, a folder
of Parquet files (e.g. the folder Spark writes) or a glob such as ``acts/*.parquet`` is
read here; a CSV, TSV or Excel file is read into memory by
:func:`mqlml.data.files.read_table` as before.

The checks are those of the one validator (:mod:`mqlml.data.validate`,
:func:`mqlml.data.contract.check_activities`), run in SQL over every row: required
columns (per file, after ``data.column_mapping``), an empty ``lead_id``, an empty or
unparseable ``occurred_at`` (and one outside the years 1900-2199 when scoring), an empty
``activity_type`` and, in training, a ``lead_id`` that is not a lead. Only the first
offending rows of each check are fetched; the validator itself types them, so each
problem reads exactly as it would in memory, naming the file, the column, the first rows
(1-based, in that file) and what was expected, with the count of all offending rows.

Times written as text must be ISO 8601 (``2024-03-05``, ``2024-03-05 10:00:00``,
``2024-03-05T10:00:00+02:00``) or be a Parquet timestamp column: other spellings (slash
dates) are read only in memory. Times without a zone are UTC, as in memory.

The activity summary itself (:func:`mqlml.features.activity.files_summary`) is one more
query over :meth:`ActivityFiles.relation`; DuckDB keeps within ``data.memory_limit`` and
spills beyond it to ``data.temp_directory``.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mqlml.columns import ACTIVITY_TYPE, CREATED_AT, LEAD_ID, OCCURRED_AT
from mqlml.data.validate import (
    _HAS_ZONE,
    EARLIEST,
    LATEST,
    Problem,
    map_columns,
    missing_columns,
)
from mqlml.errors import MqlmlError

#: File extensions read out of core.
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Characters that make a path a glob.
GLOB_CHARS = "*?["
#: Rows of each check fetched to show in a problem (the validator shows five).
EXAMPLE_ROWS = 5
# Python's str.strip removes these (str.isspace over all of Unicode): the SQL trims the same.
_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def is_out_of_core(path: str | Path) -> bool:
    """Whether activities at ``path`` are read out of core: a Parquet file, a folder or a glob.

    Parameters
    ----------
    path : str or path
        The activities given by the user.

    Returns
    -------
    bool
        False for a single CSV, TSV or Excel file (read in memory).
    """
    text = str(path)
    if any(c in text for c in GLOB_CHARS):
        return True
    p = Path(text)
    return p.is_dir() or p.suffix.lower() in PARQUET_SUFFIXES


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files(path: str) -> list[str]:
    """The Parquet files of a file, a folder (recursively; Spark's markers skipped) or a glob."""
    if any(c in path for c in GLOB_CHARS):
        found = sorted(glob.glob(path, recursive=True))
    elif Path(path).is_dir():
        found = sorted(
            str(p) for p in Path(path).rglob("*")
            if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
            and not p.name.startswith(("_", "."))
        )
    else:
        if not Path(path).is_file():
            raise MqlmlError(f"{path}: file not found")
        found = [path]
    found = [f for f in found if Path(f).is_file()]
    if not found:
        raise MqlmlError(
            f"{path}: no Parquet files found; expected a Parquet file, a folder of them or a "
            "glob such as 'activities/*.parquet'"
        )
    other = [f for f in found if Path(f).suffix.lower() not in PARQUET_SUFFIXES]
    if other:
        raise MqlmlError(
            f"{path}: {other[0]} is not a Parquet file; out of core, activities are read from "
            "Parquet (.parquet, .pq); give one CSV file to read it in memory"
        )
    return found


@dataclass
class FileCheck:
    """What checking the files found: problems, notes and aggregates the run needs.

    Attributes
    ----------
    problems : list of Problem
        As the in-memory validator words them.
    notes : list of str
        Facts for the report (naive times, events before creation, leads without events).
    latest : Timestamp or None
        The newest usable ``occurred_at`` (the data's end when no snapshot is set).
    naive : int
        Times without a zone (taken as UTC).
    stray : int
        Rows of ``lead_id`` not among the leads given.
    no_id : int
        Rows without a ``lead_id``.
    """

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latest: pd.Timestamp | None = None
    naive: int = 0
    stray: int = 0
    no_id: int = 0


class ActivityFiles:
    """Activities in Parquet files, checked and summarised by DuckDB without loading them.

    Parameters
    ----------
    path : str or path
        A Parquet file, a folder of them or a glob.
    mapping : mapping of str to str, optional
        ``data.column_mapping.activities``.
    memory_limit : str, optional
        DuckDB's memory cap, e.g. ``"4GB"`` (``data.memory_limit``); default DuckDB's
        (80% of the machine's memory).
    temp_directory : path, optional
        Where DuckDB spills beyond the cap (``data.temp_directory``).
    threads : int, optional
        DuckDB's threads (``data.threads``): each holds its own share of the work in
        memory, so fewer threads fit a smaller cap; default every core.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mapping: Mapping[str, str] | None = None,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
        threads: int | None = None,
    ):
        self.source = str(path)
        self.files = tuple(_files(self.source))
        self.mapping = dict(mapping or {})
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory
        self.threads = threads
        self._con = None
        self._columns: dict[str, str] | None = None  # ours -> theirs
        self._types: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"ActivityFiles({self.source!r}, {len(self.files)} files)"

    def __str__(self) -> str:
        return self.source

    # --- DuckDB ----------------------------------------------------------------------

    @property
    def con(self):
        """This object's DuckDB connection: UTC, capped at ``memory_limit``."""
        if self._con is None:
            import duckdb

            con = duckdb.connect()
            # Text times without a zone are UTC, as in memory (not the machine's zone).
            con.execute("SET TimeZone = 'UTC'").fetchall()
            # Rows come back in no order anyway; not keeping it lets big results spill.
            con.execute("SET preserve_insertion_order = false").fetchall()
            if self.memory_limit is not None:
                con.execute(f"SET memory_limit = {_literal(self.memory_limit)}").fetchall()
            if self.temp_directory is not None:
                con.execute(
                    f"SET temp_directory = {_literal(str(self.temp_directory))}"
                ).fetchall()
            if self.threads is not None:
                con.execute(f"SET threads = {int(self.threads)}").fetchall()
            self._con = con
        return self._con

    def run(self, sql: str, params=None):
        """Run ``sql`` and return its rows as a DataFrame; running out of memory within
        ``memory_limit`` is an error saying which settings to change."""
        import duckdb

        try:
            return self.con.execute(sql, params).df()
        except duckdb.OutOfMemoryException as exc:
            limit = self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            raise MqlmlError(
                f"{self.source}: DuckDB needed more memory than data.memory_limit ({limit}) "
                f"allows while reading the activities ({str(exc).splitlines()[0]}); raise "
                "data.memory_limit, or lower data.threads (each thread holds its own share)"
            ) from None

    def _scan(self, files=None, *, rows: bool = True) -> str:
        listed = "[" + ", ".join(_literal(f) for f in (files or self.files)) + "]"
        where = "filename = true, file_row_number = true, " if rows else ""
        return f"read_parquet({listed}, {where}union_by_name = true)"

    def _describe(self, files) -> dict[str, str]:
        import duckdb

        try:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {self._scan(files)}").fetchall()
        except duckdb.Error as exc:
            raise MqlmlError(f"{files[0] if len(files) == 1 else self.source}: could not be "
                             f"read as Parquet: {exc}") from None
        return {r[0]: r[1] for r in rows if r[0] not in ("filename", "file_row_number")}

    def schema_problems(self, *, why: str = "") -> list[Problem]:
        """Per file, the column mapping's and the required columns' problems (validator's words).

        Parameters
        ----------
        why : str
            Said after missing columns (scoring: the model reads them).
        """
        problems: list[Problem] = []
        columns: dict[str, str] | None = None
        for f in self.files:
            found = self._describe([f])
            empty = pd.DataFrame({c: pd.Series(dtype="str") for c in found})
            mapped, mapping_problems = map_columns(
                empty, source=f, table="activities", mapping=self.mapping
            )
            problems.extend(mapping_problems)
            if mapped is None:
                continue
            missing = missing_columns(mapped, source=f, table="activities", why=why)
            if missing is not None:
                problems.append(missing)
                continue
            theirs = dict(zip(mapped.columns, found, strict=True))
            columns = {c: theirs[c] for c in (LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE)}
        if not problems and columns is not None:
            self._columns = columns
            types = self._describe(list(self.files))
            self._types = {ours: types[theirs] for ours, theirs in columns.items()}
        return problems

    # --- the typed relation --------------------------------------------------------

    def _text(self, column: str) -> str:
        """SQL of a column as stripped text, NULL when empty (:func:`clean_text`)."""
        c, kind = _ident(self._columns[column]), self._types[column].upper()
        if kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
            # Integral numbers are identifiers: 123.0 is 123 (normalise_ids).
            return f"CAST(CAST({c} AS BIGINT) AS VARCHAR)" if column == LEAD_ID else (
                f"CAST({c} AS VARCHAR)")
        text = f"CAST({c} AS VARCHAR)"
        # Trimming Python's whitespace set costs ~10 s per 20M values; most values start and
        # end with a visible ASCII character and are kept as they are, cheaply.
        return (
            f"CASE WHEN ord(left({text}, 1)) BETWEEN 33 AND 126 AND "
            f"ord(right({text}, 1)) BETWEEN 33 AND 126 THEN {text} "
            f"ELSE nullif(trim({text}, {_literal(_WHITESPACE)}), '') END"
        )

    def _time_kind(self) -> str:
        kind = self._types[OCCURRED_AT].upper()
        if kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
            return "zoned"
        if kind.startswith(("TIMESTAMP", "DATE")):
            return "naive"
        if kind in ("VARCHAR", "STRING", "TEXT"):
            return "text"
        return "number"

    def _typed(self, *, rows: bool = True) -> str:
        """SQL of the rows: file and row (1-based) with ``rows``, typed columns and the raw
        values."""
        assert self._columns is not None, "schema_problems() first"
        ts, kind = _ident(self._columns[OCCURRED_AT]), self._time_kind()
        raw_ts = self._text(OCCURRED_AT) if kind == "text" else ts
        if kind == "text":
            occurred = f"try_cast({raw_ts} AS TIMESTAMPTZ)"
        elif kind == "number":
            occurred = "CAST(NULL AS TIMESTAMPTZ)"
        else:
            occurred = f"CAST({ts} AS TIMESTAMPTZ)"
        if kind == "text":
            naive = f"NOT regexp_matches({raw_ts}, {_literal(_HAS_ZONE.pattern)})"
        else:
            naive = "true" if kind == "naive" else "false"
        where = "filename AS _file, file_row_number + 1 AS _row, " if rows else ""
        return (
            f"SELECT {where}"
            f"{self._text(LEAD_ID)} AS {LEAD_ID}, {occurred} AS {OCCURRED_AT}, "
            f"{self._text(ACTIVITY_TYPE)} AS {ACTIVITY_TYPE}, "
            f"{raw_ts} AS _ts_raw, {_ident(self._columns[LEAD_ID])} AS _id_raw, "
            f"{_ident(self._columns[ACTIVITY_TYPE])} AS _type_raw, "
            f"{naive} AS _naive "
            f"FROM {self._scan(rows=rows)}"
        )

    def relation(self) -> str:
        """SQL of the usable activities: ``lead_id``, ``occurred_at``, ``activity_type``
        (raw text: normalised on the summary), rows with a problem left out."""
        return (
            f"(SELECT {LEAD_ID}, {OCCURRED_AT}, {ACTIVITY_TYPE} FROM ({self._typed(rows=False)}) "
            f"WHERE {LEAD_ID} IS NOT NULL AND {OCCURRED_AT} IS NOT NULL "
            f"AND {ACTIVITY_TYPE} IS NOT NULL)"
        )

    # --- checks --------------------------------------------------------------------

    def check(
        self,
        leads: pd.DataFrame | None,
        *,
        leads_source: str = "leads",
        years: bool = False,
        unknown: str = "problem",
        why: str = "",
        aggregates: bool = True,
    ) -> FileCheck:
        """Check every row in SQL, as :func:`mqlml.data.contract.check_activities` would.

        Parameters
        ----------
        leads : DataFrame or None
            Validated leads (``lead_id``, ``created_at``); None skips the checks against them.
        leads_source : str
            The leads' file, for messages.
        years : bool
            Whether an ``occurred_at`` outside 1900-2199 is a problem (scoring).
        unknown : {"problem", "count"}
            Rows of a ``lead_id`` not in ``leads``: a problem (training), or only counted
            (scoring: ignored, as in memory).
        why : str
            Said after missing columns.
        aggregates : bool
            Also fill ``latest``, ``naive`` and the notes: one more pass over every row, which
            scoring, reading none of them, skips.

        Returns
        -------
        FileCheck
        """
        out = FileCheck(problems=self.schema_problems(why=why))
        if out.problems:
            return out
        con = self.con
        with_leads = leads is not None
        if with_leads:
            con.register("mqlml_check_leads", leads[[LEAD_ID, CREATED_AT]])
        try:
            return self._check(out, with_leads, leads_source, years, unknown, leads,
                               aggregates)
        finally:
            if with_leads:
                con.unregister("mqlml_check_leads")

    def _check(
        self, out, with_leads, leads_source, years, unknown, leads, aggregates=True
    ) -> FileCheck:
        from mqlml.data.contract import activity_notes, unknown_leads_problem

        con = self.con
        kind = self._time_kind()
        join = (
            f"LEFT JOIN mqlml_check_leads l ON t.{LEAD_ID} = l.{LEAD_ID}" if with_leads else ""
        )
        known = f"l.{LEAD_ID} IS NOT NULL" if with_leads else "true"
        bad_ts = (
            "t._ts_raw IS NOT NULL AND t.occurred_at IS NULL" if kind in ("text", "number")
            else "false"
        )
        flags = {
            "no_id": f"t.{LEAD_ID} IS NULL",
            "bad_ts": bad_ts,
            "empty_ts": "t._ts_raw IS NULL",
            "years": (
                f"t.{OCCURRED_AT} < TIMESTAMPTZ '{EARLIEST.isoformat()}' OR "
                f"t.{OCCURRED_AT} >= TIMESTAMPTZ '{LATEST.isoformat()}'" if years else "false"
            ),
            "empty_type": f"t.{ACTIVITY_TYPE} IS NULL",
            "unknown": f"t.{LEAD_ID} IS NOT NULL AND NOT ({known})",
        }
        flag_sql = ", ".join(f"coalesce({v}, false) AS {k}" for k, v in flags.items())
        created = f"l.{CREATED_AT}" if with_leads else "CAST(NULL AS TIMESTAMPTZ)"
        self.run(
            f"CREATE OR REPLACE TEMP TABLE mqlml_flagged AS SELECT t._file, t._row, "
            f"t.{LEAD_ID}, t._id_raw, t._ts_raw, t._type_raw, {flag_sql} "
            f"FROM ({self._typed()}) t {join} "
            f"WHERE {' OR '.join(f'coalesce({v}, false)' for v in flags.values())}"
        )
        if aggregates:
            ok = f"t.{OCCURRED_AT} IS NOT NULL AND ({known})"
            stats = self.run(
                f"SELECT max(t.{OCCURRED_AT}) FILTER (WHERE {ok}), "
                f"count(*) FILTER (WHERE t._naive AND t.{OCCURRED_AT} IS NOT NULL), "
                f"count(*) FILTER (WHERE {ok} AND t.{OCCURRED_AT} < {created}), "
                f"count(DISTINCT t.{LEAD_ID}) FILTER (WHERE {known} AND t.{LEAD_ID} IS NOT NULL) "
                f"FROM ({self._typed()}) t {join}"
            ).iloc[0].tolist()
            latest, out.naive, n_before, n_with = stats
            latest = None if pd.isna(latest) else latest
            out.latest = None if latest is None else pd.Timestamp(latest).tz_convert("UTC")
        counts = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER (WHERE {k})" for k in flags)
            + ", count(DISTINCT lead_id) FILTER (WHERE unknown) FROM mqlml_flagged"
        ).fetchall()[0]
        totals = dict(zip(flags, counts[:-1], strict=True))
        out.no_id, out.stray = totals["no_id"], totals["unknown"]
        for f in self.files:
            out.problems.extend(self._file_problems(f, years, unknown == "problem"))
        if unknown == "problem" and totals["unknown"]:
            rows = con.execute(
                "SELECT _file, _row, lead_id FROM mqlml_flagged WHERE unknown "
                f"ORDER BY _file, _row LIMIT {EXAMPLE_ROWS}"
            ).fetchall()
            first_file = rows[0][0]
            here = [r for r in rows if r[0] == first_file]
            problem = unknown_leads_problem(
                np.ones(len(here), dtype=bool), pd.Series([r[2] for r in here], dtype="str"),
                int(counts[-1]), first_file, leads_source,
            )
            out.problems.append(replace(
                problem, rows=tuple(int(r[1]) for r in here), n_rows=totals["unknown"],
            ))
        if with_leads and aggregates:
            out.notes.extend(activity_notes(
                int(n_before), len(leads) - int(n_with), len(leads), self.source, leads_source
            ))
        return out

    def _file_problems(self, f: str, years: bool, unknown_is_problem: bool) -> list[Problem]:
        """The problems of one file's rows, in the validator's words and order."""
        from mqlml.data.contract import check_activities

        con = self.con
        checks = ("no_id", "bad_ts", "empty_ts", "years", "empty_type")
        n = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER (WHERE {k})" for k in checks)
            + " FROM mqlml_flagged WHERE _file = ?", [f]
        ).fetchall()[0]
        counts = dict(zip(checks, n, strict=True))
        if not any(counts.values()):
            return []
        examples = con.execute(
            "SELECT DISTINCT _row, _id_raw, _ts_raw, _type_raw FROM ("
            + " UNION ALL ".join(
                f"(SELECT * FROM mqlml_flagged WHERE _file = $f AND {k} "
                f"ORDER BY _row LIMIT {EXAMPLE_ROWS})" for k in checks if counts[k]
            ) + ") ORDER BY _row", {"f": f}
        ).df()
        rows = examples["_row"].to_numpy(dtype=np.int64)
        mini = pd.DataFrame({
            LEAD_ID: examples["_id_raw"], OCCURRED_AT: examples["_ts_raw"],
            ACTIVITY_TYPE: examples["_type_raw"],
        })
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            found = check_activities(mini, source=f, years=years).problems
        out: list[Problem] = []
        seen = set()
        for p in found:
            key = _check_of(p)
            if key is None or not counts.get(key):
                continue
            seen.add(key)
            real = tuple(int(rows[r - 1]) for r in p.rows)
            out.append(replace(p, rows=real, n_rows=int(counts[key])))
        if counts["bad_ts"] and "bad_ts" not in seen:
            # Text the in-memory parser reads but DuckDB does not (e.g. slash dates).
            from mqlml.data.validate import DATETIME_EXPECTED

            hit = examples[examples["_ts_raw"].notna()].head(EXAMPLE_ROWS)
            out.insert(1 if counts["no_id"] else 0, Problem(
                f, OCCURRED_AT, "not a date/time",
                DATETIME_EXPECTED + " (files read out of core: ISO 8601 text or a Parquet "
                "timestamp column)",
                rows=tuple(int(r) for r in hit["_row"]), values=tuple(hit["_ts_raw"]),
                reason="is not a date/time", n_rows=int(counts["bad_ts"]),
            ))
        return out

    def first_bad_rows(self, lead_ids: pd.Series) -> pd.DataFrame:
        """Per lead of ``lead_ids`` with unusable activities: how many, and its first one.

        Returns
        -------
        DataFrame
            ``lead_id``, ``n``, ``_file``, ``_row`` and the row's raw ``_id_raw``,
            ``_ts_raw`` and ``_type_raw`` (for the validator's reason).
        """
        con = self.con
        con.register("mqlml_batch_ids", pd.DataFrame({LEAD_ID: lead_ids.dropna()}))
        try:
            return con.execute(
                "SELECT lead_id, count(*) AS n, "
                "arg_min(_file, (_file, _row)) AS _file, arg_min(_row, (_file, _row)) AS _row, "
                "arg_min(_id_raw, (_file, _row)) AS _id_raw, "
                "arg_min(_ts_raw, (_file, _row)) AS _ts_raw, "
                "arg_min(_type_raw, (_file, _row)) AS _type_raw "
                "FROM mqlml_flagged WHERE NOT no_id AND NOT unknown "
                "AND lead_id IN (SELECT lead_id FROM mqlml_batch_ids) "
                "AND (bad_ts OR empty_ts OR years OR empty_type) GROUP BY lead_id"
            ).df()
        finally:
            con.unregister("mqlml_batch_ids")


def _check_of(problem: Problem) -> str | None:
    """Which SQL check a validator problem is."""
    if problem.column == LEAD_ID:
        return "no_id" if problem.reason == "is empty" else None
    if problem.column == ACTIVITY_TYPE:
        return "empty_type"
    if problem.column == OCCURRED_AT:
        if problem.reason == "is empty":
            return "empty_ts"
        if problem.what.startswith("outside the years"):
            return "years"
        return "bad_ts"
    return None
