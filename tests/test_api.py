"""The public API: ``import mqlml`` gives train, score, explain_lead, load_model, ..."""

import inspect
import subprocess
import sys

import pandas as pd
import pytest

import mqlml
from mqlml.columns import LEAD_ID
from mqlml.errors import MqlmlError

#: The data a public function works on: these may be positional, every other parameter
#: must be keyword-only.
DATA_ARGUMENTS = {
    "train": ("data",),
    "score": ("model", "leads", "activities"),
    "explain_lead": ("model", "leads", "activities"),
    "load_model": ("path_or_uri",),
    # the file, and the overrides merged over it (``load_config(None, {...})``)
    "load_config": ("path", "overrides"),
    # how much history, and which (the seed names the data set)
    "generate_history": ("n_leads", "seed"),
    "LeadScorer.fit": ("self", "leads", "activities", "outcomes"),
    "LeadScorer.score": ("self", "leads", "activities"),
    "LeadScorer.predict_proba": ("self", "leads", "activities"),
    "LeadScorer.predict": ("self", "leads", "activities"),
    "LeadScorer.explain": ("self", "leads", "activities"),
    "LeadScorer.save": ("self", "path"),
    "LeadScorer.load": ("cls", "path"),
    "LeadScorer.__init__": ("self",),
}


@pytest.fixture(scope="module")
def history():
    return mqlml.generate_history(3_000, seed=5)


@pytest.fixture(scope="module")
def config():
    return mqlml.load_config(None, {"thresholds": {"capacity_per_week": 30}})


@pytest.fixture(scope="module")
def scorer(history, config):
    return mqlml.train(history, config=config)


def test_every_public_name_resolves():
    for name in mqlml.__all__:
        assert getattr(mqlml, name) is not None, name
    assert set(mqlml.__all__) <= set(dir(mqlml))
    assert issubclass(mqlml.DataValidationError, mqlml.MqlmlError)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = mqlml.nothing


def test_import_mqlml_is_cheap():
    # Nothing heavy is imported until a name needs it (the CLI and services stay fast).
    code = "import mqlml, sys; print(sorted(m for m in ('pandas', 'sklearn', 'lightgbm', " \
           "'pydantic', 'mlflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def _public_callables():
    for name in mqlml.__all__:
        obj = getattr(mqlml, name)
        if inspect.isfunction(obj):
            yield name, obj
    for name in DATA_ARGUMENTS:
        if name.startswith("LeadScorer."):
            yield name, inspect.getattr_static(mqlml.LeadScorer, name.split(".")[1])


@pytest.mark.parametrize(("name", "func"), list(_public_callables()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_parameters_after_the_data_are_keyword_only(name, func):
    func = getattr(func, "__func__", func)  # classmethods
    params = inspect.signature(func).parameters.values()
    positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
    assert positional == list(DATA_ARGUMENTS[name][: len(positional)])
    assert set(positional) <= set(DATA_ARGUMENTS[name]), name


def test_train_score_explain_load(scorer, history, tmp_path):
    assert isinstance(scorer, mqlml.LeadScorer)
    assert isinstance(scorer.summary_, mqlml.TrainingSummary)
    leads = history.leads.tail(100).reset_index(drop=True)
    t = history.snapshot_at
    scored = mqlml.score(scorer, leads, history.activities, as_of=t)
    pd.testing.assert_frame_equal(scored, scorer.score(leads, history.activities, as_of=t))
    lead = scored.sort_values("score")[LEAD_ID].iloc[-1]
    points = mqlml.explain_lead(scorer, leads, history.activities, lead_id=lead, as_of=t)
    pd.testing.assert_frame_equal(
        points, scorer.explain(leads, history.activities, lead_id=lead, as_of=t)
    )
    bundle = scorer.save(tmp_path / "models")
    loaded = mqlml.load_model(bundle)
    assert isinstance(loaded, mqlml.LeadScorer)
    # a bundle path and a TrainedModel work as the model too, with identical scores
    for model in (bundle, str(bundle), loaded, loaded.model_):
        pd.testing.assert_frame_equal(
            mqlml.score(model, leads, history.activities, as_of=t), scored
        )


def test_training_from_files_is_training_from_frames(scorer, history, config, tmp_path):
    from mqlml.synthetic.generate import write_history

    write_history(history, tmp_path / "crm", "csv")
    from_files = mqlml.train(tmp_path / "crm", config=config)
    assert (
        from_files.summary_.metrics_test.model == scorer.summary_.metrics_test.model
    )
    assert from_files.summary_.mql_threshold.cutoff == scorer.summary_.mql_threshold.cutoff


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give data .* or leads=..., not both or neither"),
        ({"data": "x", "leads": "y"}, "not both or neither"),
        ({"data": "x", "outcomes": "y"}, "give activities and outcomes with leads=..."),
    ],
)
def test_train_wants_the_data_once(kwargs, message):
    with pytest.raises(MqlmlError, match=message):
        mqlml.train(**kwargs)


def test_a_model_of_the_wrong_type_is_an_error(history):
    with pytest.raises(MqlmlError, match="model must be a LeadScorer, .* got int"):
        mqlml.score(3, history.leads)
