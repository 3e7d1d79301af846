"""Learned post-processing on scores: the MQL cutoff and the grade cutoffs.

Both are fit on the calibration slice (later than the model's training data) and
follow the scikit-learn contract: parameters in ``__init__``, ``fit`` returns ``self``,
fitted attributes end in ``_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GRADES = ("A", "B", "C", "D")


def _share_at_or_above(scores: np.ndarray) -> np.ndarray:
    """``share[s]`` = share of leads with score >= s, for s = 0..100."""
    counts = np.bincount(scores, minlength=101)[:101]
    return counts[::-1].cumsum()[::-1] / max(len(scores), 1)


def _check_scores(scores) -> np.ndarray:
    s = np.asarray(scores)
    if s.size == 0:
        raise ValueError("scores must not be empty")
    if not np.issubdtype(s.dtype, np.integer) or s.min() < 1 or s.max() > 99:
        raise ValueError(f"scores must be integers 1-99, got values from {s.min()} to {s.max()}")
    return s.astype(int)


class CapacityThreshold:
    """MQL cutoff from sales capacity: admit about ``capacity_per_week`` leads a week.

    Parameters
    ----------
    capacity_per_week : float
        Leads per week that sales can work.

    Attributes
    ----------
    cutoff_ : int
        Leads with ``score >= cutoff_`` are MQLs.
    leads_per_week_ : float
        Lead volume per week in the data the cutoff was fit on.
    expected_mqls_per_week_ : float
        MQLs per week the cutoff would have produced on that data.
    """

    def __init__(self, capacity_per_week: float = 100.0):
        self.capacity_per_week = capacity_per_week

    def fit(self, scores, created_at: pd.Series) -> CapacityThreshold:
        """Choose the lowest cutoff whose weekly MQL volume stays within capacity.

        Parameters
        ----------
        scores : array-like of int
            Scores of the leads in a period (the calibration slice).
        created_at : Series of datetime
            Their creation times, which give the period's length in weeks.
        """
        if not self.capacity_per_week > 0:
            raise ValueError(f"capacity_per_week must be positive, got {self.capacity_per_week}")
        s = _check_scores(scores)
        created = pd.to_datetime(pd.Series(created_at), utc=True)
        # A period of n leads spans n inter-arrival gaps; adding one mean gap counts
        # both end days, so one week of leads measures as one week.
        span_days = (created.max() - created.min()) / pd.Timedelta(days=1)
        span_days += span_days / max(len(s) - 1, 1)
        weeks = max(span_days / 7.0, 1 / 7)
        self.weeks_ = float(weeks)
        self.leads_per_week_ = float(len(s) / weeks)
        share = _share_at_or_above(s)
        allowed = self.capacity_per_week / self.leads_per_week_
        ok = np.flatnonzero(share[1:100] <= allowed + 1e-12) + 1
        self.cutoff_ = int(ok.min()) if len(ok) else 99
        self.expected_mqls_per_week_ = float(share[self.cutoff_] * self.leads_per_week_)
        return self

    def predict(self, scores) -> np.ndarray:
        """``is_mql``: True where ``score >= cutoff_``."""
        return np.asarray(scores) >= self.cutoff_


class GradeThresholds:
    """Grades A-D from score cutoffs learned as shares of leads.

    Parameters
    ----------
    shares : (float, float, float)
        Target share of leads in A, B and C (highest scores first); D takes the rest.

    Attributes
    ----------
    cutoffs_ : dict
        Lowest score of grades A, B and C. D is everything below C's cutoff.
    """

    def __init__(self, shares: tuple[float, float, float] = (0.1, 0.2, 0.3)):
        self.shares = shares

    def fit(self, scores) -> GradeThresholds:
        """Pick, for each grade, the cutoff whose cumulative share is nearest its target.

        Scores are integers with ties, so realised shares differ from the targets; cutoffs
        stay strictly decreasing so every grade can occur.
        """
        shares = tuple(self.shares)
        if len(shares) != 3 or any(x <= 0 for x in shares) or sum(shares) >= 1:
            raise ValueError(f"shares must be 3 positive numbers summing below 1, got {shares}")
        s = _check_scores(scores)
        above = _share_at_or_above(s)
        targets = np.cumsum(shares)
        cutoffs = []
        upper = 100
        for i, target in enumerate(targets):
            # Leave room below for the grades still to place (cutoff >= 2 + grades left).
            lowest = 2 + (len(targets) - 1 - i)
            candidates = np.arange(lowest, upper)
            if len(candidates) == 0:
                raise ValueError("scores leave no room for distinct grade cutoffs")
            best = candidates[np.argmin(np.abs(above[candidates] - target))]
            cutoffs.append(int(best))
            upper = int(best)
        self.cutoffs_ = dict(zip(GRADES[:3], cutoffs, strict=True))
        return self

    def predict(self, scores) -> np.ndarray:
        """Grade letters for ``scores``."""
        s = np.asarray(scores)
        c = self.cutoffs_
        return np.select([s >= c["A"], s >= c["B"], s >= c["C"]], ["A", "B", "C"], default="D")
