"""The command line, end to end: generate -> train -> score, and errors without tracebacks."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import needs_java
from mqlml.cli import app
from mqlml.columns import SCORE_COLUMNS

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_the_commands():
    res = _run("--help")
    assert res.exit_code == 0
    for cmd in ("generate", "train", "score", "demo"):
        assert cmd in res.output


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


def test_generate_train_score_end_to_end(workdir, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'mlflow.db'}")
    data = workdir / "data"
    res = _run("generate", "--leads", 5000, "--seed", 11, "--out", data)
    assert res.exit_code == 0, res.output
    assert {p.name for p in data.iterdir()} == {
        "leads.csv",
        "activities.csv",
        "outcomes.csv",
        "truth.csv",
    }

    res = _run("train", "--data", data, "--models-dir", workdir / "models", "--name", "e2e")
    assert res.exit_code == 0, res.output
    bundle = workdir / "models" / "e2e" / "1"
    assert res.stdout.strip().splitlines()[-1] == str(bundle)
    assert (bundle / "report.html").is_file()
    # What the model is and how it was chosen, in the summary's words.
    from mqlml.model.bundle import load_bundle

    kind = load_bundle(bundle).summary.model.kind
    said = {"trees": "The model is LightGBM trees", "linear": "The model is a logistic",
            "boosted": "The model is LightGBM trees boosted", "blend": "The model is a blend"}
    assert said[kind] in res.stderr

    # a fresh batch: the latest leads of another history, with their activities
    fresh = workdir / "fresh"
    assert _run("generate", "--leads", 2000, "--seed", 12, "--out", fresh).exit_code == 0
    leads = pd.read_csv(fresh / "leads.csv", dtype=str)
    out = workdir / "scored.parquet"
    res = _run(
        "score",
        "--model",
        workdir / "models" / "e2e",
        "--leads",
        fresh / "leads.csv",
        "--activities",
        fresh / "activities.csv",
        "--as-of",
        "2026-01-01T00:00:00Z",
        "--out",
        out,
    )
    assert res.exit_code == 0, res.output
    scored = pd.read_parquet(out)
    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert scored["lead_id"].tolist() == sorted(leads["lead_id"])
    assert scored["score"].between(1, 99).all()
    assert f"scored {len(leads):,} of {len(leads):,} leads" in res.output

    # the run was tracked in MLflow with its metrics, bundle and model
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("mqlml")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.metrics["test.model.roc_auc"] > 0.6
    assert run.data.params["labels.target"] == "sql"
    names = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert "bundle/model.txt" in names
    logged = client.search_logged_models(experiment_ids=[exp.experiment_id])
    assert len(logged) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--data", "/nonexistent", "--no-tracking"), "/nonexistent"),
        (
            ("score", "--model", "/nonexistent", "--leads", "x.csv", "--out", "y.csv"),
            "does not exist",
        ),
        (("score", "--model", "m", "--leads", "x.csv", "--out", "y.txt"), "unsupported file type"),
        (("generate", "--leads", "-3", "--out", "/tmp/x"), "n_leads"),
        (("generate", "--leads", "10", "--out", "/tmp/x", "--format", "xml"), "csv or parquet"),
        (("generate", "--leads", "10", "--out", "/tmp/x", "--new-source", "p"), "--shift-at"),
        (
            ("generate", "--leads", "10", "--out", "/tmp/x", "--shift-at", "2024-06-01",
             "--stop-behaviour", "nap"),
            "shift.stop_behaviour",
        ),
    ],
)
def test_errors_are_one_clear_line_not_a_traceback(args, message):
    res = _run(*args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_generate_shifts_the_market_at_the_date(tmp_path):
    res = _run(
        "generate", "--leads", 1500, "--seed", 5, "--out", tmp_path, "--shift-at", "2025-01-01",
        "--new-source", "partner", "--new-industry", "Energy", "--base-rate-shift", -0.5,
    )
    assert res.exit_code == 0, res.output
    leads = pd.read_csv(tmp_path / "leads.csv", parse_dates=["created_at"])
    after = leads["created_at"] >= pd.Timestamp("2025-01-01", tz="UTC")
    for column, name in (("lead_source", "partner"), ("industry", "Energy")):
        new = leads[column] == name
        assert new[after].mean() > 0.05
        assert not new[~after].any()


def test_monitor_exit_status_follows_the_worst_alert(monitor_worlds, tmp_path):
    import json

    cfg = tmp_path / "monitor.yaml"
    cfg.write_text("monitor:\n  min_rows: 150\n")
    for world, code in (("shifted", 4), ("plain", 0)):
        w = getattr(monitor_worlds, world)
        out = tmp_path / world
        res = _run(
            "monitor", "--model", monitor_worlds.bundle, "--scored", w.outputs[0].parent,
            "--data", w.data_dir, "--out", out, "--config", cfg,
        )
        assert res.exit_code == code, res.output
        result = json.loads((out / "monitor.json").read_text())
        assert result["exit_code"] == code and result["rows"]["batches"] == 6
        assert result["model"]["version"] == monitor_worlds.bundle.name
        assert (out / "monitor.html").is_file()
        said = res.output.splitlines()
        assert any(f"status {'critical' if code else 'ok'}" in line for line in said), said
        if code:
            assert any(line.startswith("critical: week of") for line in said), said


def test_bad_input_file_lists_problems(trained, tmp_path):
    from mqlml.model.bundle import save_bundle

    bundle = save_bundle(trained[0], tmp_path / "models")
    bad = tmp_path / "leads.csv"
    bad.write_text("lead_id,created_at\nA,2025-01-01\nA,yesterday\n,2025-01-02\n")
    res = _run("score", "--model", bundle, "--leads", bad, "--out", tmp_path / "o.csv")
    assert res.exit_code == 2
    assert "created_at" in res.output and "lead_id" in res.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "gut-feeling"], "--policy: Input should be"),
        (["--target-precision", "1.5"], "target_precision must be between 0 and 1"),
        (["--capacity", "-5"], "capacity_per_week must be positive"),
        (["--backtest-folds", "-1"], "folds must be an integer from 0 to 20"),
    ],
)
def test_train_policy_flags_reach_the_config(args, message, tmp_path):
    res = _run("train", "--data", tmp_path, "--no-tracking", *args)
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_train_rules_and_keep_grades_paths_are_checked_first(tmp_path):
    from mqlml.synthetic.generate import generate_history, write_history

    data = tmp_path / "data"
    write_history(generate_history(800, seed=2), data, "csv")
    res = _run("train", "--data", data, "--no-tracking", "--rules", tmp_path / "nope.yaml")
    assert res.exit_code == 2 and "rules file" in res.output and "does not exist" in res.output
    res = _run("train", "--data", data, "--no-tracking", "--keep-grades", tmp_path / "old")
    assert res.exit_code == 2 and "model bundle" in res.output and "does not exist" in res.output


# --- issue 19, items 5 and 7: train progress and tables, example config, score --config ---

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"


@pytest.fixture(scope="module")
def example_trained(tmp_path_factory):
    """The README's synthetic command with the shipped example config, as a new user runs it."""
    tmp = tmp_path_factory.mktemp("example")
    data = tmp / "d"
    assert _run("generate", "--leads", 3000, "--seed", 3, "--out", data).exit_code == 0
    res = _run(
        "train", "--data", data, "--config", EXAMPLE_CONFIG, "--no-tracking",
        "--models-dir", tmp / "models",
    )
    return tmp, data, res


