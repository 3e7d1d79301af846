"""The leaders' report: one self-contained HTML file (no network, images inline).

Everything is rendered from the training summary (``TrainedModel.summary``, saved as
``metrics.json`` in the bundle), so ``mqlml report`` can rebuild the report of any saved
model. Sections: a summary for leaders in words, model quality (ROC, lift / gains,
calibration, score distribution), thresholds and grades, what drives conversion,
criteria refinement and the points scorecard, current rules vs the model, segments and
data notes. Summary keys added by other stages (threshold policies, backtest, audits,
...) are rendered generically when present (a table per list of rows) and noted as not
computed when absent. Figures are PNG (:mod:`mqlml.report.figures`), inline as base64 and
also returned as bytes so they can be written next to the report for slides.

The markup lives in jinja2 templates (``templates/``, autoescaped: column names, category
values and lead ids come from the user's data); this module only prepares what they show:
formatted numbers, table cells, figure data URIs.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mqlml.columns import LABEL, PROBABILITY
from mqlml.model.evaluation import evaluation_summary
from mqlml.report.figures import (
    beeswarm_figure,
    calibration_figure,
    dependence_figure,
    drivers_figure,
    gains_figure,
    roc_figure,
    score_distribution_figure,
)
from mqlml.report.leaders import FirstScreen, first_screen
from mqlml.report.text import model_choice
from mqlml.training.audit import EXCLUDED, columns_to_review

# --- what the templates show ----------------------------------------------------------


def _fmt(v) -> str:
    """A summary value as text (escaping is the templates' job)."""
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
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items())
    return str(v)


#: Columns whose 0-1 values read better as percentages.
_PERCENT_WORDS = ("rate", "share", "support", "captured")


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and whether it is text (left-aligned) rather than a number."""

    text: str
    is_text: bool = False


@dataclass(frozen=True)
class Table:
    """A table of formatted cells; rows beyond ``shown`` sit behind an "all rows" toggle."""

    head: list[str]
    rows: list[list[Cell]]
    shown: int


def _cell(column, value, percent: set) -> Cell:
    if column in percent and isinstance(value, float) and 0 <= value <= 1:
        return Cell(f"{value:.1%}")
    return Cell(_fmt(value), isinstance(value, str))


def _table(
    rows: list[dict], columns: list[str] | None = None, max_rows: int | None = None
) -> Table:
    """A table from row dicts (columns: the union of keys, in first-seen order)."""
    if columns is None:
        columns = []
        for r in rows:
            columns += [c for c in r if c not in columns]
    percent = {c for c in columns if any(w in str(c) for w in _PERCENT_WORDS)}
    return Table(
        head=[str(c).replace("_", " ") for c in columns],
        rows=[[_cell(c, r.get(c), percent) for c in columns] for r in rows],
        shown=len(rows) if max_rows is None else min(max_rows, len(rows)),
    )


@dataclass(frozen=True)
class Block:
    """A piece of a generically rendered summary value: a heading, a paragraph or a table."""

    kind: str  # "heading", "text" or "table"
    text: str = ""
    table: Table | None = None


def _blocks(value, max_rows: int | None = 25) -> list[Block]:
    """Any JSON-like summary value: row lists as tables, dicts as headed sub-parts."""
    if isinstance(value, list):
        if not value or all(isinstance(r, dict) for r in value):
            return [Block("table", table=_table(value, max_rows=max_rows))]
        return [Block("text", _fmt(value))]
    if not isinstance(value, dict):
        return [Block("text", _fmt(value))]
    scalars = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
    out = [Block("table", table=_table([{"item": k, "value": v} for k, v in scalars.items()]))]
    out = out if scalars else []
    for k, v in value.items():
        if isinstance(v, (dict, list)):
            out += [Block("heading", str(k).replace("_", " ")), *_blocks(v, max_rows)]
    return out


@dataclass(frozen=True)
class OptionalPart:
    """A part another stage adds to the summary; ``blocks`` is None when it was not run."""

    key: str
    title: str
    blocks: list[Block] | None
    how: str = ""


def _optional(summary: dict, key: str, title: str, how: str = "") -> OptionalPart:
    if key not in summary or summary[key] in (None, [], {}):
        return OptionalPart(key, title, None, how)
    return OptionalPart(key, title, _blocks(summary[key]), how)


@dataclass(frozen=True)
class Figure:
    """A figure as a data URI, or the reason it could not be drawn (``uri`` empty)."""

    name: str
    alt: str
    uri: str = ""
    error: str = ""


class _Figures:
    """Draws the report's figures and keeps their PNG bytes, in the order drawn."""

    def __init__(self):
        self.figures: dict[str, bytes] = {}

    def add(self, name: str, make: Callable[[], bytes], alt: str) -> Figure:
        try:
            png = make()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # A summary missing a chart's data still renders; the gap is said in place.
            return Figure(name, alt, error=str(exc))
        self.figures[name] = png
        return Figure(name, alt, uri="data:image/png;base64," + base64.b64encode(png).decode())


