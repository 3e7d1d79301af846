"""Whole workflows across the layers: train -> explain -> (save -> report -> track).

The training layer fits and evaluates (:mod:`mqlml.training.pipeline`); explanations
(:mod:`mqlml.explain`) and the drift reference sample (:mod:`mqlml.scoring`) sit in the
layers above it, so they are added here. The CLI, the demo and the Python API call these
functions rather than putting the sequence together themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from mqlml.config import Config
from mqlml.data.contract import CrmData
from mqlml.explain.insights import training_insights
from mqlml.labels.labelled import LabelledLeads, label_history
from mqlml.model.bundle import TrainedModel, save_bundle
from mqlml.scoring.scoring_report import reference_sample
from mqlml.training.evaluation import InsightInputs
from mqlml.training.pipeline import training_run
from mqlml.training.progress import StageCallback, Stages, as_stages


def _print(message: str = "", err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout)


#: The summary key after which the explanation keys go (where they always have been).
_INSIGHTS_AFTER = "drift_audit"


def fit_labelled(
    labelled: LabelledLeads,
    config: Config,
    *,
    progress: Stages | StageCallback | None = None,
) -> tuple[TrainedModel, dict]:
    """Train on labelled leads, with explanations in the summary and a drift reference.

    :func:`mqlml.training.pipeline.train_labelled`, then for the model and each segment
    model in use the summary keys ``drivers``, ``criteria_rules``, ``scorecard`` and
    ``evaluation`` and the drift reference sample of leads the booster never fit on.

    Parameters
    ----------
    labelled : LabelledLeads
    config : Config
    progress : callable or Stages, optional
        Called as ``progress(stage, seconds)`` as each stage finishes (those of
        :func:`~mqlml.training.pipeline.training_run`, then explanations); None: silent.

    Returns
    -------
    model : TrainedModel
    artifacts : dict
        As :func:`mqlml.training.pipeline.run_training` returns.
    """
    stages = as_stages(progress)
    run = training_run(labelled, config, progress=stages)
    model = finish_model(run.model, run.insights)
    if model.segment_models:
        model = replace(
            model,
            segment_models={
                name: finish_model(sub, run.segment_insights[name])
                for name, sub in model.segment_models.items()
            },
        )
    stages.done("explanations")
    return model, run.artifacts


def fit_history(crm: CrmData, config: Config) -> tuple[TrainedModel, dict]:
    """:func:`~mqlml.labels.labelled.label_history` then :func:`fit_labelled`."""
    return fit_labelled(label_history(crm, config), config)


def finish_model(model: TrainedModel, inputs: InsightInputs) -> TrainedModel:
    """``model`` with its explanations in the summary and its drift reference sample."""
    insights = training_insights(
        model.booster,
        model.calibrator,
        model.spec,
        inputs.leads,
        inputs.features,
        inputs.y,
        inputs.slices,
        inputs.score,
        model.mql.cutoff_,
        inputs.baseline_test_probability,
        inputs.segment_column,
        model.linear,
    )
    summary = {}
    for key, value in model.summary.to_dict().items():
        summary[key] = value
        if key == _INSIGHTS_AFTER:
            summary.update(insights)
    summary.update({k: v for k, v in insights.items() if k not in summary})
    # The booster never fit on these leads: their scores are the reference for drift.
    held_out = np.concatenate([inputs.slices["calibration"], inputs.slices["test"]])
    reference = reference_sample(inputs.features, inputs.score, held_out, inputs.seed)
    return replace(model, summary=summary, reference=reference)


def train_and_save(
    crm: CrmData | None,
    cfg: Config,
    *,
    echo: Callable = _print,
    labelled: LabelledLeads | None = None,
    progress: StageCallback | None = None,
) -> tuple[Path, TrainedModel, dict]:
    """Train; save the bundle and its HTML summary; log to MLflow.

    Parameters
    ----------
    crm : CrmData or None
        Validated tables; None when ``labelled`` is given.
    cfg : Config
    echo : callable
        Receives progress lines (``err=True`` for those meant for standard error).
    labelled : LabelledLeads, optional
        Labelled leads (flat mode, presets) used instead of labelling ``crm``; the MLflow
        input example and the registry gate's hold-out rows come from them either way.
    progress : callable, optional
        Called as ``progress(stage, seconds)`` as each stage finishes: labels, those of
        :func:`fit_labelled`, report, save and tracking; None: silent.

    Returns
    -------
    bundle : Path
    model : TrainedModel
    artifacts : dict
    """
    # Reports and tracking load jinja2 and MLflow: only when a model is saved.
    from mqlml.data.files import Staging
    from mqlml.report.html import build_report, write_report

    # Before any work: a models folder that cannot be written fails now, not after training.
    with Staging(Path(cfg.models_dir) / cfg.name):
        pass
    stages = Stages(progress)
    if labelled is None:
        labelled = label_history(crm, cfg)
        stages.done("labels")
    model, artifacts = fit_labelled(labelled, cfg, progress=stages)
    report = build_report(model.summary, artifacts["test_predictions"])
    stages.done("report")
    # The report is written inside the bundle before it is published: no version lacks it.
    bundle = save_bundle(model, cfg.models_dir, extra=lambda folder: write_report(
        report, folder / "report.html", safe_csv=cfg.output.safe_csv))
    stages.done("save")
    if cfg.tracking.enabled:
        from mqlml.serving.pyfunc import training_holdout
        from mqlml.serving.tracking import log_training, tracking_uri

        tracked = log_training(cfg, bundle, model, training_holdout(labelled, artifacts))
        echo(f"MLflow run {tracked.run_id} in {tracking_uri(cfg.tracking)}", err=True)
        if tracked.gate is not None:
            g = tracked.gate
            verdict = "is now champion" if g.promoted else "was not promoted"
            echo(f"registered {g.name} version {g.version}; it {verdict}: {g.reason}", err=True)
        stages.done("tracking")
    return bundle, model, artifacts