def test_shipped_example_config_trains_on_generated_data(example_trained):
    tmp, _, res = example_trained
    assert res.exit_code == 0, res.output
    assert (tmp / "models" / "lead-scoring").is_dir()


def test_score_config_data_section_maps_the_batch_columns(example_trained):
    tmp, data, res = example_trained
    assert res.exit_code == 0, res.output
    bundle = res.stdout.strip().splitlines()[-1]
    leads = pd.read_csv(data / "leads.csv").rename(columns={"lead_id": "Lead ID"})
    leads.head(300).to_csv(tmp / "export.csv", index=False)
    args = ["score", "--model", bundle, "--leads", tmp / "export.csv", "--as-of", "2026-01-01"]
    without = _run(*args, "--out", tmp / "a.csv")
    assert without.exit_code == 2 and "lead_id" in without.output
    (tmp / "mapping.yaml").write_text(
        "data:\n  column_mapping:\n    leads:\n      Lead ID: lead_id\n", encoding="utf-8"
    )
    res = _run(*args, "--out", tmp / "b.csv", "--config", tmp / "mapping.yaml")
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp / "b.csv")) == 300


def test_train_prints_each_stage_with_its_seconds(example_trained):
    import re

    _, _, res = example_trained
    assert res.exit_code == 0, res.output
    stages = re.findall(r"^([a-z][a-z0-9 /()]+): ([0-9]+\.[0-9]) s$", res.stderr, re.M)
    names = [s for s, _ in stages]
    assert names[:6] == [
        "read and check data", "labels", "audit and features", "model search",
        "calibration and thresholds", "evaluation",
    ]
    assert names[-3:] == ["explanations", "report", "save"]  # the report is in the bundle
    assert "funnel" in names


