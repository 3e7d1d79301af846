"""Reason codes and global drivers: which business fields move a score, in score points.

**SHAP values.** LightGBM's exact TreeSHAP (``pred_contrib=True``) splits a lead's
log-odds ``raw`` into one contribution per feature plus the base value ``raw_base``
(the model's expected log-odds over its training data). It gives the same numbers as
``shap.TreeExplainer`` (tested to 1e-6) and is much faster. Contributions are summed per
business field: all pricing-page features form "Pricing page visits".

**From log-odds to score points.** The score is ``g(raw) = 100 * calibrate(raw)``, held
within 0.5-99.5 so that rounding gives the integer score 1-99. ``g`` is monotone but not
linear (isotonic calibration is even a step function), so log-odds contributions cannot
simply be rescaled: a lead whose positive and negative contributions nearly cancel
would get huge points of both signs. Instead the fields are split into the group that
pushes the score up (sum ``P`` of positive contributions) and the group that pulls it
down (sum ``N``), and the change ``g(raw) - g(raw_base)`` is shared between the two
groups by their Shapley value (the average of adding either group first)::

    up   = ½ [g(b + P) - g(b)] + ½ [g(b + P + N) - g(b + N)]
    down = ½ [g(b + N) - g(b)] + ½ [g(b + P + N) - g(b + P)]

with ``b = raw_base``; within a group the points follow the log-odds contributions.
So, for every lead: the points of all fields add up exactly to ``g(raw)`` minus the
base score ``g(raw_base)``; a field that raised the log-odds never gets negative points;
and the integer score differs from base score plus points by at most 0.5 (rounding).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from mqlml.explain.reasons import (
    against_direction,
    representative_axis_label,
    representative_column,
    sentences,
    topic_points,
)
from mqlml.features.build import FeatureSpec, field_label
from mqlml.features.fields import field_matrix
from mqlml.model.bundle import TrainedModel
from mqlml.model.calibrate import ProbabilityCalibrator
from mqlml.model.linear import LinearBase

#: Score range before rounding: round() of it gives exactly the 1-99 integer score.
_SCORE_LO, _SCORE_HI = 0.5, 99.5
#: Points smaller than this are not shown as a reason (they round to 0.0).
MIN_REASON_POINTS = 0.05


#: With ``num_threads=None`` (the default of the prediction calls) LightGBM predicts up to
#: this many rows on one thread, more on its default thread pool. Threads never change a
#: value, since each row is predicted on its own: for a few rows, waking the pool costs
#: more than the trees, and on a busy machine a late thread stalls the whole request.
ONE_THREAD_MAX_ROWS = 64


def prediction_threads(n_rows: int, num_threads: int | None = None) -> dict:
    """``Booster.predict`` keyword arguments for ``n_rows`` rows.

    Parameters
    ----------
    n_rows : int
        Rows to predict.
    num_threads : int or None
        Threads for LightGBM; None: one for up to :data:`ONE_THREAD_MAX_ROWS` rows (a
        single-lead request), LightGBM's default for more.
    """
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer or None, got {num_threads}")
        return {"num_threads": int(num_threads)}
    return {"num_threads": 1} if n_rows <= ONE_THREAD_MAX_ROWS else {}


def feature_contributions(
    booster: lgb.Booster, X: np.ndarray, *, num_threads: int | None = None
) -> tuple[np.ndarray, float]:
    """Exact TreeSHAP log-odds contributions per feature column, and the base value.

    ``num_threads`` as in :func:`prediction_threads`.
    """
    if len(X):
        contrib = booster.predict(X, pred_contrib=True, **prediction_threads(len(X), num_threads))
        return contrib[:, :-1], float(contrib[0, -1])
    # The base value is the same for every row: read it off any row.
    one = booster.predict(np.full((1, X.shape[1]), np.nan), pred_contrib=True)
    return np.zeros((0, X.shape[1])), float(one[0, -1])


#: From this many rows on, building the per-leaf TreeSHAP tables of :mod:`mqlml.explain.fastshap`
#: (a few CPU seconds for a 300-tree model) costs less than LightGBM's ``pred_contrib``.
FAST_SHAP_MIN_ROWS = 20_000


@dataclass(frozen=True)
class ShapTables:
    """A model's TreeSHAP per business field as per-leaf tables (:mod:`mqlml.explain.fastshap`).

    Exact: the same contributions as ``pred_contrib`` summed per field, up to the order of
    floating-point additions (about 1e-15).
    """

    compiled: object
    base: float
    fields: tuple[str, ...]


def shap_tables(booster: lgb.Booster, spec: FeatureSpec) -> ShapTables:
    """Build the per-leaf TreeSHAP tables of ``booster`` for the fields of ``spec``."""
    from mqlml.explain.fastshap import compile_model

    m, fields = field_matrix(spec)
    compiled = compile_model(booster, m.argmax(axis=1), len(fields))
    _, base = feature_contributions(booster, np.empty((0, len(spec.columns))))
    return ShapTables(compiled, base, tuple(fields))


#: Tables built per booster, kept while the booster lives: (spec they were built for, tables).
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _kept_tables(booster: lgb.Booster, spec: FeatureSpec, build: bool) -> ShapTables | None:
    kept = _TABLES.get(booster)
    if kept is not None and (kept[0] is spec or kept[0] == spec):
        return kept[1]
    if not build:
        return None
    tables = shap_tables(booster, spec)
    _TABLES[booster] = (spec, tables)
    return tables


def shap_tables_for(model: TrainedModel, *, n_rows: int | None = None) -> ShapTables | None:
    """The per-leaf TreeSHAP tables of ``model``, or None where ``pred_contrib`` is cheaper.

    Tables are built once per model (a few CPU seconds for a large one) and kept while its
    booster lives.

    Parameters
    ----------
    model : TrainedModel
        The model whose reasons are computed.
    n_rows : int or None
        Rows about to be explained. None: build the tables now (a server loading a model);
        else the tables when they are built already or when a batch of ``n_rows`` repays
        building them (:data:`FAST_SHAP_MIN_ROWS`), otherwise None.
    """
    build = n_rows is None or n_rows >= FAST_SHAP_MIN_ROWS
    return _kept_tables(model.booster, model.spec, build)


def field_contributions(
    booster: lgb.Booster,
    X: np.ndarray,
    spec: FeatureSpec,
    tables: ShapTables | None = None,
    linear: LinearBase | None = None,
    *,
    num_threads: int | None = None,
) -> tuple[pd.DataFrame, float]:
    """Log-odds contributions per business field, and the base value (exact TreeSHAP).

    With ``tables`` (from :func:`shap_tables` or :func:`shap_tables_for`), or for
    :data:`FAST_SHAP_MIN_ROWS` rows or more, through the per-leaf tables of
    :mod:`mqlml.explain.fastshap`; else LightGBM's ``pred_contrib``. Both give the same
    values. With the model's ``linear`` part, the trees' contributions are weighed by its
    ``tree_weight_`` and its exact (additive) contributions are added: they sum to the
    model's log-odds.
    ``num_threads`` as in :func:`prediction_threads` (the tables' default: every core).
    """
    if tables is None and len(X) >= FAST_SHAP_MIN_ROWS:
        tables = _kept_tables(booster, spec, build=True)
    if tables is None or linear is not None:
        m, order = field_matrix(spec)
    if tables is not None:
        from mqlml.explain.fastshap import contributions

        contrib = contributions(
            tables.compiled,
            np.ascontiguousarray(X, dtype=np.float64),
            prediction_threads(len(X), num_threads).get("num_threads", os.cpu_count() or 1),
        )
        fields, base = list(tables.fields), tables.base
    else:
        contrib, base = feature_contributions(booster, X, num_threads=num_threads)
        contrib, fields = contrib @ m, order
    if linear is not None:
        # TreeSHAP is linear in the model's output: a blend's trees weigh tree_weight_.
        lin, lin_base = linear.contributions(X)
        at = {f: j for j, f in enumerate(order)}
        w = linear.tree_weight_
        contrib = w * contrib + (lin @ m)[:, [at[f] for f in fields]]
        base = w * base + lin_base
    return pd.DataFrame(contrib, columns=fields), base


def score_curve(calibrator: ProbabilityCalibrator, raw) -> np.ndarray:
    """``g(raw)``: the unrounded score, ``100 * probability`` held within 0.5-99.5."""
    return np.clip(100 * calibrator.predict(np.asarray(raw, dtype=float)), _SCORE_LO, _SCORE_HI)


def field_points(
    per_field: pd.DataFrame, base_raw: float, calibrator: ProbabilityCalibrator
) -> tuple[pd.DataFrame, float]:
    """Score points per field and the base score (see the module docstring for the method).

    Returns
    -------
    points : DataFrame
        Like ``per_field``; each row adds up to the lead's unrounded score minus the base
        score, so the integer score is within 0.5 of base score plus points.
    base_score : float
        ``g(base_raw)``, the score of a lead with no information.
    """
    c = per_field.to_numpy(dtype=float)
    pos = np.where(c > 0, c, 0.0)
    neg = np.where(c < 0, c, 0.0)
    P, N = pos.sum(axis=1), neg.sum(axis=1)
    b = np.full(len(c), base_raw)
    g_b = float(score_curve(calibrator, [base_raw])[0])
    g_p = score_curve(calibrator, b + P)
    g_n = score_curve(calibrator, b + N)
    g_pn = score_curve(calibrator, b + P + N)
    up = 0.5 * ((g_p - g_b) + (g_pn - g_n))
    down = 0.5 * ((g_n - g_b) + (g_pn - g_p))
    with np.errstate(invalid="ignore", divide="ignore"):
        share_up = np.where(P[:, None] > 0, pos / np.where(P > 0, P, 1.0)[:, None], 0.0)
        share_down = np.where(N[:, None] < 0, neg / np.where(N < 0, N, 1.0)[:, None], 0.0)
    points = share_up * up[:, None] + share_down * down[:, None]
    return pd.DataFrame(points, columns=per_field.columns, index=per_field.index), g_b


def top_reasons(points: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` fields with the largest absolute points per lead: labels and points."""
    values = points.to_numpy()
    k = min(k, values.shape[1])
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    labels = np.array([field_label(f) for f in points.columns], dtype=object)[order]
    pts = np.take_along_axis(values, order, axis=1)
    return labels, pts


def signed_top(points: pd.DataFrame, k: int, sign: int) -> tuple[np.ndarray, np.ndarray]:
    """Per lead, the ``k`` fields pushing the score most in direction ``sign`` (+1 / -1).

    Returns field names (``None`` where fewer than ``k`` fields push that way by at least
    :data:`MIN_REASON_POINTS`) and their points (NaN there).
    """
    values = points.to_numpy(dtype=float) * sign
    n, m = values.shape
    kk = min(k, m)
    order = np.argsort(-values, axis=1, kind="stable")[:, :kk]
    top = np.take_along_axis(values, order, axis=1)
    keep = top >= MIN_REASON_POINTS
    names = np.array(points.columns, dtype=object)[order]
    fields = np.full((n, k), None, dtype=object)
    pts = np.full((n, k), np.nan)
    fields[:, :kk] = np.where(keep, names, None)
    pts[:, :kk] = np.where(keep, top * sign, np.nan)
    return fields, pts


@dataclass(frozen=True)
class LeadReasons:
    """Per-lead reasons: fixed slots of sentences and points.

    Attributes
    ----------
    base_score : float
        Score of a lead with no information (the same for every lead).
    positive, negative : ndarray of object, shape (n, k)
        Sentences of the fields that raised / lowered the score most (``None``: no reason).
    positive_points, negative_points : ndarray of float
        Their points (NaN where there is no reason).
    positive_fields, negative_fields : ndarray of object
        The reasons behind the sentences: a business field, or a reason topic of several
        (:data:`mqlml.explain.reasons.REASON_TOPICS`).
    other_points : ndarray of float
        Points of all remaining fields together.
    """

    base_score: float
    positive: np.ndarray
    positive_points: np.ndarray
    positive_fields: np.ndarray
    negative: np.ndarray
    negative_points: np.ndarray
    negative_fields: np.ndarray
    other_points: np.ndarray


def lead_reasons(
    points: pd.DataFrame,
    base_score: float,
    features: pd.DataFrame,
    spec: FeatureSpec,
    n_positive: int = 3,
    n_negative: int = 2,
) -> LeadReasons:
    """Top ``n_positive`` and ``n_negative`` reasons per lead as plain sentences.

    Reasons are the business fields, with the fields a rep reads as one thing summed into
    one topic (:data:`mqlml.explain.reasons.REASON_TOPICS`), so the named reasons carry
    most of the points. Points against what a behaviour means to sales (a click as a
    reason against the lead) are not named (:func:`mqlml.explain.reasons.against_direction`);
    they stay in ``other_points``.

    Parameters
    ----------
    points : DataFrame
        From :func:`field_points`; rows positionally aligned with ``features``.
    base_score : float
        From :func:`field_points`.
    features : DataFrame
        The leads' feature values (the sentences quote them).
    spec : FeatureSpec
        The model's feature spec.
    """
    by_reason = topic_points(points)
    nameable = by_reason.where(~against_direction(features, by_reason, spec), 0.0)
    pf, pp = signed_top(nameable, n_positive, +1)
    nf, npts = signed_top(nameable, n_negative, -1)
    shown = np.nansum(pp, axis=1) + np.nansum(npts, axis=1)
    other = points.to_numpy(dtype=float).sum(axis=1) - shown
    return LeadReasons(
        base_score=base_score,
        positive=sentences(features, pf, spec),
        positive_points=pp,
        positive_fields=pf,
        negative=sentences(features, nf, spec, lowers=True),
        negative_points=npts,
        negative_fields=nf,
        other_points=other,
    )


def explain_lead(points: pd.Series, features: pd.Series, spec: FeatureSpec) -> pd.DataFrame:
    """Every field of one lead: label, group, sentence and points, largest effect first."""
    fields = list(points.index)
    frame = pd.DataFrame([features.to_dict()])
    text = sentences(frame, np.array([fields], dtype=object), spec)[0]
    out = pd.DataFrame(
        {
            "field": fields,
            "label": [field_label(f) for f in fields],
            "group": [spec.groups[f] for f in fields],
            "reason": text,
            "points": points.to_numpy(dtype=float),
        }
    )
    return out.reindex(out["points"].abs().sort_values(ascending=False).index).reset_index(
        drop=True
    )


# --- global drivers ------------------------------------------------------------

#: Fields kept in the beeswarm / dependence sample stored with the model.
SAMPLE_FIELDS = 12
#: Leads kept in that sample.
SAMPLE_LEADS = 400
#: Most segments shown (the rest are pooled as "other").
MAX_SEGMENTS = 8
#: Fields shown per segment.
SEGMENT_FIELDS = 6


def _json_floats(a: np.ndarray, digits: int = 3) -> list:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in a]


