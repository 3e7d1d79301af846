"""Issue 14, item 2: a category with hundreds of values is used, and generalises."""

import numpy as np
import pandas as pd
import pytest

import mqlml
from mqlml.config import load_config
from mqlml.estimator import LeadScorer
from mqlml.features.build import OTHER_LEVEL, build_features, unseen_category_counts
from mqlml.scoring.batch import _unseen_categories


def _export(n=4000, seed=0, k=300):
    """A flat export whose landing page (300 values, popularity skewed) carries a real
    effect: a fifth of the pages convert far better. Pages 270+ first appear in the newest
    30% of leads, so the test slice holds pages the model never saw."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(t * 3, unit="h")
    weight = 1 / (np.arange(k) + 5.0)
    older = np.where(np.arange(k) < 270, weight, 0)
    page = np.where(
        t < 0.7 * n,
        rng.choice(k, n, p=older / older.sum()),
        rng.choice(k, n, p=weight / weight.sum()),
    )
    good = rng.permutation(k)[: k // 5]
    size = rng.choice(["1-10", "11-50", "51-200", "201-1000"], n)
    views = rng.poisson(3, n)
    logit = (
        -2.4 + 0.2 * views + np.where(size == "201-1000", 0.6, 0) + np.where(np.isin(page, good),
                                                                           1.6, 0)
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "Id": [f"L{i:05d}" for i in range(n)],
            "Created": created.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "Landing Page": [f"/lp/{p}" for p in page],
            "Visitor Id": [f"v{i:06d}" for i in range(n)],
            "Company size": size,
            "Page views": views.astype(str),
            "Converted": np.where(y, "yes", "no"),
        }
    )


def _config(exclude=()):
    return load_config(None, {
        "flat": {"target_column": "Converted", "positive_values": ["yes"], "id_column": "Id",
                 "time_column": "Created", "exclude_columns": list(exclude)},
        "model": {"max_boost_rounds": 200},
        "thresholds": {"capacity_per_week": 10, "bootstrap_samples": 0},
    })


@pytest.fixture(scope="module")
def export():
    return _export()


@pytest.fixture(scope="module")
def kept(export):
    return mqlml.train(export, config=_config())


def test_a_landing_page_with_hundreds_of_values_is_used_and_beats_dropping_it(export, kept):
    spec = kept.model_.spec
    assert "Landing Page" in spec.categorical
    # Rare pages share one level; the frequent ones keep their own.
    assert spec.categorical["Landing Page"][-1] == OTHER_LEVEL
    assert len(spec.grouped["Landing Page"]) > 100
    assert 20 < len(spec.categorical["Landing Page"]) <= 201
    # An identifier is still left out.
    assert spec.excluded["Visitor Id"].startswith("identifier-like")
    assert "Visitor Id" not in spec.columns
    importance = {r["field"]: r["gain_share"] for r in kept.summary_.importance}
    assert max(importance, key=importance.get) == "Landing Page"
    dropped = mqlml.train(export, config=_config(exclude=("Landing Page",)))
    assert "Landing Page" not in dropped.model_.spec.columns
    auc_kept = kept.summary_.metrics_test.model.roc_auc
    auc_dropped = dropped.summary_.metrics_test.model.roc_auc
    assert auc_kept > auc_dropped + 0.03, (auc_kept, auc_dropped)


def test_new_and_rare_pages_score_as_the_grouped_level_and_reasons_name_the_page(
    export, kept, tmp_path
):
    spec = kept.model_.spec
    frequent = next(v for v in spec.categorical["Landing Page"] if v != OTHER_LEVEL)
    rare = spec.grouped["Landing Page"][0]
    # One lead four times, only its landing page differing.
    rows = export.iloc[[-1] * 4].drop(columns="Converted").assign(
        Id=["N1", "N2", "N3", "N4"], **{"Landing Page": ["/lp/never-seen", rare, frequent, None]}
    )
    scored = kept.score(rows)
    assert len(scored) == 4 and scored["score"].between(1, 99).all()
    # A page never seen scores exactly as a rare one: both are the grouped level.
    assert scored["probability"].iloc[0] == scored["probability"].iloc[1]
    sentences = {
        lid: set(mqlml.explain_lead(kept, rows, lead_id=lid)["reason"])
        for lid in rows["Id"].iloc[:3]
    }
    ids = rows["Id"].tolist()
    assert "Came from another landing page" in sentences[ids[0]]
    assert "Came from another landing page" in sentences[ids[1]]
    assert f"Came from landing page {frequent}" in sentences[ids[2]]
    # The grouped values travel with the saved model: a reloaded one scores the same.
    again = LeadScorer.load(kept.save(tmp_path / "models", name="pages"))
    assert again.model_.spec.grouped == kept.model_.spec.grouped
    pd.testing.assert_frame_equal(again.score(rows), scored)
    # The scoring report counts only the page never seen as unseen, not the rare one.
    leads = pd.DataFrame({"lead_id": rows["Id"].to_numpy(),
                          "Landing Page": rows["Landing Page"].to_numpy()})
    acts = pd.DataFrame({"lead_id": pd.Series(dtype="str"), "activity_type": pd.Series(
        dtype="str"), "occurred_at": pd.Series(dtype="datetime64[ns, UTC]")})
    features = build_features(leads, acts, "2026-01-01", spec)
    assert _unseen_categories(leads, features, spec) == {"Landing Page": 1}
    assert unseen_category_counts(leads, spec) == {"Landing Page": 1}