def test_train_prints_the_policy_and_comparison_tables_the_demo_prints(example_trained):
    from mqlml.model.bundle import load_bundle
    from mqlml.report.text import threshold_lines

    _, _, res = example_trained
    assert res.exit_code == 0, res.output
    model = load_bundle(res.stdout.strip().splitlines()[-1])
    lines = threshold_lines(model.summary, model.config.thresholds.interval_level)
    assert any("model vs logistic regression at equal MQL volume" in line for line in lines)
    assert "\n".join(lines) in res.stderr


# --- issue 19, item 9: flags read as flags, defaults shown, errors name the flag, a quiet
# terminal, README outputs git-ignored


def _help(command: str) -> str:
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0, res.output
    return res.output


def _option_help(command: str) -> dict[str, str]:
    """Each option of ``command --help``: its type and help text, wrapped lines joined."""
    options: dict[str, str] = {}
    flag = None
    for line in _help(command).splitlines():
        words = line.strip("│╭╰─ ").split()
        if words and words[0].startswith("--"):
            flag = words[0]
            options[flag] = " ".join(words[1:])
        elif flag and words:
            options[flag] += " " + " ".join(words)
    return options


@pytest.mark.parametrize("command", ["train", "score", "generate", "promote"])
def test_flags_show_no_value_type_in_help(command):
    options = _option_help(command)
    assert not options["--help"].startswith("<")
    if command == "train":
        assert options["--no-tracking"].startswith("Skip MLflow logging.")
        assert options["--capacity"].startswith("<float>")  # options taking values say so


@pytest.mark.parametrize(
    ("flag", "default"),
    [
        ("--policy", "config, else capacity"),
        ("--capacity", "config, else 100.0"),
        ("--target-precision", "config, else 0.3"),
        ("--backtest-folds", "config, else 0"),
        ("--name", "config, else lead-scoring"),
        ("--models-dir", "config, else models"),
    ],
)
def test_train_help_shows_defaults(flag, default):
    assert f"[default: ({default})]" in _option_help("train")[flag]


def test_score_help_shows_defaults():
    assert "[default: 50000]" in _option_help("score")["--chunk-rows"]


@pytest.mark.parametrize(
    ("args", "flag", "key"),
    [
        (["--policy", "gut-feeling"], "--policy", "thresholds.policy"),
        (["--target-recall", "2"], "--target-recall", "thresholds.target_recall"),
        (["--backtest-folds", "99"], "--backtest-folds", "backtest.folds"),
        (["--name", "no spaces"], "--name", "name"),
        (["--name", ".."], "--name", "name"),
        (["--name", "../x"], "--name", "name"),
    ],
)
def test_errors_from_flags_name_the_flag(args, flag, key, tmp_path):
    res = _run("train", "--data", tmp_path, "--no-tracking", "--models-dir", tmp_path / "m", *args)
    assert res.exit_code == 2
    assert f"  - {flag}: " in res.output and f"  - {key}:" not in res.output
    assert not (tmp_path / "m").exists()  # refused before anything is written


def test_errors_from_the_config_file_still_name_the_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("thresholds:\n  policy: gut-feeling\n")
    res = _run("train", "--data", tmp_path, "--config", cfg, "--capacity", "-1")
    assert res.exit_code == 2
    assert "  - thresholds.policy: " in res.output and "  - --capacity: " in res.output
    assert str(cfg) in res.output


