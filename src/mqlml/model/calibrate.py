"""Calibration: raw model output -> probabilities that mean what they say -> score and grade.

The mapping, documented once:

* ``probability`` is the calibrated chance that the lead reaches the target stage within
  the horizon. The calibrator (isotonic or sigmoid/Platt on the model's log-odds) is fit
  on the calibration slice only, which is later in time than everything the model saw.
* ``score = clip(round(100 * probability), 1, 99)``: a score of 30 means that about 30 in
  100 such leads convert. 0 and 100 are never shown, since no lead is certain.
* ``grade`` A-D comes from score cutoffs learned on the calibration slice
  (:class:`mqlml.model.thresholds.GradeThresholds`).
"""

from __future__ import annotations

import numpy as np
from scipy import special
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

_EPS = 1e-4
METHODS = ("auto", "isotonic", "sigmoid")


def probability_to_score(probability) -> np.ndarray:
    """Integer score 1-99 from calibrated probabilities: ``clip(round(100 p), 1, 99)``.

    Raises
    ------
    ValueError
        When a probability is NaN, which has no score (never rounded to a huge integer).
    """
    p = np.asarray(probability, dtype=float)
    if np.isnan(p).any():
        raise ValueError(f"probabilities must be numbers, got NaN in {int(np.isnan(p).sum())}")
    return np.clip(np.rint(100 * p), 1, 99).astype(int)


class ProbabilityCalibrator(BaseEstimator):
    """Map raw model log-odds to calibrated probabilities.

    Parameters
    ----------
    method : {"auto", "isotonic", "sigmoid"}
        ``auto`` fits both on the earlier part of the (time-ordered) calibration data,
        compares their log loss on the later part, then refits the winner on all of it.
        Random folds would let a calibrator learn from leads later than those it is
        judged on, which is wrong for leads ordered in time.
    selection_fraction : float
        Share of the calibration data, at its end, used to choose the method.

    Attributes
    ----------
    method_ : str
        The method in use.
    selection_log_loss_ : dict
        Log loss of each method on the selection part (``auto`` only).
    base_rate_ : float or None
        Conversion rate of the calibration data: the rate the probabilities are calibrated
        to (:mod:`mqlml.model.prior_shift`); None when rebuilt from an older bundle.
    """

    def __init__(self, method: str = "auto", *, selection_fraction: float = 0.3):
        self.method = method
        self.selection_fraction = selection_fraction

    def fit(self, raw, y) -> ProbabilityCalibrator:
        """Fit on raw log-odds ``raw`` and 0/1 labels ``y``, both in time order."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        raw = np.asarray(raw, dtype=float)
        y = np.asarray(y, dtype=float)
        if len(np.unique(y)) < 2:
            raise ValueError(
                "calibration needs both converted and unconverted leads in the calibration "
                f"slice, got {int(y.sum())} converted of {len(y)}"
            )
        self.selection_log_loss_: dict[str, float] = {}
        self.base_rate_: float | None = float(y.mean())
        method = self.method
        if method == "auto":
            cut = int(len(y) * (1 - self.selection_fraction))
            early, late = slice(0, cut), slice(cut, None)
            if len(np.unique(y[early])) < 2 or len(np.unique(y[late])) < 2:
                method = "sigmoid"
            else:
                for m in ("isotonic", "sigmoid"):
                    model = self._fit_one(m, raw[early], y[early])
                    p = np.clip(self._apply(m, model, raw[late]), _EPS, 1 - _EPS)
                    self.selection_log_loss_[m] = float(log_loss(y[late], p, labels=[0, 1]))
                method = min(self.selection_log_loss_, key=self.selection_log_loss_.get)
        self.method_ = method
        self.model_ = self._fit_one(method, raw, y)
        return self

    @staticmethod
    def _fit_one(method: str, raw: np.ndarray, y: np.ndarray):
        if method == "isotonic":
            return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        return LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)

    @staticmethod
    def _apply(method: str, model, raw: np.ndarray) -> np.ndarray:
        if method == "isotonic":
            return model.predict(raw)
        # Platt scaling, the logistic of a line in the log-odds: what predict_proba computes
        # for one feature, written out so that one lead does not pay its input checks.
        with np.errstate(over="ignore"):  # a huge line value is a probability of 0 or 1
            return special.expit(raw * model.coef_[0, 0] + model.intercept_[0])

    def predict(self, raw) -> np.ndarray:
        """Calibrated probabilities, clipped to [1e-4, 1 - 1e-4].

        Raises
        ------
        ValueError
            When ``raw`` holds NaN or infinite values (log-odds are finite numbers).
        """
        if not hasattr(self, "method_"):
            raise RuntimeError("ProbabilityCalibrator is not fitted; call fit first")
        raw = np.asarray(raw, dtype=float).reshape(-1)
        if raw.size == 0:
            return np.empty(0)
        bad = np.flatnonzero(~np.isfinite(raw))
        if len(bad):
            raise ValueError(
                "raw must be finite log-odds, got NaN or infinity in "
                f"{len(bad)} of {raw.size} values (first at position {bad[0]}: {raw[bad[0]]})"
            )
        p = self._apply(self.method_, self.model_, raw)
        return np.clip(p, _EPS, 1 - _EPS)

    def to_dict(self) -> dict:
        """The fitted mapping as plain numbers (for the model bundle)."""
        if self.method_ == "isotonic":
            params = {
                "x": self.model_.X_thresholds_.tolist(),
                "y": self.model_.y_thresholds_.tolist(),
            }
        else:
            params = {
                "coef": float(self.model_.coef_[0, 0]),
                "intercept": float(self.model_.intercept_[0]),
            }
        return {
            "method": self.method,
            "method_": self.method_,
            "selection_log_loss_": self.selection_log_loss_,
            "params": params,
            "base_rate_": getattr(self, "base_rate_", None),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ProbabilityCalibrator:
        """Rebuild a fitted calibrator from :meth:`to_dict`."""
        cal = cls(method=d["method"])
        cal.method_ = d["method_"]
        cal.selection_log_loss_ = dict(d.get("selection_log_loss_", {}))
        # Bundles from before prior-shift estimation did not record the rate.
        cal.base_rate_ = d.get("base_rate_")
        params = d["params"]
        if cal.method_ == "isotonic":
            x, y = np.asarray(params["x"]), np.asarray(params["y"])
            cal.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        else:
            lr = LogisticRegression()
            lr.classes_ = np.array([0.0, 1.0])
            lr.coef_ = np.array([[params["coef"]]])
            lr.intercept_ = np.array([params["intercept"]])
            lr.n_features_in_ = 1
            cal.model_ = lr
        return cal
