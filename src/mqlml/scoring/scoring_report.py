"""Drift at scoring time: how far a scored batch sits from the data the model learned on.

Training keeps a reference (:func:`reference_sample`): up to
:data:`REFERENCE_ROWS` feature rows, with their scores, drawn (seeded) from the
calibration and test slices. The booster never fit on those leads, so their scores look
like new leads' scores would if nothing had moved. At scoring time
:func:`drift_report` compares the batch with it: the PSI (:func:`mqlml.features.drift.psi`) of
every feature the model sees and of the score distribution, with a warning naming the
columns above :data:`mqlml.features.drift.PSI_WARNING`.

Features are compared as the model sees them: a category the model never saw is a missing
value there, so unseen categories are also counted per column, as raw values, separately.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from mqlml.errors import MqlmlError
from mqlml.features.build import FeatureSpec
from mqlml.features.drift import PSI_WARNING, psi, psi_table

#: Most reference rows kept in a bundle.
REFERENCE_ROWS = 5_000
#: The score column of the reference. Not ``score``: lead attributes become features, and
#: CRM exports often carry a ``score`` column of their own.
REFERENCE_SCORE = "__score__"
#: Fewest scored leads for a drift report. PSI on n rows has a noise floor of about
#: (bins - 1) / n: with 10 bins and 200 rows a stable feature stays well below 0.2,
#: while a handful of leads would "drift" on every feature.
MIN_ROWS = 200
#: Most unseen category values named per column.
UNSEEN_VALUES_NAMED = 5
#: How the score distribution is named among drifted columns.
SCORE_DISTRIBUTION = "score distribution"


def _plain(features: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text (``str``, missing kept), numbers as float: what PSI reads and
    what a Parquet round trip gives back."""
    out = {}
    for c in features.columns:
        s = features[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
            out[c] = s.astype(object).where(s.notna(), None).astype("str")
        else:
            out[c] = s.astype(float)
    return pd.DataFrame(out, index=features.index)


def reference_sample(
    features: pd.DataFrame,
    scores: np.ndarray,
    rows: np.ndarray,
    seed: int = 0,
    n: int = REFERENCE_ROWS,
) -> pd.DataFrame:
    """A seeded sample of training feature rows with their scores, kept in the bundle.

    Parameters
    ----------
    features : DataFrame
        Feature rows of the labelled leads (model columns), positional index.
    scores : ndarray
        Score (1-99) of every row of ``features``.
    rows : ndarray of int
        Positions to sample from (the slices the booster did not fit on).
    seed : int
        Seed of the sample.
    n : int
        Most rows kept.

    Returns
    -------
    DataFrame
        The feature columns (categoricals as text) and :data:`REFERENCE_SCORE`, in the
        order of ``rows``.
    """
    if REFERENCE_SCORE in features.columns:
        raise MqlmlError(
            f"leads column {REFERENCE_SCORE!r} is reserved for the model's own score; "
            "rename or drop it"
        )
    rows = np.asarray(rows, dtype=int)
    if len(rows) > n:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))
    out = _plain(features.iloc[rows]).reset_index(drop=True)
    out[REFERENCE_SCORE] = np.asarray(scores)[rows].astype(int)
    return out


