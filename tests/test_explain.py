import numpy as np
import pandas as pd
import pytest

from mqlml.calibrate import probability_to_score
from mqlml.explain import field_contributions, field_matrix, field_points, top_reasons
from mqlml.features import build_features, to_matrix
from mqlml.train import predict_raw


@pytest.fixture(scope="module")
def explained(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(500)
    as_of = leads["created_at"] + pd.Timedelta(days=14)
    X = to_matrix(build_features(leads, crm.activities, as_of, model.spec), model.spec)
    per_field, base = field_contributions(model.booster, X, model.spec)
    return model, X, per_field, base


def test_field_contributions_add_up_to_the_log_odds(explained):
    model, X, per_field, base = explained
    raw = predict_raw(model.booster, X)
    np.testing.assert_allclose(base + per_field.sum(axis=1), raw, atol=1e-9)


def test_points_add_up_to_score_minus_base_score(explained):
    model, X, per_field, base = explained
    points, base_score = field_points(per_field, base, model.calibrator)
    p = model.calibrator.predict(predict_raw(model.booster, X))
    np.testing.assert_allclose(points.sum(axis=1), 100 * p - base_score, atol=1e-6)
    # and, after rounding to the integer score, within one point
    gap = probability_to_score(p) - base_score - points.sum(axis=1)
    assert np.abs(gap).max() <= 1.0 + 1e-9


def test_every_feature_belongs_to_exactly_one_field(trained):
    model = trained[0]
    m, fields = field_matrix(model.spec)
    assert (m.sum(axis=1) == 1).all()
    assert len(fields) == len(set(fields))
    assert "pricing_page_view" in fields and "email_domain_type" in fields


def test_top_reasons_are_the_largest_by_magnitude():
    points = pd.DataFrame(
        {"industry": [1.0, -0.2], "pricing_page_view": [-5.0, 0.1], "recency": [2.0, 0.0]}
    )
    labels, pts = top_reasons(points, 2)
    assert labels[0].tolist() == ["Pricing page view", "Recency of activity"]
    assert pts[0].tolist() == [-5.0, 2.0]
    assert labels[1].tolist() == ["Industry", "Pricing page view"]
