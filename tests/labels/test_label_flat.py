"""Labelling a flat export (mqlml.labels.flat): time order, random split, presets, the CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlml.config import load_config
from mqlml.data.flat import flat_batch, flat_export
from mqlml.errors import ConfigError, DataValidationError
from mqlml.labels.flat import OptimisticSplitWarning
from mqlml.labels.flat import label_flat as label_export
from mqlml.scoring.batch import check_batch, score_checked
from mqlml.training.audit import LeakageWarning
from mqlml.training.pipeline import train_labelled


def _export(n=2400, seed=0, leak=True):
    """A flat export as read from CSV: text cells, a converted flag, form placeholders."""
    rng = np.random.default_rng(seed)
    size = rng.choice(["1-10", "11-50", "51-200", "201-1000"], n)
    views = rng.poisson(3, n)
    logit = -2.2 + 0.35 * views + np.select([size == "201-1000", size == "51-200"], [1.0, 0.5], 0)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    role = rng.choice(["Manager", "Engineer", "Select"], n)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 3, unit="h")
    frame = pd.DataFrame(
        {
            "Id": [f"C{i:05d}" for i in range(n)],
            "Created": created.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "Company size": size,
            "Page views": views.astype(str),
            "Role": role,
            "Converted": np.where(y, "Yes", "No"),
        }
    )
    if leak:
        agree = rng.random(n) < 0.95
        frame["Disposition"] = np.where(agree == y, "Interested", "Not interested")
    return frame, y.astype(float)


def label_flat(frame, cfg, source="export"):
    """Map then label, as ``mqlml train`` does in flat mode."""
    return label_export(flat_export(frame, cfg, source=source), cfg)


def _config(**flat):
    base = {
        "target_column": "Converted",
        "positive_values": ["yes"],
        "id_column": "Id",
        "missing_values": ["Select"],
    }
    base.update(flat)
    return load_config(
        None,
        {"flat": base, "tracking": {"enabled": False}, "thresholds": {"capacity_per_week": 20}},
    )


def test_time_ordered_flat_export_trains_and_catches_the_planted_leak():
    frame, _ = _export()
    cfg = _config(time_column="Created")
    labelled = label_flat(frame.sample(frac=1.0, random_state=1), cfg, "export.csv")
    assert labelled.split is None  # split by time, not at random
    assert labelled.leads["created_at"].is_monotonic_increasing
    with pytest.warns(LeakageWarning, match="'Disposition' excluded: predicts the outcome"):
        model, artifacts = train_labelled(labelled, cfg)
    leak = model.summary.leakage_audit
    assert [(r["column"], r["action"]) for r in leak] == [("Disposition", "excluded")]
    assert "single-column ROC AUC" in leak[0]["evidence"]
    assert "Disposition" not in model.spec.columns
    assert "leakage audit" in model.summary.excluded_columns["Disposition"]
    # Raw attribute columns stay features, so scoring-time PSI per feature can use them.
    assert {"Company size", "Page views", "Role"} <= set(model.spec.columns)
    assert model.summary.metrics_test.model.roc_auc > 0.65
    assert isinstance(model.summary.drift_audit, list)
    # "Select" means nobody answered: missing, not a category.
    assert "Select" not in model.spec.categorical["Role"]


def test_allowing_the_leak_keeps_it():
    frame, _ = _export()
    cfg = load_config(
        None,
        {
            "flat": {"target_column": "Converted", "positive_values": ["Yes"],
                     "time_column": "Created"},
            "audit": {"allow_columns": ["Disposition"]},
            "model": {"max_boost_rounds": 60},
            "tracking": {"enabled": False},
        },
    )
    model, _ = train_labelled(label_flat(frame, cfg), cfg)
    assert model.summary.leakage_audit[0]["action"] == "allowed"
    assert "Disposition" in model.spec.columns


def test_flat_export_without_time_column_warns_and_splits_stratified():
    frame, y = _export(leak=False)
    cfg = _config()
    with pytest.warns(OptimisticSplitWarning, match="metrics may be optimistic"):
        labelled = label_flat(frame, cfg, "export.csv")
    split = labelled.split
    assert split is not None
    rates = [labelled.y[idx].mean() for idx in (split.train, split.calibration, split.test)]
    assert max(rates) - min(rates) < 0.02
    assert sorted(np.concatenate([split.train, split.calibration, split.test]).tolist()) == list(
        range(len(frame))
    )
    assert any("metrics may be optimistic" in n for n in labelled.notes)
    model, _ = train_labelled(labelled, cfg)
    assert model.summary.drift_audit == []  # periods of a random split mean nothing


def test_ordering_number_orders_rows():
    frame, _ = _export(600, leak=False)
    frame["Seq"] = [str(i) for i in range(len(frame), 0, -1)]  # newest first in the file
    labelled = label_flat(frame, _config(time_column="Seq"))
    assert labelled.leads["lead_id"].iloc[0] == frame["Id"].iloc[-1]


def test_scoring_a_flat_batch_uses_the_same_rules():
    frame, _ = _export(leak=False)
    cfg = _config(time_column="Created")
    model, _ = train_labelled(label_flat(frame, cfg), cfg)
    batch = frame.drop(columns=["Converted"]).head(50)
    leads = flat_batch(batch, model.config.flat, source="batch.csv")
    checked = check_batch(leads, None, model)
    assert len(checked.rejects) == 0
    scored = score_checked(model, checked).scored
    assert scored["lead_id"].tolist() == batch["Id"].tolist()
    assert scored["score"].between(1, 99).all()


@pytest.mark.parametrize(
    ("flat", "error", "message"),
    [
        ({"target_column": "Convertd"}, ConfigError, "flat.target_column 'Convertd' not found"),
        ({"time_column": "When"}, ConfigError, "flat.time_column 'When' not found"),
        ({"positive_values": ["won"]}, DataValidationError, "no row has one of"),
        ({"time_column": "Company size"}, DataValidationError, "not a date/time"),
    ],
)
def test_bad_flat_settings_name_the_column(flat, error, message):
    frame, _ = _export(200, leak=False)
    with pytest.raises(error, match=message):
        label_flat(frame, _config(**flat), "export.csv")


def test_flat_config_needs_a_target():
    with pytest.raises(ConfigError, match="flat.target_column is required"):
        load_config(None, {"flat": {"positive_values": ["yes"]}})
    with pytest.raises(ConfigError, match="flat.positive_values must list"):
        load_config(None, {"flat": {"target_column": "y"}})


def test_cli_prints_the_random_split_warning(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from mqlml.cli import app

    frame, _ = _export(1500, leak=False)
    export = tmp_path / "export.csv"
    frame.to_csv(export, index=False, sep=";")
    config = tmp_path / "flat.yaml"
    config.write_text(
        yaml.safe_dump(
            {"flat": {"target_column": "Converted", "positive_values": ["Yes"]},
             "model": {"max_boost_rounds": 60}}
        )
    )
    result = CliRunner().invoke(
        app,
        ["train", "--config", str(config), "--data", str(export), "--no-tracking",
         "--models-dir", str(tmp_path / "models")],
    )
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr and "metrics may be optimistic" in result.stderr


#: The shared data sets sit beside the repository (``../shared``), in CI too.
BANK = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "uci-bank-marketing"
    / "bank-additional-full.csv"
)


@pytest.mark.skipif(not BANK.is_file(), reason="UCI Bank Marketing data not on this machine")
def test_bank_marketing_config_trains_reports_and_scores_from_the_cli(tmp_path):
    from typer.testing import CliRunner

    from mqlml.cli import app
    from mqlml.data.files import read_table

    rows = read_table(BANK).iloc[::10]  # every 10th contact: still in time order
    sample = tmp_path / "bank.csv"
    rows.to_csv(sample, sep=";", index=False)
    import yaml

    shipped = Path(__file__).resolve().parents[2] / "configs" / "bank-marketing.yaml"
    settings = yaml.safe_load(shipped.read_text())
    # A tenth of the rows: fewer conversions to calibrate on, fewer trees.
    settings["split"]["calibration_positives"] = 40
    settings["model"].update(num_leaves_search=[2], max_boost_rounds=150)
    config = tmp_path / "bank.yaml"
    config.write_text(yaml.safe_dump(settings))
    runner = CliRunner()

    def train(models_dir: str) -> Path:
        result = runner.invoke(
            app,
            ["train", "--config", str(config), "--data", str(sample), "--no-tracking",
             "--models-dir", str(tmp_path / models_dir)],
        )
        assert result.exit_code == 0, result.output
        return Path(result.stdout.strip().splitlines()[-1])

    bundle = train("models")
    assert (bundle / "report.html").is_file()
    summary = json.loads((bundle / "metrics.json").read_text())
    assert summary["leakage_audit"] == []
    drifting = {r["column"] for r in summary["drift_audit"] if r["out_of_range"] > 0.5}
    assert {"euribor3m", "nr.employed"} <= drifting
    # The newest pre-test rows with 40 conversions calibrate; the trees sit on a linear base.
    assert [p["name"] for p in summary["periods"]] == ["train", "calibration", "test"]
    assert summary["periods"][1]["n_positive"] == 40
    assert summary["model"]["linear_base"] is True and (bundle / "linear.json").is_file()
    # The macro columns already drift before the test: only the linear base uses them.
    assert {"euribor3m", "nr.employed"} <= set(summary["model"]["linear_only"])
    spec = json.loads((bundle / "feature_spec.json").read_text())
    assert "duration" not in spec["columns"] and "euribor3m" in spec["columns"]
    out = tmp_path / "scored.csv"
    latest = tmp_path / "latest.csv"
    rows.iloc[-400:].drop(columns=["y"]).to_csv(latest, sep=";", index=False)
    result = runner.invoke(
        app, ["score", "--model", str(bundle), "--leads", str(latest), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 400
    # The config's search has no time budget: a second training ships the same model,
    # however loaded the machine is.
    assert settings["model"]["search"]["budget_seconds"] is None
    second = train("again")
    assert (second / "model.txt").read_bytes() == (bundle / "model.txt").read_bytes()


def test_headers_with_quotes_and_json_characters_train_and_keep_their_names(tmp_path):
    """issue 17 item 7: LightGBM refuses '"' (and other JSON characters) in feature names;
    mqlml gives it safe names and keeps the user's headers in reasons; the saved bundle
    loads (its model text is checked against the same safe names) and scores alike."""
    from mqlml.model.bundle import load_bundle, save_bundle
    from mqlml.model.trees import lightgbm_feature_names

    frame, _ = _export(1200, leak=False)
    names = {"Company size": 'Company "size"', "Page views": "Page views: {web}"}
    frame = frame.rename(columns=names)
    cfg = _config(time_column="Created")
    model, _ = train_labelled(label_flat(frame, cfg), cfg)
    assert set(names.values()) <= set(model.spec.columns)
    assert all(
        not set(n) & set('",:[]{} ') for n in model.booster.feature_name()
    )
    assert model.booster.feature_name() == lightgbm_feature_names(model.spec.columns)
    batch = frame.drop(columns=["Converted"]).head(50)
    checked = check_batch(flat_batch(batch, model.config.flat, source="b.csv"), None, model)
    scored = score_checked(model, checked).scored
    reasons = " ".join(map(str, scored.filter(like="reason").to_numpy().ravel()))
    assert 'Company "size"' in reasons or "Page views: {web}" in reasons
    loaded = load_bundle(save_bundle(model, tmp_path / "m"))
    again = score_checked(loaded, check_batch(
        flat_batch(batch, loaded.config.flat, source="b.csv"), None, loaded
    )).scored
    pd.testing.assert_frame_equal(again, scored)
    assert lightgbm_feature_names(['a"b', "a_b", "a b"]) == ["a_b", "a_b__1", "a_b__2"]
