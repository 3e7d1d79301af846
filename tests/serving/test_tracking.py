"""The MLflow pyfunc model and what each training logs: one model, raw lead rows in,
the scoring columns out, with a signature, an input example and a registry decision."""

import json
import re
import sys
import tomllib
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_helpers import (
    AS_OF,
    assert_same_scores,
    batch,
    batch_rows,
    call_asgi,
    champion_store,
)
from mqlml import __version__
from mqlml.columns import ACTIVITIES, LEAD_ID, SCORE_COLUMNS
from mqlml.errors import BundleError, DataValidationError
from mqlml.scoring.score import score_leads
from mqlml.serving.pyfunc import lead_rows, score_lead_rows, split_lead_rows
from mqlml.serving.tracking import (
    CHAMPION,
    GATE_TAG,
    PREVIOUS_CHAMPION_TAG,
    gate,
    scoring_requirements,
)


@pytest.fixture(scope="module")
def logged(trained, tmp_path_factory):
    """The shared model logged and registered once in a module-wide SQLite store."""
    return champion_store(trained, tmp_path_factory.mktemp("tracking"), "tracked")


def test_rows_score_like_the_tables_in_input_order(trained):
    model, _, crm, _ = trained
    leads, acts = batch(crm)
    rows = batch_rows(leads, acts)
    direct = score_leads(model, leads, acts, AS_OF)
    out = score_lead_rows(model, rows)
    assert list(out.columns) == list(SCORE_COLUMNS)
    assert out[LEAD_ID].tolist() == rows[LEAD_ID].tolist()  # REST and Spark rely on it
    assert_same_scores(out, direct)


def test_activity_formats_give_the_same_scores(trained):
    model, _, crm, _ = trained
    leads, acts = batch(crm, n=6)
    rows = batch_rows(leads, acts)
    as_lists = rows.assign(**{ACTIVITIES: rows[ACTIVITIES].map(json.loads)})
    expected = score_lead_rows(model, rows)
    assert_same_scores(score_lead_rows(model, as_lists), expected)

    # no activities: a missing column, an empty string, None and [] all mean none
    quiet = rows.assign(**{ACTIVITIES: ["", None, "[]", float("nan"), "  ", "[]"]})
    none = score_lead_rows(model, rows.drop(columns=[ACTIVITIES]))
    assert_same_scores(score_lead_rows(model, quiet), none)
    assert not np.array_equal(none["probability"], expected["probability"])


def test_rows_use_contract_names_even_when_training_renamed_columns(trained):
    model, _, crm, cfg = trained
    mapped = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"column_mapping": {"leads": {"ID": LEAD_ID}}})}
    )
    leads, acts = batch(crm, n=5)
    rows = batch_rows(leads, acts)
    assert_same_scores(
        score_lead_rows(replace(model, config=mapped), rows), score_lead_rows(model, rows)
    )


def test_split_then_rebuild_round_trips(trained):
    _, _, crm, _ = trained
    leads, acts = batch(crm, n=8)
    rows = lead_rows(leads, acts)
    back_leads, back_acts = split_lead_rows(rows)
    assert back_leads[LEAD_ID].tolist() == leads[LEAD_ID].tolist()
    assert len(back_acts) == len(acts)
    assert sorted(back_acts["activity_type"]) == sorted(acts["activity_type"])
    assert (
        pd.to_datetime(back_acts["occurred_at"]).sort_values().to_numpy()
        == acts["occurred_at"].sort_values().to_numpy()
    ).all()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("[{'occurred_at': 1}]", "row 2 (lead_id 'B') is not valid JSON"),
        ('{"occurred_at": "2025-01-01"}', "expected a list of activities"),
        ('[{"occurred_at": "2025-01-01"}]', "activities [1] are not objects with"),
        ('["page_view"]', "are not objects with 'occurred_at' and 'activity_type'"),
    ],
)
def test_bad_activities_name_the_row_and_lead(cell, message):
    rows = pd.DataFrame(
        {LEAD_ID: ["A", "B"], "created_at": ["2025-01-01", "2025-01-02"], ACTIVITIES: ["[]", cell]}
    )
    with pytest.raises(DataValidationError, match="column 'activities'") as err:
        split_lead_rows(rows)
    assert message in str(err.value)


