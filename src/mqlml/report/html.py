"""The leaders' report: one self-contained HTML file (no network, images inline).

Everything is rendered from the training summary (``TrainedModel.summary``, saved as
``metrics.json`` in the bundle), so ``mqlml report`` can rebuild the report of any saved
model. Sections: a summary for leaders in words, model quality (ROC, lift / gains,
calibration, score distribution), thresholds and grades, what drives conversion,
criteria refinement and the points scorecard, current rules vs the model, segments and
data notes. Summary keys added by other stages (threshold policies, backtest, audits,
...) are rendered generically when present (a table per list of rows) and noted as not
computed when absent. Figures are PNG, inline as base64 and also returned as bytes so
they can be written next to the report for slides.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mqlml.columns import LABEL, PROBABILITY
from mqlml.model.evaluation import _r, evaluation_summary  # noqa: F401

# --- data for the charts, computed once at training time -------------------------


def lift_table(test: pd.DataFrame, n_bins: int = 10) -> list[dict]:
    """Conversion per score decile of a frame with ``label`` and ``probability``."""
    order = np.argsort(-test[PROBABILITY].to_numpy(), kind="stable")
    y = test[LABEL].to_numpy()[order]
    parts = np.array_split(np.arange(len(y)), n_bins)
    base = y.mean() if len(y) else float("nan")
    return [
        {
            "decile": i + 1,
            "leads": len(ix),
            "conversion_rate": float(y[ix].mean()),
            "lift": float(y[ix].mean() / base) if base else float("nan"),
        }
        for i, ix in enumerate(parts)
        if len(ix)
    ]


# --- figures -------------------------------------------------------------------------

_BLUE, _GREY, _ORANGE, _RED = "#2563eb", "#98a2b3", "#f59e0b", "#dc2626"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return buf.getvalue()


def _curves_figure(curves: dict, x: str, y: str, diagonal: str, labels, title: str) -> bytes:
    """Model and baseline curves over a dashed diagonal (the random order)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color=_GREY, lw=1, ls="--", label=diagonal)
    for (name, c), color in zip(curves.items(), (_BLUE, _ORANGE), strict=False):
        ax.plot(c[x], c[y], color=color, label=name)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    return _png(fig)


def roc_figure(ev: dict) -> bytes:
    """ROC curves of the model and the baseline on the test slice."""
    return _curves_figure(
        ev["roc"],
        "fpr",
        "tpr",
        "random",
        ("false positive rate", "true positive rate (share of conversions found)"),
        "ROC curve, test slice",
    )


def gains_figure(ev: dict) -> bytes:
    """Cumulative gains: share of conversions found vs share of leads worked, best first."""
    return _curves_figure(
        ev["gains"],
        "share_of_leads",
        "share_of_conversions",
        "random order",
        ("share of leads worked, highest score first", "share of conversions found"),
        "Gains, test slice",
    )


def calibration_figure(ev: dict) -> bytes:
    """Reliability diagram: mean probability vs realised rate per decile of probability."""
    plt = _plt()
    rows = ev["calibration"]
    x = [r["mean_probability"] for r in rows]
    yy = [r["conversion_rate"] for r in rows]
    top = max([*x, *yy, 0.05]) * 1.05
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, top], [0, top], color=_GREY, lw=1, ls="--", label="perfect")
    ax.plot(x, yy, marker="o", color=_BLUE, label="mqlml (test slice)")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("realised conversion rate")
    ax.set_title("Calibration on the latest leads")
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return _png(fig)


def score_distribution_figure(ev: dict, cutoff: int | None = None) -> bytes:
    """Histogram of scores on the test slice, converted and not, with the MQL cutoff."""
    plt = _plt()
    h = ev["score_histogram"]
    s = np.arange(1, 100)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar(s, h["not_converted"], width=1.0, color=_GREY, label="did not convert")
    ax.bar(s, h["converted"], width=1.0, bottom=h["not_converted"], color=_BLUE, label="converted")
    if cutoff is not None:
        ax.axvline(cutoff - 0.5, color=_RED, lw=1.5, label=f"MQL cutoff {cutoff}")
    used = np.flatnonzero(np.add(h["converted"], h["not_converted"]))
    if len(used):
        ax.set_xlim(0.5, min(99.5, s[used[-1]] + 2))
    ax.set_xlabel("score")
    ax.set_ylabel("leads")
    ax.set_title("Score distribution, test slice")
    ax.legend(frameon=False)
    fig.tight_layout()
    return _png(fig)


