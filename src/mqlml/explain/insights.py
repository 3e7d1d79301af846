"""Explanations computed once at training time for the report: drivers, criteria, charts.

They go into the training summary (keys ``drivers``, ``criteria_rules``, ``scorecard``
and ``evaluation``), so the report of a saved model can be rebuilt from its bundle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlml.errors import ConfigError
from mqlml.explain.contributions import field_contributions, field_points, global_drivers
from mqlml.explain.criteria import criteria_summary
from mqlml.features.build import FeatureSpec, to_matrix
from mqlml.model.calibrate import ProbabilityCalibrator
from mqlml.model.evaluation import evaluation_summary
from mqlml.model.trees import predict_raw


def training_insights(
    booster,
    calibrator: ProbabilityCalibrator,
    spec: FeatureSpec,
    leads: pd.DataFrame,
    features: pd.DataFrame,
    y: np.ndarray,
    slices: dict[str, np.ndarray],
    score: np.ndarray,
    mql_cutoff: int,
    baseline_test_probability: np.ndarray | None = None,
    segment_column: str | None = None,
    linear=None,
    *,
    sample_rows: int | None = None,
    seed: int = 0,
    probability: np.ndarray | None = None,
) -> dict:
    """Summary keys ``drivers``, ``criteria_rules``, ``scorecard`` and ``evaluation``.

    Parameters
    ----------
    booster, calibrator, spec
        The fitted model.
    leads, features, y : DataFrame, DataFrame, ndarray
        All labelled leads in time order, their features and labels (positionally aligned).
    slices : dict
        Positional ``train``, ``calibration`` and ``test`` indices.
    score : ndarray of int
        The model's score of every labelled lead.
    mql_cutoff : int
        The model's MQL cutoff.
    baseline_test_probability : ndarray, optional
        The logistic baseline on the test slice, for the ROC and gains charts.
    segment_column : str, optional
        A lead column: drivers are also summarised per value of it.
    linear : LinearBase, optional
        The linear base the trees start from.
    sample_rows : int, optional
        Most leads per slice the drivers, rules and scorecard use (``explanations.
        sample_rows``): a larger slice is replaced by a seeded random sample of it, in
        time order. The ``evaluation`` charts use the whole test slice. None: every lead.
    seed : int
        Seed of the samples.
    probability : ndarray, optional
        Every labelled lead's calibrated probability from the model the held-out figures
        measure, for the ``evaluation`` charts; needed when the model given was refit on
        the test slice. None: the given model's probabilities of the test slice.
    """
    test = slices["test"]
    rng = np.random.default_rng(seed)
    # Sampled positions stay positions into the full arrays, so every input stays aligned.
    sampled = {k: _sample(v, sample_rows, rng) for k, v in slices.items()}
    X_test = to_matrix(features.iloc[test], spec)
    shown = sampled["test"]
    X_shown = X_test if len(shown) == len(test) else to_matrix(features.iloc[shown], spec)
    per_field, base_raw = field_contributions(booster, X_shown, spec, linear=linear)
    points, base_score = field_points(per_field, base_raw, calibrator)
    segments = None
    if segment_column is not None:
        if segment_column not in leads:
            raise ConfigError(
                f"segments.column: column {segment_column!r} is not in the leads table; "
                f"expected one of {sorted(map(str, leads.columns))}"
            )
        segments = leads[segment_column].iloc[shown].to_numpy()
    drivers = global_drivers(points, features.iloc[shown], spec, segments, segment_column)
    drivers["base_score"] = base_score
    drivers["test_leads"] = len(test)
    top = [r["field"] for r in drivers["fields"]]
    out = {"drivers": drivers}
    out.update(criteria_summary(features, y, sampled, spec, top, score, mql_cutoff))
    out["evaluation"] = evaluation_summary(
        y[test],
        probability[test]
        if probability is not None
        else calibrator.predict(predict_raw(booster, X_test, linear)),
        baseline_test_probability,
    )
    return out


def _sample(rows: np.ndarray, most: int | None, rng: np.random.Generator) -> np.ndarray:
    """``rows``, or a random ``most`` of them in their original order when there are more."""
    rows = np.asarray(rows)
    if most is None or len(rows) <= most:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=most, replace=False))]
