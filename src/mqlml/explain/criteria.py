"""Criteria refinement: data-driven MQL rules and a learned points scorecard.

Teams score leads by hand in their marketing automation tool: points per attribute
value or activity count band, and an MQL threshold. This module turns the model's top
fields into that form, so a team can move its manual criteria toward what the data says:

* **Rules** such as "Visited the pricing page at least twice in the last 30 days", each
  with its support (share of leads), conversion rate and lift over the base rate. Rules
  are chosen on the training slice and measured on the test slice (the latest leads).
* **A points scorecard**: integer points per band of the top fields, learned by an
  L2-regularised logistic regression on the training slice and scaled so that every
  :data:`POINTS_TO_DOUBLE_ODDS` points double the odds of converting. Where the
  direction is known the points keep to it: a higher activity count never earns fewer
  points, a more recent last activity never fewer than an older one. The MQL threshold
  gives the same number of MQLs as the model's cutoff on the calibration slice. Its
  ROC AUC on the test slice stands beside the model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.metrics import roc_auc_score

from mqlml.explain.reasons import activity_phrases, level_sentence, times
from mqlml.features.build import OTHER_ACTIVITY, FeatureSpec, field_label

#: Scorecard scaling: this many points double the odds of converting.
POINTS_TO_DOUBLE_ODDS = 10
#: Count thresholds tried for activity rules and bands.
COUNT_CUTS = (1, 2, 3, 5, 10, 20)
#: Recency cut-offs (days since the last activity) tried for rules and bands.
RECENCY_CUTS = (1, 3, 7, 14, 30)


@dataclass(frozen=True)
class Rule:
    """One criterion on one business field: which leads it selects, in words."""

    field: str
    text: str
    mask: np.ndarray


def _is_activity(field: str, spec: FeatureSpec) -> bool:
    return field in (*spec.activity_types, OTHER_ACTIVITY)


def _count_column(field: str, w: int) -> str:
    return f"n_all_{w}d" if field == "engagement" else f"n_{field}_{w}d"


def count_band_text(field: str, lo: float, hi: float, w: int) -> str:
    """Words for ``lo <= count < hi`` of a count field in the last ``w`` days."""
    if field == "engagement":
        if lo == 0 and hi == 1:
            return f"No activity in the last {w} days"
        if math.isinf(hi):
            return f"At least {int(lo)} activities in the last {w} days"
        if hi == lo + 1:
            return f"{int(lo)} {'activity' if lo == 1 else 'activities'} in the last {w} days"
        return f"{int(lo)}–{int(hi) - 1} activities in the last {w} days"
    does, never = activity_phrases(field)
    if lo == 0 and hi == 1:
        return f"{never} in the last {w} days"
    if math.isinf(hi):
        return f"{does} at least {times(lo)} in the last {w} days"
    if hi == lo + 1:
        return f"{does} {times(lo)} in the last {w} days"
    return f"{does} {int(lo)}–{int(hi) - 1} times in the last {w} days"


def candidate_rules(features: pd.DataFrame, field: str, spec: FeatureSpec) -> list[Rule]:
    """Every simple criterion tried for ``field`` (thresholds, windows, levels)."""
    rules: list[Rule] = []
    if _is_activity(field, spec) or field == "engagement":
        for w in spec.windows_days:
            x = features[_count_column(field, w)].to_numpy(dtype=float)
            for k in COUNT_CUTS:
                rules.append(Rule(field, count_band_text(field, k, math.inf, w), x >= k))
        w = spec.windows_days[-1]
        x = features[_count_column(field, w)].to_numpy(dtype=float)
        rules.append(Rule(field, count_band_text(field, 0, 1, w), x == 0))
    elif field == "recency":
        d = features["days_since_last_activity"].to_numpy(dtype=float)
        for k in RECENCY_CUTS:
            rules.append(
                Rule(field, f"Active in the last {k} {'day' if k == 1 else 'days'}", d <= k)
            )
        rules.append(Rule(field, "No activity yet", np.isnan(d)))
    elif field in spec.categorical:
        s = features[field]
        for level in spec.categorical[field]:
            rules.append(Rule(field, level_sentence(field, level), (s == level).to_numpy()))
    elif field in spec.numeric_attributes:
        x = features[field].to_numpy(dtype=float)
        for q in (
            np.unique(np.nanquantile(x, [0.25, 0.5, 0.75, 0.9])) if np.isfinite(x).any() else []
        ):
            rules.append(Rule(field, f"{field_label(field)} at least {q:g}", x >= q))
    return rules


def _stats(mask: np.ndarray, y: np.ndarray) -> dict:
    n = int(mask.sum())
    base = float(y.mean()) if len(y) else float("nan")
    rate = float(y[mask].mean()) if n else float("nan")
    return {
        "leads": n,
        "support": n / len(y) if len(y) else float("nan"),
        "conversion_rate": rate,
        "lift": rate / base if n and base > 0 else float("nan"),
        "share_of_conversions": float(y[mask].sum() / y.sum()) if y.sum() else float("nan"),
    }


def refine_rules(
    features: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    fields: list[str],
    spec: FeatureSpec,
    min_support: float = 0.02,
    min_leads: int = 30,
    per_field: int = 2,
) -> list[dict]:
    """The best criteria per field, chosen on ``train`` rows and measured on ``test`` rows.

    Per field: the ``per_field`` rules with the highest lift on the training slice
    among those selecting at least ``min_support`` of its leads (and ``min_leads``), plus
    the rule with the lowest lift when it is below 1 (a disqualifier).

    Returns
    -------
    list of dict
        Rows: field, group, rule, then test-slice leads, support, conversion_rate,
        lift, share_of_conversions, and the training slice's lift (train_lift).
    """
    y = np.asarray(y, dtype=float)
    rows = []
    for f in fields:
        scored = _rules_by_train_lift(features, f, spec, y, train, min_support, min_leads)
        if not scored:
            continue
        chosen = [t for t in scored[:per_field] if t[0] > 1]
        if scored[-1][0] < 1:
            chosen.append(scored[-1])
        seen = set()
        for train_lift, r in chosen:
            if r.text in seen:
                continue
            seen.add(r.text)
            rows.append(
                {
                    "field": field_label(f),
                    "group": spec.groups[f],
                    "rule": r.text,
                    **_stats(r.mask[test], y[test]),
                    "train_lift": train_lift,
                }
            )
    return rows


def _rules_by_train_lift(
    features: pd.DataFrame,
    field: str,
    spec: FeatureSpec,
    y: np.ndarray,
    train: np.ndarray,
    min_support: float,
    min_leads: int,
) -> list[tuple[float, Rule]]:
    """(train lift, rule) of the field's distinct, well-supported rules, highest lift first."""
    scored = []
    masks: set[bytes] = set()
    for r in candidate_rules(features, field, spec):
        # Windows often select the same leads: keep the first (shortest) wording only.
        key = np.packbits(r.mask[train]).tobytes()
        if key in masks:
            continue
        masks.add(key)
        st = _stats(r.mask[train], y[train])
        if (
            st["leads"] >= min_leads
            and st["support"] >= min_support
            and st["lift"] == st["lift"]
        ):
            scored.append((st["lift"], r))
    scored.sort(key=lambda t: -t[0])
    return scored