def test_training_logs_one_pyfunc_model_with_signature_and_example(logged):
    uri, cfg, _, tracked = logged
    info = mlflow.models.get_model_info(tracked.model_uri)
    inputs = {c.name: c for c in info.signature.inputs.inputs}
    assert {n for n, c in inputs.items() if c.required} == {"lead_id", "created_at"}
    assert {ACTIVITIES, "as_of", "email", "job_title", "company_size"} <= set(inputs)
    assert [c.name for c in info.signature.outputs.inputs] == list(SCORE_COLUMNS)
    assert info.saved_input_example_info is not None
    client = MlflowClient(uri)
    run = client.get_run(tracked.run_id)
    assert run.data.metrics["holdout.roc_auc"] == pytest.approx(tracked.gate.value)
    reqs = mlflow.pyfunc.get_model_dependencies(tracked.model_uri)
    text = open(reqs).read()
    assert "mqlml==" in text and "lightgbm==" in text


def _project() -> dict:
    here = Path(__file__).resolve()
    pyproject = next(p / "pyproject.toml" for p in here.parents if (p / "pyproject.toml").is_file())
    return tomllib.loads(pyproject.read_text())["project"]


def _dist_key(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def test_served_model_pins_every_declared_runtime_requirement_and_no_dev_one():
    project = _project()
    runtime = {_dist_key(r) for r in project["dependencies"]}
    dev_only = {_dist_key(r) for r in project["optional-dependencies"]["dev"]} - runtime
    assert {"pyspark", "playwright", "pytest"} <= dev_only

    reqs = scoring_requirements()
    assert reqs[0] == f"mqlml=={__version__}"
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", r) for r in reqs), reqs
    pinned = {_dist_key(r): r.partition("==")[2] for r in reqs[1:]}
    assert pinned.keys() == runtime, (
        "the installed mqlml metadata differs from pyproject.toml: reinstall (make install)"
    )
    assert all(version == metadata.version(key) for key, version in pinned.items())
    assert not dev_only & pinned.keys()


def test_served_model_skips_extras_and_markers_that_do_not_hold(monkeypatch):
    declared = [
        "numpy>=2.0",
        'pytest>=8; extra == "dev"',
        'pywin32>=300; sys_platform == "win32" and sys_platform != "linux"',
        'pandas>=2.2; python_version >= "3.11"',
        "Numpy",
    ]
    module = sys.modules[scoring_requirements.__module__]
    monkeypatch.setattr(module, "_declared_requirements", lambda: declared)
    reqs = scoring_requirements()
    assert reqs == [
        f"mqlml=={__version__}",
        f"numpy=={metadata.version('numpy')}",
        f"pandas=={metadata.version('pandas')}",
    ]


def test_logged_model_scores_like_the_bundle(logged, trained):
    model, _, crm, _ = trained
    uri, _, _, tracked = logged
    mlflow.set_tracking_uri(uri)
    leads, acts = batch(crm)
    rows = batch_rows(leads, acts)
    loaded = mlflow.pyfunc.load_model(f"models:/tracked@{CHAMPION}")
    out = loaded.predict(rows)
    assert out[LEAD_ID].tolist() == rows[LEAD_ID].tolist()
    assert_same_scores(out, score_leads(model, leads, acts, AS_OF))


def test_served_model_refuses_bad_rows_with_the_column_named(logged):
    uri, _, _, tracked = logged
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(tracked.model_uri)
    bad = pd.DataFrame({LEAD_ID: ["A"], "created_at": ["yesterday"]})
    with pytest.raises(MlflowException, match="created_at") as err:
        loaded.predict(bad)
    assert isinstance(err.value.__cause__, DataValidationError)


@pytest.mark.parametrize(
    ("column", "value"), [("created_at", "9999-12-31"), ("as_of", "9999-12-31T00:00:00Z")]
)
def test_a_placeholder_year_is_said_to_be_out_of_range_not_after_the_scoring_time(
    trained, column, value
):
    """issue 17 item 7: REST rows with a year-9999 date are refused for what they are."""
    rows = pd.DataFrame({LEAD_ID: ["A", "B"], "created_at": ["2025-01-01", "2025-01-02"],
                         "as_of": ["2025-02-01T00:00:00Z"] * 2})
    rows.loc[1, column] = value
    with pytest.raises(DataValidationError) as err:
        score_lead_rows(trained[0], rows, "model input")
    message = str(err.value)
    assert f"column '{column}': a date outside the years 1900-2199 for 1 lead" in message
    assert "lead_id ['B']" in message and "9999-12-31" in message
    assert "after their scoring time" not in message


def test_first_training_becomes_champion_and_records_the_gate(logged):
    uri, _, _, tracked = logged
    g = tracked.gate
    assert g.promoted and g.version == "1" and g.champion_version is None
    assert g.value == pytest.approx(g.roc_auc) and g.roc_auc > 0.6
    mv = MlflowClient(uri).get_model_version_by_alias("tracked", CHAMPION)
    assert str(mv.version) == "1"
    assert json.loads(mv.tags[GATE_TAG])["promoted"] is True
    assert PREVIOUS_CHAMPION_TAG not in mv.tags


def _m(roc_auc, log_loss=0.3):
    return {"roc_auc": roc_auc, "pr_auc": roc_auc / 2, "log_loss": log_loss, "brier": log_loss / 3}


@pytest.mark.parametrize(
    ("metric", "min_auc", "min_improvement", "new", "champion", "promoted", "says"),
    [
        ("roc_auc", 0.6, 0.0, _m(0.75), None, True, "first champion"),
        ("roc_auc", 0.8, 0.0, _m(0.75), None, False, "below registry.min_roc_auc 0.8"),
        ("roc_auc", 0.6, 0.0, _m(0.75), _m(0.75), True, "as good as or better"),
        ("roc_auc", 0.6, 0.0, _m(0.74), _m(0.75), False, "not good enough"),
        ("roc_auc", 0.6, 0.01, _m(0.755), _m(0.75), False, "min_improvement 0.01"),
        ("roc_auc", 0.6, 0.01, _m(0.77), _m(0.75), True, ">= 0.7600"),
        ("roc_auc", 0.8, 0.0, _m(0.75), _m(0.70), False, "below registry.min_roc_auc"),
        ("log_loss", 0.6, 0.0, _m(0.70, 0.29), _m(0.75, 0.30), True, "<= 0.3000"),
        ("log_loss", 0.6, 0.0, _m(0.80, 0.31), _m(0.75, 0.30), False, "not good enough"),
        ("brier", 0.6, 0.0, _m(0.75, 0.3), _m(0.75, 0.3), True, "as good as"),
        ("pr_auc", 0.6, 0.0, _m(0.70), _m(0.75), False, "holdout pr_auc 0.3500"),
    ],
)
def test_gate_rule(metric, min_auc, min_improvement, new, champion, promoted, says):
    ok, reason = gate(metric, min_auc, min_improvement, new, champion)
    assert ok is promoted
    assert says in reason


def test_the_gate_judges_a_champion_only_on_leads_created_after_its_data(trained, tmp_path):
    """A champion refit on all of an older history learned from the older part of the new
    holdout: both are judged on the later part only, the same leads for both."""
    from mlflow_helpers import config_for, register
    from monitor_worlds import _before
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.model.metrics import classification_metrics
    from mqlml.workflow import fit_labelled

    model, artifacts, crm, base = trained
    cfg = config_for(base, f"sqlite:///{tmp_path / 'mlflow.db'}", "later", tmp_path / "models")
    test = artifacts["test_predictions"]
    # Data that ends so that the champion's newest matured lead is mid-way in the test slice.
    mid = pd.to_datetime(test["created_at"], utc=True).quantile(0.4)
    s = model.summary
    cut = mid + pd.Timedelta(days=s.observation_days + s.horizon_days)
    older = validate_crm(*_before(crm, cut), cfg.data)
    champion, champion_artifacts = fit_labelled(label_history(older, cfg), cfg)
    assert champion.summary.model.learned_from_test_slice
    assert register(champion, champion_artifacts, older, cfg)[1].gate.promoted

    g = register(model, artifacts, crm, cfg)[1].gate
    later = (pd.to_datetime(test["created_at"], utc=True)
             > pd.Timestamp(champion.summary.learned_until())).to_numpy()
    assert 0 < later.sum() < len(test) and g.compared_leads == later.sum()
    assert f"on the {later.sum()} of {len(test)} holdout leads created after" in g.reason
    ours = score_lead_rows(artifacts["measured_model"], _holdout(crm, cfg, artifacts).rows,
                           "holdout")["probability"].to_numpy()
    expected = classification_metrics(test["label"].to_numpy()[later], ours[later])
    assert g.value == pytest.approx(expected["roc_auc"])
    assert g.champion_value is not None


def _holdout(crm, cfg, artifacts):
    from mqlml.labels.labelled import label_history
    from mqlml.serving.pyfunc import training_holdout

    return training_holdout(label_history(crm, cfg), artifacts)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("config", "export"),
    [("hubspot.yaml", "hubspot_contacts.csv"), ("salesforce.yaml", "salesforce_leads.csv")],
)
def test_flat_exports_train_with_tracking_on(config, export, tmp_path, monkeypatch):
    """The README's flat-mode trainings log and register a model with tracking on (the
    default): the input example and the gate's hold-out come from the labelled export."""
    from typer.testing import CliRunner

    from mqlml.cli import app

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    res = CliRunner().invoke(
        app,
        ["train", "--config", str(EXAMPLES / config), "--data", str(EXAMPLES / export),
         "--models-dir", str(tmp_path / "models")],
    )
    assert res.exit_code == 0, res.output
    assert "it is now champion" in res.output
    name = config.split(".")[0] + "-example"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert int(client.get_model_version_by_alias(name, CHAMPION).version) == 1
    logged = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    rows = logged.input_example  # leads of the labelled export, as the pyfunc takes them
    assert isinstance(rows, pd.DataFrame) and len(rows) > 0
    scored = logged.predict(rows)
    assert len(scored) == len(rows) and scored["score"].between(1, 99).all()


