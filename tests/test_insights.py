import numpy as np
import pandas as pd
import pytest

from mqlml.errors import ConfigError
from mqlml.features import build_features
from mqlml.insights import training_insights


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
