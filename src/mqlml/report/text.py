"""The training summary as terminal text: threshold policies, equal-volume comparison with
the current rules (or logistic regression) and the rolling-origin backtest.

``mqlml train`` and ``mqlml demo`` print the same tables from here.
"""

from __future__ import annotations

from mqlml.features.build import ALL_VALUES_RARE, IDENTIFIER_LIKE
from mqlml.model.summary import TrainingSummary
from mqlml.training.audit import columns_to_review


def _pct(row: dict, key: str) -> str:
    v, lo, hi = row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if v is None or v != v:
        return "–"
    return f"{v:.0%} [{lo:.0%}–{hi:.0%}]"


def _policy_lines(summary: TrainingSummary) -> list[str]:
    """The threshold policy table: what each policy's cutoff bought on the test slice."""
    lines = [
        f"{'policy':<15}{'target':>9}{'cutoff':>7}  {'MQLs/week':<17}{'MQL->SQL':<17}"
        f"{'MQL->won':<17}{'SQLs captured':<17}"
    ]
    for r in summary.threshold_policies or []:
        if "error" in r:
            lines.append(f"{r['policy']:<15} not learned: {r['error']}")
            continue
        target = r["target"]
        shown = f"{target:.0%}" if r["policy"] in ("precision", "recall") else f"{target:g}"
        mark = "*" if r["in_use"] else " "
        volume = (
            f"{r['mqls_per_week']:.0f} [{r['mqls_per_week_lo']:.0f}–{r['mqls_per_week_hi']:.0f}]"
        )
        lines.append(
            f"{r['policy'] + mark:<15}{shown:>9}{r['cutoff']:>7}  {volume:<17}"
            f"{_pct(r, 'mql_sql_rate'):<17}{_pct(r, 'mql_won_rate'):<17}"
            f"{_pct(r, 'share_sql_captured'):<17}"
        )
    return lines


def threshold_lines(s: TrainingSummary, level: float = 0.95) -> list[str]:
    """What the demo prints about thresholds: policies, equal-volume baselines, backtest."""
    out = ["", "MQL threshold policies, learned on the calibration slice, measured on the test "
           "slice", f"({level:.0%} bootstrap intervals; * = the policy in use):"]
    out += [("  " + line).rstrip() for line in _policy_lines(s)]
    eq = s.baselines_equal_volume or []
    if eq:
        ref = eq[0]
        title = "model vs current rules" if s.rules is not None else "model vs logistic regression"
        out += ["", f"{title} at equal MQL volume ({ref['mqls']:,} test-slice MQLs each):"]
        for r in eq:
            out.append(
                f"  {r['method']:<18} {r['sqls']:>5,} SQLs ({r['mql_sql_rate']:.1%})  "
                f"{r['customers']:>4,} customers   "
                f"{r['extra_sqls_vs_reference']:+,} SQLs, "
                f"{r['extra_customers_vs_reference']:+,} customers vs {ref['method']}"
            )
    bt = s.backtest
    if bt is not None:
        out += ["", f"rolling-origin backtest ({len(bt.folds)} folds; each trains only on "
                "labels known before its test period):"]
        for r in bt.folds:
            if "skipped" in r:
                out.append(f"  fold {r['fold']}: skipped ({r['skipped']})")
                continue
            out.append(
                f"  fold {r['fold']}  test {r['test_start'][:10]}..{r['test_end'][:10]}  "
                f"ROC AUC {r['roc_auc']:.3f}  MQL cutoff {r.get('mql_cutoff', '–')}  "
                f"{r.get('mqls_per_week', float('nan')):.0f} MQLs/week converting at "
                f"{r.get('mql_rate', float('nan')):.1%}"
            )
        moves = ", ".join(
            f"{m['policy']} {m['min_cutoff']}–{m['max_cutoff']}" for m in bt.movement or []
        )
        out.append(f"  learned cutoffs across folds: {moves}")
    return out


def training_notes(s: TrainingSummary) -> list[str]:
    """What ``mqlml train`` prints before its figures: what the user must read first.

    The summary's warnings (a model worse than its logistic baseline), the columns the
    leakage audit kept for review with their evidence, and the text columns left out
    for their values (identifier-like, or every value rare).
    The excluded leaky columns are said by the leakage warning itself.
    """
    out = [f"warning: {w}" for w in s.warnings or []]
    excluded = s.excluded_columns or {}
    for r in columns_to_review(s.leakage_audit, excluded):
        out.append(
            f"review: column {r['column']!r} is used, but {r['reason']} ({r['evidence']}); "
            "keep it only if it is known when a lead is scored (audit.allow_columns "
            "records that choice)"
        )
    for column, why in excluded.items():
        if why.startswith((IDENTIFIER_LIKE, ALL_VALUES_RARE)):
            out.append(f"left out: column {column!r}, {why}")
    return out


def model_choice(model: dict) -> str:
    """What the model is and how it was chosen, as a sentence ending in a space ("" for
    old bundles); ``model`` is the summary's ``model`` section as a dict."""
    search = model.get("search") or {}
    kind = model.get("kind")
    what = {
        "trees": "LightGBM trees",
        "boosted": "LightGBM trees boosted from a logistic regression",
        "linear": "a logistic regression",
        "blend": f"a blend of LightGBM trees ({search.get('tree_weight', 0):.0%}) and a "
        "logistic regression",
    }.get(kind)
    if what is None:
        return ""
    if not search:
        return f"The model is {what}, with the configured settings. "
    return (
        f"The model is {what}: of {search['trials']} LightGBM settings, a logistic "
        "regression and their blends, it best predicted the newest "
        f"{len(search['fold_trees'])} periods of the training slice "
        f"({search['fold_rows']:,} leads), each from the leads before it. "
    )
