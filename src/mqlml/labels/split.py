"""Time-ordered split of labelled leads into train / calibration / test by ``created_at``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import CREATED_AT, LEAD_ID
from mqlml.errors import InsufficientDataError

SLICES = ("train", "calibration", "test")


@dataclass(frozen=True)
class Period:
    """One slice of the split: which leads and when they were created."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    n_leads: int
    n_positive: int

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        return {
            "name": self.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "n_leads": self.n_leads,
            "n_positive": self.n_positive,
            "positive_rate": self.n_positive / self.n_leads if self.n_leads else float("nan"),
        }


@dataclass(frozen=True)
class TimeSplit:
    """Positions (into the frame that was split) of each slice, and the slices' periods."""

    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray
    periods: tuple[Period, ...]

    def describe(self) -> str:
        """A few lines a person reads: each slice's dates, leads and conversion rate."""
        lines = []
        for p in self.periods:
            rate = p.n_positive / p.n_leads if p.n_leads else float("nan")
            lines.append(
                f"{p.name:<12} {p.start:%Y-%m-%d} .. {p.end:%Y-%m-%d}  "
                f"{p.n_leads:>7,} leads  {p.n_positive:>6,} converted ({rate:.1%})"
            )
        return "\n".join(lines)


def time_split(
    frame: pd.DataFrame,
    label: pd.Series,
    fractions: tuple[float, float, float],
    calibration_positives: int | None = None,
) -> TimeSplit:
    """Split leads by creation time: the earliest for training, then calibration, then test.

    Leads created at the same instant are ordered by ``lead_id`` so the split is
    deterministic. Every lead created in a slice is later than every lead of the slice
    before it.

    Parameters
    ----------
    frame : DataFrame
        Labelled leads with ``created_at`` and ``lead_id``.
    label : Series
        0/1 labels aligned with ``frame``.
    fractions : (train, calibration, test)
        Shares of leads; they must sum to 1.
    calibration_positives : int, optional
        Instead of the calibration share: the calibration slice is the newest block of
        pre-test leads that holds this many converted leads, so the model learns from all
        older leads and the calibrator still has enough positives (the test slice keeps
        its share; train takes the rest).

    Raises
    ------
    ValueError
        When the shares are invalid.
    InsufficientDataError
        When the pre-test leads hold no more than ``calibration_positives`` converted
        leads (the train slice needs some too).
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
        raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions}")
    n = len(frame)
    if n < 3:
        raise ValueError(f"need at least 3 labelled leads to split, got {n}")
    created = frame[CREATED_AT]
    created_ns = created.dt.as_unit("ns").astype("int64").to_numpy()
    order = np.lexsort((frame[LEAD_ID].astype(str).to_numpy(), created_ns))
    cut1 = int(round(n * fractions[0]))
    cut2 = int(round(n * (fractions[0] + fractions[1])))
    cut1 = min(max(cut1, 1), n - 2)
    cut2 = min(max(cut2, cut1 + 1), n - 1)
    y = np.asarray(label, dtype=float)
    if calibration_positives is not None:
        block = newest_block(y[order[:cut2]], calibration_positives)
        if block is None:
            raise InsufficientDataError(
                f"split.calibration_positives is {calibration_positives}, but the "
                f"{cut2:,} leads before the test slice hold only "
                f"{int(np.nansum(y[order[:cut2]]))} converted leads; the calibration slice "
                "needs that many and the train slice more. Lower "
                "split.calibration_positives or provide more history."
            )
        cut1 = cut2 - block
    parts = (order[:cut1], order[cut1:cut2], order[cut2:])
    periods = tuple(
        Period(
            name=name,
            start=created.iloc[idx].min(),
            end=created.iloc[idx].max(),
            n_leads=int(len(idx)),
            n_positive=int(np.nansum(y[idx])),
        )
        for name, idx in zip(SLICES, parts, strict=True)
    )
    return TimeSplit(
        train=np.sort(parts[0]),
        calibration=np.sort(parts[1]),
        test=np.sort(parts[2]),
        periods=periods,
    )


def newest_block(y, positives: int) -> int | None:
    """How many of the newest leads hold ``positives`` converted leads.

    ``y`` are 0/1 labels in time order (NaN counts as 0). None when there are not that
    many, or when the older leads before the block would hold none.
    """
    newest_first = np.cumsum(np.nan_to_num(np.asarray(y, dtype=float))[::-1])
    enough = np.flatnonzero(newest_first >= positives)
    if not len(enough) or newest_first[-1] <= positives:
        return None
    return int(enough[0]) + 1
