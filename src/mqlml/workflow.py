"""Whole workflows across the layers: train -> explain -> (save -> report -> track).

The training layer fits and evaluates (:mod:`mqlml.training.pipeline`); explanations
(:mod:`mqlml.explain`) and the drift reference sample (:mod:`mqlml.scoring`) sit in the
layers above it, so they are added here. The CLI, the demo and the Python API call these
functions rather than putting the sequence together themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mqlml.columns import LEAD_ID
from mqlml.config import Config
from mqlml.data.contract import CrmData
from mqlml.explain.insights import training_insights
from mqlml.features.activity import ActivitySummary
from mqlml.labels.labelled import LabelledLeads, label_history
from mqlml.model.bundle import TrainedModel, save_bundle
from mqlml.model.summary import unseen_by
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
        sample_rows=model.config.explanations.sample_rows,
        seed=inputs.seed,
        probability=inputs.probability,
    )
    summary = {}
    for key, value in model.summary.to_dict().items():
        summary[key] = value
        if key == _INSIGHTS_AFTER:
            summary.update(insights)
    summary.update({k: v for k, v in insights.items() if k not in summary})
    # Scores of leads from a model that never fit on them are the reference for drift:
    # the test slice (scored by the model the figures measure, even when the shipped one
    # was refit on it), and the calibration slice too unless that model was refit on it.
    held_out = (
        inputs.slices["test"]
        if model.config.calibration.cross_fit_periods
        else np.concatenate([inputs.slices["calibration"], inputs.slices["test"]])
    )
    reference = reference_sample(inputs.features, inputs.score, held_out, inputs.seed)
    return replace(model, summary=summary, reference=reference)


def with_activity_summary(
    labelled: LabelledLeads, summary: ActivitySummary, cfg: Config
) -> LabelledLeads:
    """``labelled`` reading its activity features from ``summary``, once checked.

    Raises
    ------
    MqlmlError
        Naming the summary's file, column and row: a labelled lead it lacks, a lead at
        another as-of than labelling gave it, or a window of ``features.windows_days`` it
        was not built with.
    """
    summary.check(labelled.leads[LEAD_ID], labelled.as_of, cfg.features.windows_days)
    return replace(labelled, activity_summary=summary)


def train_and_save(
    crm: CrmData | None,
    cfg: Config,
    *,
    echo: Callable = _print,
    labelled: LabelledLeads | None = None,
    progress: StageCallback | None = None,
    activity_summary: ActivitySummary | None = None,
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
    activity_summary : ActivitySummary, optional
        Activity features built beforehand (on Spark) at each lead's as-of: used instead of
        computing them from the activities, once checked to hold every labelled lead at
        the as-of labelling gave it.

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
    if activity_summary is not None:
        labelled = with_activity_summary(labelled, activity_summary, cfg)
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

        tracked = log_training(cfg, bundle, model, training_holdout(labelled, artifacts),
                               artifacts.get("measured_model"))
        echo(f"MLflow run {tracked.run_id} in {tracking_uri(cfg.tracking)}", err=True)
        if tracked.gate is not None:
            g = tracked.gate
            verdict = "is now champion" if g.promoted else "was not promoted"
            echo(f"registered {g.name} version {g.version}; it {verdict}: {g.reason}", err=True)
        stages.done("tracking")
    return bundle, model, artifacts


# --- mqlml retrain: a challenger against the champion ---------------------------------------

#: Summary key of the champion-vs-challenger comparison (the report shows it when present).
COMPARISON_KEY = "champion_vs_challenger"
#: Metrics the comparison shows, in order.
_COMPARED = ("roc_auc", "pr_auc", "log_loss", "brier", "lift_top_decile", "mean_probability")


@dataclass(frozen=True)
class RetrainResult:
    """What :func:`retrain` did.

    Attributes
    ----------
    bundle : Path
        The challenger's bundle (saved and registered whether or not it was promoted).
    model : TrainedModel
        The challenger.
    comparison : dict
        The summary's ``champion_vs_challenger`` section (figures of both on the same leads).
    promoted : bool
        True when the registry gate moved ``champion`` to the challenger.
    message : str
        One sentence: which version is champion now, and why.
    challenger_run_id, champion_run_id : str or None
        The MLflow runs of the two evaluations (each tagged with the other's id).
    """

    bundle: Path
    model: TrainedModel
    comparison: dict
    promoted: bool
    message: str
    challenger_run_id: str | None
    champion_run_id: str | None


def _compared_leads(test, retrain) -> np.ndarray:
    """Positions in the test slice of the compared leads: newest first, as configured."""
    import pandas as pd

    from mqlml.columns import CREATED_AT

    created = pd.to_datetime(test[CREATED_AT], utc=True).reset_index(drop=True)
    order = created.sort_values(ascending=False, kind="stable").index.to_numpy()
    if retrain.compare_days is not None:
        since = created.max() - pd.Timedelta(days=retrain.compare_days)
        order = order[(created.iloc[order] >= since).to_numpy()]
    if retrain.compare_leads is not None:
        order = order[: retrain.compare_leads]
    return order


def _kept_grades_folder(champion: TrainedModel, folder: Path) -> Path:
    """A folder :func:`mqlml.model.bundle.load_grade_cutoffs` reads the champion's cutoffs from."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "versions.json").write_text("{}\n", encoding="utf-8")
    cutoffs = {"grades": {"cutoffs_": dict(champion.grades.cutoffs_)}}
    (folder / "thresholds.json").write_text(json.dumps(cutoffs), encoding="utf-8")
    return folder


def check_retrain_config(cfg: Config) -> None:
    """Nothing; raises :class:`~mqlml.errors.MqlmlError` unless tracking and the registry
    are on: :func:`retrain` promotes only through the registry."""
    from mqlml.errors import MqlmlError

    if not (cfg.tracking.enabled and cfg.registry.enabled):
        raise MqlmlError(
            "mqlml retrain promotes only through the model registry: tracking.enabled and "
            f"registry.enabled must be true, got {cfg.tracking.enabled} and "
            f"{cfg.registry.enabled}"
        )


def retrain(
    crm: CrmData | None,
    cfg: Config,
    *,
    echo: Callable = _print,
    labelled: LabelledLeads | None = None,
    progress: StageCallback | None = None,
) -> RetrainResult:
    """Train a challenger on fresh history; compare it with the champion; gate promotion.

    The challenger is trained with the recipe of ``mqlml train`` (:func:`fit_labelled`). The
    champion (``models:/<name>@champion`` in the tracking store) and the challenger score the
    same leads: the challenger's test slice, its newest mature leads, which neither trained
    on (the champion was trained on an older history), narrowed by ``retrain.compare_leads``
    and ``retrain.compare_days``. Grade cutoffs are the champion's when
    ``retrain.keep_grades``, else learned anew; the comparison counts the leads whose grade
    changes. The comparison goes into the summary (key ``champion_vs_challenger``) and so
    into the challenger's report; the bundle is saved and registered, and the registry gate
    (:class:`mqlml.config.RegistryConfig`, under its lock) decides on those same leads
    whether the challenger becomes champion. Both evaluations are logged in MLflow, each run
    tagged with the other's id.

    Parameters
    ----------
    crm : CrmData or None
        The fresh history; None when ``labelled`` is given.
    cfg : Config
        Needs ``tracking.enabled`` and ``registry.enabled``: promotion goes only through
        the registry.
    echo : callable
        Receives progress lines (``err=True`` for standard error).
    labelled : LabelledLeads, optional
        Labelled leads used instead of labelling ``crm``.
    progress : callable, optional
        Called as ``progress(stage, seconds)`` as each stage finishes.

    Returns
    -------
    RetrainResult
        ``promoted`` False (the champion left in place) is a normal outcome, with the
        reason in ``message``.

    Raises
    ------
    MqlmlError
        When tracking or the registry is off, the champion cannot be loaded, or every
        compared lead had matured by the end of the champion's data.
    """
    import tempfile

    from mqlml.columns import CREATED_AT, GRADE, PROBABILITY
    from mqlml.data.files import Staging
    from mqlml.errors import MqlmlError
    from mqlml.model.metrics import classification_metrics
    from mqlml.report.html import build_report, write_report
    from mqlml.serving.pyfunc import Holdout, score_lead_rows, training_holdout
    from mqlml.serving.tracking import (
        CHAMPION,
        champion_version,
        log_comparison,
        log_training,
        resolve_model,
        tracking_uri,
    )

    check_retrain_config(cfg)
    uri = tracking_uri(cfg.tracking)
    ref = f"models:/{cfg.name}@{CHAMPION}"
    if champion_version(cfg.name, uri) is None:
        champion = None
        echo(f"no champion for {cfg.name!r} in {uri}: the challenger meets the gate alone",
             err=True)
    else:
        champion = resolve_model(ref, tracking_uri=uri)
    if champion is not None:
        echo(champion.describe(), err=True)
    with Staging(Path(cfg.models_dir) / cfg.name):
        pass
    stages = Stages(progress)
    if labelled is None:
        labelled = label_history(crm, cfg)
        stages.done("labels")
    with tempfile.TemporaryDirectory(prefix="mqlml-retrain-") as tmp:
        keep = cfg.retrain.keep_grades and champion is not None
        train_cfg = cfg
        if keep:
            folder = _kept_grades_folder(champion.model, Path(tmp) / "champion")
            train_cfg = cfg.model_copy(update={
                "thresholds": cfg.thresholds.model_copy(update={"keep_grades_from": folder})
            })
        model, artifacts = fit_labelled(labelled, train_cfg, progress=stages)
    # The run records the config as given, not the temporary folder the cutoffs came from.
    model = replace(model, config=cfg)

    test = artifacts["test_predictions"]
    holdout = training_holdout(labelled, artifacts)
    pick = _compared_leads(test, cfg.retrain)
    seen = None
    if champion is not None:
        # Judging the champion on a lead whose outcome reached it would be in-sample, so
        # only leads created after its data are compared.
        s = champion.model.summary
        early = ~unseen_by(s, test[CREATED_AT].iloc[pick])
        seen = int(early.sum())
        if seen == len(pick):
            raise MqlmlError(
                f"all {len(pick)} leads chosen for the comparison (retrain.compare_days="
                f"{cfg.retrain.compare_days}, retrain.compare_leads="
                f"{cfg.retrain.compare_leads}) were created by {s.learned_until()[:10]}, "
                f"so the champion (data up to {s.snapshot_at}) may have trained on them; "
                "expected leads created after that: raise retrain.compare_days or "
                "retrain.compare_leads, or retrain on a longer history"
            )
        if seen:
            echo(f"{seen} of the {len(pick)} leads chosen for the comparison are left out: "
                 f"they were created by {s.learned_until()[:10]}, the creation date of the "
                 "newest lead the champion learned from, so it may have trained on them",
                 err=True)
            pick = pick[~early]
    compared = Holdout(holdout.rows.iloc[pick].reset_index(drop=True), holdout.y[pick],
                       holdout.created_at[pick])
    # The challenger's figures come from the model that never saw its test slice.
    ours = score_lead_rows(artifacts["measured_model"], compared.rows, "compared leads")
    ours_m = classification_metrics(compared.y, ours[PROBABILITY].to_numpy(dtype=float))
    theirs_m, changed = None, None
    if champion is not None:
        theirs = score_lead_rows(champion.model, compared.rows, "compared leads")
        theirs_m = classification_metrics(compared.y, theirs[PROBABILITY].to_numpy(dtype=float))
        changed = int((ours[GRADE].to_numpy() != theirs[GRADE].to_numpy()).sum())
    reg = cfg.registry
    created = test[CREATED_AT].iloc[pick]
    comparison = {
        "champion": None if champion is None else champion.to_dict(),
        "champion_data_up_to": None if champion is None else str(
            champion.model.summary.snapshot_at),
        "leads_the_champion_may_have_seen": seen,
        "leads": int(len(pick)),
        "converted": int(compared.y.sum()),
        "period": [str(created.min())[:10], str(created.max())[:10]] if len(pick) else None,
        "selection": {
            "compare_leads": cfg.retrain.compare_leads,
            "compare_days": cfg.retrain.compare_days,
        },
        "metrics": [
            {
                "metric": k,
                "champion": None if theirs_m is None else theirs_m.get(k),
                "challenger": ours_m.get(k),
            }
            for k in _COMPARED
        ],
        # The verdict is the registry's, taken under its lock (possibly against a newer
        # champion): the returned comparison gets it from the tracked decision below.
        "gate": {
            "metric": reg.metric,
            "min_roc_auc": reg.min_roc_auc,
            "min_improvement": reg.min_improvement,
        },
        "grades": {
            "cutoffs": "kept from the champion" if keep else "learned anew",
            "champion_cutoffs": None if champion is None else dict(champion.model.grades.cutoffs_),
            "challenger_cutoffs": dict(model.grades.cutoffs_),
            "leads_changing_grade": changed,
        },
    }
    summary = model.summary.to_dict()
    if keep:
        summary["grades"]["kept_from"] = f"{ref} (version {champion.version})"
    summary[COMPARISON_KEY] = comparison
    model = replace(model, summary=summary)

    report = build_report(model.summary, test)
    stages.done("report")
    bundle = save_bundle(model, cfg.models_dir, extra=lambda folder: write_report(
        report, folder / "report.html", safe_csv=cfg.output.safe_csv))
    stages.done("save")
    # The gate scores the champion and the challenger on the same compared leads.
    tracked = log_training(cfg, bundle, model, compared, artifacts["measured_model"])
    champion_run = log_comparison(
        cfg, tracked.run_id, None if champion is None else champion.version, theirs_m, ours_m
    )
    stages.done("tracking")
    g = tracked.gate
    if g.promoted:
        was = f" (was version {g.champion_version})" if g.champion_version else ""
        message = f"challenger version {g.version} is now champion{was}: {g.reason}"
    else:
        now = g.champion_version or "none"
        message = (
            f"champion version {now} stays; challenger version {g.version} was not "
            f"promoted: {g.reason}"
        )
    echo(f"MLflow runs: challenger {tracked.run_id}, champion evaluation {champion_run}",
         err=True)
    # The returned comparison carries the registry's own decision (not in the saved report,
    # written before the decision was taken).
    comparison = {**comparison, "gate": {
        **comparison["gate"], "passes": bool(g.promoted), "reason": g.reason,
        "champion_version": g.champion_version,
    }}
    return RetrainResult(bundle, model, comparison, g.promoted, message, tracked.run_id,
                         champion_run)
