"""The leaders' report: sections, inline figures, optional summary keys, files for slides."""

import base64
import copy
import re

import pytest

from mqlml.report.html import build_report, figures_dir, write_report

SECTION_IDS = (
    "summary",
    "quality",
    "thresholds",
    "drivers",
    "criteria",
    "rules-vs-model",
    "segments",
    "data",
)

#: Small fake versions of the keys other stages add to the summary.
OPTIONAL = {
    "threshold_policies": [
        {
            "policy": "capacity",
            "target": 30,
            "cutoff": 41,
            "mqls_per_week": 29.5,
            "mqls_per_week_lo": 27.0,
            "mqls_per_week_hi": 32.0,
            "mql_sql_rate": 0.311,
        },
        {
            "policy": "target_precision",
            "target": 0.3,
            "cutoff": 44,
            "mqls_per_week": 22.25,
            "mqls_per_week_lo": 20.0,
            "mqls_per_week_hi": 24.0,
            "mql_sql_rate": 0.333,
        },
    ],
    "threshold_table": [{"cutoff": c, "mqls_per_week": 100.0 - c} for c in range(1, 100)],
    "backtest": {
        "folds": [{"fold": 1, "roc_auc": 0.777}, {"fold": 2, "roc_auc": 0.7891}],
        "grades": [{"fold": 1, "grade": "A", "conversion_rate": 0.4321}],
        "thresholds": [{"fold": 1, "cutoff": 40}, {"fold": 2, "cutoff": 43}],
    },
    "baselines_equal_volume": [
        {"method": "current rules (rules.yaml)", "mqls": 500, "sqls": 61, "customers": 9},
        {"method": "model", "mqls": 500, "sqls": 117, "customers": 23},
    ],
    "segments": [{"segment": "paid_search", "leads": 321, "positives": 45, "roc_auc": 0.7654}],
    "funnel": {"sql_rate": 0.1111, "won_given_sql": 0.2727},
    "leakage_audit": [
        {
            "column": "stage_changed_at",
            "reason": "recorded after conversion",
            "evidence": "AUC 0.99 alone",
            "action": "excluded",
        }
    ],
    "drift_audit": [
        {"column": "lead_source", "psi": 0.0312, "evidence": "stable", "out_of_range": 0}
    ],
}


@pytest.fixture(scope="module")
def summary(trained):
    # The report renders the summary as metrics.json holds it.
    return trained[0].summary.to_dict()


@pytest.fixture(scope="module")
def report(summary):
    return build_report(summary)


def test_all_sections_present_and_figures_inline(report):
    page = report.html
    for sid in SECTION_IDS:
        assert f"id='{sid}'" in page or f'id="{sid}"' in page, sid
    imgs = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(imgs) == len(report.figures) >= 9
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    assert {"roc", "gains", "calibration", "score_distribution", "drivers", "beeswarm"} <= set(
        report.figures
    )
    assert sum(k.startswith("dependence_") for k in report.figures) == 3


def test_nothing_is_fetched_from_the_network(report):
    # no external scripts, styles, fonts or images: only inline data
    assert not re.search(r"(src|href)=['\"](?!data:|#)", report.html)
    assert "http://" not in report.html and "https://" not in report.html
    # the only scripts are the what-if's inline data and code, with no src
    scripts = re.findall(r"<script([^>]*)>", report.html)
    assert scripts == [' type="application/json" id="whatif-data"', ""]


def test_leaders_summary_speaks_in_words(report, summary):
    top = [r["label"] for r in summary["drivers"]["fields"][:3]]
    head = report.html.split('id="headline"')[1].split("</div>")[0]
    assert "ROC AUC" in head and "MQL line is score" in head
    more = report.html.split('id="more-words"')[1].split("</div>")[0]
    assert all(label in more for label in top)
    assert "MQL cutoff is score" in more and "scorecard" in more


def test_optional_keys_absent_say_not_computed(summary):
    bare = {k: v for k, v in copy.deepcopy(summary).items() if k not in OPTIONAL}
    html = build_report(bare).html
    for key in OPTIONAL:
        section = html.split(f"id='s-{key}'")[1].split("<h3")[0]
        assert "not computed for this model" in section, key