def _pct(v) -> str:
    return "–" if v is None or v != v else f"{v:.0%}"


def mql_line(mql: dict) -> str:
    """The MQL cutoff in words, naming the policy that set it and what it was asked for."""
    policy, cutoff = mql.get("policy", "capacity"), mql["cutoff"]
    target = mql.get("target", mql["capacity_per_week"])
    asked = {
        "capacity": f"With sales capacity {target:g} leads/week",
        "precision": f"Set for an MQL conversion rate of at least {_pct(target)} "
        "(precision policy)",
        "recall": f"Set to capture at least {_pct(target)} of conversions (recall policy)",
        "expected_value": f"Set where a lead's expected value exceeds its cost of {target:g} "
        "(expected-value policy)",
    }.get(policy, f"Set by the {policy} policy")
    return f"{asked}, the MQL cutoff is score ≥ {cutoff}"


def _capacity_note(mql: dict) -> str:
    """Under a policy other than capacity: how the MQL volume compares with capacity."""
    if mql.get("policy", "capacity") == "capacity" or not mql.get("capacity_per_week"):
        return ""
    per_week, capacity = mql["test"]["mqls_per_week"], mql["capacity_per_week"]
    change = per_week / capacity - 1
    side = "over" if change > 0 else "under"
    return f" ({abs(change):.0%} {side} the sales capacity of {capacity:g} leads/week)"


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
            f"{mql_line(mql)}: {t['mqls_per_week']:.0f} MQLs/week on the test period, "
            f"converting at {_pct(t['mql_conversion_rate'])} and capturing "
            f"{_pct(t['share_of_conversions_captured'])} of all conversions"
            f"{_capacity_note(mql)}."
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


# --- sections: what each template shows -----------------------------------------------


@dataclass(frozen=True)
class QualitySection:
    """Model quality: metrics, then charts when the evaluation data exists."""

    metrics: Table
    calibration_method: str
    #: What the model learned from and what its calibrator and thresholds were fit on.
    provenance: str = ""
    charts: list[Figure] = field(default_factory=list)
    distribution: Figure | None = None
    deciles: Table | None = None


def _quality_section(summary: dict, figs: _Figures, test: pd.DataFrame | None) -> QualitySection:
    m = summary["metrics_test"]
    metrics = _table(
        [
            {"model": name, **{k: v for k, v in vals.items() if k not in ("n", "n_positive")}}
            for name, vals in m.items()
        ]
    )
    method = summary["calibration"]["method"]
    ev = summary.get("evaluation")
    if ev is None and test is not None:
        ev = evaluation_summary(test[LABEL], test[PROBABILITY])
    if ev is None:
        return QualitySection(metrics, method, _provenance(summary))
    cutoff = (summary.get("mql_threshold") or {}).get("cutoff")
    charts = []
    if "roc" in ev:
        charts.append(figs.add("roc", lambda: roc_figure(ev), "ROC curve"))
        charts.append(figs.add("gains", lambda: gains_figure(ev), "gains chart"))
    charts.append(figs.add("calibration", lambda: calibration_figure(ev), "calibration curve"))
    distribution = figs.add(
        "score_distribution", lambda: score_distribution_figure(ev, cutoff), "score distribution"
    )
    return QualitySection(
        metrics, method, _provenance(summary), charts, distribution, _table(ev["deciles"])
    )


