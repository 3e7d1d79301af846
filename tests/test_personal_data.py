"""No personal data in any artifact: a training on leads with marker emails, names and phone
numbers writes none of them anywhere (bundle, report, MLflow store and artifacts, output).

Before, the logged input example held three real leads and the drift audit listed raw
email addresses as evidence in metrics.json, the report and both MLflow copies.
"""

import json

import mlflow
import numpy as np
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.synthetic.generate import generate_history, write_history

#: Text that appears only in the personal columns of the training data.
MARKERS = (b"zqmarker", b"+99 4242")


def _write_history_with_markers(folder):
    h = generate_history(3_000, seed=5)
    n = len(h.leads)
    rng = np.random.default_rng(0)
    free = rng.random(n) < 0.3
    leads = h.leads.assign(
        email=[
            f"zqmarker{i}@gmail.com" if f else f"zqmarker{i}@zqmarker-corp.com"
            for i, f in enumerate(free)
        ],
        # few distinct names: without the personal rule this would be a categorical feature
        first_name=[f"Zqmarker{i % 4}" for i in range(n)],
        phone=[f"+99 4242 {i:06d}" for i in range(n)],
    )
    write_history(h, folder)
    leads.to_csv(folder / "leads.csv", index=False)  # the leads, with the markers


def _files_with_markers(root) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path.parent.name != "data":
            content = path.read_bytes().lower()
            if any(m.lower() in content for m in MARKERS):
                hits.append(str(path.relative_to(root)))
    return hits


def test_no_personal_data_reaches_any_artifact(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _write_history_with_markers(data)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    res = CliRunner().invoke(
        app, ["train", "--data", str(data), "--models-dir", str(work / "models"), "--name", "pd"]
    )
    assert res.exit_code == 0, res.output
    assert not any(m.decode().lower() in res.output.lower() for m in MARKERS), res.output

    bundle = work / "models" / "pd" / "1"
    assert (bundle / "report.html").is_file() and (work / "mlflow.db").is_file()
    assert list(work.rglob("MLmodel")), "the MLflow model was logged under the working folder"
    assert _files_with_markers(work) == []

    # the MLflow records, read through its client
    client = MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("mqlml").experiment_id])[0]
    records = repr((run.data.params, run.data.tags, run.data.metrics)).lower()
    assert not any(m.decode().lower() in records for m in MARKERS)
    example = mlflow.pyfunc.load_model("models:/pd/1").input_example
    assert example["email"].tolist() == ["someone@example.com", "someone@gmail.com", ""]
    assert not {"first_name", "phone"} & set(example.columns)

    # the audits looked at the derived column, never at the personal ones
    summary = json.loads((bundle / "metrics.json").read_text())
    audited = {r["column"] for r in summary["drift_audit"] + summary["leakage_audit"]}
    assert not audited & {"email", "first_name", "phone"}
    spec = json.loads((bundle / "feature_spec.json").read_text())
    assert "email_domain_type" in spec["columns"]
    assert not {"email", "first_name", "phone"} & set(spec["columns"])
    assert spec["excluded"]["first_name"].startswith("personal data")
