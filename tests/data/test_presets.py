from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.config import load_config
from mqlml.data.files import read_table
from mqlml.data.presets import PRESETS, load_preset
from mqlml.errors import ConfigError
from mqlml.labels.flat import load_flat
from mqlml.synthetic.examples import example_export
from mqlml.training.audit import LeakageWarning
from mqlml.training.pipeline import train_labelled

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = {"salesforce": "salesforce_leads.csv", "hubspot": "hubspot_contacts.csv"}


def _config(name):
    return load_config(
        EXAMPLES / f"{name}.yaml",
        {"tracking": {"enabled": False}, "model": {"max_boost_rounds": 200}},
    )


@pytest.mark.parametrize("name", PRESETS)
def test_presets_map_the_standard_columns(name):
    preset = load_preset(name)
    ours = set(preset.columns.values())
    assert {"lead_id", "created_at", "email", "job_title", "industry", "company_size",
            "lead_source", "page_views", "sessions"} <= ours
    assert "sql_at" in preset.outcomes


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_example_is_the_generated_one(name):
    shipped = read_table(EXAMPLES / FILES[name])
    fresh = example_export(name).astype("str").where(lambda f: f.notna() & (f != "<NA>"))
    pd.testing.assert_frame_equal(
        shipped.reset_index(drop=True), fresh.reset_index(drop=True), check_dtype=False
    )


def test_salesforce_example_trains_and_drops_the_sales_filled_status():
    cfg = _config("salesforce")
    labelled = load_flat(EXAMPLES / FILES["salesforce"], cfg)
    assert "Converted" not in labelled.leads  # restates the outcome: never a feature
    with pytest.warns(LeakageWarning, match="'Lead Status' excluded"):
        model, _ = train_labelled(labelled, cfg)
    assert model.summary.leakage_audit[0]["column"] == "Lead Status"
    assert {"company_size", "page_views", "sessions", "email_domain_type"} <= set(
        model.spec.columns
    )
    assert model.summary.metrics_test.model.roc_auc > 0.7


def test_hubspot_example_trains():
    cfg = _config("hubspot")
    labelled = load_flat(EXAMPLES / FILES["hubspot"], cfg)
    assert "Lifecycle Stage" not in labelled.leads
    model, _ = train_labelled(labelled, cfg)
    assert model.summary.leakage_audit == []
    assert model.summary.label_counts.positives > 100
    assert model.summary.metrics_test.model.roc_auc > 0.7


def test_preset_names_the_missing_standard_column(tmp_path):
    path = tmp_path / "contacts.csv"
    read_table(EXAMPLES / FILES["hubspot"]).drop(columns=["Record ID"]).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="no 'Record ID' column \\(flat.preset: hubspot\\)"):
        load_flat(path, _config("hubspot"))


def test_cli_trains_and_scores_a_preset_export(tmp_path):
    runner = CliRunner()
    export = EXAMPLES / FILES["hubspot"]
    result = runner.invoke(
        app,
        ["train", "--config", str(EXAMPLES / "hubspot.yaml"), "--data", str(export),
         "--models-dir", str(tmp_path / "models"), "--no-tracking"],
    )
    assert result.exit_code == 0, result.output
    bundle = Path(result.stdout.strip().splitlines()[-1])
    assert (bundle / "report.html").is_file()
    batch = tmp_path / "batch.csv"
    read_table(export).head(40).drop(
        columns=["Became a Sales Qualified Lead Date", "Became a Customer Date"]
    ).to_csv(batch, index=False)
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app, ["score", "--model", str(bundle), "--leads", str(batch), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert len(scored) == 40 and scored["score"].between(1, 99).all()
