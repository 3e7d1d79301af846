"""MLflow tracking and the model registry: the only module that imports MLflow
(with :mod:`mqlml.serving.pyfunc`, the model MLflow loads).

Every training run logs its parameters, test metrics, the bundle as artifacts and one
pyfunc model (:class:`mqlml.serving.pyfunc.LeadScoringModel`) carrying the whole bundle, with a
signature and a made-up input example (no lead's data). The model is logged "from code"
(:mod:`mqlml.serving.model_code`): loading it runs mqlml's code on its checked bundle and
unpickles nothing; ``mqlml`` itself loads only the bundle (:func:`load_registered_bundle`).
That model is registered as a new version of the
registered model named after the config's ``name``; the alias ``champion`` moves to it
only when it passes the gate of :class:`mqlml.config.RegistryConfig`. The same model
scores batches (``mqlml score --model models:/<name>@champion``), REST requests
(``mlflow models serve -m models:/<name>@champion``) and Spark (``mlflow.pyfunc.spark_udf``).

The store is ``tracking.uri`` from the config, else ``$MLFLOW_TRACKING_URI``, else an
embedded SQLite file ``mlflow.db`` in the working directory, with artifacts in
``mlartifacts/`` beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import tomllib
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from packaging.requirements import Requirement

from mqlml import __version__
from mqlml.columns import PROBABILITY
from mqlml.config import Config, TrackingConfig, config_to_dict
from mqlml.errors import BundleError, MqlmlError, RegistryError
from mqlml.model.summary import TrainingSummary, unseen_by

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: The code MLflow runs to load an mqlml model (models from code, no pickle).
MODEL_CODE = Path(__file__).with_name("model_code.py")
#: The registry alias of the version in use.
CHAMPION = "champion"
#: Model version tag: the version that was champion when this one was promoted.
PREVIOUS_CHAMPION_TAG = "mqlml.previous_champion"
#: Registered model tag: the champions so far, oldest first, comma-separated ("1,2,3");
#: :func:`rollback` steps back through it.
CHAMPION_HISTORY_TAG = "mqlml.champion_history"
#: Model version tag: the gate decision as JSON (see :class:`GateDecision`).
GATE_TAG = "mqlml.gate"
#: Name of the pyfunc model inside each run.
MODEL_NAME = "model"
#: Gate metrics where lower is better.
_LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


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


def _connect(uri: str):
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def registry_lock_path(uri: str) -> Path:
    """The lock file that serialises registry decisions on the store ``uri``.

    Beside a local SQLite database or file store (shared by every process that uses it),
    else in the temporary folder, named after the store (processes on this host).
    """
    uri = _absolute_uri(uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return db.with_name(f"{db.name}.mqlml.lock")
    if uri.startswith("file:") or "://" not in uri:
        from urllib.parse import urlparse

        folder = Path(urlparse(uri).path if uri.startswith("file:") else uri).resolve()
        return folder.with_name(f"{folder.name}.mqlml.lock")
    digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mqlml-registry-{digest}.lock"


def _registry_lock(uri: str):
    """Held while a store is set up and while the champion alias is compared and moved:
    two trainings at once then see each other's decision, never the same old champion."""
    from mqlml.data.files import file_lock

    return file_lock(registry_lock_path(uri))


def _experiment_id(config: Config, uri: str) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    name = config.tracking.experiment
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return mlflow.create_experiment(name, artifact_location=_artifact_location(uri, name))
    except MlflowException:
        # Created meanwhile by another training (one on another host: no shared lock).
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _metrics(summary: TrainingSummary) -> dict[str, float]:
    metrics = {}
    for name, m in summary.metrics_test.by_name().items():
        for k, v in m.to_dict().items():
            if v == v:  # NaN is not a metric
                metrics[f"test.{name}.{k}"] = float(v)
    mql = summary.mql_threshold
    metrics["mql.cutoff"] = float(mql.cutoff)
    for k, v in mql.test.to_dict().items():
        if v == v:
            metrics[f"test.mql.{k}"] = float(v)
    metrics["model.best_iteration"] = float(summary.model.best_iteration)
    return metrics


def _declared_requirements() -> list[str]:
    # The installed package's metadata; a source tree used without installing it (on sys.path
    # only) has none, and then its pyproject.toml is the declaration.
    try:
        return metadata.requires("mqlml") or []
    except metadata.PackageNotFoundError:
        for parent in Path(__file__).resolve().parents:
            pyproject = parent / "pyproject.toml"
            if pyproject.is_file():
                project = tomllib.loads(pyproject.read_text()).get("project", {})
                if project.get("name") == "mqlml":
                    return list(project.get("dependencies", []))
        return []


