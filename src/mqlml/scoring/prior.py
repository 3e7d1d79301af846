"""A scored batch's conversion rate against the training rate, and the optional adjustment.

The batch's rate is estimated from its own calibrated probabilities
(:func:`mqlml.model.prior_shift.estimate_prior`); the scoring report records it as
``base_rate: {training, estimated, factor, adjusted, ...}`` and warns when the two rates
differ by more than ``scoring.prior_shift.warn_factor``. With ``adjust`` (or ``mqlml score
--adjust-prior``), every probability is moved to the estimated rate and the score, grade,
tier and is_mql recomputed from it through the model's own mapping and thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlml.columns import OTHER_POINTS, PROBABILITY, SCORE
from mqlml.config import PriorShiftConfig
from mqlml.model.bundle import TrainedModel
from mqlml.model.prior_shift import PriorEstimate, adjust_probabilities, estimate_prior
from mqlml.scoring.score import probability_columns, segment_routes


def training_base_rate(model: TrainedModel) -> float | None:
    """The conversion rate the model's probabilities are calibrated to.

    The rate of the rows its calibrator was fit on, as the calibrator recorded it; for
    bundles from before that record, the calibration slice's rate in the training
    summary; None when neither is known (or it is not strictly between 0 and 1). With
    segment models, the global model's rate stands for the whole batch (an approximation:
    each segment model was calibrated on its own segment's rows).
    """
    rate = getattr(model.calibrator, "base_rate_", None)
    if rate is None:
        rate = next(
            (p.positive_rate for p in model.summary.periods or [] if p.name == "calibration"),
            None,
        )
    if rate is None or not np.isfinite(rate) or not 0 < rate < 1:
        return None
    return float(rate)


@dataclass(frozen=True)
class PriorShiftResult:
    """What the prior-shift check found and did.

    Attributes
    ----------
    scored : DataFrame
        The scored leads, adjusted when ``record["adjusted"]``.
    record : dict
        The report's ``base_rate`` entry (JSON-safe).
    warning : str or None
        One sentence when the rates differ by more than the warn factor.
    note : str or None
        What was done or why nothing could be estimated.
    """

    scored: pd.DataFrame
    record: dict
    warning: str | None = None
    note: str | None = None


def _pct(rate: float) -> str:
    # The estimate can reach the edge of the range (every lead near zero): say so.
    if rate < 0.0005:
        return "under 0.1%"
    if rate > 0.9995:
        return "over 99.9%"
    return f"{rate:.1%}"


def shift_warning(estimate: PriorEstimate, adjusted: bool, mean_probability: float) -> str:
    """One sentence naming both rates and what the user can do."""
    if estimate.boundary is not None:
        edge = "100%" if estimate.boundary == "upper" else "0%"
        return (
            f"this batch looks unlike the training history: its mean probability is "
            f"{_pct(mean_probability)} against a rate of {_pct(estimate.training_rate)} in the "
            f"rows the model was calibrated on, and the conversion rate its scores imply runs "
            f"to {edge}, which no change in how many leads convert explains: the leads "
            "themselves differ from the history (see the drift report), so the probabilities "
            "are not adjusted"
        )
    direction = "higher" if estimate.estimated_rate > estimate.training_rate else "lower"
    then = (
        "the probabilities were adjusted to it"
        if adjusted
        else "the probabilities assume the training rate; if these leads really convert at "
        "that rate, rescore with --adjust-prior (see docs/scoring.md for when not to)"
    )
    times = f"{estimate.factor:.1f}" if estimate.factor < 100 else "over 100"
    return (
        f"this batch looks unlike the training history: its scores imply a conversion rate "
        f"of {_pct(estimate.estimated_rate)} against {_pct(estimate.training_rate)} in the "
        f"rows the model was calibrated on ({times} times {direction}); {then}"
    )


def check_prior_shift(
    model: TrainedModel,
    scored: pd.DataFrame,
    leads: pd.DataFrame,
    settings: PriorShiftConfig,
    adjust: bool | None = None,
) -> PriorShiftResult:
    """Estimate the batch's conversion rate, warn on a shift, adjust when asked.

    Parameters
    ----------
    model : TrainedModel
        The model that scored the batch (its calibrator's rate is the training rate).
    scored : DataFrame
        The scored leads (:data:`mqlml.columns.SCORE_COLUMNS`), in the order of ``leads``.
    leads : DataFrame
        The batch's scorable leads (to route each lead to its segment's model).
    settings : PriorShiftConfig
        ``warn_factor``, ``adjust`` and ``min_leads``.
    adjust : bool, optional
        Adjust the probabilities to the estimated rate; None: ``settings.adjust``.

    Returns
    -------
    PriorShiftResult
        When adjusted, probability, score, grade, tier and is_mql come from the adjusted
        probabilities (each lead through the thresholds of the model that scored it), and
        ``other_points`` takes the score's change, so that ``base_score`` + the reasons'
        points + ``other_points`` is still the score: the reasons explain the model's own
        score, the adjustment is one for the whole batch.
    """
    adjust = settings.adjust if adjust is None else adjust
    training = training_base_rate(model)
    record: dict = {
        "training": None if training is None else round(training, 4),
        "estimated": None,
        "factor": None,
        "adjusted": False,
        "leads": len(scored),
        "min_leads": settings.min_leads,
        "warn_factor": settings.warn_factor,
    }
    if training is None:
        note = (
            "the batch's conversion rate is not estimated: the model does not record the "
            "rate it was calibrated to" + ("; the probabilities are not adjusted" if adjust else "")
        )
        # Said on the terminal only when an adjustment was asked for; always in the report.
        return PriorShiftResult(scored, {**record, "note": note}, note=note if adjust else None)
    if len(scored) < settings.min_leads:
        note = (
            f"the batch's conversion rate is not estimated: {len(scored):,} scored leads, "
            f"fewer than scoring.prior_shift.min_leads = {settings.min_leads:,}"
            + ("; the probabilities are not adjusted" if adjust else "")
        )
        return PriorShiftResult(scored, {**record, "note": note}, note=note if adjust else None)
    estimate = estimate_prior(scored[PROBABILITY].to_numpy(dtype=float), training)
    mean_probability = float(scored[PROBABILITY].mean())
    record.update(
        mean_probability=round(mean_probability, 4),
        estimated=round(estimate.estimated_rate, 4),
        factor=round(estimate.factor, 3),
        iterations=estimate.iterations,
        converged=estimate.converged,
        # An estimate at an edge is no rate: see mqlml.model.prior_shift.
        reliable=estimate.boundary is None,
    )
    note = None
    if estimate.boundary is not None:
        return PriorShiftResult(
            scored, record, shift_warning(estimate, False, mean_probability), note
        )
    if adjust:
        scored = _adjusted(model, scored, leads, training, estimate.estimated_rate)
        record["adjusted"] = True
        note = (
            f"probabilities adjusted from the training rate {_pct(training)} to the batch's "
            f"estimated {_pct(estimate.estimated_rate)}: scores, grades, tiers and is_mql "
            "recomputed from them; the reasons explain the model's own score and other_points "
            "carries the adjustment"
        )
        record["note"] = note
    warning = (
        shift_warning(estimate, adjust, mean_probability)
        if estimate.factor > settings.warn_factor
        else None
    )
    return PriorShiftResult(scored, record, warning, note)


def _adjusted(
    model: TrainedModel, scored: pd.DataFrame, leads: pd.DataFrame, training: float, rate: float
) -> pd.DataFrame:
    """The scored leads with probabilities moved to ``rate``, through each lead's model."""
    out = scored.copy()
    p = adjust_probabilities(scored[PROBABILITY].to_numpy(dtype=float), training, rate)
    for sub, pos in segment_routes(model, leads):
        if not len(pos):
            continue
        for column, values in probability_columns(sub, p[pos]).items():
            # Position-wise into the column, keeping its dtype (the grade is text).
            column_values = out[column].to_numpy(copy=True)
            column_values[pos] = values
            out[column] = pd.Series(column_values, index=out.index).astype(out[column].dtype)
    change = out[SCORE].to_numpy() - scored[SCORE].to_numpy()
    out[OTHER_POINTS] = np.round(scored[OTHER_POINTS].to_numpy() + change, 1)
    return out
