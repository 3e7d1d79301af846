"""Chart data of a test slice: ROC, gains, calibration bins, score histogram, deciles."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve


def _r(v: float, digits: int = 4):
    return None if v is None or not np.isfinite(v) else round(float(v), digits)


def evaluation_summary(y, probability, baseline_probability=None, n_points: int = 101) -> dict:
    """Chart data of the test slice: ROC, gains, calibration bins, score histogram, deciles.

    Parameters
    ----------
    y : array-like of {0, 1}
        Test labels.
    probability : array-like
        The model's calibrated probabilities.
    baseline_probability : array-like, optional
        The logistic baseline's, drawn beside the model on the ROC and gains charts.

    Returns
    -------
    dict
        JSON-safe, the summary key ``evaluation``.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(probability, dtype=float)
    out: dict = {"n": len(y), "positives": int(y.sum())}
    two = len(np.unique(y)) == 2

    def _roc(q):
        fpr, tpr, _ = roc_curve(y, q)
        grid = np.linspace(0, 1, n_points)
        return {"fpr": [_r(v) for v in grid], "tpr": [_r(v) for v in np.interp(grid, fpr, tpr)]}

    def _gains(q):
        order = np.argsort(-q, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(y[order])]) / max(y.sum(), 1.0)
        share = np.linspace(0, 1, n_points)
        idx = np.rint(share * len(y)).astype(int)
        return {
            "share_of_leads": [_r(v) for v in share],
            "share_of_conversions": [_r(v) for v in cum[idx]],
        }

    if two:
        out["roc"] = {"model": _roc(p)}
        out["gains"] = {"model": _gains(p)}
        if baseline_probability is not None:
            b = np.asarray(baseline_probability, dtype=float)
            out["roc"]["logistic baseline"] = _roc(b)
            out["gains"]["logistic baseline"] = _gains(b)
    bins = pd.qcut(p, q=min(10, max(len(np.unique(p)), 1)), duplicates="drop", labels=False)
    g = pd.DataFrame({"p": p, "y": y, "b": bins}).groupby("b")
    out["calibration"] = [
        {"mean_probability": _r(r.p), "conversion_rate": _r(r.y), "leads": int(n)}
        for (_, r), n in zip(g.mean().iterrows(), g.size(), strict=True)
    ]
    score = np.clip(np.rint(100 * p), 1, 99).astype(int)
    out["score_histogram"] = {
        "converted": np.bincount(score[y == 1], minlength=100)[1:100].tolist(),
        "not_converted": np.bincount(score[y == 0], minlength=100)[1:100].tolist(),
    }
    order = np.argsort(-p, kind="stable")
    base = y.mean() if len(y) else float("nan")
    out["deciles"] = [
        {
            "decile": i + 1,
            "leads": len(ix),
            "min_score": int(score[order][ix].min()),
            "conversion_rate": _r(y[order][ix].mean()),
            "lift": _r(y[order][ix].mean() / base) if base else None,
        }
        for i, ix in enumerate(np.array_split(np.arange(len(y)), 10))
        if len(ix)
    ]
    return out
