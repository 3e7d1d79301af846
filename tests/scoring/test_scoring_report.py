"""Drift at scoring time: the training reference in the bundle and the PSI report."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import make_activities, make_leads
from mqlml.columns import CREATED_AT, LEAD_ID
from mqlml.features.build import build_features, fit_feature_spec
from mqlml.features.drift import PSI_WARNING, psi
from mqlml.model.bundle import REFERENCE_FILE, load_bundle, save_bundle
from mqlml.model.integrity import write_manifest
from mqlml.scoring.batch import check_batch, score_checked, score_files
from mqlml.scoring.scoring_report import (
    REFERENCE_ROWS,
    REFERENCE_SCORE,
    SCORE_DISTRIBUTION,
    drift_report,
    drift_warning,
    reference_sample,
)


@pytest.fixture(scope="module")
def small():
    leads = make_leads(400, seed=2)
    leads["employees"] = np.random.default_rng(2).normal(100, 10, len(leads))
    acts = make_activities(leads, seed=2)
    spec = fit_feature_spec(leads, acts[[LEAD_ID, "activity_type"]], min_leads_per_activity_type=1)
    at = leads[CREATED_AT] + pd.Timedelta(days=10)
    return spec, build_features(leads, acts, at, spec)


def test_reference_sample_is_seeded_bounded_and_from_the_given_rows(small):
    spec, features = small
    scores = np.arange(len(features)) % 99 + 1
    rows = np.arange(100, 400)
    a = reference_sample(features, scores, rows, seed=1, n=50)
    b = reference_sample(features, scores, rows, seed=1, n=50)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 50 and list(a.columns) == [*spec.columns, REFERENCE_SCORE]
    # every sampled row is one of the given rows, with its own score
    assert set(a[REFERENCE_SCORE]) <= set(scores[rows])
    assert len(reference_sample(features, scores, rows[:30], n=50)) == 30


def test_same_population_has_no_drift_and_a_shift_is_named(small):
    spec, features = small
    scores = np.random.default_rng(0).integers(1, 99, len(features))
    ref = reference_sample(features, scores, np.arange(0, 400, 2))
    same = drift_report(ref, features.iloc[1::2], scores[1::2], spec)
    assert same["available"] and same["drifted"] == []
    assert drift_warning(same) is None
    assert {r["column"] for r in same["features"]} == set(spec.columns)

    moved = features.iloc[1::2].copy()
    moved["employees"] *= 10
    report = drift_report(ref, moved, np.full(len(moved), 95), spec)
    assert report["drifted"] == ["employees", SCORE_DISTRIBUTION]
    top = report["features"][0]
    assert top["column"] == "employees" and top["psi"] > PSI_WARNING and top["drift"]
    assert report["score"]["psi"] == pytest.approx(
        psi(ref[REFERENCE_SCORE].astype(float), np.full(len(moved), 95.0)), abs=1e-4
    )
    line = drift_warning(report)
    assert line.startswith("drift: PSI above 0.2 against the training data in 2 columns: ")
    assert "employees (" in line and "score distribution (" in line
    json.dumps(report, allow_nan=False)


def test_without_a_reference_the_report_says_why(small):
    spec, features = small
    report = drift_report(None, features, np.ones(len(features)), spec)
    assert not report["available"] and "reference.parquet" in report["reason"]
    assert drift_warning(report) is None
    empty = drift_report(features.head(0), features.head(0), np.ones(0), spec)
    assert not empty["available"] and empty["reason"] == "no lead was scored"
    few = drift_report(features, features.head(20), np.ones(20), spec)
    assert not few["available"] and few["drifted"] == [] and few["features"] == []
    assert few["reason"] == "20 scored leads are too few for a stable PSI (at least 200)"


def test_training_keeps_a_held_out_reference_and_the_bundle_carries_it(scoring_model, tmp_path):
    model, bundle, _ = scoring_model
    periods = {p.name: p for p in model.summary.periods}
    # The model that ships was refit on the calibration slice: only the test slice is
    # held out from it.
    assert len(model.reference) == min(REFERENCE_ROWS, periods["test"].n_leads)
    assert list(model.reference.columns) == [*model.spec.columns, REFERENCE_SCORE]
    loaded = load_bundle(bundle)
    pd.testing.assert_frame_equal(loaded.reference, model.reference)

    # a bundle saved before references were kept still loads, and scores without drift
    old = save_bundle(model, tmp_path / "models")
    (old / REFERENCE_FILE).unlink()
    write_manifest(old)
    assert load_bundle(old).reference is None


def test_scoring_the_held_out_leads_again_shows_no_drift(scoring_model):
    """The reference's own population (the test slice: the model that ships was refit on
    the calibration slice), scored at the same moments: nothing moved."""
    model, _, crm = scoring_model
    periods = {p.name: p for p in model.summary.periods}
    start = pd.Timestamp(periods["test"].start)
    end = pd.Timestamp(periods["test"].end)
    leads = crm.leads[crm.leads[CREATED_AT].between(start, end)].reset_index(drop=True)
    leads = leads.assign(
        as_of=(leads[CREATED_AT] + pd.Timedelta(days=model.summary.observation_days))
    )
    checked = check_batch(leads, crm.activities, model)
    report = score_checked(model, checked).report
    assert report["drift"]["available"] and report["drift"]["drifted"] == []
    assert report["drift"]["score"]["psi"] < 0.05


def test_report_json_is_written_beside_the_output(scoring_model, tmp_path):
    model, bundle, crm = scoring_model
    leads = crm.leads.tail(200).copy()
    leads["employees"] = leads["employees"] * 50  # a new kind of customer
    leads.to_parquet(tmp_path / "new.parquet")
    run = score_files(
        load_bundle(bundle), tmp_path / "new.parquet", tmp_path / "scored.parquet",
        as_of="2026-06-01",
    )
    assert run.report_path == tmp_path / "scored.report.json"
    report = json.loads(run.report_path.read_text())
    assert "employees" in report["drift"]["drifted"]
    assert report["warnings"] and "employees (" in report["warnings"][0]
    assert run.result.warnings == tuple(report["warnings"])
    assert report["rows"]["input"] == 200 and report["output"] == str(run.output)


def test_unseen_category_note_names_up_to_five_values_per_column_with_counts():
    from collections import Counter

    from mqlml.scoring.scoring_report import unseen_category_note, unseen_category_values

    unseen = {
        "country": Counter({"Atlantis": 1}),
        "industry": Counter({f"v{i}": 10 - i for i in range(7)}),
    }
    values = unseen_category_values(unseen)
    assert list(values) == ["industry", "country"]
    assert values["industry"] == {f"v{i}": 10 - i for i in range(5)}
    note = unseen_category_note(unseen)
    assert note.endswith(
        "industry (49 leads: 'v0' 10, 'v1' 9, 'v2' 8, 'v3' 7, 'v4' 6 and 2 more values), "
        "country (1 lead: 'Atlantis' 1)"
    )

