"""A linear base under the trees: logistic regression whose effects extrapolate.

Trees predict flat beyond the range they saw; when the market moves (a rate falls below
anything in the history), a linear effect keeps going the way the history pointed. With
``model.linear_base`` the boosted trees start from this model's log-odds
(LightGBM's ``init_score``) and learn only what it misses.

The model is additive per feature column, so its exact SHAP value for a column is the
column's term minus the term's mean over the training rows: reasons stay exact.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from mqlml.features.build import FeatureSpec

#: Categorical levels seen on fewer training rows share the reference level with missing.
MIN_LEVEL_ROWS = 10


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class LinearBase:
    """Logistic regression on the model's feature matrix, one additive term per column.

    Numbers are imputed with the training median (with a missing flag when any are
    missing) and standardised; the engineered activity features (counts, days since) are
    log-scaled first (``sign(x) log(1 + |x|)``: counts of 0, 3 and 300 stay in reach),
    the lead's own numeric attributes are not (a rate or an index keeps its scale, so its
    effect extrapolates linearly). Categorical levels are one-hot, with missing, rare and
    unseen levels as the reference.

    Parameters
    ----------
    C : float
        Inverse L2 strength of :class:`sklearn.linear_model.LogisticRegression`.
    max_iter : int
        Solver iterations.

    Attributes
    ----------
    intercept_ : float
    columns_ : list of dict
        Per feature column: ``kind`` (``numeric`` / ``categorical``) and its learned
        transform and coefficients.
    expected_terms_ : ndarray
        Mean of each column's term over the training rows (SHAP's base of the column).
    tree_weight_ : float
        How the model's log-odds combine: ``tree_weight_ * trees + this model's``. 1 when the
        trees are boosted from this base (the default); a blend of independently fit trees
        and this model sets it with :meth:`blended` (0: the linear model alone).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000):
        self.C = C
        self.max_iter = max_iter
        self.tree_weight_ = 1.0

    def fit(self, X: np.ndarray, y, spec: FeatureSpec, sample_weight=None) -> LinearBase:
        """Fit on the model's feature matrix (:func:`mqlml.features.build.to_matrix`)."""
        X = np.asarray(X, dtype=float)
        self.columns_ = []
        blocks = []
        for j, name in enumerate(spec.columns):
            x = X[:, j]
            if name in spec.categorical:
                codes, counts = np.unique(x[~np.isnan(x)], return_counts=True)
                levels = codes[counts >= MIN_LEVEL_ROWS]
                self.columns_.append({"kind": "categorical", "levels": levels.tolist()})
            else:
                missing = np.isnan(x)
                median = float(np.median(x[~missing])) if (~missing).any() else 0.0
                log = name not in spec.numeric_attributes
                filled = np.where(missing, median, x)
                z = _signed_log1p(filled) if log else filled
                mean, scale = float(z.mean()), float(z.std())
                self.columns_.append(
                    {
                        "kind": "numeric",
                        "median": median,
                        "log": log,
                        "mean": mean,
                        "scale": scale if scale > 0 else 1.0,
                        "flag_missing": bool(missing.any()),
                    }
                )
            blocks.append(self._design(j, x))
        design = np.column_stack(blocks) if blocks else np.empty((len(X), 0))
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        lr.fit(design, np.asarray(y, dtype=int), sample_weight=sample_weight)
        coef = lr.coef_[0]
        at = 0
        for j, col in enumerate(self.columns_):
            width = blocks[j].shape[1]
            col["coef"] = coef[at : at + width].tolist()
            at += width
        self.intercept_ = float(lr.intercept_[0])
        self.expected_terms_ = self.column_terms(X).mean(axis=0)
        return self

    def blended(self, tree_weight: float) -> LinearBase:
        """This fitted model as the linear part of a blend: log-odds
        ``tree_weight * trees + (1 - tree_weight) * this model's``.

        The coefficients are scaled by ``1 - tree_weight`` (the terms stay additive, so SHAP
        values stay exact) and ``tree_weight_`` is set; 0 keeps this model alone.
        """
        if not 0.0 <= tree_weight <= 1.0:
            raise ValueError(f"tree_weight must be between 0 and 1, got {tree_weight}")
        out = LinearBase.from_dict(self.to_dict())
        scale = 1.0 - tree_weight
        out.intercept_ = self.intercept_ * scale
        out.columns_ = [{**c, "coef": [v * scale for v in c["coef"]]} for c in self.columns_]
        out.expected_terms_ = self.expected_terms_ * scale
        out.tree_weight_ = float(tree_weight)
        return out

    def _design(self, j: int, x: np.ndarray) -> np.ndarray:
        col = self.columns_[j]
        if col["kind"] == "categorical":
            levels = np.asarray(col["levels"], dtype=float)
            return (x[:, None] == levels[None, :]).astype(float)
        missing = np.isnan(x)
        filled = np.where(missing, col["median"], x)
        z = ((_signed_log1p(filled) if col["log"] else filled) - col["mean"]) / col["scale"]
        return np.column_stack([z, missing.astype(float)]) if col["flag_missing"] else z[:, None]

    def column_terms(self, X: np.ndarray) -> np.ndarray:
        """Each column's additive term of the log-odds, shape ``(n_rows, n_columns)``."""
        X = np.asarray(X, dtype=float)
        terms = np.empty(X.shape)
        for j, col in enumerate(self.columns_):
            terms[:, j] = self._design(j, X[:, j]) @ np.asarray(col["coef"], dtype=float)
        return terms

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of conversion."""
        return self.intercept_ + self.column_terms(X).sum(axis=1)

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """Exact SHAP values per column and the base value (mean log-odds of training)."""
        terms = self.column_terms(X) - self.expected_terms_
        return terms, float(self.intercept_ + self.expected_terms_.sum())

    def to_dict(self) -> dict:
        """A JSON-safe dict of the fitted model."""
        return {
            "C": self.C,
            "max_iter": self.max_iter,
            "intercept_": self.intercept_,
            "columns_": self.columns_,
            "expected_terms_": self.expected_terms_.tolist(),
            "tree_weight_": self.tree_weight_,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LinearBase:
        """Inverse of :meth:`to_dict`."""
        out = cls(C=d["C"], max_iter=d["max_iter"])
        out.intercept_ = float(d["intercept_"])
        out.columns_ = [dict(c) for c in d["columns_"]]
        out.expected_terms_ = np.asarray(d["expected_terms_"], dtype=float)
        # Bundles from before blends: the trees were boosted from this base.
        out.tree_weight_ = float(d.get("tree_weight_", 1.0))
        return out
