"""Reason codes: which business fields moved a lead's score, in score points.

LightGBM's exact TreeSHAP (``pred_contrib``) splits a lead's log-odds into one
contribution per feature plus the base value. Contributions are summed per business
field (e.g. all pricing-page features form "Pricing page view"). Calibration is a
monotone map from log-odds to probability, so the score points are shared in
proportion to the log-odds contributions:

    points_f = contribution_f * (100 p - 100 p_base) / (raw - raw_base)

where ``raw`` is the lead's log-odds, ``raw_base`` the model's base value and ``p``,
``p_base`` their calibrated probabilities. The points of all fields add up to the
lead's unrounded score minus the base score exactly. Where ``raw`` equals ``raw_base``
the local slope of the calibration map is used instead.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from mqlml.calibrate import ProbabilityCalibrator
from mqlml.features import FeatureSpec, field_label


def field_matrix(spec: FeatureSpec) -> tuple[np.ndarray, list[str]]:
    """Indicator matrix (features x fields) and the field names, in first-seen order."""
    fields: list[str] = []
    for c in spec.columns:
        if spec.fields[c] not in fields:
            fields.append(spec.fields[c])
    pos = {f: i for i, f in enumerate(fields)}
    m = np.zeros((len(spec.columns), len(fields)))
    for j, c in enumerate(spec.columns):
        m[j, pos[spec.fields[c]]] = 1.0
    return m, fields


def field_contributions(
    booster: lgb.Booster, X: np.ndarray, spec: FeatureSpec
) -> tuple[pd.DataFrame, float]:
    """Log-odds contributions per business field, and the base value (exact TreeSHAP)."""
    contrib = booster.predict(X, pred_contrib=True)
    m, fields = field_matrix(spec)
    per_field = contrib[:, :-1] @ m
    base = float(contrib[0, -1]) if len(contrib) else float(booster.predict(X[:0], raw_score=True))
    return pd.DataFrame(per_field, columns=fields), base


def field_points(
    per_field: pd.DataFrame, base_raw: float, calibrator: ProbabilityCalibrator
) -> tuple[pd.DataFrame, float]:
    """Score points per field (adding up to unrounded score minus base score) and the base score."""
    raw = base_raw + per_field.to_numpy().sum(axis=1)
    p = 100 * calibrator.predict(raw)
    p_base = float(100 * calibrator.predict(np.array([base_raw]))[0])
    delta_raw = raw - base_raw
    h = 1e-3
    slope = float(
        100
        * (
            calibrator.predict(np.array([base_raw + h]))
            - calibrator.predict(np.array([base_raw - h]))
        )[0]
        / (2 * h)
    )
    safe = np.abs(delta_raw) > 1e-9
    factor = np.where(safe, (p - p_base) / np.where(safe, delta_raw, 1.0), slope)
    points = per_field.to_numpy() * factor[:, None]
    return pd.DataFrame(points, columns=per_field.columns, index=per_field.index), p_base


def top_reasons(points: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` fields with the largest absolute points per lead: labels and points."""
    values = points.to_numpy()
    k = min(k, values.shape[1])
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    labels = np.array([field_label(f) for f in points.columns], dtype=object)[order]
    pts = np.take_along_axis(values, order, axis=1)
    return labels, pts
