"""The manual points-sheet baseline: loading, scoring by hand, equal-volume comparison."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import ACTIVITY_TYPE, LEAD_ID, OCCURRED_AT
from mqlml.errors import ConfigError
from mqlml.training.rules import compare_at_equal_volume, load_rules, rule_lines, rule_points

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "rules-example.yaml"
T0 = pd.Timestamp("2025-03-01", tz="UTC")


def _write(tmp_path, text):
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


SHEET = """
name: tiny
mql_threshold: 30
attributes:
  job_title:
    - {contains: vp, points: 15}
    - {contains: marketing, points: 5}
    - {missing: true, points: -5}
  company_size:
    - {equals: "5000+", points: 10}
activities:
  pricing_page_view:
    - {min: 1, points: 10}
    - {min: 3, points: 20}
  demo_request:
    - {min: 1, points: 40}
"""


def _leads():
    return pd.DataFrame(
        {
            LEAD_ID: ["a", "b", "c", "d"],
            "job_title": ["VP Marketing", "Marketing Manager", None, "Engineer"],
            "company_size": ["5000+", "1-10", "5000+", None],
        }
    )


def _acts():
    rows = [("a", 1, "pricing_page_view")] * 3 + [
        ("b", 1, "pricing_page_view"),
        ("c", 1, "demo_request"),
        ("d", 5, "demo_request"),  # after d's as-of: not known yet, no points
    ]
    return pd.DataFrame(
        {
            LEAD_ID: [r[0] for r in rows],
            OCCURRED_AT: [T0 - pd.Timedelta(days=2) + pd.Timedelta(days=r[1]) for r in rows],
            ACTIVITY_TYPE: [r[2] for r in rows],
        }
    )


def test_points_by_hand(tmp_path):
    sheet = load_rules(_write(tmp_path, SHEET))
    as_of = pd.Series([T0] * 4)
    points = rule_points(sheet, _leads(), _acts(), as_of)
    # a: vp 15 (first match wins, not +5) + 5000+ 10 + pricing x3 band 20 = 45
    # b: marketing 5 + pricing x1 10 = 15;  c: missing -5 + 10 + demo 40 = 45;  d: 0
    assert points.tolist() == [45, 15, 45, 0]
    assert (points >= sheet.mql_threshold).tolist() == [True, False, True, False]


def test_each_line_names_the_leads_it_scores(tmp_path):
    sheet = load_rules(_write(tmp_path, SHEET))
    lines = rule_lines(sheet, _leads(), _acts(), pd.Series([T0] * 4))
    hits = {ln.criterion: ln.hit.tolist() for ln in lines}
    # first matching attribute rule only: a is "vp", not also "marketing"
    assert hits["job_title contains 'vp'"] == [True, False, False, False]
    assert hits["job_title contains 'marketing'"] == [False, True, False, False]
    assert hits["job_title is empty"] == [False, False, True, False]
    # the highest band reached only: a's 3 views are the "3" line, not also the "1" line
    assert hits["pricing_page_view at least 1 time"] == [False, True, False, False]
    assert hits["pricing_page_view at least 3 times"] == [True, False, False, False]
    assert hits["demo_request at least 1 time"] == [False, False, True, False]
    assert {ln.field for ln in lines} == {
        "job_title", "company_size", "pricing_page_view", "demo_request"
    }


def test_activity_window(tmp_path):
    sheet = load_rules(_write(tmp_path, SHEET + "window_days: 1\n"))
    # pricing views of a happened 1 day before as-of: inside; a 12-hour window misses them
    points = rule_points(sheet, _leads(), _acts(), pd.Series([T0] * 4))
    assert points[0] == 45
    late = pd.Series([T0 + pd.Timedelta(days=3)] * 4)
    assert rule_points(sheet, _leads(), _acts(), late)[0] == 25  # views out of the window


def test_the_shipped_example_loads_and_scores_the_demo_history():
    from mqlml.labels.labelling import training_as_of
    from mqlml.synthetic.generate import generate_history

    sheet = load_rules(EXAMPLE)
    assert sheet.mql_threshold > 0 and sheet.attributes and sheet.activities
    h = generate_history(2_000, seed=4)
    points = rule_points(sheet, h.leads, h.activities, training_as_of(h.leads, 14))
    is_mql = points >= sheet.mql_threshold
    assert 0.01 < is_mql.mean() < 0.5  # a plausible MQL share, not all or nothing
    converted = h.leads[LEAD_ID].isin(h.outcomes[LEAD_ID]).to_numpy()
    assert converted[is_mql].mean() > 2 * converted[~is_mql].mean()  # the rules do rank


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mql_threshold: 10\nattributes: {job_title: [{points: 5}]}\n", "exactly one of"),
        ("attributes: {}\n", "mql_threshold"),
        ("mql_threshold: 10\nactivities: {demo_request: [{min: 0, points: 5}]}\n",
         "activities.demo_request.0.min"),
        ("mql_threshold: 10\nbonus: 3\n", "bonus"),
        ("- just a list\n", "mapping at the top level"),
    ],
)
def test_bad_sheets_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_rules(_write(tmp_path, text))


def test_missing_file_and_unknown_column(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules(tmp_path / "nope.yaml")
    sheet = load_rules(_write(tmp_path, SHEET))
    with pytest.raises(ConfigError, match=r"attributes \['company_size'\] that are not columns"):
        rule_points(sheet, _leads().drop(columns="company_size"), _acts(), pd.Series([T0] * 4))


def test_compare_at_equal_volume_by_hand():
    sql = np.array([1, 0, 1, 0, 1, 0], dtype=float)
    won = np.array([1, 0, 0, np.nan, 0, 0])
    rules = np.array([False, True, False, True, True, False])  # 3 MQLs, 1 SQL
    model = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])  # top 3 = the three SQLs
    rows = compare_at_equal_volume({"model": model}, 3, sql, won, {"current_rules": rules})
    by = {r["method"]: r for r in rows}
    assert [r["method"] for r in rows] == ["current_rules", "model"]
    assert by["current_rules"]["sqls"] == 1 and by["model"]["sqls"] == 3
    assert by["model"]["customers"] == 1 and by["model"]["mql_won_rate"] == pytest.approx(1 / 3)
    assert by["current_rules"]["mql_won_rate"] == 0  # the open outcome is not counted
    assert by["model"]["extra_sqls_vs_reference"] == 2
    assert by["model"]["extra_customers_vs_reference"] == 1


def test_model_vs_current_rules_in_the_summary(funnel_trained):
    s = funnel_trained[0].summary
    rows = {r["method"]: r for r in s.baselines_equal_volume}
    assert set(rows) == {"current_rules", "model", "logistic_baseline"}
    assert len({r["mqls"] for r in rows.values()}) == 1  # equal MQL volume
    assert rows["current_rules"]["mqls"] > 0
    assert s.rules.name == "marketing-automation-rules-2025"
