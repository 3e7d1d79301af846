"""One MLflow pyfunc model for every way of scoring: batch, REST and Spark.

The model carries the whole bundle (features, booster, calibrator, thresholds, reasons)
as MLflow artifacts; ``predict`` takes raw lead rows and returns the scoring columns.

Input: one row per lead
    ``lead_id`` and ``created_at`` (required); the lead attributes as in the leads table
    (``email``, ``job_title``, ``company_size``, ...; any may be absent or empty);
    ``activities``: the lead's activities as JSON text, a list of objects
    ``{"occurred_at": "2026-01-30T09:12:00Z", "activity_type": "pricing_page_view"}``
    (empty, missing or ``[]``: no activity); ``as_of`` (optional): the lead's scoring moment.
    When the ``as_of`` column is absent every lead is scored at the time of the request.
    Instead of ``activities``, ``activity_summary``: the lead's rows of an activity summary
    built beforehand (:func:`mqlml.features.spark.activity_summary`, where the activities
    live) as JSON text, a list of objects with ``activity_type`` (absent or null on the
    all-activities row) and the summary's measures; it needs ``as_of``, the moment the
    summary was built at (:func:`mqlml.features.spark.with_activity_summary` makes both).
    Times are ISO 8601 text; without a zone they are UTC.

    JSON text was chosen over a nested column because it passes unchanged through a
    pandas frame, the ``dataframe_split`` JSON of ``mlflow models serve`` and a Spark
    ``StringType`` column. Called directly from Python, a list of dicts also works.

Output: :data:`mqlml.columns.SCORE_COLUMNS`, one row per input row, in input order; a lead
with fewer reasons than reason columns gets "" in the empty ones and no points (None, JSON
``null``: never a bare ``NaN``). Rows in error messages are counted from 1.

Columns carry the data contract's names (:mod:`mqlml.columns`); ``data.column_mapping``
is for CRM exports and does not apply. The same validation as ``mqlml score`` applies
(:func:`mqlml.data.contract.validate_leads`,
:func:`mqlml.data.contract.validate_activities`), so every
path gives the same scores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from pandas.api import types as ptypes

from mqlml.columns import (
    ACTIVITIES,
    ACTIVITY_SUMMARY,
    ACTIVITY_TYPE,
    AS_OF,
    CREATED_AT,
    DETAIL,
    LABEL,
    LEAD_ID,
    OCCURRED_AT,
)
from mqlml.data.contract import empty_activities, validate_activities, validate_leads
from mqlml.errors import DataValidationError, MqlmlError
from mqlml.features.activity import ActivitySummary
from mqlml.labels.labelled import LabelledLeads
from mqlml.model.bundle import TrainedModel, load_bundle
from mqlml.scoring.score import score_leads

#: Key of the bundle directory among the pyfunc model's artifacts.
BUNDLE_ARTIFACT = "bundle"
#: Input columns every row must have; all others are optional.
REQUIRED_INPUT_COLUMNS = (LEAD_ID, "created_at")
_MAX_LISTED = 5


def _iso(values: pd.Series) -> pd.Series:
    """Datetimes as ISO 8601 text (missing stays missing); other columns unchanged."""
    if not ptypes.is_datetime64_any_dtype(values):
        return values
    text = values.map(lambda t: t.isoformat() if pd.notna(t) else None)
    return text.astype(object)


def lead_rows(
    leads: pd.DataFrame, activities: pd.DataFrame, as_of: pd.Series | None = None
) -> pd.DataFrame:
    """Pyfunc input rows for ``leads``: their columns plus ``activities`` JSON (and ``as_of``).

    Parameters
    ----------
    leads : DataFrame
        Validated leads.
    activities : DataFrame
        Validated activities (those of other leads are left out).
    as_of : Series, optional
        Scoring moment per lead, aligned with ``leads``; activities at or after it are
        left out (scoring would ignore them anyway).

    Returns
    -------
    DataFrame
        One row per lead, in the order of ``leads``; times as ISO 8601 text.
    """
    rows = leads.reset_index(drop=True)
    acts = activities[activities[LEAD_ID].isin(rows[LEAD_ID])]
    if as_of is not None:
        moments = pd.Series(pd.to_datetime(as_of, utc=True).to_numpy(), index=rows[LEAD_ID])
        acts = acts[acts[OCCURRED_AT] < acts[LEAD_ID].map(moments)]
    acts = acts.sort_values([LEAD_ID, OCCURRED_AT], kind="mergesort")
    events = pd.DataFrame(
        {OCCURRED_AT: _iso(acts[OCCURRED_AT]).to_numpy(), ACTIVITY_TYPE: acts[ACTIVITY_TYPE]}
    )
    per_lead = {
        lead: json.dumps(group.to_dict(orient="records"))
        for lead, group in events.groupby(acts[LEAD_ID].to_numpy(), sort=False)
    }
    out = rows.apply(_iso)
    # object before filling: with no activities at all the mapped column is float NaN
    out[ACTIVITIES] = rows[LEAD_ID].map(per_lead).astype(object).fillna("[]")
    if as_of is not None:
        out[AS_OF] = _iso(pd.Series(pd.to_datetime(as_of, utc=True).to_numpy(), name=AS_OF))
    return out


def _as_text_ids(ids: pd.Series) -> pd.Series:
    # Text before validation, so validated ids equal these and rows can be put back in order.
    if ptypes.is_float_dtype(ids):
        vals = ids.dropna()
        if ((vals == np.floor(vals)) & (vals.abs() < 2**53)).all():
            ids = ids.astype("Int64")
    text = ids.astype("str").str.strip()
    return text.mask(ids.isna())


def _events(cell, row: int, lead, source: str, problems: list[str]) -> list:
    where = f"{source}: column {ACTIVITIES!r}: row {row} (lead_id {lead!r})"
    if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell is pd.NA:
        return []
    if isinstance(cell, str):
        if not cell.strip():
            return []
        try:
            cell = json.loads(cell)
        except json.JSONDecodeError as exc:
            problems.append(f"{where} is not valid JSON ({exc.msg} at character {exc.pos})")
            return []
    if isinstance(cell, np.ndarray):
        cell = cell.tolist()
    if not isinstance(cell, list | tuple):
        problems.append(
            f"{where}: expected a list of activities like "
            f'[{{"occurred_at": "...", "activity_type": "..."}}], got {type(cell).__name__}'
        )
        return []
    bad = [
        i
        for i, e in enumerate(cell)
        if not isinstance(e, Mapping) or OCCURRED_AT not in e or ACTIVITY_TYPE not in e
    ]
    if bad:
        problems.append(
            f"{where}: activities {[i + 1 for i in bad[:_MAX_LISTED]]} are not objects with "
            f"{OCCURRED_AT!r} and {ACTIVITY_TYPE!r}"
        )
        return []
    return list(cell)


def split_lead_rows(
    rows: pd.DataFrame, source: str = "lead rows"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads table and the activities table held in pyfunc input rows.

    Returns
    -------
    leads, activities : DataFrame
        Unvalidated: ``leads`` is ``rows`` without ``activities`` (``lead_id`` as text),
        ``activities`` has ``lead_id``, ``occurred_at``, ``activity_type`` and ``detail``.

    Raises
    ------
    DataValidationError
        When an ``activities`` value is not a JSON list of activity objects, naming the rows.
    """
    leads = rows.drop(columns=[ACTIVITIES, ACTIVITY_SUMMARY], errors="ignore").reset_index(
        drop=True
    )
    if LEAD_ID in leads:
        leads[LEAD_ID] = _as_text_ids(leads[LEAD_ID])
    records: list[dict] = []
    problems: list[str] = []
    if ACTIVITIES in rows:
        ids = leads[LEAD_ID] if LEAD_ID in leads else pd.Series([None] * len(rows))
        for i, (lead, cell) in enumerate(zip(ids, rows[ACTIVITIES], strict=True)):
            for e in _events(cell, i + 1, lead, source, problems):
                records.append(
                    {
                        LEAD_ID: lead,
                        OCCURRED_AT: e[OCCURRED_AT],
                        ACTIVITY_TYPE: e[ACTIVITY_TYPE],
                        DETAIL: e.get(DETAIL),
                    }
                )
    if problems:
        raise DataValidationError(problems)
    columns = [LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE, DETAIL]
    return leads, pd.DataFrame(records, columns=columns, dtype=object)


