"""Population stability: how far a column's distribution moved between two samples.

PSI (population stability index) compares the share of rows per bin in a reference
sample (``expected``, e.g. the training data) with a new one (``actual``):

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)

Numeric columns are binned at the reference's quantiles (``n_bins``, default 10, fewer
when values tie); values outside the reference range fall in the end bins, which is
where a shift shows. Other columns use one bin per reference category plus one for
categories never seen in the reference. Missing values have a bin of their own in both
cases, so a column that starts arriving empty drifts too. Empty bins get a share of
``1e-4`` so the logarithm stays finite. Rule of thumb: below 0.1 stable, 0.1-0.2 a
moderate shift, above 0.2 (:data:`PSI_WARNING`) a shift worth acting on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

#: PSI above this is reported as drift.
PSI_WARNING = 0.2
_FLOOR = 1e-4


def _shares(codes: np.ndarray, n_codes: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_codes).astype(float)
    total = counts.sum()
    shares = counts / total if total else np.zeros(n_codes)
    return np.maximum(shares, _FLOOR)


def _numeric_codes(
    expected: np.ndarray, actual: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, int]:
    ref = expected[np.isfinite(expected)]
    if len(ref):
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))
    else:
        edges = np.empty(0)
    n_value_bins = len(edges) + 1

    def code(x: np.ndarray) -> np.ndarray:
        out = np.searchsorted(edges, x, side="right")
        return np.where(np.isnan(x), n_value_bins, out)

    return code(expected), code(actual), n_value_bins + 1


def _category_codes(expected: pd.Series, actual: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    levels = pd.Index(expected.dropna().astype(str).unique())
    n = len(levels)

    def code(s: pd.Series) -> np.ndarray:
        text = s.astype(str).where(s.notna(), None)
        idx = levels.get_indexer(text)
        idx = np.where(idx < 0, n, idx)  # unseen category
        return np.where(s.isna().to_numpy(), n + 1, idx)

    return code(expected), code(actual), n + 2


def psi(expected, actual, n_bins: int = 10) -> float:
    """Population stability index of ``actual`` against the reference ``expected``.

    Parameters
    ----------
    expected, actual : array-like or Series
        The reference sample (e.g. training rows) and the new one (e.g. a scoring batch).
        Numeric when both are numeric (booleans count as numeric), else categorical.
    n_bins : int
        Quantile bins of the reference for numeric columns.

    Returns
    -------
    float
        0 for identical distributions, larger the more they differ; NaN when either
        sample is empty.
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be an integer of at least 2, got {n_bins}")
    e = pd.Series(expected).reset_index(drop=True)
    a = pd.Series(actual).reset_index(drop=True)
    if len(e) == 0 or len(a) == 0:
        return float("nan")
    numeric = all(is_numeric_dtype(s) or is_bool_dtype(s) for s in (e, a))
    if numeric:
        ec, ac, k = _numeric_codes(
            e.astype(float).to_numpy(), a.astype(float).to_numpy(), n_bins
        )
    else:
        ec, ac, k = _category_codes(e, a)
    pe, pa = _shares(ec, k), _shares(ac, k)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def psi_table(expected: pd.DataFrame, actual: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """PSI of every column the two frames share, largest first.

    Returns
    -------
    DataFrame
        Columns ``column``, ``psi`` and ``drift`` (``psi > PSI_WARNING``).
    """
    cols = [c for c in expected.columns if c in actual.columns]
    values = [psi(expected[c], actual[c], n_bins) for c in cols]
    out = pd.DataFrame({"column": cols, "psi": values})
    out["drift"] = out["psi"] > PSI_WARNING
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)