def _provenance(summary: dict) -> str:
    """Where the model and each figure come from, in one paragraph ("" for old bundles)."""
    model = summary.get("model") or {}
    periods = {p["name"]: p for p in summary.get("periods") or []}
    k = model.get("cross_fit_periods")
    if k is None or not {"train", "calibration", "test"} <= periods.keys():
        return ""
    last = "calibration" if k else "train"
    if model.get("learned_from_test_slice"):
        last = "test"
    learned = (
        f"{model_choice(model)}The model learned from {model.get('learned_from_rows'):,} "
        f"leads created {periods['train']['start'][:10]} to {periods[last]['end'][:10]}"
    )
    if last == "test":
        return (
            f"{learned}: every labelled lead, the test slice too. It was refit on them, "
            "with every choice the recipe made, once the figures below were measured: they "
            "are the scores of the test slice by the same recipe run on the leads before it "
            "(the training and calibration slices), which never saw the test slice. Its "
            "calibrator, MQL cutoff and grades were fit on "
            + (
                f"out-of-time scores of the calibration slice: {k} consecutive periods, "
                "each scored by a model fit only on the leads before it."
                if k
                else "the scores of the calibration slice by the model of the training "
                "slice."
            )
        )
    if k:
        return (
            f"{learned} (training and calibration slices). Its calibrator, MQL cutoff and "
            f"grades were fit on out-of-time scores of the calibration slice: {k} "
            "consecutive periods, each scored by a model fit only on the leads before it. "
            "The figures below are its scores of the test slice, which no model saw."
        )
    return (
        f"{learned} (training slice); its calibrator, MQL cutoff and grades were fit on its "
        "scores of the calibration slice. The figures below are its scores of the test "
        "slice, which no model saw."
    )


@dataclass(frozen=True)
class ThresholdsSection:
    """The MQL cutoff, grades, tiers and the optional threshold parts."""

    mql_line: str
    mql_test: Table | None
    grades: Table | None
    tiers: list[Block] | None
    optional: list[OptionalPart]
    #: Optional parts too wide or detailed for leaders: folded away as analyst detail.
    appendix: tuple[str, ...] = ("threshold_policies", "threshold_table", "backtest")


def _thresholds_section(summary: dict) -> ThresholdsSection:
    mql = summary.get("mql_threshold")
    grades = summary.get("grades") or {}
    return ThresholdsSection(
        mql_line=mql_line(mql) + _capacity_note(mql) if mql else "",
        mql_test=_table([{"slice": "test", **mql["test"]}]) if mql else None,
        grades=_table(grades["test"]) if grades.get("test") else None,
        tiers=_blocks(grades["tiers"]) if grades.get("tiers") else None,
        optional=[
            _optional(
                summary,
                "threshold_policies",
                "Threshold policies",
                "Configure threshold policies to compare them here.",
            ),
            _optional(summary, "threshold_table", "Threshold table (every cutoff)"),
            _optional(summary, "backtest", "Rolling-origin backtest"),
            _optional(summary, "funnel", "Lead → SQL → customer funnel"),
        ],
    )


@dataclass(frozen=True)
class DriversSection:
    """Score-point drivers; without them (older summaries) the gain importance instead."""

    importance: Table | None = None
    base_score: str = ""
    n_leads: str = ""
    chart: Figure | None = None
    fields: Table | None = None
    groups: Table | None = None
    beeswarm: Figure | None = None
    dependence: list[Figure] = field(default_factory=list)
    segment_column: str = ""
    by_segment: Table | None = None


def _drivers_leads(d: dict) -> str:
    """"the 1,234 test leads", or the sample of them the drivers were averaged over."""
    n, total = d["n_leads"], d.get("test_leads")
    if total is None or total == n:
        return f"the {n:,} test leads"
    return f"a random sample of {n:,} of the {total:,} test leads"


def _drivers_section(summary: dict, figs: _Figures) -> DriversSection:
    d = summary.get("drivers")
    if not d:
        imp = summary.get("importance") or []
        rows = [
            {"field": r["label"], "group": r["group"], "share of gain": r["gain_share"]}
            for r in imp[:12]
        ]
        return DriversSection(importance=_table(rows))
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
    chart = figs.add("drivers", lambda: drivers_figure(d), "drivers by field")
    beeswarm, dependence = _per_lead_figures(d, figs)
    return DriversSection(
        base_score=f"{d.get('base_score', float('nan')):.1f}",
        n_leads=_drivers_leads(d),
        chart=chart,
        fields=_table(rows, max_rows=15),
        groups=_table(d.get("groups", [])),
        beeswarm=beeswarm,
        dependence=dependence,
        segment_column=str(d.get("segment_column")),
        by_segment=_table(d["by_segment"]) if d.get("by_segment") else None,
    )


def _per_lead_figures(d: dict, figs: _Figures) -> tuple[Figure | None, list[Figure]]:
    """The beeswarm of the stored sample and dependence plots of its top 3 behaviours."""
    sample = d.get("sample")
    if not sample or not sample["fields"]:
        return None, []
    beeswarm = figs.add("beeswarm", lambda: beeswarm_figure(d), "beeswarm of field effects")
    behaviours = [
        f
        for f, g, v in zip(sample["fields"], sample["groups"], sample["values"], strict=True)
        if g == "behaviour" and v is not None
    ][:3]
    dependence = [
        figs.add(f"dependence_{f}", lambda f=f: dependence_figure(d, f), f"dependence plot {f}")
        for f in behaviours
    ]
    return beeswarm, dependence