def _runtime_distributions() -> list[str]:
    """The distributions mqlml declares for run time, in declared order: no extras, and only
    those whose environment marker holds here."""
    names: list[str] = []
    seen: set[str] = set()
    for line in _declared_requirements():
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key not in seen:
            seen.add(key)
            names.append(req.name)
    return names


def scoring_requirements() -> list[str]:
    """pip requirements of the pyfunc model: mqlml, then every runtime requirement it declares
    (pyproject.toml's ``dependencies``), each pinned to the installed version."""
    reqs = [f"mqlml=={__version__}"]
    for dist in _runtime_distributions():
        try:
            reqs.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:  # an absent library is simply not pinned
            continue
    return reqs


#: Emails and job titles of the synthetic input example: made up, never a lead's.
_EXAMPLE_EMAILS = ("someone@example.com", "someone@gmail.com", "")
_EXAMPLE_TITLES = ("Head of Marketing", "Software Engineer", "")


def example_rows(rows, spec, personal=()):
    """The logged input example: three made-up leads shaped like ``rows`` (pyfunc rows).

    No value comes from a real lead: ids, times, emails, job titles and activities are
    invented; a categorical feature shows levels the bundle's feature spec already holds;
    a number shows the column's median. Personal columns other than ``email`` and
    ``job_title`` (``data.personal_columns``) are left out: the model never reads them.

    Parameters
    ----------
    rows : DataFrame
        Pyfunc input rows (:func:`mqlml.serving.pyfunc.lead_rows`); gives columns and types.
    spec : FeatureSpec
        The model's feature spec.
    personal : collection of str
        The personal columns.
    """
    import pandas as pd
    from pandas.api import types as ptypes

    from mqlml.columns import (
        ACTIVITIES,
        ACTIVITY_SUMMARY,
        AS_OF,
        CREATED_AT,
        EMAIL,
        JOB_TITLE,
        LEAD_ID,
    )
    from mqlml.features.build import personal_columns

    n = len(_EXAMPLE_EMAILS)
    latest = pd.to_datetime(rows[CREATED_AT], utc=True, errors="coerce", format="ISO8601").max()
    day = latest.floor("D") if pd.notna(latest) else pd.Timestamp("2026-01-01", tz="UTC")
    created = [day - pd.Timedelta(days=2 - i) for i in range(n)]
    types = list(spec.activity_types) or ["page_view"]
    events = [
        [
            {
                "occurred_at": (t + pd.Timedelta(days=1 + k)).isoformat(),
                "activity_type": types[(i + k) % len(types)],
            }
            for k in range(2 - i)
        ]
        for i, t in enumerate(created)
    ]
    invented = {
        LEAD_ID: [f"example-{i + 1}" for i in range(n)],
        CREATED_AT: [t.isoformat() for t in created],
        AS_OF: [(t + pd.Timedelta(days=14)).isoformat() for t in created],
        ACTIVITIES: [json.dumps(e) for e in events],
        EMAIL: list(_EXAMPLE_EMAILS),
        JOB_TITLE: list(_EXAMPLE_TITLES),
    }
    private = set(personal_columns(rows.columns, personal))
    # Rows with a prebuilt activity summary (a model trained from one) show activities
    # instead: an invented summary would be a lead's figures made up in another shape.
    columns = [c for c in rows.columns if c != ACTIVITY_SUMMARY]
    if ACTIVITY_SUMMARY in rows.columns and ACTIVITIES not in columns:
        columns.append(ACTIVITIES)
    out = {}
    for c in columns:
        s = rows[c] if c in rows.columns else pd.Series([""], dtype=object)
        if c in invented:
            values = invented[c]
        elif c in private:
            continue
        elif c in spec.categorical and spec.categorical[c]:
            levels = spec.categorical[c]
            values = [levels[i % len(levels)] for i in range(n)]
        elif ptypes.is_bool_dtype(s):
            values = [True, False, False]
        elif ptypes.is_numeric_dtype(s):
            median = s.median()
            values = [median if pd.notna(median) else 0] * n
        else:  # other text of the export (free text, dates): nothing of a real lead
            values = [""] * n
        column = pd.Series(values, name=c)
        try:
            column = column.astype(s.dtype)
        except (TypeError, ValueError):
            pass  # e.g. a median of integers: the signature takes the number as it is
        out[c] = column
    return pd.DataFrame(out)


