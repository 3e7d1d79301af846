"""What changed since the previous scoring of the same leads, and the state store behind it.

The store is one SQLite file (stdlib ``sqlite3``) keyed by ``lead_id`` holding, per lead,
the last score, grade, MQL flag, tier, scoring moment and model: no lead attribute, so no
personal data. :func:`compare` reads it to add ``became_mql``, ``grade_changed`` and the
score trend to a scored batch; :meth:`ScoreState.record` then stores the batch in one
transaction (all its leads or none), so scoring the same batch twice flags nothing the
second time.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from mqlml.columns import (
    BECAME_MQL,
    GRADE,
    GRADE_CHANGED,
    IS_MQL,
    LEAD_ID,
    PREVIOUS_GRADE,
    PREVIOUS_SCORE,
    SCORE,
    SCORE_CHANGE,
    SCORE_TREND,
    SCORED_AT,
    TIER,
    TREND_DOWN,
    TREND_NEW,
    TREND_SAME,
    TREND_UP,
)
from mqlml.data.validate import normalise_ids
from mqlml.errors import MqlmlError

#: File name of the state store in the output's folder (``crm.state_path`` overrides it).
STATE_FILE = "mqlml-state.sqlite"
#: What the store keeps per lead: ids and scores only.
STATE_COLUMNS = (LEAD_ID, SCORE, GRADE, IS_MQL, TIER, SCORED_AT, "model")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS scores ("
    "lead_id TEXT PRIMARY KEY, score INTEGER NOT NULL, grade TEXT NOT NULL, "
    "is_mql INTEGER NOT NULL, tier TEXT NOT NULL, scored_at TEXT NOT NULL, model TEXT)"
)
_UPSERT = (
    "INSERT INTO scores (lead_id, score, grade, is_mql, tier, scored_at, model) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(lead_id) DO UPDATE SET "
    "score = excluded.score, grade = excluded.grade, is_mql = excluded.is_mql, "
    "tier = excluded.tier, scored_at = excluded.scored_at, model = excluded.model"
)


def default_state_path(out: str | Path) -> Path:
    """The state store beside an output file: ``mqlml-state.sqlite`` in its folder."""
    return Path(out).parent / STATE_FILE


def empty_state() -> pd.DataFrame:
    """A state table with no rows."""
    return pd.DataFrame(
        {
            LEAD_ID: pd.Series(dtype="str"),
            SCORE: pd.Series(dtype="int64"),
            GRADE: pd.Series(dtype="str"),
            IS_MQL: pd.Series(dtype="bool"),
            TIER: pd.Series(dtype="str"),
            SCORED_AT: pd.Series(dtype="str"),
            "model": pd.Series(dtype="str"),
        }
    )


class ScoreState:
    """The state store: the last scoring of every lead scored with change tracking.

    Parameters
    ----------
    path : path
        The SQLite file; created (with its folder) by the first :meth:`record`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path)
            conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise MqlmlError(
                f"{self.path}: expected mqlml's state store (an SQLite file), could not "
                f"open it: {exc}; move it away to start a new one"
            ) from None
        return conn

    def previous(self, lead_ids: pd.Series) -> pd.DataFrame:
        """The stored scoring of those of ``lead_ids`` the store knows (:data:`STATE_COLUMNS`).

        Raises
        ------
        MqlmlError
            When the file is not a state store.
        """
        if not self.path.exists():
            return empty_state()
        lead_ids = normalise_ids(pd.Series(lead_ids))  # the store keys are text
        with closing(self._connect()) as conn:
            try:
                # The batch's ids in a temporary table: one join instead of reading a store
                # that may hold millions of leads.
                conn.execute("CREATE TEMP TABLE batch (lead_id TEXT PRIMARY KEY)")
                conn.executemany(
                    "INSERT OR IGNORE INTO batch VALUES (?)", ((i,) for i in lead_ids.tolist())
                )
                rows = conn.execute(
                    "SELECT s.lead_id, s.score, s.grade, s.is_mql, s.tier, s.scored_at, s.model "
                    "FROM scores s JOIN batch b ON s.lead_id = b.lead_id"
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise MqlmlError(f"{self.path}: could not read the state store: {exc}") from None
        if not rows:
            return empty_state()
        out = pd.DataFrame(rows, columns=list(STATE_COLUMNS))
        return out.astype(
            {LEAD_ID: "str", SCORE: "int64", GRADE: "str", IS_MQL: "bool", TIER: "str",
             SCORED_AT: "str", "model": "str"}
        )

    def record(self, changes: pd.DataFrame, model: str | None) -> None:
        """Nothing; stores each lead's scoring in ``changes`` (from :func:`compare`), all in
        one transaction: an error leaves the store as it was.

        Raises
        ------
        MqlmlError
            When the store cannot be written.
        """
        rows = zip(
            changes[LEAD_ID].astype(str).tolist(),
            changes[SCORE].astype(int).tolist(),
            changes[GRADE].astype(str).tolist(),
            changes[IS_MQL].astype(bool).astype(int).tolist(),
            changes[TIER].astype(str).tolist(),
            format_moments(changes[SCORED_AT], None).tolist(),
            [model] * len(changes),
            strict=True,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            try:
                with conn:  # one transaction: committed whole or rolled back
                    conn.executemany(_UPSERT, rows)
            except sqlite3.DatabaseError as exc:
                raise MqlmlError(f"{self.path}: could not write the state store: {exc}") from None


def format_moments(moments: pd.Series, pattern: str | None) -> pd.Series:
    """Moments (UTC) as text: ISO 8601 when ``pattern`` is None, else ``strftime(pattern)``.

    Each distinct moment is formatted once: a batch usually has one.
    """
    moments = pd.Series(moments)
    codes, distinct = pd.factorize(moments)
    utc = [pd.Timestamp(t).tz_convert("UTC") for t in distinct]
    text = np.array([t.isoformat() if pattern is None else t.strftime(pattern) for t in utc],
                    dtype=object)
    return pd.Series(text[codes] if len(text) else [], index=moments.index, dtype="str")


def compare(scored: pd.DataFrame, scored_at: pd.Series, previous: pd.DataFrame) -> pd.DataFrame:
    """The scored leads with what changed since their previous scoring.

    Parameters
    ----------
    scored : DataFrame
        Scored leads (at least ``lead_id``, ``score``, ``grade``, ``is_mql``, ``tier``).
    scored_at : Series
        Their scoring moments (UTC), aligned with ``scored``.
    previous : DataFrame
        Their stored previous scoring, from :meth:`ScoreState.previous`.

    Returns
    -------
    DataFrame
        ``scored`` (same rows and order; ``lead_id`` as text, as the store keeps it) plus
        :data:`mqlml.columns.CHANGE_COLUMNS`:
        ``became_mql`` is true for an MQL that was not one before, or a new lead that is
        one; ``grade_changed`` only for a lead seen before whose grade differs;
        ``score_change`` and ``score_trend`` (``up``/``down``/``same``/``new``).
    """
    out = scored.reset_index(drop=True).copy()
    # The store keeps ids as text: an integer id column (1) must meet its stored "1".
    out[LEAD_ID] = normalise_ids(out[LEAD_ID])
    out[SCORED_AT] = pd.Series(scored_at).reset_index(drop=True)
    prev = previous.assign(**{LEAD_ID: normalise_ids(previous[LEAD_ID])})
    prev = prev.drop_duplicates(LEAD_ID).set_index(LEAD_ID)
    ids = out[LEAD_ID]
    prev_score = ids.map(prev[SCORE]).astype("Int64")
    seen = prev_score.notna().to_numpy()  # the store's score is never empty
    prev_grade = ids.map(prev[GRADE]).astype("str")
    prev_mql = ids.map(prev[IS_MQL]).astype("boolean").fillna(False).to_numpy(dtype=bool)
    change = (out[SCORE].astype("Int64") - prev_score).astype("Int64")
    out[PREVIOUS_SCORE] = prev_score
    out[PREVIOUS_GRADE] = prev_grade
    out[SCORE_CHANGE] = change
    delta = change.fillna(0).to_numpy(dtype=np.int64)
    out[SCORE_TREND] = pd.Series(
        np.select([~seen, delta > 0, delta < 0], [TREND_NEW, TREND_UP, TREND_DOWN], TREND_SAME),
        dtype="str",
    )
    is_mql = out[IS_MQL].to_numpy(dtype=bool)
    out[BECAME_MQL] = is_mql & ~prev_mql
    out[GRADE_CHANGED] = seen & (out[GRADE].astype(str).to_numpy() != prev_grade.to_numpy())
    return out


def changed_rows(changes: pd.DataFrame) -> pd.Series:
    """Whether each lead of :func:`compare`'s result is new, or its score or grade moved
    since its previous scoring (under one model, the MQL flag and tier follow the score)."""
    moved = changes[SCORE_CHANGE].fillna(0).astype("int64") != 0
    return (changes[SCORE_TREND] == TREND_NEW) | moved | changes[GRADE_CHANGED].astype(bool)
