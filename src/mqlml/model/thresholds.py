"""Learned post-processing on scores: the MQL cutoff, the grade cutoffs and the tiers.

Everything here is fit on the calibration slice (later than the model's training data)
and follows the scikit-learn contract: parameters in ``__init__``, ``fit`` returns
``self``, fitted attributes end in ``_``. A lead is an MQL when ``score >= cutoff_``.

MQL threshold policies (:data:`POLICIES`), each a class:

* ``capacity`` (:class:`CapacityThreshold`): sales can work ``capacity_per_week`` leads.
* ``precision`` (:class:`PrecisionThreshold`): the lowest cutoff whose MQL -> SQL rate
  (MQL -> target rate) is at least ``target_precision``; the most MQLs meeting it.
* ``recall`` (:class:`RecallThreshold`): the highest cutoff that still captures at least
  ``target_recall`` of the converted leads; the fewest MQLs meeting it.
* ``expected_value`` (:class:`ExpectedValueThreshold`): the lowest score at which
  ``P(won) * value_per_won - cost_per_lead`` turns positive.

Below the MQL line :class:`TierThresholds` splits leads into ``nurture`` (kept for
marketing) and ``disqualify`` (so few conversions that nurturing does not pay).

:func:`funnel_table` reports, for every score cutoff 1..99, what the cutoff buys on a
slice. Its rows (the ``threshold_table`` of the training summary; ``threshold_policies``
rows are the same fields at each policy's cutoff plus ``policy``, ``target`` and
``target_met``) are flat dicts:

``cutoff``
    MQL when ``score >= cutoff``.
``mqls``, ``mqls_per_week``
    MQLs on the slice, and per week of the slice's span.
``mql_sql_rate``, ``mql_won_rate``
    Share of MQLs that reached SQL / became customers (won figures only over leads whose
    won outcome is known by the snapshot).
``share_sql_captured``, ``share_won_captured``
    Share of all the slice's SQLs / customers that are MQLs.
``<figure>_lo``, ``<figure>_hi``
    Percentile bootstrap interval (leads resampled with replacement, seeded) of each
    figure above, at the configured level (default 95%). In ``threshold_policies`` rows
    (:func:`policy_report`) the interval also covers refitting the policy on resampled
    calibration data, and ``cutoff_lo`` / ``cutoff_hi`` show how far its cutoff moves.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator

from mqlml.columns import TIER_DISQUALIFY, TIER_MQL, TIER_NURTURE

GRADES = ("A", "B", "C", "D")
#: MQL threshold policies by name.
POLICIES = ("capacity", "precision", "recall", "expected_value")
#: Figures of a threshold-table row that get bootstrap intervals.
TABLE_FIGURES = (
    "mqls_per_week",
    "mql_sql_rate",
    "mql_won_rate",
    "share_sql_captured",
    "share_won_captured",
)


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


class CapacityThreshold(BaseEstimator):
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


class GradeThresholds(BaseEstimator):
    """Grades A-D from score cutoffs learned as shares of leads.

    Parameters
    ----------
    shares : (float, float, float)
        Target share of leads in A, B and C (highest scores first); D takes the rest.
    keep_cutoffs : dict, optional
        Cutoffs to keep as they are (a previous model's), instead of learning them.
    mql_cutoff, nurture_cutoff : int, optional
        The tier lines (:class:`TierThresholds`). Given, each is a grade boundary, so no
        grade holds leads of two tiers: the MQL line is B's cutoff (A and B are the MQLs,
        A the best of them), the nurture line C's (C is nurtured, D disqualified). A line
        that leaves no room (an MQL line at 99, a nurture line equal to it or below 2)
        takes the nearest free slot and the other cutoffs follow ``shares``.

    Attributes
    ----------
    cutoffs_ : dict
        Lowest score of grades A, B and C. D is everything below C's cutoff.
    """

    def __init__(
        self,
        shares: tuple[float, float, float] = (0.1, 0.2, 0.3),
        keep_cutoffs: dict | None = None,
        *,
        mql_cutoff: int | None = None,
        nurture_cutoff: int | None = None,
    ):
        self.shares = shares
        self.keep_cutoffs = keep_cutoffs
        self.mql_cutoff = mql_cutoff
        self.nurture_cutoff = nurture_cutoff

    def fit(self, scores) -> GradeThresholds:
        """Pick, for each grade, the cutoff whose cumulative share is nearest its target.

        Scores are integers with ties, so realised shares differ from the targets; cutoffs
        stay strictly decreasing so every grade can occur. With ``keep_cutoffs`` (e.g. the
        previous model version's ``{"A": 60, "B": 35, "C": 15}``) those cutoffs are kept
        as they are, so a grade means the same score band across retraining.
        """
        if self.keep_cutoffs is not None:
            kept = {g: self.keep_cutoffs.get(g) for g in GRADES[:3]}
            vals = list(kept.values())
            if (
                any(not isinstance(v, int | np.integer) for v in vals)
                or not 99 >= vals[0] > vals[1] > vals[2] >= 2
            ):
                raise ValueError(
                    "keep_cutoffs must give integer A > B > C cutoffs between 2 and 99, "
                    f"got {self.keep_cutoffs}"
                )
            self.cutoffs_ = {g: int(v) for g, v in kept.items()}
            return self
        shares = tuple(self.shares)
        if len(shares) != 3 or any(x <= 0 for x in shares) or sum(shares) >= 1:
            raise ValueError(f"shares must be 3 positive numbers summing below 1, got {shares}")
        s = _check_scores(scores)
        above = _share_at_or_above(s)
        fixed = self._tier_slots()
        cutoffs = []
        upper = 100
        for i, target in enumerate(np.cumsum(shares)):
            # Leave room below for the grades still to place (cutoff >= 2 + grades left),
            # and above the next tier line.
            lowest = max([2 + (2 - i)] + [c + 1 for j, c in fixed.items() if j > i])
            if i in fixed:
                best = fixed[i]
            else:
                candidates = np.arange(lowest, upper)
                if len(candidates) == 0:
                    raise ValueError("scores leave no room for distinct grade cutoffs")
                best = candidates[np.argmin(np.abs(above[candidates] - target))]
            cutoffs.append(int(best))
            upper = int(best)
        self.cutoffs_ = dict(zip(GRADES[:3], cutoffs, strict=True))
        return self

    def _tier_slots(self) -> dict[int, int]:
        """Grade slot (0 = A, 1 = B, 2 = C) -> the tier line that must be its cutoff."""
        mql, nurture = self.mql_cutoff, self.nurture_cutoff
        for name, v in (("mql_cutoff", mql), ("nurture_cutoff", nurture)):
            if v is not None and not (isinstance(v, int | np.integer) and 1 <= v <= 99):
                raise ValueError(f"{name} must be a score 1-99, got {v!r}")
        if mql is None or mql < 2:  # every lead is an MQL: no line to keep
            return {}
        slots = {1: int(mql)} if 3 <= mql <= 98 else {0: int(mql)} if mql == 99 else {2: int(mql)}
        below = min(slots)  # the slot the MQL line took; the nurture line goes under it
        if nurture is not None and 2 + (1 - below) <= nurture < mql and below < 2:
            slots[below + 1] = int(nurture)
        return slots

    def predict(self, scores) -> np.ndarray:
        """Grade letters for ``scores``."""
        s = np.asarray(scores)
        c = self.cutoffs_
        return np.select([s >= c["A"], s >= c["B"], s >= c["C"]], ["A", "B", "C"], default="D")


# =============================================================================
# Policies beyond capacity, tiers and the threshold table
# =============================================================================


def _cumulative_from_top(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``out[c]`` = sum of ``weights`` over leads with ``score >= c``, for c = 0..100."""
    sums = np.bincount(scores, weights=weights, minlength=101)[:101]
    return sums[::-1].cumsum()[::-1]


def _check_labels(y, n: int, name: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one value per score ({n}), got shape {arr.shape}")
    known = arr[~np.isnan(arr)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0/1 (or NaN for unknown), got other values")
    return arr


class PrecisionThreshold(BaseEstimator):
    """MQL cutoff from a target MQL -> conversion rate.

    Parameters
    ----------
    target_precision : float
        The share of MQLs that must convert (reach the target stage), in (0, 1).

    Attributes
    ----------
    cutoff_ : int
        The lowest cutoff whose conversion rate among MQLs reaches the target on the fit
        data (most MQLs meeting it); 99 when none does.
    precision_ : float
        That rate on the fit data.
    target_met_ : bool
        Whether any cutoff reached the target.
    """

    def __init__(self, target_precision: float = 0.3):
        self.target_precision = target_precision

    def fit(self, scores, y) -> PrecisionThreshold:
        """Fit on the scores and 0/1 outcomes of the calibration slice."""
        if not 0 < self.target_precision < 1:
            raise ValueError(
                f"target_precision must be between 0 and 1, got {self.target_precision}"
            )
        s = _check_scores(scores)
        yy = _check_labels(y, len(s))
        known = ~np.isnan(yy)
        pos = _cumulative_from_top(s[known], yy[known])
        cnt = _cumulative_from_top(s[known], np.ones(known.sum()))
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = pos / cnt
        ok = np.flatnonzero(precision[1:100] >= self.target_precision - 1e-12) + 1
        self.target_met_ = bool(len(ok))
        self.cutoff_ = int(ok.min()) if len(ok) else 99
        self.precision_ = float(precision[self.cutoff_])
        return self

    def predict(self, scores) -> np.ndarray:
        """``is_mql``: True where ``score >= cutoff_``."""
        return np.asarray(scores) >= self.cutoff_


class RecallThreshold(BaseEstimator):
    """MQL cutoff from a target share of conversions captured.

    Parameters
    ----------
    target_recall : float
        Share of all converted leads that must be MQLs, in (0, 1].

    Attributes
    ----------
    cutoff_ : int
        The highest cutoff that captures at least ``target_recall`` of the conversions on
        the fit data (fewest MQLs meeting it).
    recall_ : float
        The share captured at ``cutoff_`` on the fit data.
    target_met_ : bool
        Always True when the fit data has conversions (cutoff 1 captures all).
    """

    def __init__(self, target_recall: float = 0.8):
        self.target_recall = target_recall

    def fit(self, scores, y) -> RecallThreshold:
        """Fit on the scores and 0/1 outcomes of the calibration slice."""
        if not 0 < self.target_recall <= 1:
            raise ValueError(f"target_recall must be in (0, 1], got {self.target_recall}")
        s = _check_scores(scores)
        yy = _check_labels(y, len(s))
        known = ~np.isnan(yy)
        pos = _cumulative_from_top(s[known], yy[known])
        if pos[0] <= 0:
            raise ValueError("recall needs at least one converted lead in the fit data, got 0")
        recall = pos / pos[0]
        ok = np.flatnonzero(recall[1:100] >= self.target_recall - 1e-12) + 1
        self.target_met_ = True
        self.cutoff_ = int(ok.max())
        self.recall_ = float(recall[self.cutoff_])
        return self

    def predict(self, scores) -> np.ndarray:
        """``is_mql``: True where ``score >= cutoff_``."""
        return np.asarray(scores) >= self.cutoff_


class ExpectedValueThreshold(BaseEstimator):
    """MQL cutoff where working a lead starts to pay: ``P(won) * value - cost > 0``.

    A score ``s`` means a ``s / 100`` chance of reaching the target stage (scores are
    calibrated). When the target is SQL, ``P(won) = s / 100 * won_per_positive_``, the
    share of converted leads that became customers on the fit data.

    Parameters
    ----------
    cost_per_lead : float
        Cost of working one MQL (sales time, touches), in the currency of deal values.
    value_per_won : float, optional
        Value of a won deal; default the mean ``deal_value`` of the won deals in the fit
        data.

    Attributes
    ----------
    cutoff_ : int
        Lowest score with positive expected value; 99 when none has.
    won_per_positive_ : float
        Customers per converted lead (1 when the target already is ``won``).
    value_per_won_ : float
        Deal value used.
    break_even_probability_ : float
        ``P(target)`` at which expected value is zero.
    target_met_ : bool
        Whether a score of 99 has positive expected value.
    """

    def __init__(self, cost_per_lead: float = 500.0, *, value_per_won: float | None = None):
        self.cost_per_lead = cost_per_lead
        self.value_per_won = value_per_won

    def fit(self, scores, y, won=None, deal_value=None) -> ExpectedValueThreshold:
        """Fit on the calibration slice.

        Parameters
        ----------
        scores : array-like of int
            Scores 1-99.
        y : array-like of {0, 1}
            Reached the target stage.
        won : array-like of {0, 1, NaN}, optional
            Became a customer (NaN while unknown); omit when ``y`` already means won.
        deal_value : array-like of float, optional
            Value of each won deal (NaN otherwise); needed unless ``value_per_won`` is set.
        """
        if not self.cost_per_lead >= 0:
            raise ValueError(f"cost_per_lead must be zero or positive, got {self.cost_per_lead}")
        s = _check_scores(scores)
        yy = _check_labels(y, len(s))
        if won is None:
            self.won_per_positive_ = 1.0
            won_arr = yy
        else:
            won_arr = _check_labels(won, len(s), "won")
            known = (yy == 1) & ~np.isnan(won_arr)
            if not known.any():
                raise ValueError(
                    "expected value needs converted leads whose won/lost outcome is known, got 0"
                )
            self.won_per_positive_ = float(won_arr[known].mean())
        if self.value_per_won is not None:
            if not self.value_per_won > 0:
                raise ValueError(f"value_per_won must be positive, got {self.value_per_won}")
            self.value_per_won_ = float(self.value_per_won)
        else:
            values = np.asarray(deal_value, dtype=float) if deal_value is not None else None
            won_values = values[won_arr == 1] if values is not None else np.empty(0)
            won_values = won_values[~np.isnan(won_values)]
            if len(won_values) == 0:
                raise ValueError(
                    "value_per_won is not set and no won deal has a deal_value to learn it from"
                )
            self.value_per_won_ = float(won_values.mean())
        per_prob = self.won_per_positive_ * self.value_per_won_
        grid = np.arange(1, 100)
        ev = grid / 100 * per_prob - self.cost_per_lead
        ok = grid[ev > 1e-9]
        self.target_met_ = bool(len(ok))
        self.cutoff_ = int(ok.min()) if len(ok) else 99
        self.break_even_probability_ = (
            float(self.cost_per_lead / per_prob) if per_prob > 0 else float("inf")
        )
        return self

    def expected_value(self, scores) -> np.ndarray:
        """Expected value of working each lead with these scores."""
        s = np.asarray(scores, dtype=float)
        return s / 100 * self.won_per_positive_ * self.value_per_won_ - self.cost_per_lead

    def predict(self, scores) -> np.ndarray:
        """``is_mql``: True where ``score >= cutoff_``."""
        return np.asarray(scores) >= self.cutoff_


class TierThresholds(BaseEstimator):
    """Tiers: ``mql`` at or above the MQL cutoff; below it ``nurture`` or ``disqualify``.

    Disqualified are the lowest scores that together hold at most ``max_lost_share`` of
    the conversions; everything between them and the MQL line is nurtured, because
    those leads do convert, only less often or later.

    Parameters
    ----------
    mql_cutoff : int
        The MQL cutoff in use (of the chosen policy).
    max_lost_share : float
        Largest share of conversions the disqualify tier may hold, in [0, 1).

    Attributes
    ----------
    nurture_cutoff_ : int
        Leads with ``nurture_cutoff_ <= score < mql_cutoff`` are nurtured.
    mql_cutoff_ : int
        The MQL cutoff.
    lost_share_ : float
        Share of the fit data's conversions in the disqualify tier.
    """

    def __init__(self, mql_cutoff: int = 50, max_lost_share: float = 0.05):
        self.mql_cutoff = mql_cutoff
        self.max_lost_share = max_lost_share

    def fit(self, scores, y) -> TierThresholds:
        """Fit on the calibration slice's scores and outcomes."""
        if not 0 <= self.max_lost_share < 1:
            raise ValueError(f"max_lost_share must be in [0, 1), got {self.max_lost_share}")
        if not 1 <= int(self.mql_cutoff) <= 99:
            raise ValueError(f"mql_cutoff must be a score 1-99, got {self.mql_cutoff}")
        s = _check_scores(scores)
        yy = _check_labels(y, len(s))
        keep = RecallThreshold(1 - self.max_lost_share).fit(s, yy) if self.max_lost_share else None
        nurture = keep.cutoff_ if keep is not None else 1
        self.mql_cutoff_ = int(self.mql_cutoff)
        self.nurture_cutoff_ = int(min(nurture, self.mql_cutoff_))
        known = ~np.isnan(yy)
        total = yy[known].sum()
        lost = yy[known & (s < self.nurture_cutoff_)].sum()
        self.lost_share_ = float(lost / total) if total else float("nan")
        return self

    def predict(self, scores) -> np.ndarray:
        """Tier names (``mql``, ``nurture``, ``disqualify``) for ``scores``."""
        s = np.asarray(scores)
        return np.select(
            [s >= self.mql_cutoff_, s >= self.nurture_cutoff_],
            [TIER_MQL, TIER_NURTURE],
            default=TIER_DISQUALIFY,
        )


def make_policy(name: str, params: dict):
    """An unfitted threshold of policy ``name`` with its parameters from ``params``.

    ``params`` may hold more keys than the policy uses (the whole threshold config).
    """
    if name == "capacity":
        return CapacityThreshold(params["capacity_per_week"])
    if name == "precision":
        return PrecisionThreshold(params["target_precision"])
    if name == "recall":
        return RecallThreshold(params["target_recall"])
    if name == "expected_value":
        return ExpectedValueThreshold(
            params["cost_per_lead"], value_per_won=params.get("value_per_won")
        )
    raise ValueError(f"policy must be one of {POLICIES}, got {name!r}")


def policy_name(threshold) -> str:
    """The policy name of a threshold object."""
    return _POLICY_OF[type(threshold)]


def policy_target(threshold) -> float:
    """The number a policy was asked to meet (capacity per week, rate, share or cost)."""
    return float(getattr(threshold, _TARGET_PARAM[policy_name(threshold)]))


def fit_policy(threshold, scores, y, created_at, won=None, deal_value=None):
    """Fit any policy on one slice, giving each the inputs it needs."""
    if isinstance(threshold, CapacityThreshold):
        return threshold.fit(scores, created_at)
    if isinstance(threshold, ExpectedValueThreshold):
        return threshold.fit(scores, y, won, deal_value)
    return threshold.fit(scores, y)


def threshold_to_dict(threshold) -> dict:
    """A threshold's policy, parameters and fitted attributes as plain JSON values."""
    params = threshold.get_params()
    fitted = {k: v for k, v in vars(threshold).items() if k.endswith("_")}
    return {"policy": policy_name(threshold), "params": params, "fitted": fitted}


def threshold_from_dict(d: dict):
    """Rebuild a fitted threshold from :func:`threshold_to_dict`."""
    cls = {v: k for k, v in _POLICY_OF.items()}.get(d["policy"])
    if cls is None:
        raise ValueError(f"unknown threshold policy {d['policy']!r}; expected one of {POLICIES}")
    obj = cls(**d["params"])
    for k, v in d["fitted"].items():
        setattr(obj, k, v)
    return obj


_POLICY_OF = {
    CapacityThreshold: "capacity",
    PrecisionThreshold: "precision",
    RecallThreshold: "recall",
    ExpectedValueThreshold: "expected_value",
}
_TARGET_PARAM = {
    "capacity": "capacity_per_week",
    "precision": "target_precision",
    "recall": "target_recall",
    "expected_value": "cost_per_lead",
}


def slice_weeks(created_at) -> float:
    """Length of a slice in weeks, counting both end days (as :class:`CapacityThreshold`)."""
    created = pd.to_datetime(pd.Series(created_at), utc=True)
    span = (created.max() - created.min()) / pd.Timedelta(days=1)
    span += span / max(len(created) - 1, 1)
    return float(max(span / 7.0, 1 / 7))


def _table_figures(n, sql_pos, sql_known, won_pos, won_known, weeks):
    """Figures per cutoff from cumulative counts (last axis = cutoff 0..100)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "mqls": n,
            "mqls_per_week": n / weeks,
            "mql_sql_rate": sql_pos / sql_known,
            "mql_won_rate": won_pos / won_known,
            "share_sql_captured": sql_pos / sql_pos[..., :1],
            "share_won_captured": won_pos / won_pos[..., :1],
        }


def _resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multiplicities of each lead in bootstrap resamples with replacement."""
    draws = rng.integers(0, n, size=(n_boot, n))
    w = np.empty((n_boot, n))
    # One bincount per resample: np.add.at on the whole (n_boot, n) grid is many times
    # slower, and its cost dominated the threshold tables of a 1M-lead training.
    for b in range(n_boot):
        w[b] = np.bincount(draws[b], minlength=n)
    return w


def _figures_by_cutoff(s, sql, won, weeks, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Figures for every cutoff 0..100 under each row of lead ``weights`` (B, n)."""
    n = len(s)
    rows = np.arange(n)

    def cum(values):
        # Sum of weight x value per score: a (B, n) @ (n, 101) product with a one-hot
        # matrix, so no (B, n) temporary per figure; weights and values are whole
        # numbers, so the sums are exact in any order.
        onehot = sparse.csr_array((values, (rows, s)), shape=(n, 101))
        sums = (onehot.T @ weights.T).T
        return sums[:, ::-1].cumsum(axis=1)[:, ::-1]

    return _table_figures(
        cum(np.ones(n)),
        cum(np.nan_to_num(sql)),
        cum((~np.isnan(sql)).astype(float)),
        cum(np.nan_to_num(won)),
        cum((~np.isnan(won)).astype(float)),
        weeks,
    )


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1 - level) / 2
    # A figure undefined in every resample (no lead above the cutoff) has no interval.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanquantile(values, alpha, axis=0)
        hi = np.nanquantile(values, 1 - alpha, axis=0)
    return lo, hi


def _prepare_slice(scores, sql, won):
    s = _check_scores(scores)
    return s, _check_labels(sql, len(s), "sql"), _check_labels(won, len(s), "won")


def funnel_table(
    scores,
    sql,
    won,
    weeks: float,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> list[dict]:
    """What each score cutoff 1..99 buys on a slice, with bootstrap intervals.

    Parameters
    ----------
    scores : array-like of int
        Scores 1-99 of the slice's leads.
    sql, won : array-like of {0, 1, NaN}
        Reached SQL / became a customer; NaN where the outcome is not known yet (those
        leads count as MQLs but not in that stage's rates).
    weeks : float
        Length of the slice in weeks (:func:`slice_weeks`).
    n_boot : int
        Bootstrap resamples of the leads (0: no intervals, bounds are NaN).
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the percentile intervals.

    Returns
    -------
    list of dict
        One row per cutoff 1..99; fields in the module docstring.
    """
    s, sql, won = _prepare_slice(scores, sql, won)
    once = _figures_by_cutoff(s, sql, won, weeks, np.ones((1, len(s))))
    point = {k: v[0] for k, v in once.items()}
    bounds = None
    if n_boot > 0:
        w = _resample_weights(len(s), n_boot, np.random.default_rng(seed))
        boot = _figures_by_cutoff(s, sql, won, weeks, w)
        bounds = {k: _interval(boot[k], level) for k in TABLE_FIGURES}
    rows = []
    for c in range(1, 100):
        row = {"cutoff": c, "mqls": int(point["mqls"][c])}
        for k in TABLE_FIGURES:
            row[k] = _num(point[k][c])
            row[f"{k}_lo"] = _num(bounds[k][0][c]) if bounds else float("nan")
            row[f"{k}_hi"] = _num(bounds[k][1][c]) if bounds else float("nan")
        rows.append(row)
    return rows


def policy_report(
    threshold,
    calibration: dict,
    test: dict,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """What a fitted policy's cutoff buys on the test slice, with honest intervals.

    The interval covers both sources of chance: the cutoff is refit on a bootstrap
    resample of the calibration slice, and its figures are read on a bootstrap resample
    of the test slice. So "precision 30%" is met when 30% lies inside the interval of
    the realised MQL -> SQL rate.

    Parameters
    ----------
    threshold
        A policy fitted on the calibration slice (its ``cutoff_`` is the point value).
    calibration : dict
        What the policy was fit on: ``scores``, ``y``, ``created_at``, ``won``,
        ``deal_value`` (see :func:`fit_policy`).
    test : dict
        ``scores``, ``sql``, ``won`` (0/1/NaN) and ``weeks`` of the test slice.

    Returns
    -------
    dict
        ``cutoff``, ``cutoff_lo``, ``cutoff_hi``, ``mqls`` and every figure of
        :data:`TABLE_FIGURES` with ``_lo`` / ``_hi``.
    """
    s, sql, won = _prepare_slice(test["scores"], test["sql"], test["won"])
    cut = int(threshold.cutoff_)
    point = _figures_by_cutoff(s, sql, won, test["weeks"], np.ones((1, len(s))))
    row = {"cutoff": cut, "mqls": int(point["mqls"][0, cut])}
    for k in TABLE_FIGURES:
        row[k] = _num(point[k][0, cut])
    if n_boot <= 0:
        for k in ("cutoff", *TABLE_FIGURES):
            row[f"{k}_lo"] = row[f"{k}_hi"] = float("nan")
        return row
    rng = np.random.default_rng(seed)
    boot = _figures_by_cutoff(s, sql, won, test["weeks"], _resample_weights(len(s), n_boot, rng))
    cal_scores = np.asarray(calibration["scores"])
    n_cal = len(cal_scores)
    created = pd.Series(pd.to_datetime(pd.Series(calibration["created_at"]), utc=True).to_numpy())

    def pick(a, idx):
        return None if a is None else np.asarray(a)[idx]

    cutoffs = np.full(n_boot, -1)
    for b in range(n_boot):
        idx = np.sort(rng.integers(0, n_cal, n_cal))
        refit = type(threshold)(**{k: v for k, v in vars(threshold).items() if not k.endswith("_")})
        try:
            fit_policy(
                refit,
                cal_scores[idx],
                pick(calibration["y"], idx),
                created.iloc[idx],
                pick(calibration.get("won"), idx),
                pick(calibration.get("deal_value"), idx),
            )
        except ValueError:
            continue  # a resample without what the policy needs: left out
        cutoffs[b] = refit.cutoff_
    ok = np.flatnonzero(cutoffs > 0)
    alpha = (1 - level) / 2
    row["cutoff_lo"], row["cutoff_hi"] = (
        (int(np.quantile(cutoffs[ok], q, method="nearest")) for q in (alpha, 1 - alpha))
        if len(ok)
        else (float("nan"), float("nan"))
    )
    for k in TABLE_FIGURES:
        lo, hi = _interval(boot[k][ok, cutoffs[ok]], level) if len(ok) else (np.nan, np.nan)
        row[f"{k}_lo"], row[f"{k}_hi"] = _num(lo), _num(hi)
    return row


def _num(v) -> float:
    return float(v) if np.isfinite(v) else float("nan")