def drivers_figure(drivers: dict, k: int = 12) -> bytes:
    """Mean absolute score points per business field, coloured by group."""
    plt = _plt()
    rows = drivers["fields"][:k][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(rows) + 1.2))
    colors = [_BLUE if r["group"] == "behaviour" else _ORANGE for r in rows]
    ax.barh([r["label"] for r in rows], [r["mean_abs_points"] for r in rows], color=colors)
    ax.set_xlabel("mean |score points| per lead (test slice)")
    ax.set_title("What moves the score (blue: behaviour, orange: fit)")
    fig.tight_layout()
    return _png(fig)


def _sample_explanation(sample: dict):
    import shap

    pts = np.array([[np.nan if v is None else v for v in col] for col in sample["points"]]).T
    vals = np.array(
        [
            [np.nan] * pts.shape[0] if col is None else [np.nan if v is None else v for v in col]
            for col in sample["values"]
        ]
    ).T
    return shap.Explanation(values=pts, data=vals, feature_names=sample["labels"])


def beeswarm_figure(drivers: dict) -> bytes:
    """SHAP beeswarm of the stored sample: each dot a lead, x its points for a field."""
    import shap

    plt = _plt()
    exp = _sample_explanation(drivers["sample"])
    fig = plt.figure(figsize=(7.2, 0.42 * exp.shape[1] + 1.6))
    with warnings.catch_warnings():
        # Categorical fields have no numeric value to colour by (all NaN: drawn grey).
        warnings.simplefilter("ignore", RuntimeWarning)
        shap.plots.beeswarm(
            exp,
            max_display=exp.shape[1],
            show=False,
            plot_size=None,
            color_bar_label="field value (count / days; grey: category)",
        )
    plt.gca().set_xlabel("score points (per lead)")
    plt.title("Per-lead effect of each field")
    fig.tight_layout()
    return _png(fig)


def dependence_figure(drivers: dict, field_name: str) -> bytes:
    """SHAP dependence (scatter) plot: a behaviour's value vs its score points."""
    import shap

    plt = _plt()
    sample = drivers["sample"]
    j = sample["fields"].index(field_name)
    exp = _sample_explanation(sample)
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    shap.plots.scatter(exp[:, j], ax=ax, show=False, hist=False, color=_BLUE)
    ax.set_xlabel(sample["axis"][j] or sample["labels"][j])
    ax.set_ylabel("score points")
    ax.set_title(sample["labels"][j])
    fig.tight_layout()
    return _png(fig)


