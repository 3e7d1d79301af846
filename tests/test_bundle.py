import json

import numpy as np
import pytest

from mqlml.bundle import BUNDLE_FILES, load_bundle, resolve_bundle_path, save_bundle
from mqlml.errors import BundleError
from mqlml.score import score_leads


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
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_incomplete_or_missing_bundle(saved, tmp_path):
    _, path = saved
    (path / "calibrator.json").unlink()
    with pytest.raises(BundleError, match="missing calibrator.json"):
        load_bundle(path)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