def score_lead_rows(
    model: TrainedModel, rows: pd.DataFrame, source: str = "lead rows"
) -> pd.DataFrame:
    """Score pyfunc input rows: what the MLflow model's ``predict`` returns.

    Parameters
    ----------
    model : TrainedModel
        The bundle's model.
    rows : DataFrame
        See the module docstring.
    source : str
        Name used in error messages.

    Returns
    -------
    DataFrame
        :data:`mqlml.columns.SCORE_COLUMNS`, one row per input row, in input order.
    """
    raw_leads, raw_acts = split_lead_rows(rows, source)
    # Rows use the contract's column names (the signature's), so data.column_mapping,
    # which renames the columns of a CRM export, does not apply here.
    leads = validate_leads(raw_leads, source)
    if ACTIVITY_SUMMARY in rows:
        acts = _summary_of_rows(rows, raw_leads[LEAD_ID], source)
    else:
        acts = (
            validate_activities(raw_acts, f"{source} {ACTIVITIES}")
            if len(raw_acts)
            else empty_activities()
        )
    scored = score_leads(model, leads, acts, None, source)
    # validate_leads sorts by created_at; REST and Spark need the rows back as they came.
    order = pd.Index(scored[LEAD_ID]).get_indexer(raw_leads[LEAD_ID])
    out = scored.iloc[order].reset_index(drop=True)
    # A lead with fewer reasons than columns has empty reason text: "", since MLflow's
    # Spark UDF casts string results with astype(str) and would turn a missing one into
    # the text "nan".
    for c in out.columns:
        if ptypes.is_string_dtype(out[c]):
            out[c] = out[c].fillna("")
    return out