@dataclass(frozen=True)
class Scorecard:
    """The learned points scorecard: its figures as text and its rows."""

    points_to_double_odds: str
    threshold: str
    roc_auc_test: str
    model_roc_auc_test: str
    rows: Table


@dataclass(frozen=True)
class CriteriaSection:
    """Criteria rules and the points scorecard (None: not computed)."""

    rules: Table | None
    scorecard: Scorecard | None


_RULE_COLUMNS = [
    "field",
    "group",
    "rule",
    "leads",
    "support",
    "conversion_rate",
    "lift",
    "share_of_conversions",
]


def _criteria_section(summary: dict) -> CriteriaSection:
    rules = summary.get("criteria_rules")
    card = summary.get("scorecard")
    scorecard = None
    if card and card.get("rows"):
        scorecard = Scorecard(
            points_to_double_odds=str(card["points_to_double_odds"]),
            threshold=str(card["threshold"]),
            roc_auc_test=f"{card['roc_auc_test']:.3f}",
            model_roc_auc_test=f"{card['model_roc_auc_test']:.3f}",
            rows=_table(card["rows"], ["field", "rule", "points", "train_share"]),
        )
    return CriteriaSection(_table(rules, _RULE_COLUMNS) if rules else None, scorecard)


@dataclass(frozen=True)
class RulesVsModelSection:
    """The team's current rules and the learned scorecard against the model."""

    current_rules: OptionalPart
    scorecard: Table | None


def _rules_vs_model_section(summary: dict) -> RulesVsModelSection:
    card = summary.get("scorecard")
    return RulesVsModelSection(
        current_rules=_optional(
            summary,
            "baselines_equal_volume",
            "Team's current rules vs the model at the same number of MQLs",
            "Give the current manual rules (a points sheet) to compare them.",
        ),
        scorecard=_table(card["equal_volume"]) if card and card.get("equal_volume") else None,
    )


@dataclass(frozen=True)
class SegmentsSection:
    """Per-segment quality and models, and where the per-segment drivers are."""

    quality: OptionalPart
    models: Table | None
    drivers_segment_column: str | None


_SEGMENT_MODEL_COLUMNS = [
    "segment",
    "leads",
    "positives",
    "roc_auc_segment",
    "roc_auc_global",
    "ece_segment",
    "ece_global",
    "used",
    "reason",
]


def _segments_section(summary: dict) -> SegmentsSection:
    d = summary.get("drivers") or {}
    models = summary.get("segment_models")
    return SegmentsSection(
        quality=_optional(
            summary,
            "segments",
            "Per-segment quality and thresholds",
            "It is computed when the thresholds are learned per segment.",
        ),
        models=_table(models, _SEGMENT_MODEL_COLUMNS) if models else None,
        drivers_segment_column=str(d.get("segment_column")) if d.get("by_segment") else None,
    )


@dataclass(frozen=True)
class DataSection:
    """Periods, label counts, notes, excluded columns, audits and versions."""

    periods: Table
    leads: str
    eligible: str
    immature: str
    converted_before_as_of: str
    horizon_days: str
    notes: list[str]
    excluded: Table
    optional: list[OptionalPart]
    versions: str


def _data_section(summary: dict) -> DataSection:
    lc = summary["label_counts"]
    excluded = [{"column": k, "why": v} for k, v in summary.get("excluded_columns", {}).items()]
    versions = summary.get("versions")
    return DataSection(
        periods=_table(summary["periods"]),
        leads=f"{lc['leads']:,}",
        eligible=f"{lc['eligible']:,}",
        immature=f"{lc['immature']:,}",
        converted_before_as_of=f"{lc['converted_before_as_of']:,}",
        horizon_days=str(summary["horizon_days"]),
        notes=[str(n) for n in summary.get("data_notes", [])],
        excluded=_table(excluded),
        optional=[
            _optional(summary, "leakage_audit", "Leakage audit"),
            _optional(summary, "drift_audit", "Drift audit (population stability)"),
        ],
        versions=_fmt(versions) if versions else "",
    )


@dataclass(frozen=True)
class ReadFirst:
    """What to read before trusting the model, shown above everything else: the summary's
    warnings and the columns the leakage audit left out or kept for review, with their
    evidence (never a value of the column)."""

    warnings: list[str]
    excluded: list[dict]
    review: list[dict]