def model_signature(example, output):
    """The pyfunc signature: inferred from an example, with only the lead key columns required.

    Lead attributes, ``activities`` (or ``activity_summary``) and ``as_of`` may be absent
    from a request.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    from mqlml.columns import ACTIVITIES, ACTIVITY_SUMMARY
    from mqlml.serving.pyfunc import REQUIRED_INPUT_COLUMNS

    with warnings.catch_warnings():
        # The integer output (score) is never missing: MLflow's hint about NaN does not apply.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        inferred = infer_signature(example, output)
    specs = [
        ColSpec(c.type, c.name, required=c.name in REQUIRED_INPUT_COLUMNS)
        for c in inferred.inputs.inputs
    ]
    # Either the activities or a prebuilt activity summary (features built on Spark).
    specs += [
        ColSpec("string", c, required=False)
        for c in (ACTIVITIES, ACTIVITY_SUMMARY)
        if c not in {s.name for s in specs}
    ]
    inputs = Schema(specs)
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


@dataclass(frozen=True)
class GateDecision:
    """Whether a new version became champion, and the figures behind the decision.

    Attributes
    ----------
    name, version : str
        The registered model and its new version.
    metric : str
        The compared metric (``registry.metric``).
    value : float
        The new version's ``metric`` on the compared leads.
    roc_auc : float
        The new version's ROC AUC on the compared leads (checked against
        ``registry.min_roc_auc``).
    champion_version : str or None
        The champion before this training (None: there was none).
    champion_value : float or None
        The champion's ``metric`` on the same leads (None: no champion, or no fair
        comparison).
    promoted : bool
        True when ``champion`` now points at ``version``.
    reason : str
        One sentence a person can act on.
    compared_leads : int or None
        How many holdout leads both were judged on: those created after the newest lead
        whose outcome reached the champion. None when no champion was compared.
    """

    name: str
    version: str
    metric: str
    value: float
    roc_auc: float
    champion_version: str | None
    champion_value: float | None
    promoted: bool
    reason: str
    compared_leads: int | None = None

    def tag(self) -> str:
        """The decision as JSON, kept in the version's ``mqlml.training.gate`` tag."""
        return json.dumps(
            {
                "promoted": self.promoted,
                "metric": self.metric,
                "value": self.value,
                "roc_auc": self.roc_auc,
                "champion_version": self.champion_version,
                "champion_value": self.champion_value,
                "compared_leads": self.compared_leads,
                "reason": self.reason,
            }
        )


@dataclass(frozen=True)
class TrackedTraining:
    """What :func:`log_training` recorded: the run, the logged model and the gate decision."""

    run_id: str
    model_uri: str
    gate: GateDecision | None


