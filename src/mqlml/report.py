"""A small self-contained HTML summary of a training run (no network, images inline)."""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from mqlml.columns import LABEL, PROBABILITY

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:980px;color:#1d2430;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde2ea}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .7rem;text-align:right;
border-bottom:1px solid #eef1f5}th:first-child,td:first-child{text-align:left}
.headline{background:#f4f7fb;padding:1rem 1.2rem;border-radius:8px}
.muted{color:#667085;font-size:.9rem}img{max-width:100%}
"""


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return "–"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return html.escape(str(v))


def _table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def calibration_figure_png(test: pd.DataFrame, n_bins: int = 10) -> bytes:
    """Reliability diagram of the test slice: mean probability vs realised rate per decile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = test[PROBABILITY].to_numpy()
    y = test[LABEL].to_numpy()
    bins = pd.qcut(p, q=n_bins, duplicates="drop", labels=False)
    g = pd.DataFrame({"p": p, "y": y, "b": bins}).groupby("b").mean()
    fig, ax = plt.subplots(figsize=(4.5, 4.2), dpi=110)
    top = max(float(g.max().max()), 0.05) * 1.05
    ax.plot([0, top], [0, top], color="#98a2b3", lw=1, ls="--", label="perfect")
    ax.plot(g["p"], g["y"], marker="o", color="#2563eb", label="mqlml (test slice)")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("realised conversion rate")
    ax.set_title("Calibration on the latest leads")
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_summary_html(summary: dict, test: pd.DataFrame) -> str:
    """The training summary as one self-contained HTML page.

    Parameters
    ----------
    summary : dict
        ``TrainedModel.summary``.
    test : DataFrame
        The test slice's predictions (``label``, ``probability``), for the calibration plot.
    """
    m = summary["metrics_test"]
    model, base = m["model"], m["baseline_logistic"]
    mql = summary["mql_threshold"]
    target = "became sales-qualified (SQL)" if summary["target"] == "sql" else "became customers"
    headline = (
        f"On the latest {int(model['n']):,} leads (never seen in training), the model ranks "
        f"leads with ROC AUC {model['roc_auc']:.3f} (logistic baseline {base['roc_auc']:.3f}). "
        f"The top 10% of leads by score {target} at {model['lift_top_decile']:.1f}× the average "
        f"rate. With sales capacity {mql['capacity_per_week']:g} leads/week the MQL cutoff is "
        f"score ≥ {mql['cutoff']}: {mql['test']['mqls_per_week']:.0f} MQLs/week on the test "
        f"period, converting at {mql['test']['mql_conversion_rate']:.1%} and capturing "
        f"{mql['test']['share_of_conversions_captured']:.0%} of all conversions."
    )
    metric_rows = [
        {"model": name, **{k: v for k, v in vals.items() if k not in ("n", "n_positive")}}
        for name, vals in m.items()
    ]
    png = base64.b64encode(calibration_figure_png(test)).decode()
    imp = [
        {"field": r["label"], "group": r["group"], "share of gain": r["gain_share"]}
        for r in summary["importance"][:12]
    ]
    excluded = [{"column": k, "why": v} for k, v in summary["excluded_columns"].items()]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in summary["data_notes"]) or "<li>none</li>"
    lc = summary["label_counts"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mqlml · {html.escape(summary["name"])}</title>
<style>{_CSS}</style></head><body>
<h1>mqlml training summary · {html.escape(summary["name"])}</h1>
<p class="muted">Target: reached {summary["target"].upper()} within {summary["horizon_days"]} days
after the as-of time (created + {summary["observation_days"]} days). Data up to
{html.escape(summary["snapshot_at"][:10])}.</p>
<div class="headline" id="headline"><p>{html.escape(headline)}</p></div>
<h2 id="quality">Model quality on the test slice</h2>
{_table(metric_rows)}
<p class="muted">Calibration: {html.escape(summary["calibration"]["method"])}, fit on the
calibration slice only. Score = round(100 × probability), clipped to 1–99.</p>
<img alt="calibration curve" src="data:image/png;base64,{png}">
<h3>Conversion by score decile (test slice)</h3>
{_table(lift_table(test))}
<h2 id="periods">Time-ordered split</h2>
{_table(summary["periods"])}
<p class="muted">{lc["leads"]:,} leads: {lc["eligible"]:,} labelled, {lc["immature"]:,} immature
(horizon not yet passed, excluded), {lc["converted_before_as_of"]:,} converted before their
as-of (excluded).</p>
<h2 id="thresholds">MQL threshold and grades</h2>
<p>Capacity policy: {mql["capacity_per_week"]:g} leads/week → MQL when score ≥
{mql["cutoff"]}.</p>
{_table([{"slice": "test", **mql["test"]}])}
{_table(summary["grades"]["test"])}
<h2 id="drivers">What drives conversion</h2>
{_table(imp)}
<h2 id="data">Data notes</h2>
<ul>{notes}</ul>
<h3>Columns not used as features</h3>
{_table(excluded)}
</body></html>
"""


def lift_table(test: pd.DataFrame, n_bins: int = 10) -> list[dict]:
    """Conversion per score decile of the test slice, best decile first."""
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