def _summary_of_rows(rows: pd.DataFrame, lead_ids: pd.Series, source: str) -> ActivitySummary:
    """The activity summary held in the rows' ``activity_summary`` JSON, at their ``as_of``."""
    where = f"{source}: column {ACTIVITY_SUMMARY!r}"
    if ACTIVITIES in rows:
        raise DataValidationError(
            [f"{where}: give either {ACTIVITIES!r} or {ACTIVITY_SUMMARY!r}, not both"]
        )
    if AS_OF not in rows:
        raise DataValidationError(
            [f"{where}: needs the {AS_OF!r} column, the moment the summary was built at"]
        )
    # Parsed as resolve_as_of parses it, so the summary's moment is the scoring moment.
    moments = pd.to_datetime(rows[AS_OF].reset_index(drop=True), utc=True, errors="coerce",
                             format="mixed")
    records, problems = [], []
    for i, (lead, moment, cell) in enumerate(
        zip(lead_ids, moments, rows[ACTIVITY_SUMMARY], strict=True)
    ):
        if isinstance(cell, str):
            try:
                cell = json.loads(cell)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: row {i + 1} (lead_id {lead!r}) is not valid JSON "
                                f"({exc.msg} at character {exc.pos})")
                continue
        if not isinstance(cell, list | tuple) or not all(isinstance(r, Mapping) for r in cell):
            problems.append(f"{where}: row {i + 1} (lead_id {lead!r}): expected a list of "
                            "summary rows (objects), as mqlml.features.spark writes them")
            continue
        for r in cell:
            records.append({**r, LEAD_ID: lead, AS_OF: moment,
                            ACTIVITY_TYPE: r.get(ACTIVITY_TYPE)})
    if problems:
        raise DataValidationError(problems)
    return ActivitySummary(pd.DataFrame.from_records(records), where)