# --- serving without pickles (issue 17) -------------------------------------------------


class _Payload:
    """Unpickled, it creates the file at ``path``: proof that a pickle ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _model_dir(uri: str) -> Path:
    store = Path(uri.removeprefix("sqlite:///")).parent
    (mlmodel,) = store.rglob("MLmodel")
    return mlmodel.parent


def test_the_logged_model_is_code_and_holds_no_pickle(logged):
    import yaml

    uri, _, _, _ = logged
    folder = _model_dir(uri)
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert Path(flavor["model_code_path"]).name == "model_code.py"
    assert "python_model" not in flavor
    assert not list(folder.rglob("*.pkl"))
    assert (folder / flavor["artifacts"]["bundle"]["path"] / "manifest.json").is_file()


def test_a_swapped_pickle_is_never_loaded(logged, tmp_path):
    import pickle

    from mqlml.serving.tracking import load_registered_bundle

    uri, _, _, _ = logged
    folder = _model_dir(uri)
    marker = tmp_path / "pickle-ran"
    planted = folder / "python_model.pkl"
    planted.write_bytes(pickle.dumps(_Payload(marker)))
    mlmodel = folder / "MLmodel"
    original = mlmodel.read_text()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.pyfunc.load_model(f"models:/tracked@{CHAMPION}")  # REST and Spark load this way
        assert load_registered_bundle(f"models:/tracked@{CHAMPION}", uri).spec is not None
        assert not marker.exists()
        # An MLmodel that asks for the pickle (edited, or logged by an older mqlml): mqlml
        # refuses it without unpickling.
        mlmodel.write_text(
            original.replace("model_code_path:", "python_model: python_model.pkl\n    x_code:")
        )
        with pytest.raises(BundleError, match="not an mqlml model logged from code"):
            load_registered_bundle(f"models:/tracked@{CHAMPION}", uri)
        assert not marker.exists()
    finally:
        mlmodel.write_text(original)
        planted.unlink()


def test_changed_model_code_in_the_store_is_refused_by_mqlml(logged):
    from mqlml.serving.tracking import load_registered_bundle

    uri, _, _, _ = logged
    code = _model_dir(uri) / "model_code.py"
    original = code.read_bytes()
    try:
        code.write_bytes(original + b"\nimport os  # planted\n")
        with pytest.raises(BundleError, match="model_code.py differs from the one mqlml ships"):
            load_registered_bundle(f"models:/tracked@{CHAMPION}", uri)
    finally:
        code.write_bytes(original)


def test_the_input_example_is_made_up_and_shaped_like_the_rows(trained):
    from mqlml.config import DEFAULT_PERSONAL_COLUMNS
    from mqlml.serving.tracking import example_rows

    model, _, crm, _ = trained
    leads, acts = batch(crm, n=5)
    rows = batch_rows(leads.assign(**{"First Name": "Ada"}), acts)
    example = example_rows(rows, model.spec, DEFAULT_PERSONAL_COLUMNS)
    assert list(example.columns) == [c for c in rows.columns if c != "First Name"]
    assert not set(example[LEAD_ID]) & set(rows[LEAD_ID])
    assert not set(example["email"]) & set(rows["email"])
    assert not (set(example[ACTIVITIES]) & set(rows[ACTIVITIES])) - {"[]"}
    assert all(example[c].dtype == rows[c].dtype for c in example.columns if c != "company_size")
    assert score_lead_rows(model, example)["score"].between(1, 99).all()


# --- two trainings at once (issue 17 item 6) ---------------------------------------------


def test_two_trainings_at_once_on_a_fresh_store_both_register_and_decide_in_turn(
    trained, tmp_path, monkeypatch
):
    """Both look the experiment up and read the champion before either writes (a barrier
    forces the race that two processes hit): both still succeed with distinct versions,
    and the second decision is made against the first's, not against "no champion"."""
    import threading

    import mqlml.serving.tracking as tracking
    from mlflow_helpers import config_for, register

    model, artifacts, crm, base = trained
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = config_for(base, uri, "raced", tmp_path / "models")
    barrier = threading.Barrier(2)

    def wait_for_the_other():
        try:
            barrier.wait(timeout=1.5)
        except threading.BrokenBarrierError:  # the other one is waiting for the lock
            pass

    real_create, real_champion = mlflow.create_experiment, tracking._champion

    def racing_create(*args, **kwargs):
        wait_for_the_other()
        return real_create(*args, **kwargs)

    def racing_champion(client, name):
        found = real_champion(client, name)
        wait_for_the_other()
        return found

    monkeypatch.setattr(mlflow, "create_experiment", racing_create)
    monkeypatch.setattr(tracking, "_champion", racing_champion)
    results, errors = [], []

    def train_one():
        try:
            results.append(register(model, artifacts, crm, cfg)[1].gate)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=train_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    first, second = sorted(results, key=lambda g: int(g.version))
    assert {first.version, second.version} == {"1", "2"}
    bundles = tmp_path / "models" / model.config.name
    assert sorted(p.name for p in bundles.iterdir() if not p.name.startswith(".")) == ["1", "2"]
    decided_second = [g for g in results if g.champion_version is not None]
    assert len(decided_second) == 1 and decided_second[0].champion_version in {"1", "2"}
    champion = MlflowClient(uri).get_model_version_by_alias("raced", CHAMPION).version
    # Decided in turn: the champion is the last version the gate promoted.
    promoted = [g.version for g in sorted(results, key=lambda g: g.champion_version is not None)
                if g.promoted]
    assert promoted and str(champion) == promoted[-1]