def test_the_command_line_keeps_the_terminal_quiet(monkeypatch):
    import logging
    import warnings

    for var in ("MLFLOW_LOGGING_LEVEL", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
        monkeypatch.delenv(var, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _run("promote", "--help").exit_code == 0
        for module in ("shap.explainers", "sqlalchemy.orm", "pandas.core", "pyspark.sql"):
            warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)
        warnings.warn_explicit("old API", FutureWarning, "x.py", 1, module="shap")
        warnings.warn_explicit("ours", DeprecationWarning, "x.py", 1, module="mqlml.cli")
    assert [str(w.message) for w in caught] == ["ours"]
    import os

    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    assert logging.getLogger("mlflow").getEffectiveLevel() >= logging.WARNING


def test_the_library_alone_leaves_warnings_alone():
    import subprocess
    import sys

    code = (
        "import warnings, mqlml, mqlml.cli\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('default')\n"
        "    warnings.warn_explicit('old', DeprecationWarning, 'x.py', 1, module='shap')\n"
        "print(len(w))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "1", out.stderr


@pytest.mark.parametrize(
    "path",
    [
        "report.html",
        "report_files/lift.png",
        "scored.csv",
        "scored.rejects.csv",
        "scored.report.json",
        "mlflow.db",
        "mlartifacts/1/x",
        "demo-output/report.html",
        "models/lead-scoring/1/model.txt",
        "data/synthetic/leads.csv",
        "crm/scored.salesforce.csv",
        "crm/mqlml-state.sqlite",
    ],
)
def test_files_written_by_following_the_readme_are_git_ignored(path):
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    res = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", path])
    assert res.returncode == 0, f"{path} is not git-ignored"


def _readme() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_says_to_activate_the_environment_before_bare_commands():
    import re

    # only the shell blocks a reader types, in order; prose may say "mqlml learns ..."
    text = "\n".join(re.findall(r"^```sh\n(.*?)^```", _readme(), flags=re.M | re.S))
    activate = text.find(". .venv/bin/activate")
    bare = re.search(r"^\s*(mqlml|mlflow) ", text, flags=re.MULTILINE)
    assert bare is not None and activate != -1
    assert activate < bare.start(), "a bare mqlml/mlflow command comes before activating"


@pytest.mark.parametrize("recipe", ["**REST.**", "**Spark.**"])
def test_serving_recipes_say_the_environment_must_be_active(recipe):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text("utf-8")
    paragraph = text[text.index(recipe) :].split("\n\n", 1)[0]
    assert ". .venv/bin/activate" in paragraph


def test_train_and_score_with_tracking_keep_the_terminal_quiet(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL", "PYTHONWARNINGS"):
        env.pop(var, None)

    def mqlml(*args):
        res = subprocess.run(
            [sys.executable, "-m", "mqlml", *map(str, args)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )
        assert res.returncode == 0, res.stderr
        return res.stderr

    mqlml("generate", "--leads", 3000, "--seed", 1, "--out", "data")
    noise = mqlml("train", "--data", "data") + mqlml(
        "score", "--model", "models:/lead-scoring@champion", "--leads", "data/leads.csv",
        "--activities", "data/activities.csv", "--out", "scored.csv",
    )
    for word in (" INFO ", "WARNING mlflow", "DeprecationWarning", "FutureWarning", "%|"):
        assert word not in noise, noise


@pytest.mark.parametrize(("preset", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_command_line_lets_idle_openmp_threads_sleep(monkeypatch, preset, expected):
    # Spinning idle LightGBM threads starve the working ones on a busy machine; a policy
    # the user set is kept.
    import os

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    if preset is not None:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    result = runner.invoke(app, ["promote", "--help"])
    assert result.exit_code == 0
    assert os.environ["OMP_WAIT_POLICY"] == expected


def test_third_party_warnings_are_noise_even_under_a_folder_named_mqlml():
    # A checkout called mqlml holds its .venv: shap's deprecation warnings came from
    # .../mqlml/.venv/.../shap/... and were shown as if mqlml had raised them.
    import warnings

    import mqlml.cli as cli

    def caught(filename, category=PendingDeprecationWarning):
        return warnings.WarningMessage("x", category, filename, 1)

    venv = "/home/ana/mqlml/.venv/lib/python3.11/site-packages/shap/plots/colors/_colors.py"
    assert cli._is_third_party_noise(caught(venv))
    assert not cli._is_third_party_noise(caught(cli.__file__))  # mqlml's own: shown
    assert not cli._is_third_party_noise(caught(venv, UserWarning))


def test_train_into_an_unwritable_models_folder_fails_before_training(tmp_path):
    """issue 17 item 4: the models folder is checked before any training stage."""
    from mqlml.synthetic.generate import generate_history, write_history

    write_history(generate_history(300, seed=1), tmp_path / "data", "csv")
    (tmp_path / "taken").write_text("a file, not a folder")
    res = _run("train", "--data", tmp_path / "data", "--no-tracking",
               "--models-dir", tmp_path / "taken")
    assert res.exit_code == 2 and "taken" in res.output and "cannot write" in res.output
    assert "labels:" not in res.output and "Traceback" not in res.output


def test_sigterm_exits_through_python_so_the_run_cleans_its_staging_folder(tmp_path):
    """issue 17 item 4: a stopped run (SIGTERM) removes its temporary files itself."""
    import os
    import signal
    import time

    from mqlml.cli import _exit_on_sigterm
    from mqlml.data.files import Staging

    previous = signal.getsignal(signal.SIGTERM)
    try:
        _exit_on_sigterm()
        with pytest.raises(SystemExit) as stopped, Staging(tmp_path) as stage:
            (stage.path / "scored.csv").write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


@needs_java
def test_train_from_a_spark_built_activity_summary_gives_the_same_model(spark, tmp_path):
    from mqlml.config import FeatureConfig
    from mqlml.data.files import write_table
    from mqlml.features.spark import activity_summary
    from mqlml.model.bundle import load_bundle
    from mqlml.scoring.score import score_leads
    from mqlml.synthetic.generate import generate_history

    history = generate_history(1200, seed=5)
    data = tmp_path / "data"
    data.mkdir()
    bare = tmp_path / "no-activities"  # where the activities live in the lakehouse only
    bare.mkdir()
    for name in ("leads", "activities", "outcomes"):
        write_table(getattr(history, name), data / f"{name}.parquet")
        if name != "activities":
            write_table(getattr(history, name), bare / f"{name}.parquet")
    days = FeatureConfig().observation_days
    leads = history.leads[["lead_id", "created_at"]].assign(
        as_of=history.leads["created_at"] + pd.Timedelta(days=days)
    )
    acts = history.activities[["lead_id", "occurred_at", "activity_type"]]
    summary = tmp_path / "summary"
    activity_summary(spark.createDataFrame(leads), spark.createDataFrame(acts)).write.parquet(
        str(summary)
    )

    models = tmp_path / "models"
    config = tmp_path / "small.yaml"  # a small history: a lower gate keeps the test quick
    config.write_text("gate:\n  min_train_positives: 30\n  min_test_positives: 10\n")
    common = ("--config", config, "--no-tracking", "--models-dir", models)
    res = _run("train", "--data", data, *common, "--name", "raw")
    assert res.exit_code == 0, res.output
    common = ("--data", bare, *common)
    res = _run("train", *common, "--name", "sparked", "--activity-features", summary)
    assert res.exit_code == 0, res.output
    raw, sparked = load_bundle(models / "raw"), load_bundle(models / "sparked")
    assert raw.spec == sparked.spec and sparked.spec.activity_types
    batch = history.leads.tail(300)
    as_of = pd.Timestamp("2026-03-01", tz="UTC")
    pd.testing.assert_frame_equal(
        score_leads(raw, batch, history.activities, as_of),
        score_leads(sparked, batch, history.activities, as_of),
    )

    # A summary at other moments, or without some leads, is refused before any training.
    shifted = tmp_path / "shifted.parquet"
    table = pd.read_parquet(summary)
    table.assign(as_of=table["as_of"] + pd.Timedelta(hours=1)).to_parquet(shifted)
    res = _run("train", *common, "--name", "bad", "--activity-features", shifted)
    assert res.exit_code == 2
    assert f"{shifted}: column 'as_of', row" in res.output and "expected" in res.output
    partial = tmp_path / "partial.parquet"
    table[table["lead_id"] != table["lead_id"].iloc[0]].to_parquet(partial)
    res = _run("train", *common, "--name", "bad", "--activity-features", partial)
    assert res.exit_code == 2
    assert f"{partial}: column 'lead_id': 1 of" in res.output