# --- points scorecard -----------------------------------------------------------


def _count_bands(x: np.ndarray, train: np.ndarray, min_support: float) -> list[tuple]:
    """Bands [lo, hi) of a count, each holding at least ``min_support`` of train leads."""
    xt = x[train]
    edges = [0.0]
    for k in COUNT_CUTS:
        if np.mean((xt >= edges[-1]) & (xt < k)) >= min_support and np.mean(xt >= k) >= min_support:
            edges.append(float(k))
    return [(lo, hi) for lo, hi in zip(edges, [*edges[1:], math.inf], strict=True)]


def scorecard_bands(
    features: pd.DataFrame, field: str, spec: FeatureSpec, train: np.ndarray, min_support: float
) -> list[tuple[str, np.ndarray]]:
    """(condition in words, mask) per band of ``field``; bands cover every lead once."""
    bands: list[tuple[str, np.ndarray]] = []
    if _is_activity(field, spec) or field == "engagement":
        w = 30 if 30 in spec.windows_days else spec.windows_days[-1]
        x = np.nan_to_num(features[_count_column(field, w)].to_numpy(dtype=float))
        for lo, hi in _count_bands(x, train, min_support):
            bands.append((count_band_text(field, lo, hi, w), (x >= lo) & (x < hi)))
    elif field == "recency":
        d = features["days_since_last_activity"].to_numpy(dtype=float)
        none = np.isnan(d)
        dd = np.where(none, np.inf, d)
        bands.append(("Active in the last 7 days", dd <= 7))
        bands.append(("Last active 8–30 days ago", (dd > 7) & (dd <= 30)))
        bands.append(("Last active over 30 days ago", (dd > 30) & ~none))
        bands.append(("No activity yet", none))
    elif field in spec.categorical:
        s = features[field].astype(object)
        rest = np.ones(len(s), dtype=bool)
        for level in spec.categorical[field]:
            m = (s == level).to_numpy(dtype=bool)
            if m[train].mean() >= min_support:
                bands.append((level_sentence(field, level), m))
                rest &= ~m
        if rest.any():
            bands.append((f"{field_label(field)}: any other value", rest))
    elif field in spec.numeric_attributes:
        x = features[field].to_numpy(dtype=float)
        qs = (
            np.unique(np.nanquantile(x[train], [0.25, 0.5, 0.75]))
            if np.isfinite(x[train]).any()
            else np.array([])
        )
        edges = [-math.inf, *qs.tolist(), math.inf]
        label = field_label(field)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            bands.append((f"{label} from {lo:g} to below {hi:g}", (x >= lo) & (x < hi)))
        bands.append((f"{label} not known", np.isnan(x)))
    return [(t, m) for t, m in bands if m.any()]


