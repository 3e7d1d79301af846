"""The public API: ``import mqlml`` gives train, score, explain_lead, load_model, ..."""

import inspect
import json
import subprocess
import sys

import numpy as np
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
    "monitor": ("model", "scored", "data"),
    "export_to_crm": ("scored",),
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


def test_adjust_prior_moves_the_probabilities_of_a_batch_that_converts_more(
    scorer, history, config
):
    # Each lead scored at its own moment, as in training; the better 70 % of them imply a
    # higher conversion rate than training's: the adjustment raises every probability and
    # keeps the order of the leads.
    leads = history.leads.copy()
    leads["as_of"] = leads["created_at"] + pd.Timedelta(days=config.features.observation_days)
    leads = leads[leads["as_of"] < history.snapshot_at].reset_index(drop=True)
    everyone = mqlml.score(scorer, leads, history.activities)
    better = leads[everyone["score"] >= everyone["score"].quantile(0.3)].reset_index(drop=True)
    plain = mqlml.score(scorer, better, history.activities)
    pd.testing.assert_frame_equal(
        mqlml.score(scorer, better, history.activities, adjust_prior=False), plain
    )
    adjusted = mqlml.score(scorer, better, history.activities, adjust_prior=True)
    assert (adjusted["lead_id"] == plain["lead_id"]).all()
    assert (adjusted["probability"] > plain["probability"]).all()
    in_order = adjusted["probability"].to_numpy()[plain["probability"].to_numpy().argsort()]
    assert (np.diff(in_order) >= 0).all()
    with pytest.raises(MqlmlError, match="adjust_prior must be True, False or None, got 'yes'"):
        mqlml.score(scorer, better, history.activities, adjust_prior="yes")


def test_export_to_crm_writes_the_import_file_then_only_what_changed(scorer, history, tmp_path):
    t = history.snapshot_at
    leads = history.leads.tail(60).reset_index(drop=True)
    scored = mqlml.score(scorer, leads, history.activities, as_of=t)
    out = tmp_path / "scored.csv"
    first = mqlml.export_to_crm(scored, out=out, tool="hubspot", as_of=t, model=scorer)
    assert isinstance(first, mqlml.CrmExport)
    assert first.import_file == tmp_path / "scored.hubspot.csv"
    assert first.import_rows == 60 == len(pd.read_csv(first.import_file))
    assert first.became_mql == int(scored["is_mql"].sum())  # every lead is new
    assert first.state_path.is_file() and first.delivered == 0
    again = mqlml.export_to_crm(scored, out=out, tool="hubspot", as_of=t)
    assert (again.became_mql, again.changed_grade) == (0, 0)
    assert (again.changes["score_trend"] == "same").all()
    assert "0 became MQL" in again.summary


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tool": "pipedrive"}, "tool must be one of salesforce, hubspot, dynamics or None, "
                                "got 'pipedrive'"),
        ({"webhook": "ftp://crm.example"}, "^webhook: "),
        ({"settings": 3}, "settings must be a mqlml.Config, .* got int"),
        ({"as_of": "not a date"}, "as_of must be a date/time, got 'not a date'"),
        ({"model": 3}, "model must be a LeadScorer, a mapping .* got int"),
        ({"safe_csv": "no"}, "safe_csv must be True, False or None, got 'no'"),
    ],
)
def test_export_to_crm_names_the_wrong_parameter(kwargs, message, tmp_path):
    scored = pd.DataFrame({"lead_id": ["L1"], "probability": [0.2], "score": [20],
                           "grade": ["C"], "is_mql": [False], "tier": ["nurture"]})
    with pytest.raises(MqlmlError, match=message):
        mqlml.export_to_crm(scored, out=tmp_path / "scored.csv", **kwargs)
    with pytest.raises(MqlmlError, match="scored must hold the columns .* missing tier"):
        mqlml.export_to_crm(scored.drop(columns="tier"), out=tmp_path / "scored.csv")
    assert not list(tmp_path.iterdir())  # nothing written


def test_monitor_returns_what_the_monitoring_module_finds_typed(monitor_worlds, tmp_path):
    from monitor_worlds import MONITOR
    from mqlml.data.contract import snapshot_time
    from mqlml.scoring.monitor import monitor as run_monitor
    from mqlml.scoring.monitor import read_scored

    world = monitor_worlds.shifted
    config = mqlml.load_config(None, {"monitor": MONITOR.model_dump()})
    found = mqlml.monitor(monitor_worlds.bundle, world.outputs[0].parent, world.data_dir,
                          config=config)
    assert isinstance(found, mqlml.MonitorResult)
    snapshot_at = snapshot_time(world.crm, config.data)
    assert found.snapshot_at == snapshot_at
    expected = run_monitor(monitor_worlds.model, read_scored(world.outputs), world.crm,
                           snapshot_at, MONITOR)
    assert {k: v for k, v in found.details.items() if k != "model"} == {
        k: v for k, v in expected.items() if k != "model"
    }
    assert found.details["model"]["version"] == monitor_worlds.bundle.name
    assert (found.status, found.exit_code) == ("critical", 4)
    assert [a.level for a in found.alerts] == [a["level"] for a in expected["alerts"]]
    assert found.alerts[0].message == expected["alerts"][0]["message"]
    assert found.rows.scored == expected["rows"]["scored"] > found.rows.matured > 0
    written = found.write(tmp_path / "monitor")
    assert json.loads(written.json.read_text()) == found.details
    assert "<html" in written.html.read_text()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scored": []}, "scored must be a path or a non-empty list of paths"),
        ({"data": 3}, "data must be a folder of leads, activities and outcomes .* got int"),
        ({"config": 3}, "config must be a mqlml.Config, a YAML path or None, got int"),
    ],
)
def test_monitor_names_the_wrong_parameter(monitor_worlds, kwargs, message):
    world = monitor_worlds.plain
    given = {"scored": world.outputs, "data": world.data_dir, **kwargs}
    with pytest.raises(MqlmlError, match=message):
        mqlml.monitor(monitor_worlds.model, **given)


def test_export_to_crm_guards_formulas_as_output_safe_csv_says(tmp_path):
    scored = pd.DataFrame({"lead_id": ["=1+1"], "probability": [0.6], "score": [60],
                           "grade": ["A"], "is_mql": [True], "tier": ["mql"],
                           **{f"positive_reason_{i}": ["r"] for i in (1, 2, 3)}})
    raw = mqlml.load_config(None, {"output": {"safe_csv": False}})

    def first_cell(out, **kwargs):
        run = mqlml.export_to_crm(scored, out=tmp_path / out, tool="dynamics", **kwargs)
        return run.import_file.read_text().splitlines()[1].split(",")[0]

    assert first_cell("a.csv") == "'=1+1"
    assert first_cell("b/a.csv", settings=raw) == "=1+1"
    assert first_cell("c/a.csv", settings=raw, safe_csv=True) == "'=1+1"
