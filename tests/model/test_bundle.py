import json

import numpy as np
import pandas as pd
import pytest

from mqlml.errors import BundleError
from mqlml.model.bundle import BUNDLE_FILES, load_bundle, resolve_bundle_path, save_bundle
from mqlml.model.integrity import write_manifest
from mqlml.scoring.score import score_leads


@pytest.fixture
def saved(trained, tmp_path):
    model = trained[0]
    return model, save_bundle(model, tmp_path / "models")


def test_round_trip_scores_identically(trained, saved):
    model, path = saved
    crm = trained[2]
    assert path.name == "1" and path.parent.name == model.config.name
    assert {p.name for p in path.iterdir()} >= set(BUNDLE_FILES)
    back = load_bundle(path)
    leads = crm.leads.head(200)
    t = leads["created_at"].max()
    a = score_leads(model, leads, crm.activities, as_of=t)
    b = score_leads(back, leads, crm.activities, as_of=t)
    np.testing.assert_allclose(a["probability"], b["probability"], rtol=0, atol=1e-12)
    assert a.drop(columns="probability").equals(b.drop(columns="probability"))
    assert back.mql.cutoff_ == model.mql.cutoff_ and back.grades.cutoffs_ == model.grades.cutoffs_
    assert back.spec == model.spec


def test_round_trip_keeps_the_linear_base(linear_trained, tmp_path):
    model, _, crm, _ = linear_trained
    assert model.linear is not None and model.summary.model.linear_base is True
    path = save_bundle(model, tmp_path / "models")
    assert (path / "linear.json").is_file()
    back = load_bundle(path)
    leads = crm.leads.head(300)
    t = leads["created_at"].max()
    a = score_leads(model, leads, crm.activities, as_of=t)
    b = score_leads(back, leads, crm.activities, as_of=t)
    pd.testing.assert_frame_equal(a, b)
    # Without the base the trees alone would score differently: the file is what scores.
    (path / "linear.json").unlink()
    write_manifest(path)  # re-signed: the bundle as if saved without the base
    trees_only = score_leads(load_bundle(path), leads, crm.activities, as_of=t)
    assert not np.allclose(trees_only["probability"], a["probability"])


def test_versions_increase_and_the_model_dir_resolves_to_the_latest(trained, saved, tmp_path):
    model, first = saved
    second = save_bundle(model, tmp_path / "models")
    assert second.name == "2"
    assert resolve_bundle_path(first.parent) == second
    assert not list(first.parent.glob(".incoming-*"))


@pytest.mark.parametrize(
    ("lib", "value", "message"),
    [
        ("lightgbm", "1.0.0", "lightgbm 1.0.0 at training"),
        ("scikit-learn", "0.20.1", "scikit-learn 0.20.1 at training"),
        ("bundle_format", 99, "has format 99"),
    ],
)
def test_version_mismatch_fails_clearly(saved, lib, value, message):
    _, path = saved
    versions = json.loads((path / "versions.json").read_text())
    versions[lib] = value
    (path / "versions.json").write_text(json.dumps(versions))
    write_manifest(path)  # re-signed, as an older mqlml would have saved it
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_incomplete_or_missing_bundle(saved, tmp_path):
    _, path = saved
    (path / "calibrator.json").unlink()
    with pytest.raises(BundleError, match="missing calibrator.json"):
        load_bundle(path)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")


def test_round_trip_keeps_policies_tiers_and_the_threshold_table(trained, saved):
    model, path = saved
    back = load_bundle(path)
    assert {k: v.cutoff_ for k, v in back.policies.items()} == {
        k: v.cutoff_ for k, v in model.policies.items()
    }
    assert type(back.mql) is type(model.mql)
    assert back.tiers.nurture_cutoff_ == model.tiers.nurture_cutoff_
    scores = np.arange(1, 100)
    assert (back.tiers.predict(scores) == model.tiers.predict(scores)).all()
    thresholds = json.loads((path / "thresholds.json").read_text())
    assert len(thresholds["threshold_table"]) == 99
    assert set(thresholds["policies"]) == {"capacity", "precision", "recall", "expected_value"}