def _finite_or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def drift_report(
    reference: pd.DataFrame | None,
    features: pd.DataFrame,
    scores: np.ndarray,
    spec: FeatureSpec,
    min_rows: int = MIN_ROWS,
) -> dict:
    """PSI of every feature and of the score distribution against the training reference.

    Parameters
    ----------
    reference : DataFrame or None
        From :func:`reference_sample` (the bundle's ``reference.parquet``); ``None`` for a
        bundle saved before references were kept.
    features : DataFrame
        The batch's feature rows (or a random sample of them), model columns.
    scores : ndarray
        Scores of all scored leads of the batch.
    spec : FeatureSpec
        Gives each feature's business field.
    min_rows : int
        Fewer scored leads give no drift figures (too noisy), only the reason.

    Returns
    -------
    dict
        JSON-safe: ``available``, ``psi_warning``, ``reference_rows``, ``batch_rows``,
        ``features`` (rows of ``column``, ``field``, ``psi``, ``drift``, largest PSI
        first), ``score`` (``psi``, ``drift`` of the score distribution), ``drifted`` (the
        feature columns above the warning, then :data:`SCORE_DISTRIBUTION` when the
        scores moved) and, when not available, ``reason``.
    """
    out: dict = {
        "available": False,
        "psi_warning": PSI_WARNING,
        "reference_rows": 0 if reference is None else len(reference),
        "batch_rows": len(features),
        "features": [],
        "score": {"psi": None, "drift": False},
        "drifted": [],
    }
    if reference is None:
        out["reason"] = (
            "the model bundle has no reference.parquet (saved by an older mqlml); "
            "retrain to get drift reports"
        )
        return out
    if len(scores) == 0 or len(features) == 0:
        out["reason"] = "no lead was scored"
        return out
    if len(scores) < min_rows:
        out["reason"] = (
            f"{len(scores)} scored leads are too few for a stable PSI (at least {min_rows})"
        )
        return out
    cols = [c for c in spec.columns if c in reference.columns and c in features.columns]
    table = psi_table(_plain(reference[cols]), _plain(features[cols]))
    score_psi = psi(reference[REFERENCE_SCORE].astype(float), np.asarray(scores, dtype=float))
    out["features"] = [
        {
            "column": r.column,
            "field": spec.fields.get(r.column, r.column),
            "psi": _finite_or_none(r.psi),
            "drift": bool(r.drift),
        }
        for r in table.itertuples(index=False)
    ]
    out["score"] = {"psi": _finite_or_none(score_psi), "drift": bool(score_psi > PSI_WARNING)}
    out["drifted"] = [r["column"] for r in out["features"] if r["drift"]]
    if out["score"]["drift"]:
        out["drifted"].append(SCORE_DISTRIBUTION)
    out["available"] = True
    return out


def drift_warning(report: dict) -> str | None:
    """The warning line for a drift report, naming each drifted column, or ``None``."""
    shown = [(r["column"], r["psi"]) for r in report["features"] if r["drift"]]
    if report["score"]["drift"]:
        shown.append((SCORE_DISTRIBUTION, report["score"]["psi"]))
    if not shown:
        return None
    named = ", ".join(f"{c} ({p:.2f})" for c, p in shown)
    return (
        f"drift: PSI above {report['psi_warning']:g} against the training data in "
        f"{len(shown)} column{'s' if len(shown) > 1 else ''}: {named}"
    )


def unseen_category_values(unseen: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Per column, the :data:`UNSEEN_VALUES_NAMED` most frequent unseen values and counts.

    Columns come in order of their unseen leads, most first; values likewise.
    """
    ordered = sorted(unseen.items(), key=lambda kv: -sum(kv[1].values()))
    return {c: dict(v.most_common(UNSEEN_VALUES_NAMED)) for c, v in ordered}


def unseen_category_note(unseen: dict[str, Counter[str]]) -> str:
    """One line naming, per column, its unseen values with their lead counts.

    For example ``industry (10 leads: 'Space Mining' 7, 'Zoo' 3)``; past
    :data:`UNSEEN_VALUES_NAMED` values the rest are counted ("and 4 more values").
    """
    parts = []
    for c, named in unseen_category_values(unseen).items():
        total = sum(unseen[c].values())
        values = ", ".join(f"{v!r} {k}" for v, k in named.items())
        more = len(unseen[c]) - len(named)
        if more:
            values += f" and {more} more value{'s' if more != 1 else ''}"
        parts.append(f"{c} ({total} lead{'s' if total != 1 else ''}: {values})")
    return "category values the model never saw, scored as unknown: " + ", ".join(parts)
