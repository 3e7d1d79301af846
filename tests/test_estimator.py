"""LeadScorer: a scikit-learn estimator that trains and scores as the CLI does."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mqlml.columns import LEAD_ID, SCORE_COLUMNS
from mqlml.config import Config, load_config
from mqlml.errors import ConfigError, DataValidationError
from mqlml.estimator import CONFIG_PARAMETERS, LeadScorer
from mqlml.model.bundle import TrainedModel
from mqlml.model.summary import TrainingSummary

PARAMETERS = ["capacity_per_week", "config", "horizon_days", "observation_days", "policy",
              "random_state", "target"]


@pytest.fixture(scope="module")
def data():
    from mqlml.synthetic.generate import generate_history

    return generate_history(3_000, seed=5)


@pytest.fixture(scope="module")
def scorer(data):
    return LeadScorer(capacity_per_week=30).fit(data.leads, data.activities, data.outcomes)


@pytest.fixture(scope="module")
def batch(data):
    """The latest 150 leads with their activities, scored at the data's snapshot."""
    leads = data.leads.tail(150).reset_index(drop=True)
    acts = data.activities[data.activities[LEAD_ID].isin(leads[LEAD_ID])]
    return leads, acts, data.snapshot_at


def test_fit_sets_the_fitted_attributes(scorer):
    assert isinstance(scorer.model_, TrainedModel)
    assert isinstance(scorer.summary_, TrainingSummary) and scorer.summary_ is scorer.model_.summary
    assert scorer.config_.thresholds.capacity_per_week == 30
    assert scorer.classes_.tolist() == [False, True]
    assert scorer.summary_.metrics_test.model.roc_auc > 0.7
    assert len(scorer.test_predictions_) == scorer.summary_.periods[2].n_leads


def test_get_params_lists_the_parameters_and_clone_gives_an_unfitted_copy(scorer):
    assert sorted(LeadScorer().get_params()) == PARAMETERS
    assert set(CONFIG_PARAMETERS) == set(PARAMETERS) - {"config"}
    copy = clone(LeadScorer(horizon_days=60))
    assert copy.get_params() == {**LeadScorer().get_params(), "horizon_days": 60}
    fitted_copy = clone(scorer)
    assert fitted_copy.get_params() == scorer.get_params()
    assert not hasattr(fitted_copy, "model_")


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        LeadScorer(None)


@pytest.mark.parametrize(
    ("param", "value", "read"),
    [
        ("target", "won", lambda c: c.labels.target),
        ("horizon_days", 60, lambda c: c.labels.horizon_days),
        ("observation_days", 7, lambda c: c.features.observation_days),
        ("capacity_per_week", 12.5, lambda c: c.thresholds.capacity_per_week),
        ("policy", "recall", lambda c: c.thresholds.policy),
        ("random_state", 11, lambda c: c.model.seed),
    ],
)
def test_each_parameter_sets_its_config_value_and_keeps_the_rest(param, value, read):
    base = load_config(None, {"name": "mine", "thresholds": {"capacity_per_week": 77}})
    cfg = LeadScorer(config=base, **{param: value}).build_config()
    assert read(cfg) == value
    assert cfg.name == "mine"
    if param != "capacity_per_week":
        assert cfg.thresholds.capacity_per_week == 77


def test_config_may_be_a_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: from-file\nthresholds:\n  capacity_per_week: 9\n")
    cfg = LeadScorer(config=path, policy="precision").build_config()
    assert isinstance(cfg, Config) and cfg.name == "from-file"
    assert cfg.thresholds.capacity_per_week == 9 and cfg.thresholds.policy == "precision"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"observation_days": -3}, "observation_days must be a non-negative integer, got -3"),
        ({"policy": "loudest"}, "policy"),
        ({"config": 3}, "config must be a mqlml Config, a path to a YAML file or None, got int"),
    ],
)
def test_bad_parameters_are_config_errors_naming_them(params, message, data):
    with pytest.raises(ConfigError, match=message):
        LeadScorer(**params).fit(data.leads, data.activities, data.outcomes)


@pytest.mark.parametrize("method", ["score", "predict_proba", "predict", "explain", "save"])
def test_an_unfitted_scorer_says_which_method_needs_fit(method, batch):
    leads, acts, t = batch
    args = {"score": (leads,), "predict_proba": (leads,), "predict": (leads,),
            "explain": (leads,), "save": ("models",)}[method]
    kwargs = {"lead_id": "x"} if method == "explain" else {}
    with pytest.raises(NotFittedError, match=f"not fitted yet.*before {method}"):
        getattr(LeadScorer(), method)(*args, **kwargs)