def learn_scorecard(
    features: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    calibration: np.ndarray,
    test: np.ndarray,
    fields: list[str],
    spec: FeatureSpec,
    model_score: np.ndarray,
    mql_cutoff: int,
    min_support: float = 0.02,
) -> dict:
    """Integer points per band of ``fields`` plus an MQL threshold, and how well it ranks.

    Parameters
    ----------
    features, y : DataFrame, ndarray
        All labelled leads (positional slices ``train``, ``calibration``, ``test``).
    fields : list of str
        Business fields to score (the model's top drivers).
    model_score : ndarray of int
        The model's scores of the same leads, for the equal-volume comparison.
    mql_cutoff : int
        The model's MQL cutoff; the scorecard's threshold gives the same MQL count on the
        calibration slice.

    Returns
    -------
    dict
        JSON-safe: ``rows`` (field, rule, points, train_share), ``threshold``,
        ``points_to_double_odds``, ``roc_auc_test``, ``model_roc_auc_test`` and
        ``equal_volume`` (rows: method, mqls, conversions, conversion_rate on test).
    """
    y = np.asarray(y, dtype=float)
    bands = _reference_bands(features, fields, spec, train, min_support)
    if not bands:
        return {}
    rows, total = _fit_points(bands, y, train)
    threshold = _equal_volume_threshold(total[calibration], model_score[calibration], mql_cutoff)
    yt = y[test]
    two = len(np.unique(yt)) == 2
    auc = float(roc_auc_score(yt, total[test])) if two else float("nan")
    model_auc = float(roc_auc_score(yt, model_score[test])) if two else float("nan")
    return {
        "rows": rows,
        "threshold": threshold,
        "points_to_double_odds": POINTS_TO_DOUBLE_ODDS,
        "roc_auc_test": auc,
        "model_roc_auc_test": model_auc,
        "equal_volume": _equal_volume_rows(
            yt, model_score[test] >= mql_cutoff, total[test], threshold
        ),
    }


def _field_direction(field: str, spec: FeatureSpec) -> int:
    """+1: the field's bands run from worst to best (more activity never scores lower);
    -1: from best to worst (recency bands, most recent first); 0: no known order."""
    if _is_activity(field, spec) or field == "engagement":
        return 1
    return -1 if field == "recency" else 0


def _reference_bands(
    features: pd.DataFrame,
    fields: list[str],
    spec: FeatureSpec,
    train: np.ndarray,
    min_support: float,
) -> list[tuple[str, str, np.ndarray, bool, int]]:
    """(field, condition, mask, is reference, direction) per band of the fields with two
    bands or more, ordered fields listed from their worst band to their best."""
    bands = []
    for f in fields:
        fb = scorecard_bands(features, f, spec, train, min_support)
        if len(fb) < 2:
            continue
        direction = _field_direction(f, spec)
        if direction:
            # Ordered fields: the worst band is the reference, every better band adds points.
            fb = fb if direction > 0 else fb[::-1]
            ref = 0
        else:
            # The most common band is the reference (0 points); the others are relative to it.
            ref = int(np.argmax([m[train].sum() for _, m in fb]))
        for i, (t, m) in enumerate(fb):
            bands.append((f, t, m, i == ref, direction))
    return bands


