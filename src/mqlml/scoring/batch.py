"""A scoring batch: checked against the training schema, split into scorable rows and
rejects, scored in chunks, with its drift report. The production path of ``mqlml score``.

What stops the whole batch (one :class:`~mqlml.errors.DataValidationError` listing every
such problem, in the leads and the activities file at once):

* a missing required column: ``lead_id``, ``created_at`` and every lead column the model
  reads (e.g. ``email`` for the email domain type); a column may be empty, but it must be
  there, or the model would silently see every lead as "unknown";
* a column whose values cannot become what the model was trained on without loss: text
  such as ``1,200`` or ``n/a`` in a numeric attribute, numbers in a date column (the
  problem names the column and example rows);
* a ``lead_id`` that appears more than once;
* no rows at all.

What sends a row to the rejects file, with the reason, while the rest is scored:

* an empty ``lead_id``;
* an empty or unparseable ``created_at`` (or ``as_of`` when the batch carries one), or
  one outside the years 1900-2199 (:data:`YEARS`: ``9999-12-31`` is a placeholder, not
  a date);
* ``created_at`` after the lead's scoring moment ``as_of`` (the data cannot be right);
* an infinite numeric attribute, or one spelled ``NaN`` / ``inf`` (an *empty* cell is a
  missing value, which the model knows how to score);
* an activity of the lead with an empty, unparseable or out-of-range ``occurred_at`` or
  an empty ``activity_type``: its behaviour features cannot be computed.

What is scored as it is: extra columns are ignored and listed; category values the model
never saw are scored as unknown and counted per column; negative or out-of-range numbers
are not "impossible" for an arbitrary attribute and show up as drift instead; activities
before the lead's ``created_at`` are kept (as in training: web visits are often stitched
to a lead later), those at or after ``as_of`` are not yet known and ignored by the
features; activities of leads not in the batch, or without a ``lead_id``, are ignored
and counted.

Every input row ends in the output or in the rejects file (``lead_id``, ``row``: the
1-based data row of the input, the header not counted, ``column`` and ``reason``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mqlml.columns import (
    ACTIVITY_TYPE,
    AS_OF,
    CREATED_AT,
    EMAIL,
    IS_MQL,
    JOB_TITLE,
    LEAD_ID,
    OCCURRED_AT,
    REQUIRED_COLUMNS,
    SCORE,
    SCORE_COLUMNS,
)
from mqlml.data import files as io
from mqlml.data.activity_files import ActivityFiles, is_out_of_core
from mqlml.data.contract import Checked, activity_files, check_activities, empty_activities
from mqlml.data.flat import flat_batch
from mqlml.data.validate import (
    DATETIME_DTYPE,
    EARLIEST,
    LATEST,
    YEARS,
    Problem,
    among,
    check_datetimes,
    check_ids,
    check_numbers,
    clean_text,
    map_columns,
    messages,
    missing_columns,
    out_of_years,
    plural,
    quoted,
    show,
)
from mqlml.errors import DataValidationError, MqlmlError
from mqlml.features.activity import ActivitySummary, files_summary
from mqlml.features.build import (
    OTHER_LEVEL,
    FeatureSpec,
    build_features,
    derived_columns,
    unseen_mask,
)
from mqlml.model.bundle import TrainedModel
from mqlml.scoring.prior import check_prior_shift
from mqlml.scoring.score import explain_leads, score_routed
from mqlml.scoring.scoring_report import (
    drift_report,
    drift_warning,
    unseen_category_note,
    unseen_category_values,
)

#: Columns of the rejects file.
REJECT_COLUMNS = ("lead_id", "row", "column", "reason")
#: Leads scored at a time: bounds the memory of features and reasons on large batches.
CHUNK_ROWS = 50_000
#: Most batch feature rows compared with the training reference (a seeded sample).
DRIFT_SAMPLE_ROWS = 50_000
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class CheckedBatch:
    """A batch after checking: what can be scored, what cannot and why.

    Attributes
    ----------
    leads : DataFrame
        Scorable leads in input order (positional index): ``lead_id``, ``created_at`` and
        the lead columns the model reads, typed as in training.
    as_of : Series
        The scoring moment (UTC) of each scorable lead, aligned with ``leads``.
    activities : DataFrame
        The usable activities of the scorable leads.
    rejects : DataFrame
        One row per rejected input row: :data:`REJECT_COLUMNS`, in input order.
    n_input : int
        Rows in the input: ``len(leads) + len(rejects)``.
    ignored_columns : tuple of str
        Input columns the model does not read.
    notes : tuple of str
        Facts about the batch worth printing (ignored activities, ...).
    as_of_source : {"given", "column", "now"}
        Where the scoring moment came from: the ``as_of`` argument, the batch's ``as_of``
        column, or the clock (the default, warned about).
    activities_given : bool
        Whether an activities table came with the batch (it may hold no usable rows).
    activity_summary : ActivitySummary, optional
        For activities read out of core (Parquet files, a folder or a glob): their summary
        at each scorable lead's moment, which the features come from; ``activities`` is
        then empty.
    """

    leads: pd.DataFrame
    as_of: pd.Series
    activities: pd.DataFrame
    rejects: pd.DataFrame
    n_input: int
    ignored_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    as_of_source: str = "given"
    activities_given: bool = True
    activity_summary: ActivitySummary | None = None

    def activities_of(self, lead_id: str) -> pd.DataFrame | ActivitySummary:
        """The activities (or summary rows) of one scorable lead."""
        if self.activity_summary is not None:
            return self.activity_summary.restrict(pd.Series([lead_id], dtype="str"))
        acts = self.activities
        return acts[acts[LEAD_ID].astype("str") == str(lead_id)].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class ScoredBatch:
    """A checked batch after scoring.

    Attributes
    ----------
    scored : DataFrame
        :data:`mqlml.columns.SCORE_COLUMNS`, one row per scorable lead, in input order.
    rejects : DataFrame
        As in :class:`CheckedBatch`.
    report : dict
        The JSON-safe scoring report (counts, ignored columns, rejects per column, unseen
        categories, drift, the batch's conversion rate beside the training rate).
    warnings : tuple of str
        Lines to show the user (drift above the PSI warning, a conversion rate unlike the
        training rate, ...).
    notes : tuple of str
        Facts about the batch.
    as_of : Series, optional
        The scoring moment (UTC) of each scored lead, aligned with ``scored``.
    """

    scored: pd.DataFrame
    rejects: pd.DataFrame
    report: dict
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    as_of: pd.Series | None = None


# --- the training schema ----------------------------------------------------------------


@functools.cache
def _derived_sources() -> dict[str, str]:
    """Derived feature -> the lead column it comes from (asked of the feature code itself)."""
    out = {}
    for source in (EMAIL, JOB_TITLE):
        probe = pd.DataFrame({source: pd.Series([], dtype="str")})
        out.update({c: source for c in derived_columns(probe)})
    return out


def required_lead_columns(model: TrainedModel) -> tuple[str, ...]:
    """``lead_id``, ``created_at`` and every lead column the model's features read (with
    segment models: theirs too, and the column that routes a lead to its segment's model)."""
    derived = _derived_sources()
    attrs = [
        c
        for spec in _specs(model)
        for c in spec.columns
        if c in spec.categorical or c in spec.numeric_attributes
    ]
    if model.segment_models:
        attrs.append(model.segment_column)
    out = list(REQUIRED_COLUMNS["leads"])
    for c in attrs:
        source = derived.get(c, c)
        if source not in out:
            out.append(source)
    return tuple(out)


def _specs(model: TrainedModel) -> list[FeatureSpec]:
    """The feature specs of the model and of its segment models."""
    return [model.spec, *(m.spec for m in (model.segment_models or {}).values())]


# --- row problems -----------------------------------------------------------------------


class _Rejects:
    """Row problems collected per check, joined per row at the end."""

    def __init__(self, n: int):
        self.n = n
        self.parts: list[tuple[np.ndarray, str, list[str]]] = []

    def add(self, problem: Problem) -> None:
        """Reject the rows of a problem of single rows, each with its reason."""
        pos = np.asarray(problem.rows, dtype=np.int64) - 1
        self.parts.append((pos, str(problem.column), problem.reasons()))

    def add_each(self, mask, column: str, describe: Callable[[int], str]) -> None:
        """Reject the rows where ``mask`` holds, each with ``describe(position)``."""
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(pos):
            self.parts.append((pos, column, [describe(p) for p in pos.tolist()]))

    def mask(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for pos, _, _ in self.parts:
            out[pos] = True
        return out

    def frame(self, ids: pd.Series) -> pd.DataFrame:
        columns: dict[int, list[str]] = {}
        reasons: dict[int, list[str]] = {}
        for pos, column, texts in self.parts:
            for p, text in zip(pos.tolist(), texts, strict=True):
                if column not in columns.setdefault(p, []):
                    columns[p].append(column)
                reasons.setdefault(p, []).append(text)
        rows = sorted(columns)
        id_values = ids.to_numpy()
        return pd.DataFrame(
            {
                "lead_id": pd.Series([id_values[p] for p in rows], dtype="str"),
                "row": pd.Series([p + 1 for p in rows], dtype="int64"),
                "column": pd.Series(["; ".join(columns[p]) for p in rows], dtype="str"),
                "reason": pd.Series(["; ".join(reasons[p]) for p in rows], dtype="str"),
            }
        )


def empty_rejects() -> pd.DataFrame:
    """A rejects table with no rows."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series(dtype="str"),
            "row": pd.Series(dtype="int64"),
            "column": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
        }
    )


def _years() -> str:
    return f"{YEARS[0]}-{YEARS[1]}"


def _scoring_moment(as_of, n: int, index: pd.Index) -> pd.Series:
    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError, OverflowError):
        ts = pd.NaT
    if not pd.isna(ts):
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if pd.isna(ts) or not EARLIEST <= ts < LATEST:
        raise DataValidationError(
            [
                "as_of: expected a date or time such as 2026-01-31T12:00Z in the years "
                f"{_years()}, got {as_of!r}"
            ]
        )
    return pd.Series(ts, index=index, dtype=DATETIME_DTYPE)


# --- checking ---------------------------------------------------------------------------


#: Said after the missing columns a model needs: an empty column is fine, none is not.
_MODEL_READS = " (the model reads them; a column may be empty, but must be there)"


def _checked_activities(
    activities,
    source: str,
    mapping: Mapping[str, str] | None,
    fatal: list[Problem],
    dayfirst: bool | None = None,
) -> Checked | None:
    """The typed activities in input order (rows with problems kept, as NaT / missing)
    and their problems; ``None`` when the table is unusable (problems added to ``fatal``)."""
    if activities is None:
        return Checked(empty_activities())
    if isinstance(activities, ActivityFiles):
        # Out of core: the columns now; the rows in SQL once the leads are known.
        found = activities.schema_problems(why=_MODEL_READS)
        fatal.extend(found)
        return None if found else Checked(empty_activities())
    mapped, found = map_columns(activities, source=source, table="activities", mapping=mapping)
    fatal.extend(found)
    if mapped is None:
        return None
    missing = missing_columns(mapped, source=source, table="activities", why=_MODEL_READS)
    if missing is not None:
        fatal.append(missing)
        return None
    with warnings.catch_warnings():
        # An ambiguous slash-date column is read month first (or by data.dayfirst) as in
        # training; scoring does not stop on that warning.
        warnings.simplefilter("ignore", UserWarning)
        checked = check_activities(mapped, source=source, years=True, dayfirst=dayfirst)
    of_table = [p for p in checked.problems if not p.per_row]
    if of_table:
        fatal.extend(of_table)
        return None
    return checked


def _usable_activities(
    checked: Checked, ids: pd.Series, source: str, rejects: _Rejects, notes: list[str]
) -> pd.DataFrame:
    """The activities of the batch's leads that features can use.

    A lead with an unusable activity (bad ``occurred_at``, empty ``activity_type``) is
    rejected, naming its first such row; activities of other leads or of none are
    ignored and counted in ``notes``.
    """
    acts = checked.frame
    assert acts is not None
    if len(acts) == 0:
        return acts
    # The first problem of each activity row, in the order the checks ran (dates first).
    first_problem: dict[int, str] = {}
    for problem in checked.problems:
        if problem.column != LEAD_ID:  # activities without a lead_id are ignored below
            for row, reason in zip(problem.rows, problem.reasons(), strict=True):
                first_problem.setdefault(row - 1, reason)
    bad = np.zeros(len(acts), dtype=bool)
    bad[list(first_problem)] = True
    no_id = acts[LEAD_ID].isna().to_numpy()
    known = among(acts[LEAD_ID], ids) & ~no_id
    if no_id.any():
        notes.append(f"{source}: {plural(int(no_id.sum()), 'row')} without a lead_id ignored")
    if (~known & ~no_id).any():
        stray = plural(int((~known & ~no_id).sum()), "row")
        notes.append(f"{source}: {stray} of leads not in the batch ignored")
    broken = acts.loc[bad & known]
    if len(broken):
        counts = broken[LEAD_ID].value_counts()
        first = broken.drop_duplicates(LEAD_ID)
        why = {
            lead: f"{plural(int(counts[lead]), 'unusable activity', many='unusable activities')} "
            f"in {source} (first: row {pos + 1}, {first_problem[pos]})"
            for pos, lead in zip(first.index, first[LEAD_ID], strict=True)
        }
        hit = ids.map(why)
        rejects.add_each(hit.notna(), "activities", lambda p: f"activities: {hit.iloc[p]}")
    return acts.loc[known & ~bad]


def _checked_leads(
    frame: pd.DataFrame, model: TrainedModel, source: str, columns: tuple[str, ...]
) -> tuple[dict[str, pd.Series], list[Problem]]:
    """The lead columns the model reads (and ``as_of``), typed as in training, and every
    problem found, in check order."""
    ids, problems = check_ids(
        frame[LEAD_ID], source=source, unique="each lead_id once in a batch (a lead is scored once)"
    )
    typed: dict[str, pd.Series] = {LEAD_ID: ids}
    numeric = {c for spec in _specs(model) for c in spec.numeric_attributes}
    for column in columns[1:]:
        raw = frame[column]
        if column in (CREATED_AT, AS_OF):
            dates = check_datetimes(
                raw, source=source, column=column, required=True, years=True,
                dayfirst=model.config.data.dayfirst, warn_ambiguous=False,
            )
            typed[column], found = dates.parsed, dates.problems
        elif column in numeric:
            typed[column], found = check_numbers(raw, source=source, column=column)
        else:
            # As text, exactly as written: category levels are compared as text.
            textual = ptypes.is_string_dtype(raw) or ptypes.is_object_dtype(raw)
            typed[column], found = (clean_text(raw) if textual else raw), []
        problems.extend(found)
    return typed, problems


def _tables(
    leads,
    activities,
    mapping,
    required: tuple[str, ...],
    source: str,
    activities_source: str,
    dayfirst: bool | None = None,
) -> tuple[pd.DataFrame, Checked | None, list[Problem]]:
    """Both tables mapped, the leads with the columns the model reads, and the problems
    that stop the batch so far; raised at once when the leads are unusable."""
    fatal: list[Problem] = []
    frame, found = map_columns(leads, source=source, table="leads", mapping=mapping.get("leads"))
    fatal.extend(found)
    acts = _checked_activities(
        activities, activities_source, mapping.get("activities"), fatal, dayfirst
    )
    if frame is not None:
        missing = missing_columns(
            frame, source=source, table="leads", required=required, why=_MODEL_READS
        )
        if missing is not None:
            fatal.append(missing)
            frame = None
        elif len(frame) == 0:
            fatal.append(Problem(source, None, "the table has no rows", "at least one lead"))
            frame = None
    if frame is None:
        raise DataValidationError(messages(fatal))
    return frame, acts, fatal


def check_batch(
    leads: pd.DataFrame,
    activities: pd.DataFrame | None,
    model: TrainedModel,
    as_of=None,
    *,
    source: str = "leads",
    activities_source: str = "activities",
    now: pd.Timestamp | None = None,
) -> CheckedBatch:
    """Check a batch against the training schema and split its rows (see the module doc).

    Mapping (``data.column_mapping``) and every check are those of the data layer
    (:mod:`mqlml.data.validate`): its problems of single rows become rejects, its
    problems of a table one error.

    Parameters
    ----------
    leads : DataFrame
        The leads as read (CSV columns all text).
    activities : DataFrame or None
        Their activities as read; ``None`` when there are none.
    model : TrainedModel
        Gives the schema (feature spec) and the column mapping.
    as_of : time, optional
        Scoring moment of every lead; else the batch's ``as_of`` column, else ``now``.
    source, activities_source : str
        File names used in messages.
    now : Timestamp, optional
        The current time (UTC) when no ``as_of`` is given; default the clock.

    Returns
    -------
    CheckedBatch

    Raises
    ------
    DataValidationError
        Listing every batch-level problem of both tables.
    """
    mapping = model.config.data.column_mapping
    required = required_lead_columns(model)
    frame, acts, fatal = _tables(
        leads, activities, mapping, required, source, activities_source,
        model.config.data.dayfirst,
    )
    use_as_of_column = as_of is None and AS_OF in frame.columns
    # Checked in this order, so a row's reasons read created_at, as_of, then attributes.
    read = (*required[:2], AS_OF, *required[2:]) if use_as_of_column else required
    ignored = tuple(str(c) for c in frame.columns if c not in read)
    typed, problems = _checked_leads(frame, model, source, read)
    fatal.extend(p for p in problems if not p.per_row)
    if fatal:
        raise DataValidationError(messages(fatal))
    moments = typed.pop(AS_OF) if use_as_of_column else _given_moment(as_of, now, frame.index)
    rejects = _row_rejects(len(frame), problems, typed[CREATED_AT], moments)
    notes: list[str] = []
    if ignored:
        notes.append(f"{source}: ignored columns the model does not read: {quoted(ignored)}")
    assert acts is not None
    if isinstance(activities, ActivityFiles):
        _usable_files(activities, typed, activities_source, rejects, notes, model)
        usable_acts = acts.frame
    else:
        usable_acts = _usable_activities(acts, typed[LEAD_ID], activities_source, rejects, notes)
    checked = _split_batch(typed, moments, usable_acts, rejects, ignored=ignored, notes=notes)
    source_of_moment = "column" if use_as_of_column else ("given" if as_of is not None else "now")
    summary = None
    if isinstance(activities, ActivityFiles):
        windows = sorted({w for spec in _specs(model) for w in spec.windows_days})
        summary = files_summary(activities, checked.leads[LEAD_ID], checked.as_of, windows)
    return replace(checked, as_of_source=source_of_moment, activities_given=activities is not None,
                   activity_summary=summary)


def _usable_files(
    files: ActivityFiles,
    typed: dict[str, pd.Series],
    source: str,
    rejects: _Rejects,
    notes: list[str],
    model: TrainedModel,
) -> None:
    """:func:`_usable_activities` for activities read out of core, checked in SQL: a lead
    with an unusable activity is rejected naming its first such row, activities of other
    leads or of none are ignored and counted; a problem of the table stops the batch."""
    leads = pd.DataFrame({LEAD_ID: typed[LEAD_ID], CREATED_AT: typed[CREATED_AT]})
    found = files.check(leads.dropna(subset=[LEAD_ID]), leads_source=source, years=True,
                        unknown="count", why=_MODEL_READS, aggregates=False)
    fatal = [p for p in found.problems if not p.per_row]
    if fatal:
        raise DataValidationError(messages(fatal))
    if found.no_id:
        notes.append(f"{source}: {plural(found.no_id, 'row')} without a lead_id ignored")
    if found.stray:
        notes.append(f"{source}: {plural(found.stray, 'row')} of leads not in the batch ignored")
    first = files.first_bad_rows(typed[LEAD_ID])
    if not len(first):
        return
    mini = pd.DataFrame({LEAD_ID: first["_id_raw"], OCCURRED_AT: first["_ts_raw"],
                         ACTIVITY_TYPE: first["_type_raw"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        checked = check_activities(mini, source=source, years=True,
                                   dayfirst=model.config.data.dayfirst)
    reason: dict[int, str] = {}
    for problem in checked.problems:
        if problem.column != LEAD_ID and problem.per_row:
            for row, text in zip(problem.rows, problem.reasons(), strict=True):
                reason.setdefault(row - 1, text)
    why = {}
    for i, (lead, n, file, row) in enumerate(
        first[[LEAD_ID, "n", "_file", "_row"]].itertuples(index=False)
    ):
        # DuckDB could not read a time the in-memory parser reads (e.g. a slash date).
        text = reason.get(i, f"{OCCURRED_AT} is not a date/time")
        why[lead] = (
            f"{plural(int(n), 'unusable activity', many='unusable activities')} in {file} "
            f"(first: row {int(row)}, {text})"
        )
    hit = typed[LEAD_ID].map(why)
    rejects.add_each(hit.notna(), "activities", lambda p: f"activities: {hit.iloc[p]}")


def _given_moment(as_of, now: pd.Timestamp | None, index: pd.Index) -> pd.Series:
    """The scoring moment of every lead: ``as_of`` if given, else ``now``, else the clock."""
    clock = as_of if as_of is not None else (now if now is not None else
                                             pd.Timestamp.now(tz="UTC"))
    return _scoring_moment(clock, len(index), index)


def _row_rejects(
    n: int, problems: list[Problem], created: pd.Series, moments: pd.Series
) -> _Rejects:
    """The rejects of the per-row problems, and of leads created after their scoring moment."""
    rejects = _Rejects(n)
    for problem in problems:
        rejects.add(problem)
    in_range = ~out_of_years(created) & ~out_of_years(moments)
    late = (in_range & (created > moments)).fillna(False).to_numpy(dtype=bool)
    rejects.add_each(
        late,
        CREATED_AT,
        lambda p: f"{CREATED_AT} is after the scoring time: {show(created.iloc[p])} vs "
        f"{AS_OF} {show(moments.iloc[p])}",
    )
    return rejects


def _split_batch(
    typed: dict[str, pd.Series],
    moments: pd.Series,
    usable_acts: pd.DataFrame,
    rejects: _Rejects,
    *,
    ignored: tuple[str, ...],
    notes: list[str],
) -> CheckedBatch:
    """The :class:`CheckedBatch`: leads not rejected with their moments and activities."""
    rejected = rejects.mask()
    keep = ~rejected
    leads_out = pd.DataFrame({c: s[keep] for c, s in typed.items()}).reset_index(drop=True)
    # Usable activities are of the batch's leads (ids unique): drop those of rejected leads.
    keep_acts = usable_acts
    if rejected.any() and len(usable_acts):
        keep_acts = usable_acts[~among(usable_acts[LEAD_ID], typed[LEAD_ID][rejected])]
    keep_acts = keep_acts.reset_index(drop=True)
    return CheckedBatch(
        leads=leads_out,
        as_of=moments[keep].reset_index(drop=True).rename(AS_OF),
        activities=keep_acts,
        rejects=rejects.frame(typed[LEAD_ID]) if rejected.any() else empty_rejects(),
        n_input=len(moments),
        ignored_columns=ignored,
        notes=tuple(notes),
    )


# --- scoring ----------------------------------------------------------------------------


def _rejected_by_column(rejects: pd.DataFrame) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for columns in rejects["column"]:
        counts.update(columns.split("; "))
    return dict(counts.most_common())


def _unseen_categories(
    leads: pd.DataFrame, features: pd.DataFrame, spec: FeatureSpec
) -> dict[str, int]:
    """Per categorical feature, the leads with a value the model never saw.

    What :func:`mqlml.features.build.unseen_category_counts` counts, read off the features
    already built (see :func:`_unseen_values`).
    """
    return {c: sum(v.values()) for c, v in _unseen_values(leads, features, spec).items()}


def _unseen_values(
    leads: pd.DataFrame, features: pd.DataFrame, spec: FeatureSpec
) -> dict[str, Counter[str]]:
    """Per categorical feature, the values the model never saw, with their lead counts.

    Read off the features already built (an unseen value is missing there while the lead
    had one); derived fields (job-title department, ...) always hold a value, and are
    derived again only for the few leads whose value is unseen, to name it.
    """
    derived = _derived_sources()
    out = {}
    for c in spec.categorical_columns:
        if c in derived:
            had_value = np.ones(len(leads), dtype=bool)
        elif c in leads:
            had_value = leads[c].notna().to_numpy()
        else:
            continue
        # Never seen: missing in the features, or (in a column that groups values) taking
        # the grouped level without being one of the values grouped in training.
        feature = features[c]
        outside = feature.isna().to_numpy().copy()
        if c in spec.grouped:
            outside |= (feature == OTHER_LEVEL).to_numpy(dtype=bool)
        candidates = had_value & outside
        if not candidates.any():
            continue
        rows = leads.loc[candidates]
        values = derived_columns(rows)[c] if c in derived else rows[c]
        values = values[unseen_mask(values, spec, c)]
        if len(values):
            out[c] = Counter(values.astype(str).tolist())
    return out


def score_checked(
    model: TrainedModel,
    batch: CheckedBatch,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    adjust_prior: bool | None = None,
) -> ScoredBatch:
    """Score a checked batch in chunks and report its drift against the training data.

    Parameters
    ----------
    model : TrainedModel
        The model the batch was checked against.
    batch : CheckedBatch
        From :func:`check_batch`.
    chunk_rows : int
        Leads per chunk: features, reasons and their memory are per chunk.
    progress : callable, optional
        Called as ``progress(done, total)`` before the first chunk and after each one.
    adjust_prior : bool, optional
        Move the probabilities to the conversion rate the batch implies
        (:mod:`mqlml.scoring.prior`); None: the model's ``scoring.prior_shift.adjust``.

    Returns
    -------
    ScoredBatch
    """
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise MqlmlError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    scored, sample, unseen_values = _score_chunks(model, batch, chunk_rows, progress)
    unseen = Counter({c: sum(v.values()) for c, v in unseen_values.items()})
    if len(scored) + len(batch.rejects) != batch.n_input:  # pragma: no cover - a bug
        raise RuntimeError(
            f"{batch.n_input} input rows but {len(scored)} scored and {len(batch.rejects)} "
            "rejected"
        )
    drift = drift_report(model.reference, sample, scored[SCORE].to_numpy(), model.spec)
    warning = drift_warning(drift)
    # After drift, which compares the model's own scores with the training reference.
    shift = check_prior_shift(
        model, scored, batch.leads, model.config.scoring.prior_shift, adjust_prior
    )
    scored = shift.scored
    said = [
        *([warning] if warning else []),
        *([shift.warning] if shift.warning else []),
        *_input_warnings(model, batch),
    ]
    batch_notes = [*batch.notes, *([shift.note] if shift.note else [])]
    report = {
        "as_of": _moment_record(batch),
        "as_of_source": batch.as_of_source,
        "rows": {
            "input": batch.n_input,
            "scored": len(scored),
            "rejected": len(batch.rejects),
            "mqls": int(scored[IS_MQL].sum()),
        },
        "ignored_columns": list(batch.ignored_columns),
        "rejected_by_column": _rejected_by_column(batch.rejects),
        "unseen_categories": dict(unseen.most_common()),
        "unseen_category_values": unseen_category_values(unseen_values),
        "notes": batch_notes,
        "drift": drift,
        "base_rate": shift.record,
        "warnings": said,
    }
    notes = list(batch_notes)
    if unseen:
        notes.append(unseen_category_note(unseen_values))
    return ScoredBatch(
        scored, batch.rejects, report, tuple(report["warnings"]), tuple(notes), batch.as_of
    )


#: Said when a batch brings no activities to a model that reads them.
NO_ACTIVITIES_WARNING = (
    "no activities given: every behaviour feature is zero/missing, so scores reflect fit "
    "only (pass the leads' activities, e.g. mqlml score --activities FILE)"
)


def uses_activities(model: TrainedModel) -> bool:
    """Whether the model (or a segment model) has features computed from activities."""
    return any(
        spec.groups.get(spec.fields.get(c, c)) == "behaviour" and bool(spec.activity_types)
        for spec in _specs(model)
        for c in spec.columns
    )


def _moment_record(batch: CheckedBatch) -> str | None:
    """The scoring moment as ISO text; the range when the batch's column gives several."""
    if len(batch.as_of) == 0:
        return None
    lo, hi = batch.as_of.min(), batch.as_of.max()
    return lo.isoformat() if lo == hi else f"{lo.isoformat()}..{hi.isoformat()}"


def _input_warnings(model: TrainedModel, batch: CheckedBatch) -> list[str]:
    """In words: what the batch lacks that the scores depend on."""
    out = []
    summary = batch.activity_summary
    none = (
        len(batch.activities) == 0 if summary is None
        else not summary.table["activity_type"].notna().any()
    )
    if none and uses_activities(model):
        out.append(
            NO_ACTIVITIES_WARNING
            if not batch.activities_given
            else NO_ACTIVITIES_WARNING.replace("no activities given", "no usable activities of "
                                               "these leads in the activities given")
        )
    if batch.as_of_source == "now" and len(batch.as_of):
        out.append(
            "no scoring moment given (no --as-of, no as_of column): every lead is scored as of "
            f"now, {batch.as_of.iloc[0].isoformat()}; pass --as-of to reproduce these scores"
        )
    return out


def _score_chunks(
    model: TrainedModel, batch: CheckedBatch, chunk_rows: int, progress: Progress | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Counter[str]]]:
    """The scores of every lead, a feature sample for drift, and unseen category values."""
    spec = model.spec
    leads, n = batch.leads, len(batch.leads)
    summary = batch.activity_summary
    # Activities sorted by their lead's position, so each chunk takes one contiguous slice.
    acts = batch.activities if summary is None else summary.table
    keyed = None if summary is None else summary.positions(leads[LEAD_ID], batch.as_of)
    lead_pos = pd.Index(leads[LEAD_ID]).get_indexer(acts[LEAD_ID]) if keyed is None else keyed
    order = np.argsort(lead_pos, kind="stable")
    acts, lead_pos = acts.iloc[order].reset_index(drop=True), lead_pos[order]

    def slice_of(lo: int, hi: int, start: int, stop: int):
        if summary is None:
            return acts.iloc[lo:hi]
        part = acts.iloc[lo:hi].reset_index(drop=True)
        if keyed is None:
            return ActivitySummary(part, summary.source, summary.files)
        # The summary of these leads at these moments, keyed by position in the chunk: its
        # features need no lookup by lead_id.
        chunk = pd.DataFrame({LEAD_ID: leads[LEAD_ID].iloc[start:stop].reset_index(drop=True),
                              AS_OF: batch.as_of.iloc[start:stop].reset_index(drop=True)})
        return ActivitySummary(part, summary.source, summary.files,
                               (chunk, lead_pos[lo:hi] - start))

    rng = np.random.default_rng(0)
    share = min(1.0, DRIFT_SAMPLE_ROWS / max(n, 1))
    parts, samples = [], []
    unseen: dict[str, Counter[str]] = {}
    if progress is not None:
        progress(0, n)
    for start in range(0, max(n, 1), chunk_rows):
        stop = min(start + chunk_rows, n)
        chunk = leads.iloc[start:stop].reset_index(drop=True)
        lo, hi = np.searchsorted(lead_pos, [start, stop])
        moments = batch.as_of.iloc[start:stop].reset_index(drop=True)
        part = slice_of(lo, hi, start, stop)
        features = build_features(chunk, part, moments, spec)
        scored = score_routed(model, chunk, part, moments, features)
        scored.insert(0, LEAD_ID, chunk[LEAD_ID].to_numpy())
        parts.append(scored[list(SCORE_COLUMNS)])
        samples.append(features[rng.random(len(features)) < share])
        for c, values in _unseen_values(chunk, features, spec).items():
            unseen.setdefault(c, Counter()).update(values)
        if progress is not None:
            progress(stop, n)
    return pd.concat(parts, ignore_index=True), pd.concat(samples), unseen


# --- the file edge ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BatchRun:
    """What :func:`score_files` wrote, with the scored batch and its timing."""

    output: Path
    rejects_path: Path
    report_path: Path
    result: ScoredBatch
    seconds: float

    @property
    def summary(self) -> str:
        """One line: rows scored, rejected, MQLs, drift warnings, seconds."""
        rows = self.result.report["rows"]
        n_drift = len(self.result.report["drift"]["drifted"])
        return (
            f"scored {rows['scored']:,} of {rows['input']:,} leads, "
            f"{rows['rejected']:,} rejected, {rows['mqls']:,} MQLs, "
            f"{plural(n_drift, 'drift warning')}, in {self.seconds:.1f}s -> {self.output}"
        )


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """The rejects file and the scoring report beside an output file.

    ``scored.csv`` -> ``scored.rejects.csv`` and ``scored.report.json``.
    """
    out = Path(out)
    return (
        out.with_name(f"{out.stem}.rejects{out.suffix}"),
        out.with_name(f"{out.stem}.report.json"),
    )


def score_files(
    model: TrainedModel,
    leads: str | Path,
    out: str | Path,
    activities: str | Path | None = None,
    as_of=None,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    now: pd.Timestamp | None = None,
    model_record: Mapping[str, object] | None = None,
    safe_csv: bool | None = None,
    adjust_prior: bool | None = None,
) -> BatchRun:
    """Read a batch, check it, score it and write the output, rejects and report.

    The three files appear together or not at all: each is written into a private staging
    folder beside ``out`` (made before any work, so an unwritable folder fails at once)
    and they are renamed into place only when all are complete, the report last: the
    report marks a complete run (:func:`complete_run`). CSV cells a spreadsheet would run
    as formulas are neutralised unless ``safe_csv`` is off.

    Parameters
    ----------
    model : TrainedModel
        The model to score with.
    leads, activities : path
        The batch's leads and (optionally) their activities: CSV or TSV, Excel ``.xlsx``
        or Parquet (:func:`mqlml.data.files.read_table`); a flat export when the model
        was trained in flat mode (:func:`mqlml.data.flat.flat_batch`). Activities in a
        Parquet file, a folder of them or a glob are checked and summarised out of core
        (:mod:`mqlml.data.activity_files`), never loaded whole.
    out : path
        The scored leads (``.csv`` or ``.parquet``); the rejects (same format) and the
        JSON report go beside it, see :func:`output_paths`.
    as_of : time, optional
        Scoring moment of every lead; else the batch's ``as_of`` column, else now.
    chunk_rows : int
        Leads per chunk.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.
    now : Timestamp, optional
        The current time when no ``as_of`` is given (tests); default the clock.
    model_record : mapping, optional
        Which model this is (``name``, ``version``, ``source``, ``chosen_by``), as
        resolved from the user's reference; recorded as the report's ``model``. Default:
        the model's name only.
    safe_csv : bool, optional
        Neutralise CSV text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
        return (:func:`mqlml.data.files.neutralise_formulas`); default the model config's
        ``output.safe_csv``. Parquet is never changed.
    adjust_prior : bool, optional
        Move the probabilities to the conversion rate the batch implies; None: the
        model's ``scoring.prior_shift.adjust`` (see :func:`score_checked`).

    Returns
    -------
    BatchRun

    Raises
    ------
    MqlmlError
        When a file cannot be read or the batch fails a batch-level check; nothing is
        written then.
    """
    started = time.perf_counter()
    out = Path(out)
    io.table_format(out)
    if out.is_dir():
        raise MqlmlError(f"{out}: is a folder; expected an output file (.csv or .parquet)")
    rejects_path, report_path = output_paths(out)
    safe = model.config.output.safe_csv if safe_csv is None else safe_csv
    # The staging folder is made first: an output folder that cannot be written fails
    # before any reading or scoring.
    with io.Staging(out.parent) as stage:
        lead_frame, act_frame = _read_batch(model, leads, activities)
        checked = check_batch(lead_frame, act_frame, model, as_of, source=str(leads),
                              activities_source=str(activities), now=now)
        result = score_checked(
            model, checked, chunk_rows=chunk_rows, progress=progress,
            adjust_prior=adjust_prior,
        )
        report = _run_report(
            model, result, leads=leads, activities=activities, out=out,
            rejects_path=rejects_path, model_record=model_record,
            seconds=time.perf_counter() - started,
        )
        _write_together(result, report, out=out, rejects_path=rejects_path,
                        report_path=report_path, stage=stage, safe_csv=safe)
    return BatchRun(out, rejects_path, report_path, result, time.perf_counter() - started)


def _run_report(
    model: TrainedModel,
    result: ScoredBatch,
    *,
    leads: str | Path,
    activities: str | Path | None,
    out: Path,
    rejects_path: Path,
    model_record: Mapping[str, object] | None,
    seconds: float,
) -> dict:
    """The JSON report of a run: its files and model, then the batch report (with its
    scoring moment and warnings)."""
    record = dict(model_record or {})
    record.setdefault("name", model.config.name)
    for key in ("version", "source"):
        record.setdefault(key, None)
    return {
        "leads": str(leads),
        "activities": None if activities is None else str(activities),
        "output": str(out),
        "rejects": str(rejects_path),
        "model": record,
        **result.report,
        "seconds": round(seconds, 3),
    }


def _write_together(
    result: ScoredBatch,
    report: dict,
    *,
    out: Path,
    rejects_path: Path,
    report_path: Path,
    stage: io.Staging | None = None,
    safe_csv: bool = True,
) -> None:
    """Nothing; writes the rejects, the scored leads and the JSON report, which marks a
    complete run: it is renamed into place last (its old copy removed before any other
    rename) and records the size and SHA-256 of the other two (:func:`complete_run`)."""
    with io.Staging(out.parent) if stage is None else contextlib.nullcontext(stage) as st:
        pending = io.stage_files([(rejects_path, result.rejects), (out, result.scored)], st,
                                 safe_csv=safe_csv)
        files = {key: _fingerprint(tmp) for key, (tmp, _) in zip(("rejects", "output"), pending,
                                                                  strict=True)}
        text = json.dumps({**report, "files": files}, indent=2, allow_nan=False,
                          default=str) + "\n"
        pending += io.stage_files([(report_path, text)], st)
        io.publish(pending)


def _fingerprint(path: Path) -> dict:
    """Size and SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def complete_run(out: str | Path) -> bool:
    """Whether ``out``, its rejects and its report are one complete run of ``mqlml score``.

    The report (``<out>.report.json``) is written last; a run is complete when it exists
    and the output and rejects files beside it have the size and SHA-256 it records. A
    run killed while renaming leaves no report (or files that do not match it).
    """
    out = Path(out)
    rejects_path, report_path = output_paths(out)
    try:
        files = json.loads(report_path.read_text(encoding="utf-8"))["files"]
        return all(
            _fingerprint(path) == files[key]
            for key, path in (("output", out), ("rejects", rejects_path))
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _read_batch(
    model: TrainedModel, leads: str | Path, activities: str | Path | None
) -> tuple[pd.DataFrame, pd.DataFrame | ActivityFiles | None]:
    """The batch's leads (from a flat export in flat mode) and activities as read; Parquet
    files, a folder or a glob of activities are kept out of core (:class:`ActivityFiles`)."""
    lead_frame = io.read_table(leads)
    if model.config.flat is not None:
        lead_frame = flat_batch(lead_frame, model.config.flat, source=str(leads))
    if activities is not None and is_out_of_core(activities):
        return lead_frame, activity_files(activities, model.config.data)
    act_frame = io.read_table(activities) if activities is not None else None
    return lead_frame, act_frame


def explain_file(
    model: TrainedModel,
    leads: str | Path,
    lead_id: str,
    activities: str | Path | None = None,
    as_of=None,
    *,
    now: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One lead of a batch file, explained (``mqlml explain``): read and checked exactly as
    :func:`score_files` does, so other rows' problems do not stop it.

    Returns
    -------
    scored, fields : DataFrame
        As :func:`mqlml.scoring.score.explain_leads`, for that lead.

    Raises
    ------
    MqlmlError
        When a file cannot be read or fails a batch-level check, when no row has that
        ``lead_id``, or when its row is rejected (the message gives the reason).
    """
    lead_frame, act_frame = _read_batch(model, leads, activities)
    checked = check_batch(lead_frame, act_frame, model, as_of, source=str(leads),
                          activities_source=str(activities), now=now)
    rejected = checked.rejects[checked.rejects[LEAD_ID] == lead_id]
    if len(rejected):
        r = rejected.iloc[0]
        raise DataValidationError(
            [f"{leads}: lead {lead_id!r} (row {r['row']}) cannot be explained: {r['reason']}"]
        )
    at = np.flatnonzero((checked.leads[LEAD_ID] == lead_id).to_numpy(dtype=bool))
    if not len(at):
        raise DataValidationError(
            [f"{leads}: no lead with lead_id {lead_id!r} ({checked.n_input:,} leads read)"]
        )
    one = checked.leads.iloc[at].reset_index(drop=True)
    return explain_leads(model, one, checked.activities_of(lead_id), checked.as_of.iloc[at[0]])