def global_drivers(
    points: pd.DataFrame,
    features: pd.DataFrame,
    spec: FeatureSpec,
    segments: pd.Series | None = None,
    segment_column: str | None = None,
    seed: int = 0,
) -> dict:
    """Mean absolute score points per field and group, a chart sample and per-segment drivers.

    Parameters
    ----------
    points : DataFrame
        Score points per field (:func:`field_points`) of the leads to summarise (the test
        slice: the latest leads, unseen in training).
    features : DataFrame
        Their feature values, positionally aligned (for chart colours and axes).
    spec : FeatureSpec
        The model's feature spec.
    segments : Series, optional
        A segment label per lead (positionally aligned) for drivers per segment.
    segment_column : str, optional
        Name of the segment column, for the report.

    Returns
    -------
    dict
        JSON-safe: ``fields`` (rows: field, label, group, mean_abs_points, share,
        mean_points), ``groups`` (rows: group, mean_abs_points, share), ``sample``
        (points and representative values of up to :data:`SAMPLE_LEADS` leads for the
        beeswarm and dependence plots) and, with segments, ``by_segment`` rows.
    """
    vals = points.to_numpy(dtype=float)
    mean_abs = np.abs(vals).mean(axis=0) if len(vals) else np.zeros(vals.shape[1])
    total = mean_abs.sum() or 1.0
    order = np.argsort(-mean_abs, kind="stable")
    fields = [points.columns[i] for i in order]
    rows = [
        {
            "field": points.columns[i],
            "label": field_label(points.columns[i]),
            "group": spec.groups[points.columns[i]],
            "mean_abs_points": float(mean_abs[i]),
            "share": float(mean_abs[i] / total),
            "mean_points": float(vals[:, i].mean()) if len(vals) else 0.0,
        }
        for i in order
    ]
    out = {
        "fields": rows,
        "groups": _group_drivers(points, spec, mean_abs, total),
        "sample": _chart_sample(points, features, spec, fields[:SAMPLE_FIELDS], seed),
        "n_leads": len(vals),
    }
    if segments is not None:
        out["by_segment"] = _segment_drivers(points, segments, fields[:SEGMENT_FIELDS])
        out["segment_column"] = segment_column
    return out


