"""The monitor page: what the model in use promised against what happened, and drift.

Rendered from the dict of :func:`mqlml.scoring.monitor.monitor` (also written as JSON
beside the page), with the report's style, macros and figures: one self-contained HTML
file, nothing fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mqlml.report.figures import (
    monitor_calibration_figure,
    promised_realised_figure,
    weekly_psi_figure,
)
from mqlml.report.html import Figure, Table, _environment, _Figures, _fmt, _table

__all__ = ["MonitorPage", "build_monitor_page", "write_monitor"]

_STATUS_WORDS = {
    "ok": "No alert: the model keeps its promises and its leads look like training.",
    "warn": "Warning: something moved; read the alerts below.",
    "critical": "Critical: the model no longer does what it promised; act on the alerts.",
}


@dataclass(frozen=True)
class MonitorPage:
    """What the template shows (numbers formatted, tables built)."""

    name: str
    model_line: str
    status: str
    status_words: str
    exit_code: int
    facts: list[str]
    alerts: Table
    rates: dict[str, Table]
    rate_figure: Figure
    calibration_figure: Figure
    mql: Table
    mql_line: str
    psi_figure: Figure
    weeks: Table
    batches: Table


def _pct(v) -> str:
    return "–" if v is None else f"{v:.1%}"


def _rates(rows: list[dict]) -> Table:
    # "rate" in a column name makes the table show it as a percentage.
    shown = [
        {"group": r["group"], "matured": r["matured"], "converted": r["converted"],
         "promised rate": r["promised"], "realised rate": r["realised"],
         "interval": f"{_pct(r['low'])} – {_pct(r['high'])}",
         "promised inside interval": not r["promised_outside_interval"]}
        for r in rows
    ]
    return _table(shown)


def build_monitor_page(result: dict) -> tuple[str, dict[str, bytes]]:
    """The monitor page's HTML and its figures (PNG bytes by name).

    Parameters
    ----------
    result : dict
        From :func:`mqlml.scoring.monitor.monitor`.

    Returns
    -------
    tuple
        ``(html, figures)``.
    """
    figs = _Figures()
    model = result["model"]
    version = f" version {model['version']}" if model.get("version") else ""
    rows = result["rows"]
    pvr = result["promised_vs_realised"]
    mql = result["mql"]
    real = mql["realised"]
    early = result["early"]
    facts = [
        f"{rows['scored']:,} leads scored in {rows['batches']} batches; {rows['matured']:,} "
        f"have matured (their {result['horizon_days']}-day horizon has passed by "
        f"{result['snapshot_at'][:10]}), {rows['immature']:,} not yet.",
        f"Target: {result['target']}. Training base rate {_pct(early['training_rate'])}.",
    ]
    for key, words in (
        ("not_in_history", "scored leads are not in the CRM history (not judged)"),
        ("no_scoring_moment", "scored leads have no scoring moment (not judged)"),
        ("repeated_scorings", "repeated scorings of a lead (its first scoring is judged)"),
        ("converted_before_as_of", "leads had converted before their scoring moment"),
    ):
        if rows[key]:
            facts.append(f"{rows[key]:,} {words}.")
    others = result.get("other_model_batches") or []
    if others:
        facts.append(
            f"{len(others)} scored {'batch' if len(others) == 1 else 'batches'} came from "
            f"another model and {'is' if len(others) == 1 else 'are'} left out: "
            + ", ".join(str(b["output"]) for b in others[:5]) + ("…" if len(others) > 5 else "")
        )
    weeks = [
        {"week": w["week"], "scored": w["scored"], "mean_probability": w["mean_probability"],
         "score_psi": w.get("score_psi"),
         "largest_feature_psi": max(w["psi"].values(), default=None) if "psi" in w else None,
         "most_moved": max(w["psi"], key=w["psi"].get) if w.get("psi") else w.get("reason", ""),
         "most_unseen_share": max(w.get("unseen", {}).values(), default=None)}
        for w in early["weeks"]
    ]
    page = MonitorPage(
        name=model.get("name", ""),
        model_line=f"model {model.get('name', '')}{version}"
        + (f" ({model['source']})" if model.get("source") else ""),
        status=result["status"],
        status_words=_STATUS_WORDS[result["status"]],
        exit_code=result["exit_code"],
        facts=facts,
        alerts=_table(result["alerts"], ["level", "check", "subject", "message"]),
        rates={by: _rates(pvr[by]) for by in ("grade", "tier", "score_band")},
        rate_figure=figs.add(
            "promised_vs_realised", lambda: promised_realised_figure(pvr["grade"]),
            "promised against realised conversion per grade",
        ),
        calibration_figure=figs.add(
            "calibration_in_use",
            lambda: monitor_calibration_figure(result["calibration"]["curve"]),
            "calibration of the matured scored leads",
        ),
        mql=_table(mql["per_week"], ["week", "scored", "mqls", "complete"]),
        mql_line=(
            f"Policy {mql['policy']}, cutoff score ≥ {mql['cutoff']}, set for "
            f"{_fmt(mql['capacity_per_week'])} MQLs a week ({_fmt(mql['expected_per_week'])} "
            f"expected). Matured MQLs converted at {_pct(real['rate'])} (interval "
            f"{_pct(real['low'])}–{_pct(real['high'])}, {real['matured']:,} leads) against "
            f"{_pct(real['promised'])}, {mql['promised_source']}."
        ),
        psi_figure=figs.add("psi_by_week", lambda: weekly_psi_figure(early["weeks"]),
                            "PSI of the score and the most moved features by week"),
        weeks=_table(weeks),
        batches=_table(
            [{k: b[k] for k in ("output", "as_of", "scored", "mqls", "mean_probability")}
             for b in early["batches"]]
        ),
    )
    html = _environment().get_template("monitor.html.j2").render(page=page)
    return html, figs.figures


def write_monitor(result: dict, folder: str | Path) -> dict[str, Path]:
    """Write ``monitor.html`` and ``monitor.json`` into ``folder`` (each atomically).

    Returns
    -------
    dict
        ``{"html": path, "json": path}``.
    """
    from mqlml.data.files import write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    html, _ = build_monitor_page(result)
    return {
        "json": write_text(json.dumps(result, indent=2, allow_nan=False) + "\n",
                           folder / "monitor.json"),
        "html": write_text(html, folder / "monitor.html"),
    }