def _champion(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def gate(
    metric: str, min_roc_auc: float, min_improvement: float, new: dict, champion: dict | None
) -> tuple[bool, str]:
    """The registry rule on holdout metrics; returns (promote, reason).

    Parameters
    ----------
    metric : str
        The compared metric, a key of :func:`mqlml.model.metrics.classification_metrics`.
    min_roc_auc : float
        The new version's ROC AUC must reach this.
    min_improvement : float
        How much better than the champion's ``metric`` the new one must be (0: as good).
    new, champion : dict
        Holdout metrics of the new version and of the champion (None: no champion).
    """
    auc = new["roc_auc"]
    if not auc >= min_roc_auc:
        return False, f"holdout ROC AUC {auc:.4f} is below registry.min_roc_auc {min_roc_auc}"
    if champion is None:
        return True, f"first champion: holdout ROC AUC {auc:.4f} >= {min_roc_auc}"
    ours, theirs = new[metric], champion[metric]
    lower = metric in _LOWER_IS_BETTER
    needed = theirs - min_improvement if lower else theirs + min_improvement
    good = ours <= needed if lower else ours >= needed
    relation = "<=" if lower else ">="
    verdict = "as good as or better than" if good else "not good enough against"
    return good, (
        f"holdout {metric} {ours:.4f} is {verdict} the champion's {theirs:.4f} "
        f"(rule: {relation} {needed:.4f}, registry.min_improvement {min_improvement})"
    )


def _register_and_gate(client, config: Config, model, model_info, holdout) -> GateDecision:
    from mqlml.serving.pyfunc import score_lead_rows

    version = str(model_info.registered_model_version)
    # The holdout is scored in memory by the model the held-out figures measure: the logged
    # one, or its twin that never saw the holdout when the logged one was refit on it.
    ours = score_lead_rows(model, holdout.rows, "holdout")[PROBABILITY].to_numpy(dtype=float)
    with _registry_lock(client.tracking_uri):
        return _decide(client, config, version, holdout, ours)


@dataclass(frozen=True)
class _Comparison:
    """The champion against the new version on the holdout leads it cannot have seen."""

    fair: np.ndarray
    champion_metrics: dict | None
    failure: str | None


def _compare_with_champion(client, config: Config, current, holdout) -> _Comparison:
    """Score the leads created after the champion's data with the champion's own checked
    bundle, as REST and Spark would run it: no code or pickle from the store runs."""
    from mlflow.exceptions import MlflowException

    from mqlml.model.metrics import classification_metrics
    from mqlml.serving.pyfunc import score_lead_rows

    every = np.ones(len(holdout.y), dtype=bool)
    try:
        champion = load_registered_bundle(
            f"models:/{config.name}@{CHAMPION}", client.tracking_uri
        )
    except (MqlmlError, MlflowException) as exc:
        return _Comparison(every, None, (
            f"the champion (version {current.version}) could not score the holdout: "
            f"{getattr(exc, 'message', exc)}"))
    fair = unseen_by(champion.summary, holdout.created_at)
    need = config.gate.min_test_positives
    y = holdout.y[fair]
    if y.sum() < need or (1 - y).sum() < 1:
        return _Comparison(fair, None, (
            f"the champion (version {current.version}) learned from leads created up to "
            f"{champion.summary.learned_until()[:10]}; {int(fair.sum())} of the "
            f"{len(fair)} holdout leads came later, with {int(y.sum())} converted, and at "
            f"least {need} (gate.min_test_positives) are needed to judge both on leads "
            "neither saw"))
    rows = holdout.rows[fair].reset_index(drop=True)
    try:
        theirs = score_lead_rows(champion, rows, "holdout")[PROBABILITY].to_numpy(dtype=float)
    except MqlmlError as exc:
        return _Comparison(fair, None, (
            f"the champion (version {current.version}) could not score the holdout: {exc}"))
    return _Comparison(fair, classification_metrics(y, theirs), None)


def _decide(client, config: Config, version: str, holdout, ours: np.ndarray) -> GateDecision:
    """Compare with the champion and move the alias: the caller holds the registry lock, so
    the champion read here is still the champion when the alias moves."""
    from mqlml.model.metrics import classification_metrics

    name, reg = config.name, config.registry
    current = _champion(client, name)
    every = np.ones(len(holdout.y), dtype=bool)
    compared = _Comparison(every, None, None)
    if current is not None and str(current.version) != version:
        compared = _compare_with_champion(client, config, current, holdout)
    champ_metrics, failure = compared.champion_metrics, compared.failure
    # Without a fair comparison the new version's figures are those of its whole holdout.
    fair = compared.fair if champ_metrics is not None else every
    new_metrics = classification_metrics(holdout.y[fair], ours[fair])
    if failure is not None:
        promoted, reason = False, failure + "; promote by hand with mqlml promote if intended"
    else:
        promoted, reason = gate(
            reg.metric, reg.min_roc_auc, reg.min_improvement, new_metrics, champ_metrics
        )
        if champ_metrics is not None and not fair.all():
            reason += (f", on the {int(fair.sum())} of {len(fair)} holdout leads created "
                       "after the champion's data")
    decision = GateDecision(
        name=name,
        version=version,
        metric=reg.metric,
        value=float(new_metrics[reg.metric]),
        roc_auc=float(new_metrics["roc_auc"]),
        champion_version=None if current is None else str(current.version),
        champion_value=None if champ_metrics is None else float(champ_metrics[reg.metric]),
        promoted=promoted,
        reason=reason,
        compared_leads=None if champ_metrics is None else int(fair.sum()),
    )
    client.set_model_version_tag(name, version, GATE_TAG, decision.tag())
    if promoted:
        _move_champion(client, name, version, current)
    return decision


def _champion_history(client, name: str, current) -> list[str]:
    """Champion versions so far, oldest first, ending with ``current`` (None: unset)."""
    tags = client.get_registered_model(name).tags or {}
    history = [v for v in tags.get(CHAMPION_HISTORY_TAG, "").split(",") if v]
    if current is not None and (not history or history[-1] != str(current.version)):
        # The alias was moved outside mqlml (e.g. in the MLflow UI): trust the alias.
        previous = (current.tags or {}).get(PREVIOUS_CHAMPION_TAG)
        history = ([previous] if previous else []) + [str(current.version)]
    return history


def _set_champion(client, name: str, version: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, CHAMPION_HISTORY_TAG, ",".join(history))
    client.set_registered_model_alias(name, CHAMPION, version)


def _move_champion(client, name: str, version: str, current) -> None:
    history = _champion_history(client, name, current)
    if current is not None and str(current.version) != version:
        client.set_model_version_tag(name, version, PREVIOUS_CHAMPION_TAG, str(current.version))
    if not history or history[-1] != version:
        history.append(version)
    _set_champion(client, name, version, history)


def log_training(
    config: Config, bundle_dir: Path, model, holdout, measured=None
) -> TrackedTraining:
    """Log one training run and register its model; return what was recorded.

    Parameters
    ----------
    config : Config
        The configuration used (logged as parameters; ``registry`` sets the gate).
    bundle_dir : Path
        The saved bundle (logged as artifacts under ``bundle/`` and inside the model).
    model : TrainedModel
        Its summary gives the metrics.
    holdout : mqlml.serving.pyfunc.Holdout
        The training's test slice as pyfunc rows with labels: the shape of the (synthetic)
        input example, and the leads the gate scores with the new version and the current champion.
    measured : TrainedModel, optional
        The model the held-out figures measure, which scores the holdout for the gate
        (the training's ``measured_model`` artifact): ``model`` itself unless it was refit
        on the test slice (``model.refit_on_all_history``). None: ``model``.
    """
    import mlflow
    import mlflow.pyfunc

    from mqlml.serving.pyfunc import BUNDLE_ARTIFACT, score_lead_rows

    uri = tracking_uri(config.tracking)
    with _registry_lock(uri):  # a fresh store is created once, its experiment too
        client = _connect(uri)
        exp_id = _experiment_id(config, uri)
    params = {k: str(v)[:500] for k, v in _flatten(config_to_dict(config)).items()}
    example = example_rows(holdout.rows, model.spec, config.data.personal_columns)
    signature = model_signature(example, score_lead_rows(model, example, "input example"))
    register = config.registry.enabled
    with mlflow.start_run(experiment_id=exp_id, run_name=f"{config.name}-{bundle_dir.name}") as run:
        mlflow.log_params(params)
        mlflow.log_metrics(_metrics(model.summary))
        mlflow.set_tags({"mqlml.bundle": str(bundle_dir), "mqlml.target": config.labels.target})
        mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            # Models from code: MLflow stores and runs mqlml's model_code.py, no pickle.
            python_model=str(MODEL_CODE),
            artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
            signature=signature,
            input_example=example,
            pip_requirements=scoring_requirements(),
            registered_model_name=config.name if register else None,
        )
        decision = (
            _register_and_gate(client, config, measured or model, info, holdout)
            if register
            else None
        )
        if decision is not None:
            figures = {f"holdout.{decision.metric}": decision.value}
            if decision.champion_value is not None:
                figures[f"holdout.champion.{decision.metric}"] = decision.champion_value
            mlflow.log_metrics(figures)
        tracked = TrackedTraining(run.info.run_id, info.model_uri, decision)
    # After the run: the logged artifacts are the bundle as trained, this file says where.
    record_registration(bundle_dir, uri, tracked, config.name)
    return tracked