def test_retraining_can_keep_the_previous_grade_cutoffs(trained, saved, tmp_path):
    from mqlml.data.contract import validate_crm
    from mqlml.model.bundle import load_grade_cutoffs
    from mqlml.training.pipeline import run_training

    model, path = saved
    crm, cfg = trained[2], trained[3]
    kept = load_grade_cutoffs(path.parent)  # the model folder resolves to its latest version
    assert kept == model.grades.cutoffs_
    part = crm.leads.head(3000)
    small = validate_crm(
        part,
        crm.activities[crm.activities["lead_id"].isin(part["lead_id"])],
        crm.outcomes[crm.outcomes["lead_id"].isin(part["lead_id"])],
    )
    cfg2 = cfg.model_copy(
        update={
            "thresholds": cfg.thresholds.model_copy(
                update={"keep_grades_from": path, "grade_shares": (0.3, 0.3, 0.3)}
            )
        }
    )
    again, _ = run_training(small, cfg2)
    assert again.grades.cutoffs_ == kept
    assert again.summary.grades.kept_from == str(path)
    # learned with shares 30/30/30, grade A would hold about 30% of leads; kept, about 10%
    share_a = next(r["share"] for r in again.summary.grades.test if r["grade"] == "A")
    assert share_a < 0.2
    with pytest.raises(BundleError, match="cannot keep the grades"):
        (tmp_path / "empty" / "1").mkdir(parents=True)
        (tmp_path / "empty" / "1" / "versions.json").write_text("{}")
        load_grade_cutoffs(tmp_path / "empty" / "1")


def test_a_bundle_from_before_the_later_summary_sections_loads(saved):
    model, path = saved
    file = path / "metrics.json"
    d = json.loads(file.read_text())
    first_format = ("name", "target", "horizon_days", "observation_days", "snapshot_at",
                    "label_counts", "periods", "metrics_test", "calibration", "model",
                    "mql_threshold", "grades", "importance", "excluded_columns", "data_notes",
                    "versions")
    file.write_text(json.dumps({k: d[k] for k in first_format}))
    write_manifest(path)
    back = load_bundle(path)
    assert back.summary.drivers is None and back.summary.threshold_table is None
    assert back.summary.metrics_test.model.roc_auc == model.summary.metrics_test.model.roc_auc
    # written again, it is the same older file: nothing is invented
    assert json.dumps(back.summary.to_dict()) == file.read_text()


def test_a_metrics_json_without_test_metrics_is_a_corrupt_bundle(saved):
    _, path = saved
    file = path / "metrics.json"
    d = json.loads(file.read_text())
    del d["metrics_test"]
    file.write_text(json.dumps(d))
    write_manifest(path)
    with pytest.raises(BundleError, match="corrupt.*TrainingSummary has no 'metrics_test' key"):
        load_bundle(path)


def test_a_bundle_folder_gets_the_users_mode(trained, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = save_bundle(trained[0], tmp_path / "models", "perm")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o755
    assert (path / "metrics.json").stat().st_mode & 0o777 == 0o644


def test_a_version_is_published_whole_and_dead_incoming_folders_are_removed(trained, tmp_path):
    """issue 17 item 4: the report goes in before the rename; a killed save's
    ``.incoming-*`` folder is removed by the next save, a live one's is not."""
    import os
    import subprocess
    import sys

    from mqlml.data.files import INCOMING_PREFIX, _owner_tag

    model = trained[0]
    base = tmp_path / "models" / model.config.name
    base.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = _owner_tag().split("-", 1)[0]
    dead = base / f"{INCOMING_PREFIX}{host}-{proc.pid}-x"
    live = base / f"{INCOMING_PREFIX}{host}-{os.getppid()}-x"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "model.txt").write_text("half")

    def failing_report(folder):
        (folder / "report.html").write_text("<p>half</p>")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_bundle(model, tmp_path / "models", extra=failing_report)
    assert sorted(p.name for p in base.iterdir()) == [live.name]  # no version, no litter
    path = save_bundle(
        model, tmp_path / "models", extra=lambda f: (f / "report.html").write_text("<p>r</p>")
    )
    assert path.name == "1" and (path / "report.html").read_text() == "<p>r</p>"
