import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap

from mqlml.explain.contributions import (
    feature_contributions,
    field_contributions,
    field_matrix,
    field_points,
    global_drivers,
    lead_reasons,
    signed_top,
    top_reasons,
)
from mqlml.features.build import build_features, to_matrix
from mqlml.model.calibrate import ProbabilityCalibrator, probability_to_score
from mqlml.model.trees import predict_raw


@pytest.fixture(scope="module")
def explained(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(500)
    as_of = leads["created_at"] + pd.Timedelta(days=14)
    features = build_features(leads, crm.activities, as_of, model.spec)
    X = to_matrix(features, model.spec)
    per_field, base = field_contributions(model.booster, X, model.spec)
    return model, X, per_field, base, features


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
def test_pred_contrib_agrees_with_shap_tree_explainer(explained):
    model, X, *_ = explained
    contrib, base = feature_contributions(model.booster, X)
    explainer = shap.TreeExplainer(model.booster)
    values = explainer.shap_values(X)
    np.testing.assert_allclose(contrib, values, atol=1e-6)
    assert base == pytest.approx(float(np.ravel(explainer.expected_value)[0]), abs=1e-6)


def test_pred_contrib_agrees_with_shaps_own_treeshap_algorithm():
    # For LightGBM, shap.TreeExplainer hands over to pred_contrib; forcing shap's own C++
    # TreeSHAP on its parsed trees checks the values independently. shap's parser does not
    # handle LightGBM's categorical splits, so this model has numeric features (with NaN).
    rng = np.random.default_rng(0)
    X = rng.poisson(1.5, (3000, 6)).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan
    z = np.nan_to_num(X[:, 0]) - 1.5 + 0.5 * np.nan_to_num(X[:, 1]) * np.isnan(X[:, 2])
    y = (rng.random(3000) < 1 / (1 + np.exp(-z))).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 15, "seed": 0},
        lgb.Dataset(X, y),
        60,
    )
    contrib, base = feature_contributions(booster, X[:400])
    explainer = shap.TreeExplainer(booster)
    explainer.model.model_type = "internal"
    values = explainer.shap_values(X[:400], check_additivity=False)
    np.testing.assert_allclose(contrib, values, atol=1e-6)
    assert base == pytest.approx(float(np.ravel(explainer.expected_value)[0]), abs=1e-6)


def test_field_contributions_add_up_to_the_log_odds(explained):
    model, X, per_field, base, _ = explained
    raw = predict_raw(model.booster, X)
    np.testing.assert_allclose(base + per_field.sum(axis=1), raw, atol=1e-9)


def test_points_add_up_to_score_minus_base_score_for_every_lead(explained):
    model, X, per_field, base, _ = explained
    points, base_score = field_points(per_field, base, model.calibrator)
    p = model.calibrator.predict(predict_raw(model.booster, X))
    unrounded = np.clip(100 * p, 0.5, 99.5)
    np.testing.assert_allclose(points.sum(axis=1), unrounded - base_score, atol=1e-9)
    gap = probability_to_score(p) - base_score - points.sum(axis=1)
    assert np.abs(gap).max() <= 0.5 + 1e-9


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_points_keep_the_sign_of_the_log_odds_even_on_isotonic_steps(explained, method):
    model, X, per_field, base, _ = explained
    rng = np.random.default_rng(1)
    raw = predict_raw(model.booster, X)
    y = (rng.random(len(raw)) < 1 / (1 + np.exp(-raw))).astype(float)
    cal = ProbabilityCalibrator(method).fit(raw, y)
    points, base_score = field_points(per_field, base, cal)
    c = per_field.to_numpy()
    pts = points.to_numpy()
    assert (pts[c > 0] >= -1e-12).all() and (pts[c < 0] <= 1e-12).all()
    # no blow-up where positive and negative contributions nearly cancel
    assert np.abs(pts).max() <= 100
    unrounded = np.clip(100 * cal.predict(raw), 0.5, 99.5)
    np.testing.assert_allclose(pts.sum(axis=1), unrounded - base_score, atol=1e-9)