def _read_first(summary: dict) -> ReadFirst | None:
    leakage = summary.get("leakage_audit") or []

    def shown(rows) -> list[dict]:
        return [{k: str(r.get(k, "")) for k in ("column", "reason", "evidence")} for r in rows]

    first = ReadFirst(
        [str(w) for w in summary.get("warnings") or []],
        shown(r for r in leakage if r.get("action") == EXCLUDED),
        shown(columns_to_review(leakage, summary.get("excluded_columns"))),
    )
    return first if first.warnings or first.excluded or first.review else None


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


@dataclass(frozen=True)
class Page:
    """Everything ``report.html.j2`` shows."""

    name: str
    target: str
    horizon_days: str
    observation_days: str
    data_up_to: str
    nav: tuple[tuple[str, str], ...]
    words: list[str]
    first: FirstScreen
    quality: QualitySection
    thresholds: ThresholdsSection
    drivers: DriversSection
    criteria: CriteriaSection
    rules_vs_model: RulesVsModelSection
    segments: SegmentsSection
    data: DataSection
    #: Which model this is and how it was chosen (``mqlml report``); empty in training.
    model_line: str = ""
    #: Warnings and flagged columns to read before anything else; None when there are none.
    read_first: ReadFirst | None = None
    #: The summary's ``champion_vs_challenger`` (``mqlml retrain``); None after ``train``.
    challenger: dict | None = None


@functools.cache
def _environment():
    import jinja2

    # Autoescape everything: the report shows column names, category values and lead ids
    # from the user's data, any of which can hold markup.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mqlml.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --- the report ----------------------------------------------------------------------


@dataclass
class Report:
    """A rendered report: the HTML page and its figures (name -> PNG bytes)."""

    html: str
    figures: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def build_report(
    summary, test: pd.DataFrame | None = None, *, model_line: str = ""
) -> Report:
    """Render the report of a training summary.

    Parameters
    ----------
    summary : TrainingSummary or dict
        ``TrainedModel.summary`` (anything with ``to_dict()``), or its dict form as saved
        in a bundle's ``metrics.json``.
    test : DataFrame, optional
        Test-slice predictions (``label``, ``probability``), only needed for summaries
        written before the ``evaluation`` key existed.
    model_line : str, optional
        Which model version this is and how it was chosen, shown under the title.

    Returns
    -------
    Report
        The HTML page, its figures as PNG bytes and its tables (the scorecard) as frames.
    """
    # The report is a view of what metrics.json holds: render from the same dict.
    data = summary.to_dict() if hasattr(summary, "to_dict") else summary
    figs = _Figures()
    page = Page(
        name=str(data["name"]),
        target=str(data["target"]).upper(),
        horizon_days=str(data["horizon_days"]),
        observation_days=str(data["observation_days"]),
        data_up_to=str(data["snapshot_at"])[:10],
        nav=SECTIONS + ((("challenger", "Champion vs challenger"),)
                        if data.get("champion_vs_challenger") else ()),
        words=leaders_summary(data),
        first=first_screen(data),
        quality=_quality_section(data, figs, test),
        thresholds=_thresholds_section(data),
        drivers=_drivers_section(data, figs),
        criteria=_criteria_section(data),
        rules_vs_model=_rules_vs_model_section(data),
        segments=_segments_section(data),
        data=_data_section(data),
        model_line=model_line,
        read_first=_read_first(data),
        challenger=data.get("champion_vs_challenger"),
    )
    html = _environment().get_template("report.html.j2").render(page=page)
    tables = {}
    card = data.get("scorecard")
    if card and card.get("rows"):
        from mqlml.explain.criteria import scorecard_table

        tables["scorecard"] = scorecard_table(card)
    return Report(html=html, figures=figs.figures, tables=tables)


def render_summary_html(summary, test: pd.DataFrame | None = None) -> str:
    """The report's HTML only (see :func:`build_report`)."""
    return build_report(summary, test).html


def figures_dir(report_path: Path) -> Path:
    """Folder for the report's PNG figures and CSV tables: ``<report stem>_files``."""
    report_path = Path(report_path)
    return report_path.with_name(f"{report_path.stem}_files")


def write_report(report: Report, path: str | Path, *, safe_csv: bool = True) -> dict[str, Path]:
    """Write the HTML, its figures as PNG and its tables as CSV next to it (atomically);
    ``safe_csv``: neutralise CSV cells a spreadsheet would run as formulas."""
    from mqlml.data.files import write_bytes, write_table, write_text

    path = Path(path)
    folder = figures_dir(path)
    written = {"html": write_text(report.html, path)}
    for name, png in report.figures.items():
        written[name] = write_bytes(png, folder / f"{name}.png")
    for name, frame in report.tables.items():
        written[name] = write_table(frame, folder / f"{name}.csv", safe_csv=safe_csv)
    return written
