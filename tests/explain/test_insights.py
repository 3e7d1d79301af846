import numpy as np
import pandas as pd
import pytest

from mqlml.config import load_config
from mqlml.data.contract import validate_crm
from mqlml.errors import ConfigError
from mqlml.explain.insights import training_insights
from mqlml.features.build import build_features
from mqlml.synthetic.generate import generate_history, true_driver_importance
from mqlml.workflow import fit_history


@pytest.fixture(scope="module")
def parts(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(1500).reset_index(drop=True)
    features = build_features(
        leads, crm.activities, leads["created_at"] + pd.Timedelta(days=14), model.spec
    )
    rng = np.random.default_rng(0)
    y = (rng.random(len(leads)) < 0.15).astype(float)
    idx = np.arange(len(leads))
    slices = {"train": idx[:900], "calibration": idx[900:1200], "test": idx[1200:]}
    score = rng.integers(1, 60, len(leads))
    return model, leads, features, y, slices, score


def test_insights_fill_the_report_keys_with_drivers_per_segment(parts):
    model, leads, features, y, slices, score = parts
    out = training_insights(
        model.booster,
        model.calibrator,
        model.spec,
        leads,
        features,
        y,
        slices,
        score,
        30,
        segment_column="lead_source",
    )
    assert set(out) == {"drivers", "criteria_rules", "scorecard", "evaluation"}
    d = out["drivers"]
    assert d["n_leads"] == 300 and d["segment_column"] == "lead_source"
    test_sources = leads["lead_source"].iloc[slices["test"]]
    assert sum(r["leads"] for r in d["by_segment"]) == 300
    assert d["by_segment"][0]["segment"] == test_sources.value_counts().index[0]
    assert out["evaluation"]["n"] == 300
    assert len(out["evaluation"]["score_histogram"]["converted"]) == 99


def test_drivers_rules_and_scorecard_use_a_sample_of_each_larger_slice(parts, monkeypatch):
    import mqlml.explain.insights as insights

    model, leads, features, y, slices, score = parts
    seen = {}
    real = insights.criteria_summary

    def spy(features, y, slices, *args, **kwargs):
        seen.update({k: np.asarray(v) for k, v in slices.items()})
        return real(features, y, slices, *args, **kwargs)

    monkeypatch.setattr(insights, "criteria_summary", spy)
    args = (model.booster, model.calibrator, model.spec, leads, features, y, slices, score, 30)
    out = training_insights(*args, segment_column="lead_source", sample_rows=250, seed=1)
    d = out["drivers"]
    assert d["n_leads"] == 250 and d["test_leads"] == 300
    assert sum(r["leads"] for r in d["by_segment"]) == 250
    # The charts and metrics still see the whole test slice.
    assert out["evaluation"]["n"] == 300
    assert {k: len(v) for k, v in seen.items()} == {"train": 250, "calibration": 250,
                                                    "test": 250}
    for k, v in seen.items():
        assert np.all(np.diff(v) > 0) and np.isin(v, slices[k]).all()
    # Seeded: the same sample again; another seed, another sample.
    again = training_insights(*args, sample_rows=250, seed=1)["drivers"]
    other = training_insights(*args, sample_rows=250, seed=2)["drivers"]
    assert again["fields"] == d["fields"]
    assert again["fields"] != other["fields"]
    # No sample below the limit: the same figures as without one.
    full = training_insights(*args, sample_rows=None)["drivers"]
    assert training_insights(*args, sample_rows=300, seed=5)["drivers"]["fields"] == full[
        "fields"]


def test_unknown_segment_column_is_a_config_error_naming_it(parts):
    model, leads, features, y, slices, score = parts
    with pytest.raises(ConfigError, match="segments.column: column 'region'"):
        training_insights(
            model.booster,
            model.calibrator,
            model.spec,
            leads,
            features,
            y,
            slices,
            score,
            30,
            segment_column="region",
        )


#: Three fields made clearly the strongest true drivers (one fit attribute parsed from the
#: job title, one raw category, one behaviour); see benchmarks/drivers_truth.py.
DRIVER_SCALE = {"seniority": 2.5, "industry": 2.5, "pricing_page_view": 2.5}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 4])
def test_the_generators_three_strongest_true_drivers_lead_the_report(seed):
    history = generate_history(12_000, seed, driver_scale=DRIVER_SCALE)
    cfg = load_config(None, {"tracking": {"enabled": False}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    model, artifacts = fit_history(crm, cfg)
    slices = artifacts["slices"]
    test_ids = slices.loc[slices["slice"] == "test", "lead_id"].to_numpy()

    truth = true_driver_importance(history, test_ids)
    top3 = list(truth.index[:3])
    assert set(top3) == set(DRIVER_SCALE)
    assert truth.iloc[2] >= 1.4 * truth.iloc[3], truth.head(5)
    report_top5 = [row["field"] for row in model.summary.drivers.fields[:5]]
    assert set(top3) <= set(report_top5), (truth.head(6).round(3).to_dict(), report_top5)