def _design(bands: list[tuple]) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Columns of the points model, their lower bounds, and each band's columns.

    A free band is its own indicator. A band of an ordered field adds a step, "at least
    this good", whose weight may not be negative: its points, the sum of the steps up to
    it, never fall from a worse band to a better one.
    """
    columns, lower, members = [], [], []
    steps: dict[str, list[int]] = {}
    for i, (f, _, m, is_ref, direction) in enumerate(bands):
        if is_ref:
            steps[f] = []
            members.append([])
        elif direction:
            # Bands of a field are consecutive and listed worst first: this one and after.
            rest = [b[2] for b in bands[i:] if b[0] == f]
            columns.append(np.any(rest, axis=0))
            lower.append(0.0)
            steps[f] = [*steps[f], len(columns) - 1]
            members.append(list(steps[f]))
        else:
            columns.append(m)
            lower.append(-np.inf)
            members.append([len(columns) - 1])
    X = np.column_stack(columns).astype(float) if columns else np.zeros((len(bands[0][2]), 0))
    return X, np.asarray(lower), members


def _bounded_logistic(X: np.ndarray, y: np.ndarray, lower: np.ndarray, c: float = 1.0):
    """L2-regularised logistic regression (as scikit-learn's, ``C=c``) whose weights keep
    to ``lower`` bounds: (intercept, weights)."""

    def loss(theta):
        b, w = theta[0], theta[1:]
        z = b + X @ w
        p = 1.0 / (1.0 + np.exp(-z))
        nll = np.sum(np.logaddexp(0.0, z) - y * z)
        r = p - y
        grad = np.concatenate([[c * r.sum()], c * (X.T @ r) + w])
        return c * nll + 0.5 * w @ w, grad

    bounds = [(None, None)] + [(None if np.isinf(lo) else lo, None) for lo in lower]
    theta0 = np.zeros(X.shape[1] + 1)
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return res.x[0], res.x[1:]


def _fit_points(
    bands: list[tuple], y: np.ndarray, train: np.ndarray
) -> tuple[list[dict], np.ndarray]:
    """Scorecard rows (field, rule, points, train_share) and every lead's total points."""
    X, lower, members = _design(bands)
    _, w = _bounded_logistic(X[train], y[train].astype(float), lower)
    scale = POINTS_TO_DOUBLE_ODDS / math.log(2)
    rows, total = [], np.zeros(len(y), dtype=int)
    for (f, t, m, _, _), cols in zip(bands, members, strict=True):
        p = int(np.rint(w[cols].sum() * scale)) if cols else 0
        total += p * m.astype(int)
        rows.append(
            {
                "field": field_label(f),
                "rule": t,
                "points": p,
                "train_share": float(m[train].mean()),
            }
        )
    return rows, total


def _equal_volume_threshold(
    cal_totals: np.ndarray, cal_model_score: np.ndarray, mql_cutoff: int
) -> int:
    """The lowest points threshold giving at most the model's MQL count on calibration."""
    n_model_cal = int((cal_model_score >= mql_cutoff).sum())
    candidates = np.unique(cal_totals)
    ok = [c for c in candidates if (cal_totals >= c).sum() <= n_model_cal]
    return int(min(ok)) if ok else int(candidates.max()) + 1


def _equal_volume_rows(
    yt: np.ndarray, model_sel: np.ndarray, card_total: np.ndarray, threshold: int
) -> list[dict]:
    """:func:`_volume` rows on test: the model's MQLs, the scorecard's and as many by points."""
    card_sel = card_total >= threshold
    # At exactly the model's MQL count on test: the scorecard's best leads by points.
    order = np.argsort(-card_total, kind="stable")
    card_same = np.zeros(len(yt), dtype=bool)
    card_same[order[: int(model_sel.sum())]] = True
    return [
        _volume("model (score ≥ cutoff)", model_sel, yt),
        _volume("points scorecard at its threshold", card_sel, yt),
        _volume("points scorecard, same number of MQLs as the model", card_same, yt),
    ]


def _volume(name: str, selected: np.ndarray, yt: np.ndarray) -> dict:
    """JSON-safe row: how many test leads ``selected`` picks and how many of them convert."""
    n = int(selected.sum())
    return {
        "method": name,
        "mqls": n,
        "conversions": int(yt[selected].sum()),
        "conversion_rate": float(yt[selected].mean()) if n else float("nan"),
        "share_of_conversions": float(yt[selected].sum() / yt.sum()) if yt.sum() else 0.0,
    }


def scorecard_table(scorecard: dict) -> pd.DataFrame:
    """The scorecard as the table to export (CSV): field, rule, points; threshold last."""
    rows = [{k: r[k] for k in ("field", "rule", "points")} for r in scorecard["rows"]]
    rows.append(
        {
            "field": "MQL threshold",
            "rule": f"total points at least {scorecard['threshold']}",
            "points": scorecard["threshold"],
        }
    )
    return pd.DataFrame(rows, columns=["field", "rule", "points"])


def criteria_summary(
    features: pd.DataFrame,
    y: np.ndarray,
    slices: dict[str, np.ndarray],
    spec: FeatureSpec,
    top_fields: list[str],
    model_score: np.ndarray,
    mql_cutoff: int,
    n_rule_fields: int = 8,
    n_scorecard_fields: int = 6,
) -> dict:
    """Summary keys ``criteria_rules`` and ``scorecard`` for the training summary.

    ``slices`` holds positional ``train``, ``calibration`` and ``test`` indices.
    """
    rules = refine_rules(
        features, y, slices["train"], slices["test"], top_fields[:n_rule_fields], spec
    )
    card = learn_scorecard(
        features,
        y,
        slices["train"],
        slices["calibration"],
        slices["test"],
        top_fields[:n_scorecard_fields],
        spec,
        np.asarray(model_score),
        mql_cutoff,
    )
    return {"criteria_rules": rules, "scorecard": card}
