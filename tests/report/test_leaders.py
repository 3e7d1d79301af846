"""The report's first screen: ranking against the rules, the MQL line, three criteria
changes with their evidence, and the what-if of moving the MQL line."""

from __future__ import annotations

import copy
import math

import pytest

from mqlml.report.leaders import (
    MAX_DROP_LIFT,
    criteria_changes,
    first_screen,
    mql_sentence,
    ranking_sentence,
    what_if_rows,
)


def _line(criterion, field, points, leads, lift, base=0.1):
    return {"criterion": criterion, "field": field, "points": points, "leads": leads,
            "conversion_rate": lift * base, "lift": lift}


def _criteria_rule(field, rule, lift, support=0.1, share=0.3):
    return {"field": field, "group": "behaviour", "rule": rule, "leads": 300,
            "support": support, "conversion_rate": lift * 0.1, "lift": lift,
            "share_of_conversions": share, "train_lift": lift}


def _summary(lines=None, rules=None):
    s = {
        "metrics_test": {"model": {"n": 3000, "roc_auc": 0.81, "lift_top_decile": 3.2}},
        "criteria_rules": rules or [],
        "drivers": {"fields": []},
    }
    if lines is not None:
        s["rules"] = {"name": "sheet", "path": "r.yaml", "mql_threshold": 40, "lines": lines}
    return s


SHEET_LINES = [
    _line("job_title contains 'vp'", "job_title", 15, 200, 2.0),
    _line("lead_source is 'event'", "lead_source", 5, 300, 1.0),  # rewards nothing
    _line("demo_request at least 1 time", "demo_request", 40, 150, 4.0),
    _line("pricing_page_view at least 1 time", "pricing_page_view", 2, 400, 4.0),  # too few
]


def test_drop_is_the_rewarded_line_whose_leads_convert_no_better():
    changes = {c.kind: c for c in criteria_changes(_summary(SHEET_LINES))}
    assert "lead_source is 'event'" in changes["drop"].criterion
    assert "+5 points" in changes["drop"].criterion
    assert "1.00×" in changes["drop"].evidence and "300 test leads" in changes["drop"].evidence


def test_no_drop_from_the_sheet_when_every_rewarded_line_converts_better():
    lines = [ln for ln in SHEET_LINES if ln["lift"] >= MAX_DROP_LIFT]
    kinds = [c.kind for c in criteria_changes(_summary(lines))]
    assert "drop" not in kinds  # no drivers to fall back on either


def test_reweight_puts_a_line_on_the_sheets_own_scale():
    change = next(c for c in criteria_changes(_summary(SHEET_LINES)) if c.kind == "re-weight")
    # the sheet's median points per unit log-lift of its rewarded, converting lines
    scales = sorted([15 / math.log(2.0), 40 / math.log(4.0), 2 / math.log(4.0)])
    suggested = round(scales[1] * math.log(4.0))
    assert change.criterion == f"pricing_page_view at least 1 time: +2 → {suggested:+d} points"


@pytest.mark.parametrize(
    "field, proposed",
    [
        ("Overall engagement", True),  # the sheet scores no overall engagement
        ("Job seniority", False),  # read from job_title, which the sheet scores
        ("Demo requests", False),  # an activity type the sheet scores
    ],
)
def test_add_proposes_only_what_the_current_rules_do_not_score(field, proposed):
    rules = [_criteria_rule(field, "At least 5 activities in the last 7 days", 2.9)]
    adds = [c for c in criteria_changes(_summary(SHEET_LINES, rules)) if c.kind == "add"]
    assert bool(adds) is proposed
    if proposed:
        assert adds[0].criterion == "At least 5 activities in the last 7 days"
        assert "2.9× the average" in adds[0].evidence


@pytest.mark.parametrize("support, lift", [(0.005, 3.0), (0.2, 1.1)])
def test_add_needs_support_and_lift(support, lift):
    rules = [_criteria_rule("Overall engagement", "rule", lift, support=support)]
    assert [c for c in criteria_changes(_summary(None, rules)) if c.kind == "add"] == []


def test_what_if_rows_by_hand():
    s = {
        "threshold_table": [
            {"cutoff": 5, "mqls_per_week": 100.0, "mql_sql_rate": 0.2, "mql_won_rate": 0.05},
            {"cutoff": 6, "mqls_per_week": 80.0, "mql_sql_rate": 0.25, "mql_won_rate": math.nan},
        ],
        "funnel": {"mean_deal_value": 1000.0},
    }
    assert what_if_rows(s) == [
        {"cutoff": 5, "mqls": 100.0, "sqls": 20.0, "customers": 5.0, "revenue": 5000},
        {"cutoff": 6, "mqls": 80.0, "sqls": 20.0, "customers": None, "revenue": None},
    ]


def test_first_screen_of_a_training_with_the_current_rules(funnel_trained):
    summary = funnel_trained[0].summary.to_dict()
    rows = {r["method"]: r for r in summary["baselines_equal_volume"]}
    ranking = ranking_sentence(summary)
    assert f"finds {rows['model']['sqls']:,} SQLs against the rules' " in ranking
    assert f"{rows['current_rules']['sqls']:,}" in ranking
    assert f"score ≥ {summary['mql_threshold']['cutoff']}" in mql_sentence(summary)
    screen = first_screen(summary)
    assert [c.kind for c in screen.changes] == ["add", "drop", "re-weight"]
    lines = summary["rules"]["lines"]
    assert sum(ln["leads"] for ln in lines if ln["field"] == "demo_request") <= (
        summary["metrics_test"]["model"]["n"]
    )
    equal_volume = summary["baselines_equal_volume"]
    assert [b.value for b in screen.bars] == [int(r["sqls"]) for r in equal_volume]
    assert [b.is_model for b in screen.bars] == [r["method"] == "model" for r in equal_volume]
    assert screen.cutoff == summary["mql_threshold"]["cutoff"]


def test_a_summary_without_rules_or_tables_still_has_a_first_screen(funnel_trained):
    summary = copy.deepcopy(funnel_trained[0].summary.to_dict())
    for key in ("rules", "baselines_equal_volume", "threshold_table"):
        summary.pop(key, None)
    screen = first_screen(summary)
    assert "Give the current MQL rules" in screen.ranking
    assert screen.bars == [] and screen.what_if_json is None
    # without a sheet the changes come from the model's drivers and scorecard
    assert [c.kind for c in screen.changes] == ["add", "drop", "re-weight"]
    assert "points between its lowest and highest band" in screen.changes[2].evidence


def test_every_evidence_reads_as_a_sentence(funnel_trained):
    summary = funnel_trained[0].summary.to_dict()
    for with_sheet in (True, False):
        s = copy.deepcopy(summary)
        if not with_sheet:
            s.pop("rules", None)
        for change in criteria_changes(s):
            assert not change.evidence[0].islower() and change.evidence.endswith("."), change


@pytest.mark.parametrize("rate", [None, math.nan])
def test_an_mql_line_without_test_mqls_quotes_no_sql_rate(rate):
    s = {"mql_threshold": {"cutoff": 40, "test": {
        "mqls_per_week": 3.0, "mql_conversion_rate": rate, "share_of_conversions_captured": 0.0,
    }}}
    sentence = mql_sentence(s)
    assert "about 3 MQLs a week" in sentence and "not measured" in sentence
    assert "nan" not in sentence and "about 0 a week" not in sentence