def summary_rows(
    leads: pd.DataFrame, summary: ActivitySummary, as_of: pd.Series
) -> pd.DataFrame:
    """Pyfunc input rows for ``leads`` with their ``activity_summary`` JSON and ``as_of``.

    The batch-side twin of :func:`mqlml.features.spark.with_activity_summary`.
    """
    rows = leads.reset_index(drop=True)
    table = summary.restrict(rows[LEAD_ID]).table
    measures = [c for c in table.columns if c not in (LEAD_ID, AS_OF)]
    per_lead = {
        lead: json.dumps([
            {k: (None if pd.isna(v) else v) for k, v in r.items()}
            for r in group[measures].to_dict(orient="records")
        ])
        for lead, group in table.groupby(table[LEAD_ID].astype("str").to_numpy(), sort=False)
    }
    out = rows.apply(_iso)
    out[ACTIVITY_SUMMARY] = rows[LEAD_ID].astype("str").map(per_lead).astype(object)
    out[AS_OF] = _iso(pd.Series(pd.to_datetime(as_of, utc=True).to_numpy(), name=AS_OF))
    return out


def json_safe(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` with no NaN left: missing text is "", missing numbers are None (JSON null).

    A bare ``NaN`` in a REST answer is not JSON most clients accept; a lead with fewer
    reasons than reason columns has no points for the empty ones.
    """
    out = scored.copy()
    for c in out.columns:
        if not out[c].isna().any():
            continue
        if ptypes.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
        else:
            out[c] = out[c].fillna("")
    return out


@dataclass(frozen=True)
class Holdout:
    """The newest mature leads of a training (its test slice), as pyfunc rows with labels.

    The registry gate scores these with the new version and with the current champion.
    """

    rows: pd.DataFrame
    y: np.ndarray
    #: When each lead was created: the gate judges a champion only on leads it cannot
    #: have learned from.
    created_at: np.ndarray


def training_holdout(labelled: LabelledLeads, artifacts: dict) -> Holdout:
    """The test slice of a training as pyfunc rows scored at each lead's training as-of.

    Works for every way in (three CRM tables, a flat export, a preset): the labelled leads
    hold each lead's attributes and as-of as training saw them.

    Parameters
    ----------
    labelled : LabelledLeads
        The labelled leads the model was trained on.
    artifacts : dict
        From :func:`mqlml.training.pipeline.run_training`; its ``test_predictions`` name
        the leads and their labels.
    """
    test = artifacts["test_predictions"]
    pos = pd.Index(labelled.leads[LEAD_ID]).get_indexer(test[LEAD_ID])
    if (pos < 0).any():
        raise MqlmlError(
            f"{int((pos < 0).sum())} test leads are not among the labelled leads: "
            "the artifacts come from another training"
        )
    leads = labelled.leads.iloc[pos].reset_index(drop=True)
    as_of = labelled.as_of.iloc[pos].reset_index(drop=True)
    if labelled.activity_summary is not None:
        rows = summary_rows(leads, labelled.activity_summary, as_of)
    else:
        rows = lead_rows(leads, labelled.activities, as_of)
    return Holdout(rows, test[LABEL].to_numpy(float), test[CREATED_AT].to_numpy())


class LeadScoringModel(mlflow.pyfunc.PythonModel):
    """The pyfunc model: loads the bundle from its artifacts and scores raw lead rows."""

    def load_context(self, context) -> None:
        """Load the mqlml bundle shipped as the ``bundle`` artifact."""
        self._model = load_bundle(context.artifacts[BUNDLE_ARTIFACT])
        # Served models answer one lead at a time: build the TreeSHAP tables and compile
        # their kernels now, not on the first request.
        from mqlml.explain.contributions import field_contributions, shap_tables_for

        for model in (self._model, *(self._model.segment_models or {}).values()):
            probe = np.full((1, len(model.spec.columns)), np.nan)
            field_contributions(
                model.booster, probe, model.spec, shap_tables_for(model), model.linear
            )

    @property
    def trained(self) -> TrainedModel:
        """The loaded bundle."""
        return self._model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Score lead rows (see :mod:`mqlml.serving.pyfunc`); return the scoring columns.

        Raises
        ------
        MlflowException
            For bad input (``INVALID_PARAMETER_VALUE``, HTTP 400 when served), with the
            :class:`~mqlml.errors.MqlmlError` message naming columns and rows as its cause.
        """
        try:
            scored = score_lead_rows(self._model, pd.DataFrame(model_input), "model input")
        except MqlmlError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        return json_safe(scored)