def test_points_on_a_hand_computed_case():
    cal = ProbabilityCalibrator.from_dict(
        {"method": "sigmoid", "method_": "sigmoid", "params": {"coef": 1.0, "intercept": 0.0}}
    )
    per_field = pd.DataFrame({"a": [1.0], "b": [-1.0], "c": [0.5]})
    points, base = field_points(per_field, 0.0, cal)

    def g(r):
        return 100 / (1 + np.exp(-r))

    up = 0.5 * ((g(1.5) - g(0)) + (g(0.5) - g(-1)))
    down = 0.5 * ((g(-1) - g(0)) + (g(0.5) - g(1.5)))
    assert base == pytest.approx(50.0)
    assert points.loc[0, "a"] == pytest.approx(up * 1 / 1.5)
    assert points.loc[0, "c"] == pytest.approx(up * 0.5 / 1.5)
    assert points.loc[0, "b"] == pytest.approx(down)


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
    assert labels[0].tolist() == ["Pricing page visits", "Recency of activity"]
    assert pts[0].tolist() == [-5.0, 2.0]


def test_signed_top_keeps_direction_and_leaves_empty_slots():
    points = pd.DataFrame({"a": [3.0, -1.0], "b": [1.0, -2.0], "c": [-4.0, 0.01]})
    fields, pts = signed_top(points, 3, +1)
    assert fields[0].tolist() == ["a", "b", None]
    assert fields[1].tolist() == [None, None, None]  # 0.01 rounds to nothing
    np.testing.assert_allclose(pts[0, :2], [3.0, 1.0])
    fields, pts = signed_top(points, 2, -1)
    assert fields[0].tolist() == ["c", None] and fields[1].tolist() == ["b", "a"]
    np.testing.assert_allclose(pts[1], [-2.0, -1.0])


def test_lead_reasons_quote_the_leads_values(explained):
    model, X, per_field, base, features = explained
    points, base_score = field_points(per_field, base, model.calibrator)
    r = lead_reasons(points, base_score, features, model.spec)
    assert r.positive.shape == (len(features), 3) and r.negative.shape == (len(features), 2)
    has = pd.notna(r.positive_fields)
    assert (pd.notna(r.positive) == has).all()
    assert (r.positive_points[has] > 0).all() and (
        r.negative_points[pd.notna(r.negative)] < 0
    ).all()
    # a pricing reason names the visits the lead actually made
    i, j = np.argwhere(r.positive_fields == "pricing_page_view")[0]
    n30 = int(features["n_pricing_page_view_30d"].iloc[i])
    text = r.positive[i, j]
    assert text.startswith("Visited the pricing page")
    assert (str(n30) in text) or ("once" in text and n30 == 1) or ("twice" in text and n30 == 2)
    total = base_score + np.nansum(r.positive_points, 1) + np.nansum(r.negative_points, 1)
    np.testing.assert_allclose(total + r.other_points, base_score + points.sum(axis=1))


def test_global_drivers_rank_fields_and_groups(explained):
    model, X, per_field, base, features = explained
    points, _ = field_points(per_field, base, model.calibrator)
    seg = np.where(np.arange(len(points)) % 3 == 0, "A", "B")
    d = global_drivers(points, features, model.spec, seg, "lead_source")
    means = [r["mean_abs_points"] for r in d["fields"]]
    assert means == sorted(means, reverse=True)
    assert means[0] == pytest.approx(points[d["fields"][0]["field"]].abs().mean())
    assert {g["group"] for g in d["groups"]} == {"fit", "behaviour"}
    assert sum(g["share_of_field_effects"] for g in d["groups"]) == pytest.approx(1.0)
    assert [r["segment"] for r in d["by_segment"]] == ["B", "A"]
    assert d["by_segment"][1]["leads"] == int((seg == "A").sum())
    s = d["sample"]
    assert len(s["points"]) == len(s["fields"]) and len(s["points"][0]) == min(400, len(points))
