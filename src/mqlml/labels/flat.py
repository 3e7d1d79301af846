"""Flat mode, the labels side: a flat export (:class:`mqlml.data.flat.FlatExport`) labelled.

The result is a :class:`~mqlml.labels.labelled.LabelledLeads`, so everything downstream
(features, leakage and drift audits, model, calibration, thresholds, report, scoring)
is the same as for a CRM history. The activities table is empty.

Without a time column there is no honest time-ordered split: rows are split at random,
stratified by the outcome, and :class:`OptimisticSplitWarning` says so, since metrics on
a random split overstate how the model does on future leads.

With a preset the export is a CRM history (leads and lifecycle-date outcomes) and is
labelled like one (horizon, maturity).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mqlml.columns import AS_OF, CREATED_AT, LEAD_ID, SQL_AT, WON_AT
from mqlml.config import Config
from mqlml.data.contract import empty_activities
from mqlml.data.files import read_table
from mqlml.data.flat import FlatExport, flat_export
from mqlml.errors import ConfigError, InsufficientDataError
from mqlml.labels.labelled import LabelledLeads, label_history
from mqlml.labels.labelling import CONVERTED_BEFORE_AS_OF, ELIGIBLE, IMMATURE
from mqlml.labels.split import SLICES, Period, TimeSplit


class OptimisticSplitWarning(UserWarning):
    """A flat export without a time column was split at random: metrics may be optimistic."""


def stratified_split(
    created: pd.Series, y: np.ndarray, fractions: tuple[float, float, float], *, seed: int = 0
) -> TimeSplit:
    """Random train / calibration / test positions with the same conversion rate in each.

    Only for data without any time order; see :class:`OptimisticSplitWarning`.

    Parameters
    ----------
    created : Series
        ``created_at`` per row (for the periods' bounds).
    y : ndarray
        The outcome per row (stratifies the split).
    fractions : tuple of float
        Train, calibration and test shares.
    seed : int
        Random seed.

    Returns
    -------
    TimeSplit
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


def _random_split(export: FlatExport, y: np.ndarray, config: Config) -> tuple[TimeSplit, str]:
    """The stratified random split of an export without time order, and its warning."""
    flat = config.flat
    assert flat is not None
    source = export.source
    message = (
        f"{source}: no flat.time_column, so rows are split at random (stratified by "
        f"{flat.target_column}); test metrics may be optimistic because the model is "
        "tested on leads from the same period it learned from. Name a date or "
        "ordering column in flat.time_column (or set flat.rows_in_time_order when the "
        "rows are oldest first) for an honest time-ordered split."
    )
    warnings.warn(message, OptimisticSplitWarning, stacklevel=3)
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
    split = stratified_split(
        export.leads[CREATED_AT], y, config.split_fractions, seed=flat.seed
    )
    return split, "WARNING: " + message


def label_flat(export: FlatExport, config: Config) -> LabelledLeads:
    """Label a flat export: one row per lead, the outcome in a column (or, with a preset,
    in its lifecycle dates).

    Parameters
    ----------
    export : FlatExport
        From :func:`mqlml.data.flat.flat_export`.
    config : Config
        The settings the export was read with.

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
    if export.crm is not None:
        return _label_preset(export, config)
    assert export.target is not None
    leads, y = export.leads, export.target
    notes = list(export.notes)
    split = None
    if export.time_ordered:
        order = np.lexsort((leads[LEAD_ID].to_numpy(dtype=str), leads[CREATED_AT].to_numpy()))
        leads = leads.iloc[order].reset_index(drop=True)
        y = y[order]
    else:
        split, warning = _random_split(export, y, config)
        notes.append(warning)
    counts = {
        "leads": len(leads),
        ELIGIBLE: len(leads),
        IMMATURE: 0,
        CONVERTED_BEFORE_AS_OF: 0,
        "positives": int(y.sum()),
    }
    return LabelledLeads(
        leads=leads,
        as_of=leads[CREATED_AT].rename(AS_OF),
        y=y,
        activities=empty_activities(),
        label_counts=counts,
        snapshot=pd.Timestamp(leads[CREATED_AT].max()),
        notes=tuple(notes),
        split=split,
    )


def _label_preset(export: FlatExport, config: Config) -> LabelledLeads:
    """A Salesforce or HubSpot export labelled as a CRM history (lifecycle dates)."""
    crm = export.crm
    assert crm is not None
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
        notes=tuple([*export.notes, *crm_notes]),
        outcome_at=outcome_at,
    )


def load_flat(path: str | Path, config: Config) -> LabelledLeads:
    """Read a flat export (CSV, TSV, XLSX or Parquet), map it and label it.

    Parameters
    ----------
    path : path
        The export file.
    config : Config
        ``config.flat`` says which columns mean what.

    Returns
    -------
    LabelledLeads
        See :func:`label_flat`.
    """
    frame = read_table(path)
    return label_flat(flat_export(frame, config, source=str(path)), config)
