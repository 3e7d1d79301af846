"""mqlml monitor's figures against a known change (tests/monitor_worlds.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from monitor_worlds import MONITOR
from mqlml.config import MonitorConfig
from mqlml.errors import MqlmlError
from mqlml.scoring.monitor import (
    EXIT_CODES,
    monitor,
    read_scored,
    scored_outputs,
    wilson_interval,
)


def _run(worlds, world, config=MONITOR, snapshot_at=None):
    w = getattr(worlds, world)
    return monitor(worlds.model, read_scored(w.outputs), w.crm, snapshot_at or w.snapshot_at,
                   config)


@pytest.fixture(scope="module")
def plain(monitor_worlds):
    return _run(monitor_worlds, "plain")


@pytest.fixture(scope="module")
def shifted(monitor_worlds):
    return _run(monitor_worlds, "shifted")


def test_wilson_interval_matches_the_textbook_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_grades_that_keep_their_promise_raise_a_false_alarm_in_at_most_5_percent_of_runs():
    """Per-grade 95% intervals would miss one of four grades in about 19% of runs of a
    model that keeps every promise; family-wise intervals keep it at 5%."""
    from mqlml.scoring.monitor import _rate_rows

    rng = np.random.default_rng(0)
    promised = {"A": (0.48, 100), "B": (0.16, 250), "C": (0.05, 500), "D": (0.02, 170)}
    grade = np.repeat(list(promised), [n for _, n in promised.values()])
    p = np.repeat([q for q, _ in promised.values()], [n for _, n in promised.values()])
    runs = 1000
    alarms = 0
    for _ in range(runs):
        df = pd.DataFrame({"probability": p, "label": (rng.random(len(p)) < p).astype(float)})
        rows = _rate_rows(df, pd.Series(grade), MONITOR)
        alarms += any(r["promised_outside_interval"] for r in rows)
    assert alarms / runs <= 0.065


def test_no_change_no_alert(plain):
    assert plain["alerts"] == []
    assert (plain["status"], plain["exit_code"]) == ("ok", 0)
    json.dumps(plain, allow_nan=False)


def test_every_scored_lead_is_accounted_for(plain):
    rows = plain["rows"]
    assert rows["batches"] == 6 and rows["scored"] > 900
    assert rows["matured"] + rows["immature"] + rows["converted_before_as_of"] + rows[
        "not_in_history"
    ] + rows["no_scoring_moment"] == rows["scored"]
    assert sum(r["matured"] for r in plain["promised_vs_realised"]["grade"]) == rows["matured"]
    assert sum(w["scored"] for w in plain["mql"]["per_week"]) == rows["scored"]


def test_the_shift_fires_on_the_new_source_and_the_fallen_grades(shifted, plain):
    assert (shifted["status"], shifted["exit_code"]) == ("critical", EXIT_CODES["critical"])
    critical = {(a["check"], a["subject"]) for a in shifted["alerts"] if a["level"] == "critical"}
    assert ("psi", "lead_source") in critical and ("unseen", "lead_source") in critical
    # the realised rate fell well below the promise in every grade with enough matured leads
    grades = shifted["promised_vs_realised"]["grade"]
    for row in grades:
        if row["matured"] >= 150:
            assert row["realised"] < 0.75 * row["promised"], row
    # ...and the grades it flags are those whose interval lies below the promise
    fell = {a["subject"] for a in shifted["alerts"] if a["check"] == "realised_rate"}
    below = {f"grade {r['group']}" for r in grades
             if r["high"] < r["promised"] and r["matured"] >= MONITOR.min_matured}
    assert "grade B" in fell and fell == below
    assert "mql_rate" in {a["check"] for a in shifted["alerts"]}
    # the same leads kept their promise in the plain world
    assert all(r["low"] <= r["promised"] or r["matured"] < 150
               for r in plain["promised_vs_realised"]["grade"])
    assert shifted["mql"]["realised"]["rate"] < 0.7 * plain["mql"]["realised"]["rate"]


def test_psi_by_week_needs_enough_leads(shifted):
    weeks = shifted["early"]["weeks"]
    assert any("psi" in w for w in weeks)
    for w in weeks:
        assert ("psi" in w) == (w["scored"] >= MONITOR.min_rows)
        if "psi" in w:
            assert w["psi"]["lead_source"] > 1.0
            assert 0.2 < w["unseen"]["lead_source"] < 0.4


def test_leads_whose_horizon_has_not_passed_are_not_judged(monitor_worlds, plain):
    early = _run(monitor_worlds, "plain",
                 snapshot_at=pd.Timestamp(plain["snapshot_at"]) - pd.Timedelta(days=120))
    assert early["rows"]["matured"] < plain["rows"]["matured"] // 2
    assert early["rows"]["immature"] > 0
    assert early["rows"]["scored"] == plain["rows"]["scored"]


def test_levels_come_from_the_config(monitor_worlds):
    strict = _run(monitor_worlds, "plain", MonitorConfig(min_rows=150, psi_warn=0.01,
                                                         psi_critical=10.0))
    assert strict["status"] == "warn" and strict["exit_code"] == 3
    assert {a["check"] for a in strict["alerts"]} == {"psi"}


def test_config_rejects_levels_out_of_order():
    with pytest.raises(ValueError, match="psi_warn must be positive and at most psi_critical"):
        MonitorConfig(psi_warn=0.6, psi_critical=0.5)
    with pytest.raises(ValueError, match="extra"):
        MonitorConfig(psi_warning=0.3)


def test_missing_report_is_named(monitor_worlds, tmp_path):
    out = tmp_path / "scored.csv"
    out.write_text(monitor_worlds.plain.outputs[0].read_text())
    with pytest.raises(MqlmlError, match="scored.report.json"):
        read_scored([out])
    with pytest.raises(MqlmlError, match="no such scored output"):
        scored_outputs([tmp_path / "nope"])
    folder = monitor_worlds.plain.outputs[0].parent
    assert scored_outputs([folder]) == sorted(monitor_worlds.plain.outputs)


def test_each_leads_own_moment_is_read_back_from_the_batch_leads_file(monitor_worlds, tmp_path):
    import shutil

    src = monitor_worlds.plain.outputs[0]
    out = tmp_path / src.name
    shutil.copy(src, out)
    report = json.loads(src.with_name("scored0.report.json").read_text())
    assert ".." in report["as_of"]  # scored at each lead's own moment
    report["leads"] = "leads0.csv"  # recorded relative to another working directory
    (tmp_path / "scored0.report.json").write_text(json.dumps(report))
    with pytest.raises(MqlmlError, match="leads0.csv"):
        read_scored([out])
    shutil.copy(src.with_name("leads0.csv"), tmp_path / "leads0.csv")
    leads = read_scored([out]).leads
    source = pd.read_csv(tmp_path / "leads0.csv")
    want = pd.to_datetime(source.set_index("lead_id")["as_of"], utc=True)
    got = leads.set_index("lead_id")["as_of"]
    assert (got == want.loc[got.index]).all() and got.notna().all()


def _renamed(src, folder, model):
    """A copy of the scored batch ``src`` whose report names ``model``."""
    import shutil

    out = folder / src.name
    shutil.copy(src, out)
    report = json.loads(src.with_name(src.stem + ".report.json").read_text())
    report["model"] = model
    out.with_name(src.stem + ".report.json").write_text(json.dumps(report))
    return out


def test_batches_of_another_model_are_left_out(monitor_worlds, tmp_path):
    w = monitor_worlds.plain
    name = monitor_worlds.model.config.name
    old = {"name": name, "version": "1", "source": "models/x/1"}
    ours = {"name": name, "version": "2", "source": "models/x/2"}
    outputs = [_renamed(w.outputs[0], tmp_path, old), _renamed(w.outputs[1], tmp_path, ours)]
    result = monitor(monitor_worlds.model, read_scored(outputs), w.crm, w.snapshot_at, MONITOR,
                     model_record=ours)
    assert result["other_model_batches"] == [{"output": str(outputs[0]), "model": old}]
    assert result["rows"]["batches"] == 1
    assert result["rows"]["scored"] == len(pd.read_csv(outputs[1]))
    assert [b["output"] for b in result["early"]["batches"]] == [str(outputs[1])]
    from mqlml.report.monitor import build_monitor_page

    html, _ = build_monitor_page(result)
    assert "1 scored batch came from another model and is left out" in html
    # the same model recorded by another path to its folder is the same model
    same = monitor(monitor_worlds.model, read_scored(outputs), w.crm, w.snapshot_at, MONITOR,
                   model_record=dict(ours, version=None, source="models/x/../x/2"))
    assert same["rows"]["batches"] == 1
    with pytest.raises(MqlmlError, match="none of the 2 scored batches .* version 3"):
        monitor(monitor_worlds.model, read_scored(outputs), w.crm, w.snapshot_at, MONITOR,
                model_record=dict(ours, version="3", source="models/x/3"))


def test_training_rate_and_ece_are_training_s_own(monitor_worlds, plain):
    from mqlml.model.metrics import expected_calibration_error
    from mqlml.scoring.prior import training_base_rate

    assert plain["early"]["training_rate"] == round(training_base_rate(monitor_worlds.model), 4)
    curve = plain["calibration"]["curve"]
    assert sum(b["n"] for b in curve) == plain["rows"]["matured"]
    # 15 bins as in training, not the 10 of the curve: recompute from the matured leads
    w = monitor_worlds.plain
    history = read_scored(w.outputs)
    leads = history.leads.set_index("lead_id")
    from mqlml.labels.labelling import ELIGIBLE, LABEL, STATUS, make_labels

    known = leads[leads.index.isin(w.crm.leads["lead_id"])].reset_index()
    crm_leads = w.crm.leads.set_index("lead_id", drop=False).loc[known["lead_id"]]
    s = monitor_worlds.model.summary
    labels = make_labels(crm_leads.reset_index(drop=True), w.crm.outcomes, known["as_of"],
                         s.target, int(s.horizon_days), w.snapshot_at).frame
    ok = (labels[STATUS] == ELIGIBLE).to_numpy()
    want = expected_calibration_error(labels[LABEL].to_numpy()[ok],
                                      known["probability"].to_numpy()[ok])
    assert plain["calibration"]["ece"] == pytest.approx(want, abs=1e-4)