def test_optional_keys_present_are_rendered_as_tables(summary):
    s = copy.deepcopy(summary)
    s.update(copy.deepcopy(OPTIONAL))
    s["grades"]["tiers"] = [
        {"tier": "nurture", "min_score": 12},
        {"tier": "disqualify", "min_score": 1},
    ]
    page = build_report(s).html
    for key in OPTIONAL:
        section = page.split(f"id='s-{key}'")[1].split("<h3 id=")[0]
        assert "not computed" not in section, key
        assert "<table>" in section, key
    for text in (
        "target_precision",
        "22.2",
        "0.789",
        "43.2%",
        "current rules (rules.yaml)",
        "paid_search",
        "0.273",
        "stage_changed_at",
        "0.031",
        "nurture",
    ):
        assert text in page, text
    # a long table shows its first rows and keeps all of them behind a toggle
    assert "all 99 rows" in page


def test_old_summary_without_new_keys_still_renders(summary, trained):
    s = {
        k: v
        for k, v in summary.items()
        if k not in ("drivers", "criteria_rules", "scorecard", "evaluation")
    }
    page = build_report(s, trained[1]["test_predictions"]).html
    assert "calibration curve" in page
    assert "Score-point drivers: not computed" in page


def test_write_report_writes_html_pngs_and_scorecard_csv(report, tmp_path):
    out = tmp_path / "leaders" / "report.html"
    written = write_report(report, out)
    folder = figures_dir(out)
    assert out.read_text(encoding="utf-8") == report.html
    for name in report.figures:
        assert (folder / f"{name}.png").read_bytes() == report.figures[name]
    csv = (folder / "scorecard.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0] == "field,rule,points" and csv[-1].startswith("MQL threshold,")
    assert set(written) >= {"html", "scorecard", *report.figures}


def test_report_top_fields_include_the_strongest_frequent_true_driver(summary):
    # docs/synthetic.md: pricing page views are the strongest driver that many leads show
    # (demo and free trial requests are stronger per lead but rare before as-of).
    top5 = [r["field"] for r in summary["drivers"]["fields"][:5]]
    assert "pricing_page_view" in top5
    assert {r["group"] for r in summary["drivers"]["fields"][:5]} == {"fit", "behaviour"}


# --- escaping, notes on what was not computed, templates shipped ---------------------

EVIL = "<script>alert('x')</script>"
EVIL_FIELD = "a' onerror='alert(1)"


def _section(page: str, sid: str) -> str:
    return page.split(f"<h2 id='{sid}'>")[1].split("<h2 ")[0]


def _visible_text(markup: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(markup)
    return " ".join(parser.parts)


def _evil_summary(summary: dict) -> dict:
    """Column names, category values and lead ids holding markup, in every section."""
    s = copy.deepcopy(summary)
    s["name"] = EVIL
    d = s["drivers"]
    d["fields"][0]["label"] = EVIL
    d["sample"]["fields"][0] = EVIL_FIELD  # a behaviour: named in figure attributes
    d["segment_column"] = EVIL
    d["by_segment"] = [{"segment": EVIL, EVIL: 1.5}]
    s["criteria_rules"][0]["rule"] = f"industry = {EVIL}"
    s["data_notes"] = [EVIL]
    s["excluded_columns"] = {EVIL: f"constant: {EVIL}"}
    s["leakage_audit"] = [{"column": EVIL, "reason": EVIL}]
    s["segments"] = [{"segment": EVIL, "lead_id": EVIL}]
    s["backtest"] = {EVIL: {EVIL: [EVIL, 1]}}
    return s


def test_values_from_the_data_are_escaped_once_in_every_section(summary):
    page = build_report(_evil_summary(summary)).html
    assert EVIL not in page and "onerror='" not in page
    assert "<title>mqlml · &lt;script&gt;" in page
    for sid in ("thresholds", "drivers", "criteria", "segments", "data"):
        section = _section(page, sid)
        assert "&lt;script&gt;" in section, sid
        # escaped once: the reader sees the text as it is in the data, not "&lt;"
        assert EVIL in _visible_text(section) and "&lt;" not in _visible_text(section), sid
    assert "data-figure='dependence_a&#39; onerror=&#39;alert(1)'" in page


@pytest.mark.parametrize(
    ("key", "sid", "note"),
    [
        ("evaluation", "quality", "Quality charts: not computed for this model."),
        ("drivers", "drivers", "Score-point drivers: not computed for this model."),
        ("criteria_rules", "criteria", "Criteria rules: not computed for this model."),
        ("scorecard", "criteria", "Points scorecard: not computed for this model."),
    ],
)
def test_a_missing_part_says_not_computed_in_its_section(summary, report, key, sid, note):
    s = {k: v for k, v in copy.deepcopy(summary).items() if k != key}
    if "drivers" in s:
        s["drivers"]["sample"] = None  # no per-lead figures: they are not under test here
    assert note in _section(build_report(s).html, sid)
    assert note not in report.html


def test_a_summary_object_renders_as_its_dict(summary):
    s = copy.deepcopy(summary)
    s["drivers"]["sample"] = None  # the SHAP plots jitter at random: compare the rest

    class Summary:
        def to_dict(self):
            return copy.deepcopy(s)

    assert build_report(Summary()).html == build_report(s).html


def test_templates_are_package_data_found_from_the_installed_package():
    import fnmatch
    import tomllib
    from importlib.resources import files
    from pathlib import Path

    from jinja2 import meta

    from mqlml.report.html import _environment

    env = _environment()
    folder = files("mqlml.report") / "templates"
    shipped = {p.name for p in folder.iterdir() if p.is_file()}
    # every template reachable from the page, found through the package's resources
    todo, needed = ["report.html.j2"], set()
    while todo:
        name = todo.pop()
        needed.add(name)
        assert name in shipped, name
        source = folder.joinpath(name).read_text(encoding="utf-8")
        todo += [n for n in meta.find_referenced_templates(env.parse(source)) if n not in needed]
    assert {"report.html.j2", "macros.html.j2", "style.css"} <= needed
    # and a wheel carries them: pyproject's package data covers each file
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["mqlml"]
    for name in needed:
        assert any(fnmatch.fnmatch(f"report/templates/{name}", g) for g in globs), name


@pytest.mark.parametrize(
    ("policy", "target", "says"),
    [
        ("capacity", 100, "With sales capacity 100 leads/week, the MQL cutoff is score ≥ 15"),
        ("precision", 0.3, "MQL conversion rate of at least 30% (precision policy), the MQL "
                           "cutoff is score ≥ 15"),
        ("recall", 0.8, "capture at least 80% of conversions (recall policy)"),
        ("expected_value", 500, "expected value exceeds its cost of 500 (expected-value policy)"),
    ],
)
def test_the_report_names_the_policy_that_set_the_mql_line(summary, policy, target, says):
    s = copy.deepcopy(summary)
    s["mql_threshold"].update(policy=policy, target=target, cutoff=15, capacity_per_week=100)
    s["mql_threshold"]["test"]["mqls_per_week"] = 142.0
    page = build_report(s).html
    for part in ("summary", "thresholds"):
        text = re.split(rf"<h2 id=['\"]{part}['\"]>", page)[1].split("<h2 ")[0]
        assert says in text
        over = "42% over the sales capacity of 100 leads/week"
        assert (over in text) == (policy != "capacity")
        if policy != "capacity":
            assert "With sales capacity" not in text


def _comparison(champion):
    """A champion_vs_challenger key as mqlml retrain writes it (mqlml.workflow.retrain)."""
    return {
        "champion": champion, "leads": 800, "converted": 53,
        "leads_the_champion_may_have_seen": None if champion is None else 7,
        "champion_data_up_to": "2024-12-26",
        "period": ["2025-01-19", "2025-02-19"],
        "selection": {"compare_leads": 800, "compare_days": None},
        "metrics": [
            {"metric": "roc_auc", "champion": None if champion is None else 0.82,
             "challenger": 0.8342},
            {"metric": "log_loss", "champion": None if champion is None else 0.2128,
             "challenger": 0.2008},
        ],
        "gate": {"metric": "log_loss", "min_roc_auc": 0.6, "min_improvement": 0.005,
                 "passes": True, "reason": "holdout log_loss 0.2008 is as good as <b>"},
        "grades": {"cutoffs": "learned anew", "champion_cutoffs": None,
                   "challenger_cutoffs": {"A": 29, "B": 8, "C": 3},
                   "leads_changing_grade": None if champion is None else 202},
    }


def test_champion_vs_challenger_section_only_after_a_retrain(summary, report):
    assert "id='challenger'" not in report.html and "#challenger" not in report.html
    champion = {"name": "lead-scoring", "version": "3", "source": "models:/x@champion",
                "chosen_by": "alias"}
    page = build_report({**summary, "champion_vs_challenger": _comparison(champion)}).html
    section = page[page.index("id='challenger'"):]
    assert "href='#challenger'" in page
    assert "lead-scoring version\n3" in section and "800 most recent mature leads" in section
    assert "<td>0.2128</td><td>0.2008</td>" in section  # the champion, then the challenger
    assert "passes" in section and "&lt;b&gt;" in section  # the reason is escaped
    assert "202 of the 800 leads change grade" in section
    assert "7\nmore leads had matured by the end of the champion's data (2024-12-26) and\n" \
        "were left out" in section
    alone = build_report({**summary, "champion_vs_challenger": _comparison(None)}).html
    part = alone[alone.index("id='challenger'"):]
    assert "There was no champion" in part and "<td>–</td><td>0.2008</td>" in part
    assert "change grade" not in part


def test_drivers_say_when_they_were_averaged_over_a_sample_of_the_test_leads(summary, report):
    n = summary["drivers"]["n_leads"]
    assert f"Averaged over the {n:,} test leads:" in _section(report.html, "drivers")
    s = copy.deepcopy(summary)
    s["drivers"]["sample"] = None  # no per-lead figures: they are not under test here
    s["drivers"]["test_leads"] = 3 * n
    text = _visible_text(_section(build_report(s).html, "drivers"))
    assert f"Averaged over a random sample of {n:,} of the {3 * n:,} test leads:" in text


@pytest.mark.parametrize("periods", [0, 2])
def test_the_quality_section_says_what_the_model_learned_from(summary, periods):
    model = {**summary["model"], "cross_fit_periods": periods, "learned_from_test_slice": False}
    s = {**summary, "model": model}
    by_name = {p["name"]: p for p in summary["periods"]}
    quality = build_report(s).html.split("id='quality'")[1].split("<h2")[0]
    rows = summary["model"]["learned_from_rows"]
    assert f"learned from {rows:,} leads created {by_name['train']['start'][:10]}" in quality
    last = by_name["calibration" if periods else "train"]["end"][:10]
    assert f"to {last}" in quality
    assert ("out-of-time scores" in quality) == bool(periods)
    assert "test slice, which no model saw" in quality


@pytest.mark.parametrize("periods", [0, 2])
def test_a_model_refit_on_the_test_slice_says_so_and_where_the_figures_come_from(
    summary, periods
):
    model = {**summary["model"], "cross_fit_periods": periods, "learned_from_test_slice": True}
    quality = build_report({**summary, "model": model}).html.split("id='quality'")[1]
    text = " ".join(_visible_text(quality.split("<h2")[0]).split())
    test_end = {p["name"]: p for p in summary["periods"]}["test"]["end"][:10]
    assert f"to {test_end}: every labelled lead, the test slice too" in text
    assert "the same recipe run on the leads before it" in text
    assert "which never saw the test slice" in text
    assert ("out-of-time scores" in text) == bool(periods)


_SEARCH = {
    "kind": "blend", "settings": {}, "tree_weight": 0.6, "linear_c": 0.1,
    "log_loss": {"configured": 0.30, "trees": 0.29, "linear": 0.295, "blend": 0.28},
    "fold_trees": [40, 50, 60], "trials": 25, "seconds": 12.0, "fold_rows": 1_975,
    "fold_positives": 253,
}


@pytest.mark.parametrize(
    ("kind", "search", "says"),
    [
        ("blend", _SEARCH, "The model is a blend of LightGBM trees (60%) and a logistic "
         "regression: of 25 LightGBM settings, a logistic regression and their blends, it "
         "best predicted the newest 3 periods of the training slice (1,975 leads)"),
        ("linear", {**_SEARCH, "kind": "linear"}, "The model is a logistic regression: of 25"),
        ("boosted", None, "The model is LightGBM trees boosted from a logistic regression, "
         "with the configured settings."),
    ],
    ids=["blend", "linear", "configured"],
)
def test_the_quality_section_says_what_the_model_is_and_how_it_was_chosen(
    summary, kind, search, says
):
    s = {**summary, "model": {**summary["model"], "kind": kind, "search": search}}
    quality = build_report(s).html.split("id='quality'")[1].split("<h2")[0]
    assert says in " ".join(_visible_text(quality).split())


def test_an_old_summary_keeps_the_old_calibration_sentence(summary):
    model = {k: v for k, v in summary["model"].items() if k != "cross_fit_periods"}
    quality = build_report({**summary, "model": model}).html.split("id='quality'")[1]
    assert "fit on the calibration slice only" in quality.split("<h2")[0]
