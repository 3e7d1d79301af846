"""Labels: did a lead reach the target stage within the horizon after its as-of time?

Only leads whose horizon has fully passed by the snapshot are labelled (the others are
*immature*: a negative label would be a guess). Leads that reached SQL at or before
their as-of are already in sales' hands, so they are not marketing leads to score; they
are excluded and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import AS_OF, CREATED_AT, LABEL, LEAD_ID, SQL_AT, WON_AT

ELIGIBLE = "eligible"
IMMATURE = "immature"
CONVERTED_BEFORE_AS_OF = "converted_before_as_of"
STATUS = "label_status"


@dataclass(frozen=True)
class LabelResult:
    """Labels and the accounting of every lead.

    Attributes
    ----------
    frame : DataFrame
        One row per lead (index of ``leads``): ``lead_id``, ``as_of``, ``label`` (0/1; NaN
        when not eligible) and ``label_status`` (eligible, immature, converted_before_as_of).
    target, horizon_days, snapshot_at
        What the labels mean.
    """

    frame: pd.DataFrame
    target: str
    horizon_days: int
    snapshot_at: pd.Timestamp

    @property
    def counts(self) -> dict[str, int]:
        """Leads per status and the number of positives among eligible leads."""
        status = self.frame[STATUS].value_counts()
        eligible = self.frame[STATUS] == ELIGIBLE
        return {
            "leads": int(len(self.frame)),
            ELIGIBLE: int(status.get(ELIGIBLE, 0)),
            IMMATURE: int(status.get(IMMATURE, 0)),
            CONVERTED_BEFORE_AS_OF: int(status.get(CONVERTED_BEFORE_AS_OF, 0)),
            "positives": int(self.frame.loc[eligible, LABEL].sum()),
        }


def training_as_of(leads: pd.DataFrame, observation_days: int) -> pd.Series:
    """The training as-of time of each lead: ``created_at`` + ``observation_days``."""
    return (leads[CREATED_AT] + pd.Timedelta(days=observation_days)).rename(AS_OF)


def make_labels(
    leads: pd.DataFrame,
    outcomes: pd.DataFrame,
    as_of: pd.Series,
    target: str,
    horizon_days: int,
    snapshot_at: pd.Timestamp,
) -> LabelResult:
    """Label each lead: 1 when ``target`` was reached in ``(as_of, as_of + horizon_days]``.

    Parameters
    ----------
    leads : DataFrame
        Validated leads.
    outcomes : DataFrame
        Validated outcomes (``sql_at``, ``won_at``); leads absent from it never converted.
    as_of : Series
        As-of time per lead, aligned with ``leads.index``.
    target : {"sql", "won"}
        Which stage counts as conversion.
    horizon_days : int
        Days after as-of within which the stage must be reached.
    snapshot_at : Timestamp
        End of the data: nothing after it is known.
    """
    if target not in ("sql", "won"):
        raise ValueError(f"target must be 'sql' or 'won', got {target!r}")
    if not isinstance(horizon_days, int | np.integer) or horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive integer, got {horizon_days!r}")
    event_col = SQL_AT if target == "sql" else WON_AT
    by_lead = outcomes.set_index(LEAD_ID)
    sql_at = (
        leads[LEAD_ID].map(by_lead[SQL_AT])
        if len(by_lead)
        else pd.Series(pd.NaT, index=leads.index)
    )
    event = leads[LEAD_ID].map(by_lead[event_col]) if len(by_lead) else sql_at
    sql_at = pd.to_datetime(sql_at, utc=True)
    event = pd.to_datetime(event, utc=True)
    horizon_end = as_of + pd.Timedelta(days=horizon_days)

    converted_before = (sql_at <= as_of).fillna(False).astype(bool)
    immature = (horizon_end > snapshot_at) & ~converted_before
    positive = ((event > as_of) & (event <= horizon_end)).fillna(False).astype(bool)

    status = np.where(
        converted_before, CONVERTED_BEFORE_AS_OF, np.where(immature, IMMATURE, ELIGIBLE)
    )
    label = np.where(status == ELIGIBLE, positive.astype(float), np.nan)
    frame = pd.DataFrame(
        {LEAD_ID: leads[LEAD_ID], AS_OF: as_of, LABEL: label, STATUS: status},
        index=leads.index,
    )
    return LabelResult(
        frame=frame, target=target, horizon_days=int(horizon_days), snapshot_at=snapshot_at
    )