@dataclass(frozen=True)
class AliasMove:
    """The champion alias of ``name`` moved from ``previous`` (None: unset) to ``version``."""

    name: str
    version: str
    previous: str | None


def _registry_error(name: str, what: str, exc: Exception) -> RegistryError:
    message = getattr(exc, "message", None) or str(exc)
    return RegistryError(f"registered model {name!r}: {what}: {message}")


def promote(name: str, version: str, uri: str | None = None) -> AliasMove:
    """Point ``champion`` of registered model ``name`` at ``version`` (by hand).

    The replaced champion is remembered on the version (tag ``mqlml.previous_champion``)
    so that :func:`rollback` can return to it.

    Raises
    ------
    RegistryError
        When the model or version does not exist.
    """
    from mlflow.exceptions import MlflowException

    uri = uri or tracking_uri(TrackingConfig())
    client = _connect(uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise RegistryError(
            f"registered model {name!r} does not exist in {uri}; train with tracking on "
            "to register it, or check --name and --tracking-uri"
        ) from None
    try:
        client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise _registry_error(name, f"no version {version}", exc) from None
    with _registry_lock(uri):
        current = _champion(client, name)
        _move_champion(client, name, str(version), current)
    return AliasMove(name, str(version), None if current is None else str(current.version))


def rollback(name: str, uri: str | None = None) -> AliasMove:
    """Move ``champion`` of ``name`` back to the version it replaced.

    Successive rollbacks step back through the champion history (3 -> 2 -> 1), kept in
    the registered model's tag ``mqlml.champion_history``.

    Raises
    ------
    RegistryError
        When there is no champion, or no earlier champion was recorded.
    """
    client = _connect(uri or tracking_uri(TrackingConfig()))
    with _registry_lock(client.tracking_uri):
        return _rollback(client, name, uri)


def _rollback(client, name: str, uri: str | None) -> AliasMove:
    current = _champion(client, name)
    if current is None:
        raise RegistryError(
            f"registered model {name!r} has no {CHAMPION!r} alias to roll back "
            f"(in {uri or tracking_uri(TrackingConfig())})"
        )
    history = _champion_history(client, name, current)[:-1]
    if not history:
        raise RegistryError(
            f"registered model {name!r}: champion version {current.version} records no "
            f"previous champion to roll back to; use mqlml promote --version N instead"
        )
    _set_champion(client, name, history[-1], history)
    return AliasMove(name, history[-1], str(current.version))


def is_model_uri(model: str | Path) -> bool:
    """True for MLflow model URIs (``models:/...``, ``runs:/...``) rather than bundle paths."""
    return str(model).startswith(("models:/", "runs:/"))


def _pyfunc_flavor(model_dir: Path, model_uri: str) -> dict:
    """The ``python_function`` flavor of a downloaded model, checked to be mqlml's from code."""
    import yaml

    try:
        mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        flavor = mlmodel["flavors"]["python_function"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise BundleError(f"model {model_uri} has no readable MLmodel file ({exc})") from None
    if not isinstance(flavor, dict) or "model_code_path" not in flavor:
        raise BundleError(
            f"model {model_uri} is not an mqlml model logged from code: it would be loaded "
            "from a pickle (python_model.pkl), which mqlml never runs. Retrain it with this "
            "mqlml, or score its bundle folder (models/<name>/<version>) instead"
        )
    code = model_dir / Path(str(flavor["model_code_path"])).name
    if not code.is_file() or code.read_bytes() != MODEL_CODE.read_bytes():
        raise BundleError(
            f"model {model_uri}: its {code.name} differs from the one mqlml ships "
            f"({MODEL_CODE}); it was changed in the store or logged by another mqlml version"
        )
    return flavor


def load_registered_bundle(model_uri: str, uri: str | None = None):
    """The mqlml model inside an MLflow model, e.g. ``models:/lead-scoring@champion``.

    Nothing from the store is run: the model's files are downloaded, its ``MLmodel`` must
    name mqlml's model code (:mod:`mqlml.serving.model_code`, byte for byte), and its
    bundle is loaded with every check of :func:`mqlml.model.bundle.load_bundle`.

    Raises
    ------
    BundleError
        When MLflow cannot find the model, naming the URI and the tracking store; when it
        is not an mqlml model logged from code (e.g. a pickled one); when its bundle fails
        a check.
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from mqlml.model.bundle import load_bundle
    from mqlml.serving.pyfunc import BUNDLE_ARTIFACT

    store = uri or tracking_uri(TrackingConfig())
    _connect(store)
    with tempfile.TemporaryDirectory(prefix="mqlml-model-") as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=model_uri, dst_path=tmp, tracking_uri=store
                )
            )
        except MlflowException as exc:
            raise BundleError(
                f"model {model_uri} could not be loaded from {store}: {exc.message}"
            ) from None
        flavor = _pyfunc_flavor(local, model_uri)
        artifact = (flavor.get("artifacts") or {}).get(BUNDLE_ARTIFACT) or {}
        rel = Path(str(artifact.get("path", "")))
        if not artifact or rel.is_absolute() or ".." in rel.parts:
            raise BundleError(f"model {model_uri} names no bundle inside it ({artifact!r})")
        return load_bundle(local / rel)


# --- one resolution of a model reference ---------------------------------------------------

#: File a registered bundle keeps: the store, run and registry version it was registered as.
REGISTRATION_FILE = "registration.json"


@dataclass(frozen=True, eq=False)
class ResolvedModel:
    """A model reference resolved to one model, and which one it is.

    Attributes
    ----------
    model : TrainedModel
        The model.
    name : str
        Its name (the config's ``name``, also the registered model's name).
    version : str or None
        The bundle version folder, or the registry version for a ``models:/`` URI
        (None for a ``runs:/`` URI).
    source : str
        The bundle folder or the MLflow model URI it was read from.
    chosen_by : str
        How the version was chosen, in words (printed and recorded in outputs).
    """

    model: object
    name: str
    version: str | None
    source: str
    chosen_by: str

    def to_dict(self) -> dict[str, str | None]:
        """The record written into outputs (``scored.report.json``'s ``model``)."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "chosen_by": self.chosen_by,
        }

    def describe(self) -> str:
        """One line: ``model demo version 1 (models/demo/1): the registry's champion``."""
        version = f" version {self.version}" if self.version else ""
        return f"model {self.name}{version} ({self.source}): {self.chosen_by}"


def _absolute_uri(uri: str) -> str:
    # A relative SQLite path means "in the cwd at training time": pin it for later readers.
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def _store_exists(uri: str) -> bool:
    """False for a local SQLite store whose file is absent: reading it would create it."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).is_file()
    return True


def record_registration(bundle_dir: Path, uri: str, tracked: TrackedTraining, name: str) -> None:
    """Nothing; writes :data:`REGISTRATION_FILE` into the bundle: where it is registered.

    :func:`resolve_model` reads it to find the registry (and its champion) of a model
    folder without guessing a store, and to map a registry version to its folder.
    """
    from mqlml.data.files import write_text

    version = None if tracked.gate is None else tracked.gate.version
    record = {
        "tracking_uri": _absolute_uri(uri),
        "run_id": tracked.run_id,
        "registered_model": name if version is not None else None,
        "registry_version": version,
    }
    write_text(json.dumps(record, indent=2) + "\n", Path(bundle_dir) / REGISTRATION_FILE)


def _registration(bundle_dir: Path) -> dict:
    try:
        return json.loads((bundle_dir / REGISTRATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _version_folders(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()),
        key=lambda p: int(p.name),
    )


def _folder_store(versions: list[Path], tracking_uri_: str | None) -> str | None:
    """The store the folder's bundles were registered in: given, recorded, else configured."""
    if tracking_uri_:
        return tracking_uri_
    for v in reversed(versions):
        recorded = _registration(v).get("tracking_uri")
        if recorded:
            return recorded
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def _champion_folder(name: str, versions: list[Path], store: str) -> tuple[Path | None, str]:
    """The folder of ``name``'s champion in ``store`` (None: no champion known or not here)."""
    from mlflow.exceptions import MlflowException

    client = _connect(store)
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None, f"no {CHAMPION!r} alias for {name!r} in {store}"
    wanted = str(champion.version)
    for v in versions:
        rec = _registration(v)
        if rec.get("registry_version") == wanted and rec.get("registered_model") == name:
            return v, f"registry version {wanted}, the {CHAMPION} in {store}"
    # Bundles registered before registration files: the run's bundle tag names the folder.
    tag = (client.get_run(champion.run_id).data.tags or {}).get("mqlml.bundle", "")
    for v in versions:
        if tag and Path(tag).parts[-2:] == (v.parent.name, v.name):
            return v, f"registry version {wanted}, the {CHAMPION} in {store}"
    return None, f"the {CHAMPION} (registry version {wanted} in {store}) is not in this folder"


def _resolve_folder(path: Path, tracking_uri_: str | None) -> ResolvedModel:
    from mqlml.model.bundle import load_bundle

    if not path.is_dir():
        raise BundleError(f"model bundle {path} does not exist")
    if (path / "versions.json").is_file():
        model = load_bundle(path)
        return ResolvedModel(model, model.config.name, path.name, str(path), "the folder given")
    versions = _version_folders(path)
    if not versions:
        raise BundleError(
            f"{path} is neither a model bundle (no versions.json) nor a folder of versions"
        )
    store = _folder_store(versions, tracking_uri_)
    if store is not None and _store_exists(store):
        recorded = [_registration(v).get("registered_model") for v in reversed(versions)]
        name = next((n for n in recorded if n), path.name)
        folder, why = _champion_folder(name, versions, store)
        if folder is not None:
            return ResolvedModel(load_bundle(folder), name, folder.name, str(folder), why)
    else:
        why = "no MLflow store recorded in its bundles or set in MLFLOW_TRACKING_URI"
    model = load_bundle(versions[-1])
    return ResolvedModel(
        model, model.config.name, versions[-1].name, str(versions[-1]), f"the newest ({why})"
    )


def _resolve_uri(ref: str, tracking_uri_: str | None) -> ResolvedModel:
    from mlflow.exceptions import MlflowException

    store = tracking_uri_ or tracking_uri(TrackingConfig())
    if not _store_exists(store):
        raise BundleError(
            f"model {ref}: there is no MLflow store at {store} (no such file here); run from "
            "the folder that holds it or set MLFLOW_TRACKING_URI"
        )
    version, name = None, None
    match = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/([^/]+))", ref)
    if match:
        name, alias, number = match.groups()
        client = _connect(store)
        try:
            version = (
                str(client.get_model_version_by_alias(name, alias).version) if alias else number
            )
        except MlflowException as exc:
            raise BundleError(
                f"model {ref} could not be loaded from {store}: {exc.message}"
            ) from None
        chosen = f"the {alias!r} alias in {store}" if alias else f"the version given, in {store}"
    else:
        chosen = f"the run given, in {store}"
    model = load_registered_bundle(ref, store)
    return ResolvedModel(model, name or model.config.name, version, ref, chosen)


def resolve_model(ref: str | Path, *, tracking_uri: str | None = None) -> ResolvedModel:
    """The model a ``--model`` reference means; every command and ``mqlml.load_model`` use it.

    Parameters
    ----------
    ref : str or path
        A bundle version folder (``models/<name>/<version>``); a model folder
        (``models/<name>``): the version the registry's ``champion`` alias points at when
        the bundles record the MLflow store they were registered in (or
        ``$MLFLOW_TRACKING_URI`` / ``tracking_uri`` names one) and it knows a champion,
        else the newest version; or an MLflow URI ``models:/<name>@<alias>``,
        ``models:/<name>/<version>``, ``runs:/<id>/model``.
    tracking_uri : str, optional
        The MLflow store; default for a folder its bundles' record, else
        ``$MLFLOW_TRACKING_URI``; for a URI ``$MLFLOW_TRACKING_URI``, else ``mlflow.db``
        in the working directory. A local SQLite store that does not exist is never
        created.

    Returns
    -------
    ResolvedModel

    Raises
    ------
    BundleError
        When the reference names no readable model, saying where it looked.
    """
    if is_model_uri(ref):
        return _resolve_uri(str(ref), tracking_uri)
    return _resolve_folder(Path(ref), tracking_uri)


# --- champion vs challenger (mqlml retrain) ------------------------------------------------

#: Run tag of a challenger's training run: the run that holds the champion's evaluation.
CHAMPION_EVALUATION_TAG = "mqlml.champion_evaluation_run"
#: Run tag of a champion evaluation run: the challenger training run it was compared with.
CHALLENGER_RUN_TAG = "mqlml.challenger_run"


def log_comparison(
    config: Config,
    challenger_run_id: str,
    champion_version: str | None,
    champion_metrics: dict | None,
    challenger_metrics: dict,
) -> str | None:
    """Log both evaluations on the compared leads, each run tagged with the other's id.

    The challenger's training run gets its metrics as ``compare.<metric>``; a new run
    ``<name>-champion-eval`` in the same experiment gets the champion's, with the champion's
    registry version. Returns the champion run's id (None without a champion).

    Parameters
    ----------
    config : Config
    challenger_run_id : str
        The challenger's training run (:func:`log_training`).
    champion_version : str or None
        The champion's registry version.
    champion_metrics, challenger_metrics : dict
        :func:`mqlml.model.metrics.classification_metrics` of each on the same leads.
    """
    import mlflow

    uri = tracking_uri(config.tracking)
    client = _connect(uri)

    def finite(m: dict) -> dict[str, float]:
        return {f"compare.{k}": float(v) for k, v in m.items() if v == v}

    for k, v in finite(challenger_metrics).items():
        client.log_metric(challenger_run_id, k, v)
    if champion_metrics is None:
        return None
    exp_id = client.get_run(challenger_run_id).info.experiment_id
    with mlflow.start_run(
        experiment_id=exp_id, run_name=f"{config.name}-champion-eval"
    ) as run:
        mlflow.log_metrics(finite(champion_metrics))
        mlflow.set_tags({
            CHALLENGER_RUN_TAG: challenger_run_id,
            "mqlml.champion_version": str(champion_version),
        })
    client.set_tag(challenger_run_id, CHAMPION_EVALUATION_TAG, run.info.run_id)
    return run.info.run_id


def champion_version(name: str, uri: str) -> str | None:
    """The registry version ``champion`` of ``name`` points at in ``uri`` (None: no alias,
    no such model, or a local SQLite store that does not exist, which is not created)."""
    uri = _absolute_uri(uri)
    if not _store_exists(uri):
        return None
    current = _champion(_connect(uri), name)
    return None if current is None else str(current.version)
