"""MLflow tracking: the only module that imports MLflow.

Every training run logs its parameters, test metrics, the bundle as artifacts and the
LightGBM model. The store is ``tracking.uri`` from the config, else
``$MLFLOW_TRACKING_URI``, else an embedded SQLite file ``mlflow.db`` in the working
directory, with artifacts in ``mlartifacts/`` beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mqlml.config import Config, TrackingConfig, config_to_dict

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri(cfg: TrackingConfig) -> str:
    """The tracking URI in force: config, then ``$MLFLOW_TRACKING_URI``, then local SQLite."""
    return cfg.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _artifact_location(uri: str, experiment: str) -> str | None:
    # A local SQLite store keeps its artifacts beside the database, not in the cwd.
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.resolve().parent / "mlartifacts" / experiment).as_uri()
    return None


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def log_training(config: Config, bundle_dir: Path, model) -> str:
    """Log one training run; return its MLflow run id.

    Parameters
    ----------
    config : Config
        The configuration used (logged as parameters).
    bundle_dir : Path
        The saved bundle (logged as artifacts under ``bundle/``).
    model : TrainedModel
        Its summary gives the metrics; its booster is logged as an MLflow model.
    """
    import lightgbm
    import mlflow
    import mlflow.lightgbm

    uri = tracking_uri(config.tracking)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(config.tracking.experiment)
    if exp is None:
        exp_id = mlflow.create_experiment(
            config.tracking.experiment,
            artifact_location=_artifact_location(uri, config.tracking.experiment),
        )
    else:
        exp_id = exp.experiment_id
    summary = model.summary
    params = {k: str(v)[:500] for k, v in _flatten(config_to_dict(config)).items()}
    metrics = {}
    for name, m in summary["metrics_test"].items():
        for k, v in m.items():
            if v == v:  # NaN is not a metric
                metrics[f"test.{name}.{k}"] = float(v)
    metrics["mql.cutoff"] = float(summary["mql_threshold"]["cutoff"])
    for k, v in summary["mql_threshold"]["test"].items():
        if v == v:
            metrics[f"test.mql.{k}"] = float(v)
    metrics["model.best_iteration"] = float(summary["model"]["best_iteration"])
    with mlflow.start_run(experiment_id=exp_id, run_name=f"{config.name}-{bundle_dir.name}") as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags({"mqlml.bundle": str(bundle_dir), "mqlml.target": config.labels.target})
        mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
        mlflow.lightgbm.log_model(
            model.booster,
            name="model",
            pip_requirements=[f"lightgbm=={lightgbm.__version__}"],
        )
        return run.info.run_id
