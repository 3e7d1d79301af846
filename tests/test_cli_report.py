"""``mqlml report`` and ``mqlml explain`` on a saved bundle."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.model.bundle import save_bundle

runner = CliRunner()


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory):
    return save_bundle(trained[0], tmp_path_factory.mktemp("models"))


def test_report_command_writes_html_figures_and_scorecard(bundle, tmp_path):
    out = tmp_path / "leaders.html"
    res = runner.invoke(app, ["report", "--model", str(bundle), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "What drives conversion" in out.read_text(encoding="utf-8")
    files = {p.name for p in (tmp_path / "leaders_files").iterdir()}
    assert {"roc.png", "beeswarm.png", "calibration.png", "scorecard.csv"} <= files


def test_report_command_rejects_a_non_html_target(bundle, tmp_path):
    res = runner.invoke(app, ["report", "--model", str(bundle), "--out", str(tmp_path / "r.pdf")])
    assert res.exit_code == 2 and "--out must be an .html file" in res.output


def test_explain_command_breaks_one_lead_down(bundle, trained, tmp_path):
    crm = trained[2]
    leads = crm.leads.head(30)
    acts = crm.activities[crm.activities["lead_id"].isin(leads["lead_id"])]
    leads.to_csv(tmp_path / "leads.csv", index=False)
    acts.to_csv(tmp_path / "acts.csv", index=False)
    lead_id = leads["lead_id"].iloc[4]
    as_of = (leads["created_at"].max() + pd.Timedelta(days=3)).isoformat()
    args = [
        "explain",
        "--model",
        str(bundle),
        "--lead-id",
        lead_id,
        "--leads",
        str(tmp_path / "leads.csv"),
        "--activities",
        str(tmp_path / "acts.csv"),
        "--as-of",
        as_of,
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    header, *lines = res.output.splitlines()
    assert header.startswith("model lead-scoring version 1 (") and "the folder given" in header
    assert lines[0].startswith(f"lead {lead_id}: score ")
    score = int(lines[0].split("score ")[1].split(" ")[0])
    # the last line adds it up: base + points = unrounded score -> score
    last = lines[-1]
    total = float(last.split("= ")[1].split(" ->")[0])
    assert abs(total - score) <= 0.5 + 0.05 and last.endswith(f"score {score}")
    assert any("Job seniority" in ln for ln in lines)

    res = runner.invoke(app, [*args[:4], "NOPE", *args[5:]])
    assert res.exit_code == 2 and "no lead with lead_id 'NOPE'" in res.output
