import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mqlml.explain.criteria import (
    POINTS_TO_DOUBLE_ODDS,
    count_band_text,
    learn_scorecard,
    refine_rules,
    scorecard_table,
)
from mqlml.features.build import FeatureSpec


def _spec():
    cols = (
        "email_domain_type",
        "n_pricing_page_view_7d",
        "n_pricing_page_view_30d",
        "days_since_last_pricing_page_view",
    )
    return FeatureSpec(
        activity_types=("pricing_page_view",),
        windows_days=(7, 30),
        categorical={"email_domain_type": ("business", "free")},
        numeric_attributes=(),
        columns=cols,
        fields={
            "email_domain_type": "email_domain_type",
            **{c: "pricing_page_view" for c in cols[1:]},
        },
        groups={"email_domain_type": "fit", "pricing_page_view": "behaviour"},
    )


@pytest.fixture(scope="module")
def toy():
    """Leads where >= 2 pricing visits triples conversion and a free email halves it."""
    rng = np.random.default_rng(0)
    n = 6000
    visits = rng.choice([0, 1, 2], n, p=[0.6, 0.25, 0.15]).astype(float)
    email = rng.choice(["business", "free"], n, p=[0.7, 0.3])
    rate = 0.08 * np.where(visits >= 2, 3.0, 1.0) * np.where(email == "free", 0.5, 1.0)
    y = (rng.random(n) < rate).astype(float)
    features = pd.DataFrame(
        {
            "email_domain_type": pd.Categorical(email, categories=["business", "free"]),
            "n_pricing_page_view_7d": visits,
            "n_pricing_page_view_30d": visits,
            "days_since_last_pricing_page_view": np.where(visits > 0, 3.0, np.nan),
        }
    )
    idx = np.arange(n)
    return features, y, {"train": idx[:3600], "calibration": idx[3600:4800], "test": idx[4800:]}


def test_rules_find_the_real_threshold_and_measure_it_on_test(toy):
    features, y, s = toy
    rows = refine_rules(features, y, s["train"], s["test"], ["pricing_page_view"], _spec())
    best = rows[0]
    assert best["rule"] == "Visited the pricing page at least twice in the last 7 days"
    m = features["n_pricing_page_view_7d"].to_numpy()[s["test"]] >= 2
    yt = y[s["test"]]
    assert best["leads"] == m.sum()
    assert best["conversion_rate"] == pytest.approx(yt[m].mean())
    assert best["lift"] == pytest.approx(yt[m].mean() / yt.mean())
    assert best["support"] == pytest.approx(m.mean())
    # the 30-day window selects the same leads here: not repeated
    assert not any("30 days" in r["rule"] and "at least twice" in r["rule"] for r in rows)
    # and the disqualifier comes last, with lift below 1
    assert rows[-1]["lift"] < 1


def test_categorical_rules_have_lift_on_both_sides(toy):
    features, y, s = toy
    rows = refine_rules(features, y, s["train"], s["test"], ["email_domain_type"], _spec())
    by_rule = {r["rule"]: r for r in rows}
    assert by_rule["Business email address"]["lift"] > 1
    assert by_rule["Free email address (such as Gmail)"]["lift"] < 1


def test_scorecard_points_threshold_and_auc(toy):
    features, y, s = toy
    spec = _spec()
    model_score = np.clip(
        np.rint(100 * 0.08 * np.where(features["n_pricing_page_view_7d"] >= 2, 3, 1)), 1, 99
    ).astype(int)
    card = learn_scorecard(
        features,
        y,
        s["train"],
        s["calibration"],
        s["test"],
        ["pricing_page_view", "email_domain_type"],
        spec,
        model_score,
        24,
    )
    pts = {r["rule"]: r["points"] for r in card["rows"]}
    assert all(isinstance(p, int) for p in pts.values())
    # >= 2 visits triple the rate: about log2 of the odds ratio doublings, times 10
    odds_ratio = (0.24 / 0.76) / (0.08 / 0.92)
    expected = POINTS_TO_DOUBLE_ODDS * np.log2(odds_ratio)
    assert pts["Visited the pricing page at least twice in the last 30 days"] == pytest.approx(
        expected, abs=5
    )
    assert pts["Visited the pricing page once in the last 30 days"] == pytest.approx(0, abs=4)
    assert pts["Free email address (such as Gmail)"] < 0 == pts["Business email address"]
    assert card["roc_auc_test"] > 0.6
    assert card["model_roc_auc_test"] == pytest.approx(
        roc_auc_score(y[s["test"]], model_score[s["test"]])
    )
    cal_mqls = (model_score[s["calibration"]] >= 24).sum()
    assert card["equal_volume"][0]["mqls"] == (model_score[s["test"]] >= 24).sum()
    assert card["equal_volume"][2]["mqls"] == card["equal_volume"][0]["mqls"]
    assert cal_mqls > 0
    table = scorecard_table(card)
    assert list(table.columns) == ["field", "rule", "points"]
    assert table.iloc[-1]["field"] == "MQL threshold"
    assert table.iloc[-1]["points"] == card["threshold"]


def test_scorecard_points_never_fall_as_activity_rises():
    # A dip in the data (1 visit converts better than 2) must not become a scorecard that
    # takes points away for a second pricing visit: sales reads more activity as better.
    rng = np.random.default_rng(1)
    n = 8000
    visits = rng.choice([0, 1, 2, 3], n, p=[0.4, 0.2, 0.2, 0.2]).astype(float)
    rate = np.select([visits == 0, visits == 1, visits == 2], [0.05, 0.20, 0.10], 0.30)
    y = (rng.random(n) < rate).astype(float)
    features = pd.DataFrame(
        {
            "email_domain_type": pd.Categorical(["business"] * n, categories=["business", "free"]),
            "n_pricing_page_view_7d": visits,
            "n_pricing_page_view_30d": visits,
            "days_since_last_pricing_page_view": np.where(visits > 0, 3.0, np.nan),
        }
    )
    idx = np.arange(n)
    score = np.clip(np.rint(100 * rate), 1, 99).astype(int)
    card = learn_scorecard(
        features, y, idx[:5000], idx[5000:6500], idx[6500:], ["pricing_page_view"], _spec(),
        score, 20,
    )
    points = [r["points"] for r in card["rows"]]
    assert [r["rule"] for r in card["rows"]][0].startswith("Has not visited")
    assert points[0] == 0 and points == sorted(points), points
    assert points[-1] > points[1]  # the order costs nothing where the data agrees


@pytest.mark.parametrize(
    ("field", "lo", "hi", "text"),
    [
        ("pricing_page_view", 0, 1, "Has not visited the pricing page in the last 30 days"),
        ("pricing_page_view", 1, 2, "Visited the pricing page once in the last 30 days"),
        ("pricing_page_view", 2, 5, "Visited the pricing page 2–4 times in the last 30 days"),
        (
            "pricing_page_view",
            5,
            np.inf,
            "Visited the pricing page at least 5 times in the last 30 days",
        ),
        ("engagement", 0, 1, "No activity in the last 30 days"),
        ("engagement", 3, 5, "3–4 activities in the last 30 days"),
        ("demo_request", 1, np.inf, "Requested a demo at least once in the last 30 days"),
    ],
)
def test_band_words(field, lo, hi, text):
    assert count_band_text(field, lo, hi, 30) == text
