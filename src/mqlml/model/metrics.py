"""Model quality on a labelled slice: ranking, calibration and lift."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

_EPS = 1e-6


def lift_at(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Conversion rate among the top ``share`` of leads by ``p``, over the overall rate.

    Ties at the cut are broken by order of appearance, which is stable for a given input.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    k = max(int(np.ceil(share * len(y))), 1)
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


def classification_metrics(y, p) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, log loss and top-decile lift of probabilities ``p``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Realised labels.
    p : array-like of float
        Predicted probabilities in [0, 1].
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"y and p must have the same length, got {len(y)} and {len(p)}")
    out = {
        "n": float(len(y)),
        "n_positive": float(y.sum()),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_probability": float(p.mean()) if len(p) else float("nan"),
    }
    if len(np.unique(y)) < 2:
        out.update(
            roc_auc=np.nan, pr_auc=np.nan, brier=np.nan, log_loss=np.nan, lift_top_decile=np.nan
        )
        return out
    out["roc_auc"] = float(roc_auc_score(y, p))
    out["pr_auc"] = float(average_precision_score(y, p))
    out["brier"] = float(brier_score_loss(y, p))
    out["log_loss"] = float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1]))
    out["lift_top_decile"] = lift_at(y, p, 0.1)
    return out


def expected_calibration_error(y, p, n_bins: int = 15) -> float:
    """ECE over ``n_bins`` equal-width probability bins (weighted by bin size)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        m = bins == b
        total += m.sum() * abs(y[m].mean() - p[m].mean())
    return float(total / len(y)) if len(y) else float("nan")
