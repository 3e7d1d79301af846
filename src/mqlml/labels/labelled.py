"""Labelled leads: the hand-off from labelling to every fitting stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import CREATED_AT, LABEL, LEAD_ID
from mqlml.config import Config
from mqlml.data.contract import CrmData, snapshot_time
from mqlml.errors import InsufficientDataError
from mqlml.features.activity import ActivitySummary, files_summary
from mqlml.labels.labelling import ELIGIBLE, STATUS, make_labels, training_as_of
from mqlml.labels.split import TimeSplit


@dataclass(frozen=True)
class LabelledLeads:
    """Leads with a mature label, ready to split and fit: the hand-off between stages.

    Attributes
    ----------
    leads : DataFrame
        Eligible leads (``lead_id``, ``created_at`` and attributes), in time order, with a
        fresh ``RangeIndex``.
    as_of : Series
        Each lead's as-of time (features only see events strictly before it).
    y : ndarray of float
        0/1 labels aligned with ``leads``.
    activities : DataFrame
        Activities of any leads (filtered by lead and as-of where used).
    label_counts : dict
        Accounting of every lead (eligible, immature, converted before as-of, positives).
    snapshot : Timestamp
        End of the data.
    notes : tuple of str
        Data notes for the report.
    split : TimeSplit, optional
        A precomputed split (flat exports without a time column); ``None`` splits by
        ``created_at``.
    outcome_at : Series, optional
        When each lead reached the target (NaT when not), for the leakage audit's check
        of dates after the outcome.
    activity_summary : ActivitySummary, optional
        A prebuilt activity summary of these leads at their as-of (``mqlml train
        --activity-features``): the activity features come from it, not from
        ``activities`` (which only the current rules sheet then reads).
    """

    leads: pd.DataFrame
    as_of: pd.Series
    y: np.ndarray
    activities: pd.DataFrame
    label_counts: dict
    snapshot: pd.Timestamp
    notes: tuple[str, ...] = ()
    #: The outcomes table (for the funnel stages and won figures); None when not known.
    outcomes: pd.DataFrame | None = None
    split: TimeSplit | None = None
    outcome_at: pd.Series | None = None
    activity_summary: ActivitySummary | None = None

    @property
    def rule_activities(self) -> pd.DataFrame | ActivitySummary:
        """What the current rules sheet counts activities from: the activities, or the
        summary of activities read out of core (which queries their files)."""
        summary = self.activity_summary
        return summary if summary is not None and summary.files is not None else self.activities

    @property
    def feature_activities(self) -> pd.DataFrame | ActivitySummary:
        """What the activity features are built from: the summary when given."""
        return self.activity_summary if self.activity_summary is not None else self.activities


def label_history(crm: CrmData, config: Config) -> LabelledLeads:
    """Label every lead of a CRM history and keep those with a mature label.

    Raises
    ------
    InsufficientDataError
        When fewer than 3 leads have a mature label.
    """
    snapshot = snapshot_time(crm, config.data)
    leads = crm.leads.sort_values([CREATED_AT, LEAD_ID], kind="stable").reset_index(drop=True)
    as_of = training_as_of(leads, config.features.observation_days)
    labels = make_labels(
        leads, crm.outcomes, as_of, config.labels.target, config.labels.horizon, snapshot
    )
    eligible = (labels.frame[STATUS] == ELIGIBLE).to_numpy()
    if eligible.sum() < 3:
        raise InsufficientDataError(
            f"only {int(eligible.sum())} of {len(leads)} leads have a mature label "
            f"({labels.counts}); the data ends {snapshot:%Y-%m-%d} and a lead needs "
            f"{config.features.observation_days} + {config.labels.horizon} days after creation"
        )
    kept = leads[eligible].reset_index(drop=True)
    kept_as_of = as_of[eligible].reset_index(drop=True)
    summary = None
    if crm.activity_files is not None:
        # Activities read out of core: their summary at each lead's as-of stands in for them.
        summary = files_summary(
            crm.activity_files, kept[LEAD_ID], kept_as_of, config.features.windows_days
        )
    return LabelledLeads(
        leads=kept,
        as_of=kept_as_of,
        y=labels.frame.loc[eligible, LABEL].to_numpy(dtype=float),
        activities=crm.activities,
        label_counts=labels.counts,
        snapshot=snapshot,
        notes=tuple(crm.notes),
        outcomes=crm.outcomes,
        activity_summary=summary,
    )