def test_score_gives_the_cli_columns_and_predict_proba_matches_it(scorer, batch):
    leads, acts, t = batch
    scored = scorer.score(leads, acts, as_of=t)
    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert scored[LEAD_ID].tolist() == leads[LEAD_ID].tolist()
    proba = scorer.predict_proba(leads, acts, as_of=t)
    assert proba.shape == (len(leads), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba[:, 1], scored["probability"].to_numpy())
    is_mql = scorer.predict(leads, acts, as_of=t)
    assert is_mql.dtype == bool
    np.testing.assert_array_equal(is_mql, scored["score"] >= scorer.summary_.mql_threshold.cutoff)


def test_scoring_only_uses_what_was_known_at_as_of(scorer, batch):
    leads, acts, t = batch
    early = t - pd.Timedelta(days=3)
    known = leads[leads["created_at"] <= early].reset_index(drop=True)
    assert (acts["occurred_at"] > early).any()
    # Activities after the scoring moment change nothing: they were not known yet.
    a = scorer.score(known, acts, as_of=early)
    b = scorer.score(known, acts[acts["occurred_at"] <= early], as_of=early)
    pd.testing.assert_frame_equal(a, b)


def test_a_lead_that_cannot_be_scored_is_an_error_not_a_dropped_row(scorer, batch):
    leads, acts, t = batch
    bad = leads.copy()
    bad.loc[3, "created_at"] = t + pd.Timedelta(days=5)  # created after its scoring time
    with pytest.raises(DataValidationError, match=r"1 of 150 leads cannot be scored") as info:
        scorer.score(bad, acts, as_of=t)
    assert f"row 4 (lead_id {leads.loc[3, LEAD_ID]})" in str(info.value)


def test_explain_breaks_one_leads_score_into_points(scorer, batch):
    leads, acts, t = batch
    scored = scorer.score(leads, acts, as_of=t)
    row = scored.iloc[7]
    points = scorer.explain(leads, acts, lead_id=row[LEAD_ID], as_of=t)
    assert {"field", "label", "group", "reason", "points"} <= set(points.columns)
    assert points["points"].abs().is_monotonic_decreasing
    # the base score plus every field's points is the lead's (unrounded) score
    assert abs(row["base_score"] + points["points"].sum() - row["score"]) <= 0.6
    with pytest.raises(DataValidationError, match="'nobody' is not among the 150 leads"):
        scorer.explain(leads, acts, lead_id="nobody", as_of=t)


def test_save_and_load_score_identically(scorer, batch, tmp_path):
    leads, acts, t = batch
    path = scorer.save(tmp_path / "models", name="api-test")
    assert path.parent.name == "api-test" and (path / "metrics.json").is_file()
    again = LeadScorer.load(path)
    assert json.dumps(again.summary_.to_dict(), default=str) == json.dumps(
        scorer.summary_.to_dict(), default=str
    )
    assert again.test_predictions_ is None
    pd.testing.assert_frame_equal(again.score(leads, acts, as_of=t), scorer.score(leads, acts,
                                                                                 as_of=t))
    assert LeadScorer.load(path.parent).model_.mql.cutoff_ == scorer.model_.mql.cutoff_
    for bad in ("..", "../outside", "a/b"):  # issue 17 item 7: never outside the folder
        with pytest.raises(ConfigError, match="name must"):
            scorer.save(tmp_path / "models", name=bad)
    assert not (tmp_path / "outside").exists()


def _flat_export(n=2_400, seed=0):
    """A one-table export as read from CSV: text cells, a converted flag."""
    rng = np.random.default_rng(seed)
    size = rng.choice(["1-10", "51-200", "201-1000"], n)
    views = rng.poisson(3, n)
    logit = -2.2 + 0.35 * views + np.where(size == "201-1000", 1.0, 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 3, unit="h")
    return pd.DataFrame(
        {
            "Id": [f"C{i:05d}" for i in range(n)],
            "Created": created.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "Company size": size,
            "Page views": views.astype(str),
            "Converted": np.where(y, "Yes", "No"),
        }
    )


def test_a_flat_config_trains_and_scores_one_export(tmp_path):
    cfg = load_config(None, {"flat": {"target_column": "Converted", "positive_values": ["yes"],
                                      "id_column": "Id", "time_column": "Created"},
                             "thresholds": {"capacity_per_week": 20}})
    export = _flat_export()
    scorer = LeadScorer(config=cfg).fit(export)
    assert scorer.config_.flat is not None and scorer.summary_.metrics_test.model.roc_auc > 0.6
    rows = export.tail(40).drop(columns="Converted")
    scored = scorer.score(rows)
    assert scored[LEAD_ID].tolist() == rows["Id"].tolist()
    # the same export as a file scores the same
    path = tmp_path / "new.csv"
    rows.to_csv(path, index=False)
    pd.testing.assert_frame_equal(scorer.score(path), scored)
