"""The CRM import files: each tool's documented example, configurable names, changed rows,
and ``mqlml score --crm`` end to end."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from crm_frames import MONDAY, Receiver, moments, scored_frame
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.config import CrmConfig, config_from_dict
from mqlml.errors import ConfigError, MqlmlError
from mqlml.scoring.crm import TOOLS, crm_path, crm_table, export_scores

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    path = ROOT / "tools" / "gen_crm_examples.py"
    spec = importlib.util.spec_from_file_location("gen_crm_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()

#: The header of each documented example (docs/scoring.md lists the same names).
HEADERS = {
    "salesforce": "Id,Lead_Score__c,Lead_Grade__c,Is_MQL__c,Score_Tier__c,Score_Reason_1__c,"
    "Score_Reason_2__c,Score_Reason_3__c,Became_MQL__c,Grade_Changed__c,Score_Change__c,"
    "Score_Trend__c,Lead_Scored_At__c",
    "hubspot": "hs_object_id,mqlml_score,mqlml_grade,mqlml_is_mql,mqlml_tier,mqlml_reason_1,"
    "mqlml_reason_2,mqlml_reason_3,mqlml_became_mql,mqlml_grade_changed,mqlml_score_change,"
    "mqlml_score_trend,mqlml_scored_date",
    "dynamics": "leadid,new_leadscore,new_leadgrade,new_ismql,new_scoretier,new_scorereason1,"
    "new_scorereason2,new_scorereason3,new_becamemql,new_gradechanged,new_scorechange,"
    "new_scoretrend,new_scoredat",
}
#: How each tool's row of the lead that became an MQL (C -> A, +19) is spelled.
BECAME_MQL_ROW = {
    "salesforce": ",true,true,19,up,2025-12-31T00:00:00.000Z",
    "hubspot": ",true,true,19,up,2025-12-31",
    "dynamics": ",1,1,19,up,2025-12-31T00:00:00Z",
}


@pytest.mark.parametrize("tool", TOOLS)
def test_each_format_matches_its_documented_example(tool):
    path = GEN.example_path(tool)
    documented = path.read_text(encoding="utf-8")
    assert GEN.examples()[path] == documented, (
        f"{path.relative_to(ROOT)} differs from the writer: run tools/gen_crm_examples.py"
    )
    lines = documented.splitlines()
    assert lines[0] == HEADERS[tool]
    assert len(lines) == 1 + 6 and "\r" not in documented
    assert lines[2].startswith("new-L0007791,29,A,") and lines[2].endswith(BECAME_MQL_ROW[tool])
    # The new lead: no previous score, so an empty score change.
    assert lines[6].split(",")[-3:-1] == ["", "new"]
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(table.columns) == HEADERS[tool].split(",")


def test_column_names_are_configurable_and_an_empty_name_leaves_the_column_out():
    cfg = config_from_dict(
        {"crm": {"hubspot": {"score": "lead_score", "reasons": ["why"], "tier": "",
                             "scored_at": ""}}}
    ).crm
    frame = scored_frame([30, 70])
    changes = _changes(frame, cfg)
    table = crm_table(changes, "hubspot", cfg)
    assert list(table.columns) == [
        "hs_object_id", "lead_score", "mqlml_grade", "mqlml_is_mql", "why",
        "mqlml_became_mql", "mqlml_grade_changed", "mqlml_score_change", "mqlml_score_trend",
    ]
    assert table["lead_score"].tolist() == [30, 70]  # numbers: the formula guard skips them
    assert table["mqlml_is_mql"].tolist() == ["false", "true"]


def _changes(frame, cfg, tmp=None):
    from mqlml.scoring.changes import compare, empty_state

    return compare(frame, moments(frame), empty_state())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"salesforce": {"score": "Id"}}, "each column name once, got Id more than once"),
        ({"dynamics": {"reasons": ["a", "b", "c", "d"]}}, "reasons names at most 3 columns"),
        ({"hubspot": {"record_id": " "}}, "record_id must name the column"),
        ({"webhook": {"url": "ftp://crm.example"}}, "must start with http:// or https://"),
        ({"rows": "some"}, "crm.rows"),
    ],
)
def test_crm_settings_are_checked(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"crm": raw})


def test_changed_rows_only_and_nothing_when_the_same_batch_is_scored_again(tmp_path):
    cfg = CrmConfig(rows="changed")
    out = tmp_path / "scored.csv"
    week1 = scored_frame([10, 45, 55, 80])
    first = export_scores(week1, moments(week1), out, cfg, tool="salesforce")
    assert first.import_file == crm_path(out, "salesforce") == tmp_path / "scored.salesforce.csv"
    assert first.import_rows == 4 and (tmp_path / "mqlml-state.sqlite").is_file()
    again = export_scores(week1, moments(week1), out, cfg, tool="salesforce")
    assert again.import_rows == 0
    assert again.import_file.read_text() == HEADERS["salesforce"] + "\n"
    week2 = scored_frame([10, 62, 55, 80])  # only L001 moved (45 B -> 62 A, now an MQL)
    at = moments(week2, MONDAY + pd.Timedelta(days=7))
    third = export_scores(week2, at, out, cfg, tool="salesforce")
    rows = pd.read_csv(third.import_file, dtype=str)
    assert rows["Id"].tolist() == ["L001"]
    assert rows[["Became_MQL__c", "Grade_Changed__c", "Score_Change__c"]].values.tolist() == [
        ["true", "true", "17"]
    ]


def test_integer_ids_match_the_store_so_the_second_run_flags_nothing(tmp_path):
    import mqlml

    frame = scored_frame([10, 55, 80]).assign(lead_id=[7, 8, 9])  # ids read as integers
    out = tmp_path / "scored.csv"
    first = mqlml.export_to_crm(frame, out=out, tool="hubspot", as_of=MONDAY)
    assert first.became_mql == 2
    again = mqlml.export_to_crm(frame, out=out, tool="hubspot", as_of=MONDAY)
    assert (again.became_mql, again.changed_grade) == (0, 0)
    assert set(again.changes["score_trend"]) == {"same"}
    assert again.changes["lead_id"].tolist() == ["7", "8", "9"]


def test_the_import_file_neutralises_formulas_unless_raw_csv_is_asked(tmp_path):
    frame = scored_frame([55, 10], ids=["=1+1", "L2"])
    frame.loc[1, "positive_reason_1"] = "=HYPERLINK(x) is the industry"
    cfg = CrmConfig(state_path=tmp_path / "state.sqlite")
    safe = export_scores(frame, moments(frame), tmp_path / "s.csv", cfg, tool="salesforce")
    rows = safe.import_file.read_text().splitlines()
    assert rows[1].startswith("'=1+1,55,") and ",'=HYPERLINK(x) is the industry," in rows[2]
    week2 = scored_frame([52, 12], ids=["=1+1", "L2"])  # score change -3 stays a number
    at = moments(week2, MONDAY + pd.Timedelta(days=7))
    again = export_scores(week2, at, tmp_path / "s.csv", cfg, tool="salesforce")
    assert pd.read_csv(again.import_file, dtype=str)["Score_Change__c"].tolist() == ["-3", "2"]
    raw = export_scores(frame, moments(frame), tmp_path / "r.csv", cfg, tool="salesforce",
                        safe_csv=False)
    assert raw.import_file.read_text().splitlines()[1].startswith("=1+1,55,")


def test_an_unknown_crm_is_named(tmp_path):
    frame = scored_frame([10])
    with pytest.raises(MqlmlError, match="--crm must be one of salesforce, hubspot, dynamics"):
        export_scores(frame, moments(frame), tmp_path / "s.csv", CrmConfig(), tool="pipedrive")


def test_score_crm_and_webhook_end_to_end_then_nothing_the_second_time(
    scoring_model, tmp_path
):
    from mqlml.synthetic.generate import generate_history

    _, bundle, _ = scoring_model
    h = generate_history(120, seed=31)
    leads = h.leads.assign(employees=np.random.default_rng(2).integers(1, 5_000, len(h.leads)))
    leads.to_csv(tmp_path / "leads.csv", index=False)
    h.activities.to_csv(tmp_path / "acts.csv", index=False)
    out = tmp_path / "scored.parquet"
    args = ["score", "--model", str(bundle), "--leads", str(tmp_path / "leads.csv"),
            "--activities", str(tmp_path / "acts.csv"), "--as-of", str(h.snapshot_at),
            "--out", str(out), "--crm", "dynamics"]
    runner = CliRunner()
    with Receiver() as receiver:
        first = runner.invoke(app, [*args, "--webhook", receiver.url])
        assert first.exit_code == 0, first.output
        posted = [r["body"]["lead"]["lead_id"] for r in receiver.requests]
        assert posted  # else the "nothing new the second time" check below proves nothing
        imported = pd.read_csv(out.with_name("scored.dynamics.csv"), dtype=str,
                               keep_default_na=False)
        second = runner.invoke(app, [*args, "--webhook", receiver.url])
        assert second.exit_code == 0, second.output
        assert len(receiver.requests) == len(posted)  # nothing new the second time
    scored = pd.read_parquet(out)
    assert imported["leadid"].tolist() == scored["lead_id"].tolist()
    assert imported["new_ismql"].tolist() == scored["is_mql"].map({True: "1", False: "0"}).tolist()
    assert imported["new_becamemql"].tolist() == imported["new_ismql"].tolist()  # all new
    assert set(imported["new_scoretrend"]) == {"new"}
    assert (tmp_path / "mqlml-state.sqlite").is_file()
    assert posted == scored.loc[scored["is_mql"], "lead_id"].tolist() and posted
    assert "changes since the last scoring: " in first.output
    again = pd.read_csv(tmp_path / "scored.dynamics.csv", dtype=str, keep_default_na=False)
    assert set(again["new_becamemql"]) == {"0"} and set(again["new_gradechanged"]) == {"0"}
    assert set(again["new_scoretrend"]) == {"same"}
    assert "changes since the last scoring: 0 became MQL; 0 changed grade; " in second.output


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (("--crm", "pipedrive"), "--crm must be one of salesforce, hubspot, dynamics, got 'pipe"),
        (("--webhook", "ftp://x"), "--webhook: url must start with http:// or https://, got 'f"),
    ],
)
def test_score_refuses_a_wrong_crm_or_webhook_before_scoring(tmp_path, flag, message):
    res = CliRunner().invoke(
        app, ["score", "--model", "m", "--leads", "x.csv", "--out", str(tmp_path / "o.csv"), *flag]
    )
    assert res.exit_code == 2
    assert message in res.output
    assert not (tmp_path / "o.csv").exists()
