"""The report's first screen: what a leader reads in two minutes.

How well the model ranks leads against the current rules (one figure), what the MQL line is
and what it yields a week, the three criteria changes the data supports most (add, drop,
re-weight) with their evidence, and a what-if of moving the MQL line. Every figure comes from
the test slice of the summary (leads the model never saw).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Literal

from mqlml.features.build import DERIVED_FIELDS, field_label

#: A criterion must hold for at least this share of the test leads to be proposed.
MIN_SUPPORT = 0.02
#: ... and convert at least this many times the average rate to be worth adding.
MIN_ADD_LIFT = 1.5
#: A line of the current sheet whose leads convert below this lift earns no positive points.
MAX_DROP_LIFT = 1.25


@dataclass(frozen=True)
class CriteriaChange:
    """One change to the MQL criteria and the evidence for it."""

    kind: Literal["add", "drop", "re-weight"]
    criterion: str
    evidence: str


@dataclass(frozen=True)
class Bar:
    """One bar of the first screen's figure."""

    label: str
    value: int
    width: float  # percent of the longest bar
    is_model: bool


@dataclass(frozen=True)
class FirstScreen:
    """Everything the first screen shows."""

    ranking: str
    mql: str
    bars: list[Bar]
    bars_caption: str
    changes: list[CriteriaChange]
    what_if_json: str | None
    cutoff: int | None


def _pct(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:.0%}"


def _bars(summary: dict) -> tuple[list[Bar], str]:
    rows = summary.get("baselines_equal_volume") or []
    if not rows:
        return [], ""
    names = {
        "current_rules": "Current rules",
        "model": "mqlml model",
        "logistic_baseline": "Logistic regression",
    }
    top = max(r["sqls"] for r in rows) or 1
    bars = [
        Bar(names.get(r["method"], r["method"]), int(r["sqls"]), 100 * r["sqls"] / top,
            r["method"] == "model")
        for r in rows
    ]
    caption = (
        f"SQLs found among the same number of MQLs ({rows[0]['mqls']:,} test-slice leads each)"
    )
    return bars, caption


def ranking_sentence(summary: dict) -> str:
    """How well the model ranks leads, against the current rules when the team gave them."""
    rows = {r["method"]: r for r in summary.get("baselines_equal_volume") or []}
    model = summary["metrics_test"]["model"]
    auc = f"ROC AUC {model['roc_auc']:.3f} on {int(model['n']):,} leads it never saw"
    rules, mine = rows.get("current_rules"), rows.get("model")
    if rules and mine and rules["sqls"]:
        gain = mine["sqls"] / rules["sqls"] - 1
        return (
            f"Given as many MQLs as the current rules pick ({rules['mqls']:,}), the model finds "
            f"{mine['sqls']:,} SQLs against the rules' {rules['sqls']:,} "
            f"({gain:+.0%}; {auc})."
        )
    return (
        f"The model ranks leads with {auc}; its top 10% convert at "
        f"{model['lift_top_decile']:.1f}× the average rate. Give the current MQL rules "
        "(--rules) to compare them here."
    )


def mql_sentence(summary: dict) -> str:
    """The MQL line and what it yields per week on the test period."""
    mql = summary.get("mql_threshold")
    if not mql:
        return "No MQL line was learned for this model."
    t = mql["test"]
    per_week = t["mqls_per_week"]
    rate = _number(t["mql_conversion_rate"])
    if rate is None:  # no MQL in the test period: no rate to quote
        return (
            f"The MQL line is score ≥ {mql['cutoff']}: about {per_week:.0f} MQLs a week; none "
            "fell in the test period, so their SQL rate is not measured."
        )
    return (
        f"The MQL line is score ≥ {mql['cutoff']}: about {per_week:.0f} MQLs a week, of which "
        f"{_pct(rate)} become SQLs (about {per_week * rate:.0f} a week), capturing "
        f"{_pct(t['share_of_conversions_captured'])} of all conversions."
    )


def _sheet_fields(summary: dict) -> set[str]:
    """Business-field labels the current rules already score."""
    lines = (summary.get("rules") or {}).get("lines") or []
    fields = set()
    for line in lines:
        for f in DERIVED_FIELDS.get(line["field"], (line["field"],)):
            fields.add(field_label(f))
    return fields


def _add(summary: dict) -> CriteriaChange | None:
    covered = _sheet_fields(summary)
    candidates = [
        r
        for r in summary.get("criteria_rules") or []
        if r["field"] not in covered
        and r["support"] >= MIN_SUPPORT
        and r["lift"] >= MIN_ADD_LIFT
        and r.get("train_lift", r["lift"]) >= MIN_ADD_LIFT
    ]
    if not candidates:
        return None
    # Chosen on the training period's lift (and how many leads match, which reads no label),
    # so the test figures quoted as evidence are not the maximum of many test figures.
    best = max(candidates, key=lambda r: r["support"] * math.log(r.get("train_lift", r["lift"])))
    return CriteriaChange(
        "add",
        best["rule"],
        f"{best['leads']:,} test leads ({_pct(best['support'])}) match; they convert at "
        f"{_pct(best['conversion_rate'])}, {best['lift']:.1f}× the average "
        f"({best.get('train_lift', best['lift']):.1f}× on the training period), and hold "
        f"{_pct(best['share_of_conversions'])} of all conversions."
        + (" The current rules do not score it." if covered else ""),
    )