# --- HTML ------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1040px;color:#1d2430;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #dde2ea}
h3{font-size:1.02rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
td,th{padding:.25rem .6rem;text-align:right;border-bottom:1px solid #eef1f5}
th{background:#f7f8fa}th:first-child,td:first-child{text-align:left}
td.text{text-align:left}
.headline{background:#f4f7fb;padding:.8rem 1.2rem;border-radius:8px}
.muted{color:#667085;font-size:.9rem}.figs{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0}img{max-width:100%}nav a{margin-right:.8rem}
.notcomputed{color:#8a6d00;background:#fff8e1;padding:.3rem .6rem;border-radius:4px}
details{margin:.4rem 0}
"""


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == int(v) and abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return html.escape(", ".join(str(x) for x in v))
    if isinstance(v, dict):
        return html.escape(", ".join(f"{k}: {x}" for k, x in v.items()))
    return html.escape(str(v))


#: Columns whose 0-1 values read better as percentages.
_PERCENT_WORDS = ("rate", "share", "support", "captured")


def _table(rows: list[dict], columns: list[str] | None = None, max_rows: int | None = None) -> str:
    """A table from row dicts (columns: the union of keys, in first-seen order)."""
    if not rows:
        return "<p class='muted'>none</p>"
    if columns is None:
        columns = []
        for r in rows:
            columns += [c for c in r if c not in columns]
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in columns)

    percent = {c for c in columns if any(w in str(c) for w in _PERCENT_WORDS)}

    def cell(c, v):
        cls = " class='text'" if isinstance(v, str) else ""
        if c in percent and isinstance(v, float) and 0 <= v <= 1:
            return f"<td>{v:.1%}</td>"
        return f"<td{cls}>{_fmt(v)}</td>"

    shown = rows if max_rows is None else rows[:max_rows]
    body = "".join("<tr>" + "".join(cell(c, r.get(c)) for c in columns) + "</tr>" for r in shown)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if max_rows is not None and len(rows) > max_rows:
        rest = "".join(
            "<tr>" + "".join(cell(c, r.get(c)) for c in columns) + "</tr>" for r in rows[max_rows:]
        )
        table += (
            f"<details><summary>all {len(rows)} rows</summary><table><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}{rest}</tbody></table></details>"
        )
    return table


def render_value(value, max_rows: int | None = 25) -> str:
    """Any JSON-like summary value as HTML: row lists as tables, dicts as sub-sections."""
    if isinstance(value, list):
        if value and all(isinstance(r, dict) for r in value):
            return _table(value, max_rows=max_rows)
        return f"<p>{_fmt(value)}</p>" if value else "<p class='muted'>none</p>"
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
        parts = []
        if scalars:
            parts.append(_table([{"item": k, "value": v} for k, v in scalars.items()]))
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                parts.append(f"<h4>{html.escape(str(k).replace('_', ' '))}</h4>")
                parts.append(render_value(v, max_rows))
        return "".join(parts)
    return f"<p>{_fmt(value)}</p>"


def _not_computed(what: str, how: str = "") -> str:
    extra = f" {html.escape(how)}" if how else ""
    return f"<p class='notcomputed'>{html.escape(what)}: not computed for this model.{extra}</p>"


def _optional(summary: dict, key: str, title: str, how: str = "") -> str:
    head = f"<h3 id='s-{key}'>{html.escape(title)}</h3>"
    if key not in summary or summary[key] in (None, [], {}):
        return head + _not_computed(title, how)
    return head + render_value(summary[key])


@dataclass
class Report:
    """A rendered report: the HTML page and its figures (name -> PNG bytes)."""

    html: str
    figures: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


class _Figures:
    def __init__(self):
        self.figures: dict[str, bytes] = {}

    def add(self, name: str, make: Callable[[], bytes], alt: str) -> str:
        try:
            png = make()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"<p class='muted'>{html.escape(alt)}: no chart ({html.escape(str(exc))})</p>"
        self.figures[name] = png
        b64 = base64.b64encode(png).decode()
        return (
            f"<figure><img alt='{html.escape(alt)}' data-figure='{name}' "
            f"src='data:image/png;base64,{b64}'></figure>"
        )


def _pct(v) -> str:
    return "–" if v is None or v != v else f"{v:.0%}"


def leaders_summary(summary: dict) -> list[str]:
    """The summary for leaders: a few sentences with the figures that matter."""
    m = summary["metrics_test"]
    model, base = m["model"], m["baseline_logistic"]
    target = "became sales-qualified (SQL)" if summary["target"] == "sql" else "became customers"
    out = [
        f"On the latest {int(model['n']):,} leads (never seen in training), the model ranks "
        f"leads with ROC AUC {model['roc_auc']:.3f} (logistic baseline {base['roc_auc']:.3f}); "
        f"the top 10% of leads by score {target} at {model['lift_top_decile']:.1f}× the "
        f"average rate of {model['base_rate']:.1%}."
    ]
    mql = summary.get("mql_threshold")
    if mql:
        t = mql["test"]
        out.append(
            f"With sales capacity {mql['capacity_per_week']:g} leads/week the MQL cutoff is score "
            f"≥ {mql['cutoff']}: {t['mqls_per_week']:.0f} MQLs/week on the test period, "
            f"converting at {_pct(t['mql_conversion_rate'])} and capturing "
            f"{_pct(t['share_of_conversions_captured'])} of all conversions."
        )
    d = summary.get("drivers")
    if d and d.get("fields"):
        top = [r["label"] for r in d["fields"][:3]]
        shares = {g["group"]: g["share_of_field_effects"] for g in d.get("groups", [])}
        out.append(
            f"What moves the score most: {', '.join(top[:-1])} and {top[-1]}. Behaviour (what "
            f"leads do) accounts for {_pct(shares.get('behaviour', 0.0))} of the fields' effect, "
            f"fit (who they are) for {_pct(shares.get('fit', 0.0))}."
        )
    card = summary.get("scorecard")
    if card and card.get("rows"):
        gap = card["model_roc_auc_test"] - card["roc_auc_test"]
        verdict = (
            "the model ranks leads clearly better, so use the scorecard to refine manual "
            "criteria and the model to choose MQLs"
            if gap > 0.01
            else "close to the model, so these rules are a fair manual stand-in"
        )
        out.append(
            f"A points scorecard of {len({r['field'] for r in card['rows']})} fields — the form "
            f"used for manual scoring — reaches ROC AUC {card['roc_auc_test']:.3f} against the "
            f"model's {card['model_roc_auc_test']:.3f}: {verdict}."
        )
    return out


def _quality_section(summary: dict, figs: _Figures, test: pd.DataFrame | None) -> str:
    m = summary["metrics_test"]
    metric_rows = [
        {"model": name, **{k: v for k, v in vals.items() if k not in ("n", "n_positive")}}
        for name, vals in m.items()
    ]
    ev = summary.get("evaluation")
    if ev is None and test is not None:
        ev = evaluation_summary(test[LABEL], test[PROBABILITY])
    parts = [
        "<h2 id='quality'>Model quality on the test slice</h2>",
        _table(metric_rows),
        f"<p class='muted'>Calibration: {html.escape(summary['calibration']['method'])}, fit on "
        "the calibration slice only. Score = round(100 × probability), clipped to 1–99.</p>",
    ]
    if ev is None:
        return "".join(parts) + _not_computed("Quality charts")
    cutoff = (summary.get("mql_threshold") or {}).get("cutoff")
    charts = []
    if "roc" in ev:
        charts.append(figs.add("roc", lambda: roc_figure(ev), "ROC curve"))
        charts.append(figs.add("gains", lambda: gains_figure(ev), "gains chart"))
    charts.append(figs.add("calibration", lambda: calibration_figure(ev), "calibration curve"))
    parts.append(f"<div class='figs'>{''.join(charts)}</div>")
    parts.append(
        figs.add(
            "score_distribution",
            lambda: score_distribution_figure(ev, cutoff),
            "score distribution",
        )
    )
    parts.append("<h3>Conversion by score decile (lift)</h3>")
    parts.append(_table(ev["deciles"]))
    return "".join(parts)


def _thresholds_section(summary: dict) -> str:
    parts = ["<h2 id='thresholds'>Thresholds and grades</h2>"]
    mql = summary.get("mql_threshold")
    if mql:
        parts.append(
            f"<p>Capacity policy: {mql['capacity_per_week']:g} leads/week → MQL when score ≥ "
            f"{mql['cutoff']} (learned on the calibration slice, reported on the test slice).</p>"
        )
        parts.append(_table([{"slice": "test", **mql["test"]}]))
    grades = summary.get("grades") or {}
    if grades.get("test"):
        parts.append("<h3>Grades</h3>" + _table(grades["test"]))
    if grades.get("tiers"):
        parts.append("<h3>Tiers below the MQL line</h3>" + render_value(grades["tiers"]))
    parts.append(
        _optional(
            summary,
            "threshold_policies",
            "Threshold policies",
            "Configure threshold policies to compare them here.",
        )
    )
    parts.append(_optional(summary, "threshold_table", "Threshold table (every cutoff)"))
    parts.append(_optional(summary, "backtest", "Rolling-origin backtest"))
    parts.append(_optional(summary, "funnel", "Lead → SQL → customer funnel"))
    return "".join(parts)


def _drivers_section(summary: dict, figs: _Figures) -> str:
    parts = ["<h2 id='drivers'>What drives conversion</h2>"]
    d = summary.get("drivers")
    if not d:
        imp = summary.get("importance") or []
        return (
            "".join(parts)
            + _not_computed("Score-point drivers")
            + _table(
                [
                    {"field": r["label"], "group": r["group"], "share of gain": r["gain_share"]}
                    for r in imp[:12]
                ]
            )
        )
    parts.append(
        f"<p>Each lead's score is split into points per business field (SHAP values of the "
        f"model, converted to score points after calibration). Base score "
        f"{d.get('base_score', float('nan')):.1f}: a lead's reasons add up to its score minus "
        f"this. Averaged over the {d['n_leads']:,} test leads:</p>"
    )
    parts.append(figs.add("drivers", lambda: drivers_figure(d), "drivers by field"))
    rows = [
        {
            "field": r["label"],
            "group": r["group"],
            "mean |points|": r["mean_abs_points"],
            "share": r["share"],
            "mean points": r["mean_points"],
        }
        for r in d["fields"]
    ]
    parts.append(_table(rows, max_rows=15))
    parts.append("<h3>Fit vs behaviour</h3>")
    parts.append(_table(d.get("groups", [])))
    if d.get("sample") and d["sample"]["fields"]:
        parts.append("<h3>Per-lead effects</h3>")
        parts.append(figs.add("beeswarm", lambda: beeswarm_figure(d), "beeswarm of field effects"))
        behaviours = [
            f
            for f, g, v in zip(
                d["sample"]["fields"], d["sample"]["groups"], d["sample"]["values"], strict=True
            )
            if g == "behaviour" and v is not None
        ][:3]
        if behaviours:
            parts.append("<h3>How the top behaviours act (dependence)</h3>")
            charts = [
                figs.add(
                    f"dependence_{f}", lambda f=f: dependence_figure(d, f), f"dependence plot {f}"
                )
                for f in behaviours
            ]
            parts.append(f"<div class='figs'>{''.join(charts)}</div>")
    if d.get("by_segment"):
        parts.append(
            f"<h3>Drivers per segment ({html.escape(str(d.get('segment_column')))})</h3>"
            "<p class='muted'>Mean |points| per field within each segment.</p>"
        )
        parts.append(_table(d["by_segment"]))
    return "".join(parts)


def _criteria_section(summary: dict) -> str:
    parts = ["<h2 id='criteria'>Criteria refinement and points scorecard</h2>"]
    rules = summary.get("criteria_rules")
    if rules:
        parts.append(
            "<p>Simple criteria on the top fields, chosen on the training slice and measured on "
            "the test slice. Lift = the rule's conversion rate over the overall rate.</p>"
        )
        parts.append(
            _table(
                rules,
                [
                    "field",
                    "group",
                    "rule",
                    "leads",
                    "support",
                    "conversion_rate",
                    "lift",
                    "share_of_conversions",
                ],
            )
        )
    else:
        parts.append(_not_computed("Criteria rules"))
    card = summary.get("scorecard")
    if card and card.get("rows"):
        parts.append(
            f"<h3>Learned points scorecard</h3><p>Integer points per band (every "
            f"{card['points_to_double_odds']} points double the odds of converting); MQL when "
            f"total points ≥ {card['threshold']}. Test ROC AUC <b>{card['roc_auc_test']:.3f}</b> "
            f"(model {card['model_roc_auc_test']:.3f}). Exported as <code>scorecard.csv</code> in "
            "the folder of figures next to this report.</p>"
        )
        parts.append(_table(card["rows"], ["field", "rule", "points", "train_share"]))
    else:
        parts.append(_not_computed("Points scorecard"))
    return "".join(parts)


def _rules_vs_model_section(summary: dict) -> str:
    parts = ["<h2 id='rules-vs-model'>Current rules vs the model</h2>"]
    parts.append(
        _optional(
            summary,
            "baselines_equal_volume",
            "Team's current rules vs the model at the same number of MQLs",
            "Give the current manual rules (a points sheet) to compare them.",
        )
    )
    card = summary.get("scorecard")
    if card and card.get("equal_volume"):
        parts.append("<h3>Learned scorecard vs the model (test slice)</h3>")
        parts.append(_table(card["equal_volume"]))
    return "".join(parts)


def _segments_section(summary: dict) -> str:
    parts = ["<h2 id='segments'>Segments</h2>"]
    parts.append(
        _optional(
            summary,
            "segments",
            "Per-segment quality and thresholds",
            "It is computed when the thresholds are learned per segment.",
        )
    )
    if summary.get("segment_models"):
        parts.append(
            "<h3>Per-segment models (test slice)</h3><p class='muted'>A segment scores with its "
            "own model only where that model beat the global one on the segment's calibration "
            "slice (log loss), decided before the test slice was looked at.</p>"
        )
        parts.append(
            _table(
                summary["segment_models"],
                ["segment", "leads", "positives", "roc_auc_segment", "roc_auc_global",
                 "ece_segment", "ece_global", "used", "reason"],
            )
        )
    d = summary.get("drivers") or {}
    if d.get("by_segment"):
        parts.append(
            f"<p>Drivers per segment ({html.escape(str(d.get('segment_column')))}): see "
            "<a href='#drivers'>what drives conversion</a>.</p>"
        )
    return "".join(parts)


def _data_section(summary: dict) -> str:
    lc = summary["label_counts"]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in summary.get("data_notes", []))
    excluded = [{"column": k, "why": v} for k, v in summary.get("excluded_columns", {}).items()]
    parts = [
        "<h2 id='data'>Data notes</h2>",
        "<h3>Time-ordered periods</h3>",
        _table(summary["periods"]),
        f"<p>{lc['leads']:,} leads: {lc['eligible']:,} labelled, {lc['immature']:,} immature "
        f"(their {summary['horizon_days']}-day horizon had not passed by the data's end, so they "
        f"are excluded), {lc['converted_before_as_of']:,} converted before their scoring moment "
        "(excluded: their outcome was already known).</p>",
        f"<ul>{notes or '<li>no other notes</li>'}</ul>",
        "<h3>Columns not used as features, and why</h3>",
        _table(excluded),
        _optional(summary, "leakage_audit", "Leakage audit"),
        _optional(summary, "drift_audit", "Drift audit (population stability)"),
    ]
    v = summary.get("versions")
    if v:
        parts.append("<p class='muted'>Versions: " + _fmt(v) + "</p>")
    return "".join(parts)


SECTIONS = (
    ("summary", "Summary"),
    ("quality", "Model quality"),
    ("thresholds", "Thresholds and grades"),
    ("drivers", "Drivers"),
    ("criteria", "Criteria and scorecard"),
    ("rules-vs-model", "Current rules vs model"),
    ("segments", "Segments"),
    ("data", "Data notes"),
)


def build_report(summary: dict, test: pd.DataFrame | None = None) -> Report:
    """Render the report of a training summary.

    Parameters
    ----------
    summary : dict
        ``TrainedModel.summary`` (or a bundle's ``metrics.json``).
    test : DataFrame, optional
        Test-slice predictions (``label``, ``probability``), only needed for summaries
        written before the ``evaluation`` key existed.
    """
    figs = _Figures()
    nav = "".join(f"<a href='#{k}'>{html.escape(t)}</a>" for k, t in SECTIONS)
    words = "".join(f"<p>{html.escape(s)}</p>" for s in leaders_summary(summary))
    body = "".join(
        [
            _quality_section(summary, figs, test),
            _thresholds_section(summary),
            _drivers_section(summary, figs),
            _criteria_section(summary),
            _rules_vs_model_section(summary),
            _segments_section(summary),
            _data_section(summary),
        ]
    )
    name = html.escape(summary["name"])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mqlml · {name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>What drives conversion · {name}</h1>
<p class="muted">Target: reached {html.escape(summary["target"].upper())} within
{summary["horizon_days"]} days after the scoring moment (created +
{summary["observation_days"]} days). Data up to {html.escape(summary["snapshot_at"][:10])}.</p>
<nav>{nav}</nav>
<h2 id="summary">Summary for leaders</h2>
<div class="headline" id="headline">{words}</div>
{body}
</body></html>
"""
    tables = {}
    card = summary.get("scorecard")
    if card and card.get("rows"):
        from mqlml.explain.criteria import scorecard_table

        tables["scorecard"] = scorecard_table(card)
    return Report(html=page, figures=figs.figures, tables=tables)


def render_summary_html(summary: dict, test: pd.DataFrame | None = None) -> str:
    """The report's HTML only (see :func:`build_report`)."""
    return build_report(summary, test).html


def figures_dir(report_path: Path) -> Path:
    """Folder for the report's PNG figures and CSV tables: ``<report stem>_files``."""
    report_path = Path(report_path)
    return report_path.with_name(f"{report_path.stem}_files")


def write_report(report: Report, path: str | Path) -> dict[str, Path]:
    """Write the HTML, its figures as PNG and its tables as CSV next to it (atomically)."""
    from mqlml.data.files import write_bytes, write_table, write_text

    path = Path(path)
    folder = figures_dir(path)
    written = {"html": write_text(report.html, path)}
    for name, png in report.figures.items():
        written[name] = write_bytes(png, folder / f"{name}.png")
    for name, frame in report.tables.items():
        written[name] = write_table(frame, folder / f"{name}.csv")
    return written
