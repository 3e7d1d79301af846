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
    """
    test = slices["test"]
    X_test = to_matrix(features.iloc[test], spec)
    per_field, base_raw = field_contributions(booster, X_test, spec, linear=linear)
    points, base_score = field_points(per_field, base_raw, calibrator)
    segments = None
    if segment_column is not None:
        if segment_column not in leads:
            raise ConfigError(
                f"segments.column: column {segment_column!r} is not in the leads table; "
                f"expected one of {sorted(map(str, leads.columns))}"
            )
        segments = leads[segment_column].iloc[test].to_numpy()
    drivers = global_drivers(points, features.iloc[test], spec, segments, segment_column)
    drivers["base_score"] = base_score
    top = [r["field"] for r in drivers["fields"]]
    out = {"drivers": drivers}
    out.update(criteria_summary(features, y, slices, spec, top, score, mql_cutoff))
    out["evaluation"] = evaluation_summary(
        y[test],
        calibrator.predict(predict_raw(booster, X_test, linear)),
        baseline_test_probability,
    )
    return out