def _group_drivers(
    points: pd.DataFrame, spec: FeatureSpec, mean_abs: np.ndarray, total: float
) -> list[dict]:
    """Rows per field group: fields, mean absolute points and share of the field effects."""
    vals = points.to_numpy(dtype=float)
    groups = []
    for g in sorted({spec.groups[f] for f in points.columns}):
        idx = [i for i, f in enumerate(points.columns) if spec.groups[f] == g]
        # A group's effect on a lead is the sum of its fields' points, then averaged.
        g_abs = float(np.abs(vals[:, idx].sum(axis=1)).mean()) if len(vals) else 0.0
        groups.append(
            {
                "group": g,
                "fields": len(idx),
                "mean_abs_points": g_abs,
                "share_of_field_effects": float(mean_abs[idx].sum() / total),
            }
        )
    return groups


def _chart_sample(
    points: pd.DataFrame,
    features: pd.DataFrame,
    spec: FeatureSpec,
    sample_fields: list[str],
    seed: int,
) -> dict:
    """Points and representative values of up to :data:`SAMPLE_LEADS` leads, for the charts."""
    rng = np.random.default_rng(seed)
    n = len(points)
    take = np.sort(rng.choice(n, size=min(SAMPLE_LEADS, n), replace=False))
    sample = {
        "fields": sample_fields,
        "labels": [field_label(f) for f in sample_fields],
        "groups": [spec.groups[f] for f in sample_fields],
        "axis": [],
        "points": [],
        "values": [],
    }
    for f in sample_fields:
        col = representative_column(f, spec)
        sample["axis"].append(representative_axis_label(f, spec) if col else None)
        sample["points"].append(_json_floats(points[f].to_numpy(dtype=float)[take], 2))
        if col is None:
            sample["values"].append(None)
        else:
            sample["values"].append(_json_floats(features[col].to_numpy(dtype=float)[take], 2))
    return sample


def _segment_drivers(
    points: pd.DataFrame, segments: pd.Series, show: list[str]
) -> list[dict]:
    """Rows per segment (largest first, the small ones pooled as "other"): mean |points|."""
    seg = pd.Series(np.asarray(segments, dtype=object)).fillna("(missing)").astype(str)
    top = seg.value_counts().index[:MAX_SEGMENTS]
    seg = seg.where(seg.isin(top), "other")
    by = []
    for name, idx in seg.groupby(seg, sort=False).groups.items():
        ix = np.asarray(idx)
        row = {"segment": name, "leads": len(ix)}
        for f in show:
            row[field_label(f)] = float(np.abs(points[f].to_numpy()[ix]).mean())
        by.append(row)
    by.sort(key=lambda r: -r["leads"])
    return by