def _scored_lines(summary: dict) -> list[dict]:
    n = max(int(summary["metrics_test"]["model"]["n"]), 1)
    return [
        line
        for line in (summary.get("rules") or {}).get("lines") or []
        if line["lift"] is not None and line["leads"] >= max(20, MIN_SUPPORT * n)
    ]


def _drop(summary: dict) -> CriteriaChange | None:
    weak = [ln for ln in _scored_lines(summary) if ln["points"] > 0 and ln["lift"] < MAX_DROP_LIFT]
    if weak:
        line = min(weak, key=lambda ln: ln["lift"])
        return CriteriaChange(
            "drop",
            f"{line['criterion']} (+{line['points']:g} points in the current rules)",
            f"Its {line['leads']:,} test leads convert at {_pct(line['conversion_rate'])}, "
            f"{line['lift']:.2f}× the average: the points reward leads that convert no "
            "better than others.",
        )
    # Without a sheet: the attribute (who the lead is) that moves scores least, since
    # manual criteria are mostly attributes.
    fields = (summary.get("drivers") or {}).get("fields") or []
    fit = [f for f in fields if f["group"] == "fit"]
    if len(fields) < 4 or not fit:
        return None
    last = min(fit, key=lambda f: f["mean_abs_points"])
    top = fields[0]
    return CriteriaChange(
        "drop",
        f"{last['label']} as an MQL criterion",
        f"It moves a lead's score by {last['mean_abs_points']:.1f} points on average, against "
        f"{top['mean_abs_points']:.1f} for {top['label']}.",
    )


def _reweight(summary: dict) -> CriteriaChange | None:
    lines = [ln for ln in _scored_lines(summary) if ln["lift"] > 0]
    sheet_scale = [ln["points"] / math.log(ln["lift"]) for ln in lines
                   if ln["points"] > 0 and ln["lift"] > 1.2]
    if len(sheet_scale) >= 2:
        scale = sorted(sheet_scale)[len(sheet_scale) // 2]
        line = max(lines, key=lambda ln: abs(scale * math.log(ln["lift"]) - ln["points"]))
        suggested = round(scale * math.log(line["lift"]))
        if abs(suggested - line["points"]) >= 5:
            return CriteriaChange(
                "re-weight",
                f"{line['criterion']}: {line['points']:+g} → {suggested:+d} points",
                f"Its {line['leads']:,} test leads convert at {line['lift']:.1f}× the average; "
                f"on the sheet's own scale (about {scale * math.log(2):.0f} points per doubling "
                f"of the conversion rate) that is worth {suggested:+d}.",
            )
    card = summary.get("scorecard") or {}
    rows = card.get("rows") or []
    if not rows:
        return None
    spans: dict[str, list[dict]] = {}
    for r in rows:
        spans.setdefault(r["field"], []).append(r)
    field, bands = max(spans.items(), key=lambda kv: max(b["points"] for b in kv[1])
                       - min(b["points"] for b in kv[1]))
    lo, hi = min(bands, key=lambda b: b["points"]), max(bands, key=lambda b: b["points"])
    return CriteriaChange(
        "re-weight",
        f"{field}: from {lo['points']:+d} ({lo['rule']}) to {hi['points']:+d} ({hi['rule']})",
        f"No criterion separates leads more in the points scorecard learned from the data: "
        f"{hi['points'] - lo['points']} points between its lowest and highest band (the "
        f"scorecard ranks test leads with ROC AUC {card['roc_auc_test']:.3f}, the model "
        f"{card['model_roc_auc_test']:.3f}).",
    )


def criteria_changes(summary: dict) -> list[CriteriaChange]:
    """The add, drop and re-weight changes the test slice supports most (each if any)."""
    return [c for c in (_add(summary), _drop(summary), _reweight(summary)) if c is not None]


def what_if_rows(summary: dict) -> list[dict]:
    """Per MQL cutoff: MQLs, SQLs and customers a week, and revenue a week with deal values."""
    value = _number((summary.get("funnel") or {}).get("mean_deal_value"))
    rows = []
    # rows of older summaries may lack the rates: their columns then read "–"
    for r in summary.get("threshold_table") or []:
        per_week = _number(r.get("mqls_per_week"))
        if per_week is None:
            continue
        sql_rate, won_rate = _number(r.get("mql_sql_rate")), _number(r.get("mql_won_rate"))
        won = per_week * won_rate if won_rate is not None else None
        rows.append(
            {
                "cutoff": int(r["cutoff"]),
                "mqls": round(per_week, 1),
                "sqls": round(per_week * sql_rate, 1) if sql_rate is not None else None,
                "customers": round(won, 2) if won is not None else None,
                "revenue": round(won * value) if won is not None and value else None,
            }
        )
    return rows


def _number(v) -> float | None:
    """A finite number, else None (JSON has no NaN)."""
    return float(v) if v is not None and math.isfinite(v) else None


def first_screen(summary: dict) -> FirstScreen:
    """The first screen of the report from a training summary (its dict form)."""
    bars, caption = _bars(summary)
    rows = what_if_rows(summary)
    mql = summary.get("mql_threshold")
    return FirstScreen(
        ranking=ranking_sentence(summary),
        mql=mql_sentence(summary),
        bars=bars,
        bars_caption=caption,
        changes=criteria_changes(summary),
        # Numbers only, but never let data close the script element.
        what_if_json=json.dumps(rows).replace("<", "\\u003c") if rows else None,
        cutoff=int(mql["cutoff"]) if mql else None,
    )