def test_mqlml_serve_app_scores_and_neither_echoes_nor_takes_huge_bodies(logged, trained):
    """issue 17 item 7: MLflow's scoring app behind mqlml's guard (``mqlml serve``)."""
    from mqlml.serving.rest import scoring_app

    uri, _, _, tracked = logged
    mlflow.set_tracking_uri(uri)
    guarded = scoring_app(tracked.model_uri, max_request_bytes=200_000, max_error_chars=300)
    leads, acts = batch(trained[2], n=3)
    rows = batch_rows(leads, acts)
    good = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split"))}).encode()
    status, _, body = call_asgi(guarded, good)
    assert status == 200 and len(json.loads(body)["predictions"]) == 3
    status, _, body = call_asgi(guarded, b"{" + b"B" * 150_000)  # malformed, under the limit
    assert status == 400 and len(body) < 1000 and b"BBBB" * 100 not in body
    status, _, _ = call_asgi(guarded, b"{" + b"B" * 300_000)
    assert status == 413
    bad = pd.DataFrame({"lead_id": ["A"], "created_at": ["9999-12-31"]})
    payload = json.dumps({"dataframe_split": json.loads(bad.to_json(orient="split"))}).encode()
    status, _, body = call_asgi(guarded, payload)
    assert status == 400 and "outside the years 1900-2199" in json.loads(body)["message"]
