"""Prior shift: the conversion rate a batch implies from its own probabilities.

A calibrated model's probabilities are right for leads that convert as often as the rows
its calibrator was fit on (the *training rate*). When a batch's leads convert more or less
often, but each lead behaves as before given whether it converts (the class-conditional
distributions did not change, only the class shares: *prior shift*), the batch's rate
can be estimated from the unlabelled batch alone, and the probabilities corrected, by the
EM procedure of Saerens, Latinne and Decaestecker (2002, *Neural Computation* 14:21-41):

* E step: each lead's probability under the current estimate ``q`` of the batch's rate,
  by Bayes' rule, is ``a p / (a p + b (1 - p))`` with ``a = q / t`` and
  ``b = (1 - q) / (1 - t)`` (``t`` the training rate);
* M step: ``q`` becomes the mean of those probabilities;

from ``q = t`` until ``q`` moves less than the tolerance. Each step raises the batch's
likelihood, and the fixed point is its maximum over ``q``.

When behaviour given the outcome changed too (a new campaign changes *who* converts, a
form changes what a field means, the economy moves every lead's attributes), the
assumption fails and so does the estimate: it is then a symptom that the batch is unlike
the history, not a rate to trust. One such failure is certain to be wrong and is told
apart (:attr:`PriorEstimate.boundary`): the likelihood is largest at a rate of 0 or 1,
i.e. no mixture of the training's converters and non-converters gives scores like the
batch's (on UCI Bank Marketing's last 20% of rows, nearly every lead scores above the
training rate, and the estimate runs to 100%).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The estimate is kept in [RATE_EPS, 1 - RATE_EPS] so the likelihood ratios stay finite.
RATE_EPS = 1e-6


@dataclass(frozen=True)
class PriorEstimate:
    """The batch's estimated conversion rate beside the training rate.

    Attributes
    ----------
    training_rate : float
        The rate the probabilities are calibrated to.
    estimated_rate : float
        The rate the batch's probabilities imply (EM fixed point).
    leads : int
        Probabilities the estimate is from.
    iterations : int
        EM steps taken.
    converged : bool
        Whether the last step moved the estimate less than the tolerance.
    boundary : {"lower", "upper"} or None
        ``"upper"`` when the likelihood is largest at a rate of 1 (``"lower"``: at 0): no
        rate between explains the scores, so the estimate runs to the edge and is no
        rate to trust or adjust to; None otherwise.
    """

    training_rate: float
    estimated_rate: float
    leads: int
    iterations: int
    converged: bool
    boundary: str | None = None

    @property
    def factor(self) -> float:
        """How many times the larger rate is the smaller one (1 = no shift)."""
        hi = max(self.estimated_rate, self.training_rate)
        lo = min(self.estimated_rate, self.training_rate)
        return hi / lo


def _check_rate(rate: float, name: str) -> float:
    rate = float(rate)
    if not 0 < rate < 1:
        raise ValueError(f"{name} must be a rate strictly between 0 and 1, got {rate!r}")
    return rate


def _probabilities(p) -> np.ndarray:
    p = np.asarray(p, dtype=float).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if len(bad):
        raise ValueError(
            f"probabilities must be numbers in [0, 1], got {float(p[bad[0]])!r} at position "
            f"{bad[0]} ({len(bad)} of {p.size} values outside)"
        )
    return p


def _reweight(p: np.ndarray, training_rate: float, rate: float) -> np.ndarray:
    """Bayes' rule: probabilities calibrated to ``training_rate`` moved to ``rate``."""
    a = rate / training_rate
    b = (1 - rate) / (1 - training_rate)
    # p = 0 stays 0 and p = 1 stays 1 (the denominator is then a or b, both > 0).
    return a * p / (a * p + b * (1 - p))


def estimate_prior(
    probability, training_rate: float, *, tol: float = 1e-6, max_iter: int = 1000
) -> PriorEstimate:
    """The conversion rate a batch implies from its calibrated probabilities (EM).

    Parameters
    ----------
    probability : array-like
        Calibrated probabilities of the batch's leads, in [0, 1].
    training_rate : float
        The conversion rate of the rows the calibrator was fit on, in (0, 1).
    tol : float
        Stop when an EM step moves the estimate less than this.
    max_iter : int
        Most EM steps (a nearly flat model converges slowly: its probabilities say little
        about the batch's rate).

    Returns
    -------
    PriorEstimate

    Raises
    ------
    ValueError
        When there are no probabilities, one is outside [0, 1] or not a number, or the
        training rate is not strictly between 0 and 1.

    Examples
    --------
    Leads at 0, 1, 1 and 0.3 under a training rate of 0.2: the fixed point is 0.7, where
    the third lead's 0.3 becomes 0.8 and the mean of 0, 1, 1 and 0.8 is 0.7 again.

    >>> round(estimate_prior([0, 1, 1, 0.3], 0.2).estimated_rate, 3)
    0.7
    """
    t = _check_rate(training_rate, "training_rate")
    p = _probabilities(probability)
    if p.size == 0:
        raise ValueError("estimate_prior needs at least one probability, got none")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    q, converged, i = t, False, 0
    for i in range(1, max_iter + 1):  # noqa: B007 - i is reported
        new = float(np.clip(_reweight(p, t, q).mean(), RATE_EPS, 1 - RATE_EPS))
        step, q = abs(new - q), new
        if step < tol:
            converged = True
            break
    return PriorEstimate(t, q, int(p.size), i, converged, _boundary(p, t))


def _boundary(p: np.ndarray, t: float) -> str | None:
    """Where the batch's likelihood in the rate ``q`` peaks at an edge, if it does.

    The log-likelihood ``sum(log(q p/t + (1 - q)(1 - p)/(1 - t)))`` is concave in ``q``;
    its slope at ``q = 1`` is ``n - sum(r)`` and at ``q = 0`` is ``sum(1/r) - n``, with
    ``r`` each lead's training odds over its odds (``(1-p)/p * t/(1-t)``). A slope of
    the wrong sign at an edge puts the maximum there.
    """
    with np.errstate(divide="ignore"):
        r = (1 - p) / p * (t / (1 - t))  # inf for p = 0: that lead rules q = 1 out
        inverse = p / (1 - p) * ((1 - t) / t)  # inf for p = 1: that lead rules q = 0 out
    if r.mean() <= 1:
        return "upper"
    if inverse.mean() <= 1:
        return "lower"
    return None


def adjust_probabilities(probability, training_rate: float, rate: float) -> np.ndarray:
    """Probabilities calibrated to ``training_rate`` moved to a batch rate ``rate``.

    Bayes' rule with the class shares changed, ``a p / (a p + b (1 - p))``, ``a = rate /
    training_rate``, ``b = (1 - rate) / (1 - training_rate)``: increasing in ``p``, so
    the ranking of leads is kept (0 and 1 stay as they are, every other probability
    stays strictly between them).

    Examples
    --------
    >>> adjust_probabilities([0.5], 0.2, 0.5).round(3).tolist()
    [0.8]
    """
    t = _check_rate(training_rate, "training_rate")
    q = _check_rate(rate, "rate")
    # Not clipped to the calibrator's [1e-4, 1 - 1e-4]: a large shift would tie the
    # leads at the clip and lose their ranking (the score is clipped to 1-99 anyway).
    return _reweight(_probabilities(probability), t, q)
