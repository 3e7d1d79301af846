"""Command line: ``mqlml generate | train | score | monitor | demo``. Thin: parse, call, print."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand

from mqlml.config import BacktestConfig, Config, ThresholdConfig
from mqlml.errors import ConfigError, MqlmlError

if TYPE_CHECKING:
    from mqlml.model.summary import TrainingSummary


class _Command(TyperCommand):
    """A command whose flags (``--no-tracking``, ``--help``) show no value type in --help.

    typer labels every option with its type, so a flag read ``--no-tracking <bool>`` as if
    it took a value, which it refuses.
    """

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _App(typer.Typer):
    """The typer app, its commands made with :class:`_Command`."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _App(
    help="mqlml: learn which marketing leads convert, score new leads, explain why.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Every command's --help shows each option's default.
    context_settings={"show_default": True},
)

#: Warnings about other libraries' deprecations: noise for a user of the command line.
_THIRD_PARTY_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def _exit_on_sigterm() -> None:
    """Nothing; makes SIGTERM (``kill``, a service manager stopping mqlml) exit through
    Python, so a run being stopped removes its staging folder and incoming bundle folder
    like an interrupted one; only kill -9 leaves them, for the next run to remove."""
    import signal
    import threading

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    # Only the main thread may set a handler (the CLI run from another thread keeps none).
    if hasattr(signal, "SIGTERM") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


@app.callback()
def _set_up_the_process() -> None:
    _exit_on_sigterm()
    # LightGBM's idle OpenMP threads spin by default; on a busy machine the spinning starves
    # the threads doing work (a backtest measured 2.4x slower under load). The CLI owns its
    # process, so it asks OpenMP to sleep when idle unless the user chose a policy.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # The CLI entry only (never the library): MLflow's INFO lines, its artifact download
    # bar and third-party deprecation warnings tell a user of mqlml nothing they can act on.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # mqlml logs its pyfunc model as a Python object on purpose (the bundle is an artifact).
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    for category in _THIRD_PARTY_NOISE:
        # Every module but mqlml's own: those still follow the filters already in place.
        warnings.filterwarnings("ignore", category=category, module=r"(?!mqlml(\.|$))")


def _is_third_party_noise(w: warnings.WarningMessage) -> bool:
    # Raised from a file of the mqlml package itself, not merely under a folder named
    # mqlml (a checkout called mqlml holds its .venv and every library's files).
    package = Path(__file__).resolve().parent
    return issubclass(w.category, _THIRD_PARTY_NOISE) and (
        not Path(str(w.filename)).resolve().is_relative_to(package)
    )


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


@app.command()
def generate(
    out: Annotated[
        Path, typer.Option(help="Directory to write leads, activities, outcomes, truth.")
    ],
    leads: Annotated[int, typer.Option("--leads", help="Number of leads.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same history).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    shift_at: Annotated[str | None, typer.Option(
        "--shift-at", help="Date the market changes (the --new-source, --stop-behaviour, "
        "--base-rate-shift and --new-industry options apply to leads created from then on)."
    )] = None,
    new_source: Annotated[str | None, typer.Option(
        help="A lead source that appears at --shift-at."
    )] = None,
    new_source_effect: Annotated[float, typer.Option(
        help="The new source's term in the true SQL log-odds (others: -0.5 to 0.5)."
    )] = 1.0,
    new_source_share: Annotated[float, typer.Option(
        help="Share of the leads after --shift-at that come from the new source."
    )] = 0.2,
    stop_behaviour: Annotated[str | None, typer.Option(
        help="An activity type that stops predicting conversion at --shift-at, e.g. "
        "pricing_page_view."
    )] = None,
    base_rate_shift: Annotated[float, typer.Option(
        help="Added to every later lead's true SQL log-odds (negative: the base rate falls)."
    )] = 0.0,
    new_industry: Annotated[str | None, typer.Option(
        help="An industry that appears at --shift-at."
    )] = None,
    new_industry_effect: Annotated[float, typer.Option(
        help="The new industry's term in the true SQL log-odds (others: -0.5 to 0.4)."
    )] = 0.0,
    new_industry_share: Annotated[float, typer.Option(
        help="Share of the leads after --shift-at that belong to the new industry."
    )] = 0.1,
) -> None:
    """Write a synthetic B2B CRM history (and the true probabilities, for measurement only).

    With --shift-at the market changes at that date; the truth file describes the changed
    market, so monitoring and retraining can be tested against a known change.
    """
    from mqlml.synthetic.generate import MarketShift, generate_history, write_history

    try:
        if fmt not in ("csv", "parquet"):
            raise MqlmlError(f"--format must be csv or parquet, got {fmt!r}")
        shift = None
        if shift_at is not None:
            shift = MarketShift(
                at=shift_at, new_source=new_source, new_source_logit=new_source_effect,
                new_source_share=new_source_share, stop_behaviour=stop_behaviour,
                base_rate_logit=base_rate_shift, new_industry=new_industry,
                new_industry_logit=new_industry_effect, new_industry_share=new_industry_share,
            )
        elif new_source or stop_behaviour or new_industry or base_rate_shift:
            raise MqlmlError(
                "--new-source, --stop-behaviour, --base-rate-shift and --new-industry need "
                "--shift-at, the date the market changes"
            )
        history = generate_history(leads, seed, shift=shift)
        paths = write_history(history, out, fmt)
    except (MqlmlError, ValueError) as exc:
        _fail(exc)
    for name, path in paths.items():
        typer.echo(f"{name:<11} {path}")


def _config_default(value: object) -> str:
    """``--help``'s default of a flag that overrides the config: the config's, else ours."""
    return f"config, else {value}"


_THRESHOLDS, _CONFIG = ThresholdConfig(), Config()

#: Configuration key set by each ``train`` flag, to name the flag in errors about its value.
_FLAG_OF_KEY = {
    "name": "--name",
    "models_dir": "--models-dir",
    "thresholds.policy": "--policy",
    "thresholds.capacity_per_week": "--capacity",
    "thresholds.target_precision": "--target-precision",
    "thresholds.target_recall": "--target-recall",
    "thresholds.cost_per_lead": "--cost-per-lead",
    "thresholds.value_per_won": "--value-per-won",
    "thresholds.keep_grades_from": "--keep-grades",
    "baselines.rules_path": "--rules",
    "backtest.folds": "--backtest-folds",
    "segments.column": "--segment-column",
    "retrain.compare_leads": "--compare-leads",
    "retrain.compare_days": "--compare-days",
}


def _dotted_keys(d: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in d.items():
        keys |= _dotted_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return keys


def _name_flags(message: str, overrides: dict) -> str:
    """``message`` (a configuration error) with the keys set by flags named as the flags."""
    given = _dotted_keys(overrides)
    lines = message.splitlines()
    problems = [line for line in lines[1:] if line.startswith("  - ")]
    renamed = []
    for line in lines:
        key = line.removeprefix("  - ").split(":", 1)[0]
        if line.startswith("  - ") and key in given and key in _FLAG_OF_KEY:
            line = f"  - {_FLAG_OF_KEY[key]}{line.removeprefix('  - ' + key)}"
        renamed.append(line)
    if problems and all(line.split(":", 1)[0].removeprefix("  - ") in given for line in problems):
        renamed[0] = "invalid option value:"
    return "\n".join(renamed)


def _load_config(config: Path | None, overrides: dict):
    from mqlml.config import load_config

    try:
        return load_config(config, overrides)
    except ConfigError as exc:
        raise ConfigError(_name_flags(str(exc), overrides)) from None


def _train_from(data: Path | None, cfg, activity_features: Path | None = None):
    """Train from a CRM directory, or from one export file in flat mode."""
    from mqlml.data.contract import load_crm
    from mqlml.features.activity import ActivitySummary
    from mqlml.workflow import train_and_save

    summary = ActivitySummary.read(activity_features) if activity_features is not None else None

    if cfg.flat is not None:
        from mqlml.labels.flat import load_flat

        export = data if data is not None else cfg.flat.path
        if export is None or export.is_dir():
            raise MqlmlError(
                "flat mode (config flat:) reads one export file: give --data FILE or "
                f"set flat.path, got {export}"
            )
        bundle, model, _ = train_and_save(
            None, cfg, echo=typer.echo, labelled=_read_stage(load_flat, export, cfg),
            progress=_stage_line, activity_summary=summary,
        )
    else:
        bundle, model, _ = train_and_save(
            _read_stage(load_crm, data, cfg.data), cfg, echo=typer.echo, progress=_stage_line,
            activity_summary=summary,
        )
    return bundle, model


def _stage_line(stage: str, seconds: float) -> None:
    """One line on standard error per finished training stage."""
    typer.echo(f"{stage}: {seconds:.1f} s", err=True)


def _read_stage(read, *args):
    """``read(*args)``, reported as the first training stage: reading and checking a
    history of millions of activities takes minutes, which the user should see."""
    started = time.perf_counter()
    out = read(*args)
    _stage_line("read and check data", time.perf_counter() - started)
    return out


@app.command()
def train(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Directory with leads, activities, outcomes; in flat mode (config flat:) "
            "the one export file (.csv, .xlsx, .parquet)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML configuration file.", show_default="built-in defaults"),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Model name.", show_default=_config_default(_CONFIG.name)),
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where bundles are written.", show_default=_config_default(_CONFIG.models_dir)
        ),
    ] = None,
    no_tracking: Annotated[
        bool,
        typer.Option(
            "--no-tracking", help="Skip MLflow logging.", show_default="tracking on"
        ),
    ] = False,
    policy: Annotated[
        str | None,
        typer.Option(
            help="MQL policy in use: capacity, precision, recall or expected_value.",
            show_default=_config_default(_THRESHOLDS.policy),
        ),
    ] = None,
    capacity: Annotated[
        float | None,
        typer.Option(
            help="capacity policy: leads per week sales can work.",
            show_default=_config_default(_THRESHOLDS.capacity_per_week),
        ),
    ] = None,
    target_precision: Annotated[
        float | None,
        typer.Option(
            help="precision policy: MQL -> SQL rate to reach (0-1).",
            show_default=_config_default(_THRESHOLDS.target_precision),
        ),
    ] = None,
    target_recall: Annotated[
        float | None,
        typer.Option(
            help="recall policy: share of conversions to capture.",
            show_default=_config_default(_THRESHOLDS.target_recall),
        ),
    ] = None,
    cost_per_lead: Annotated[
        float | None,
        typer.Option(
            help="expected_value policy: cost of working one MQL.",
            show_default=_config_default(_THRESHOLDS.cost_per_lead),
        ),
    ] = None,
    value_per_won: Annotated[
        float | None,
        typer.Option(
            help="expected_value policy: value of a won deal.",
            show_default=_config_default("the mean deal value learned"),
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Current MQL rules (YAML points sheet) to compare with.",
            show_default=_config_default("none"),
        ),
    ] = None,
    keep_grades: Annotated[
        Path | None,
        typer.Option(
            help="Keep the grade cutoffs of this earlier model bundle.",
            show_default=_config_default("learn new cutoffs"),
        ),
    ] = None,
    backtest_folds: Annotated[
        int | None,
        typer.Option(
            help="Rolling-origin backtest folds (0: none).",
            show_default=_config_default(BacktestConfig().folds),
        ),
    ] = None,
    segment_column: Annotated[
        str | None,
        typer.Option(
            help="Lead column to report per segment (e.g. industry).",
            show_default=_config_default("none"),
        ),
    ] = None,
    activities: Annotated[
        str | None,
        typer.Option(
            help="Activities to train from instead of the --data folder's: a CSV/TSV/.xlsx "
            "file is read in memory; a Parquet file, a folder of Parquet files or a quoted "
            "glob ('acts/*.parquet') is checked and summarised out of core by DuckDB, within "
            "data.memory_limit (see docs/spark.md).",
            show_default="the --data folder's activities file",
        ),
    ] = None,
    activity_features: Annotated[
        Path | None,
        typer.Option(
            help="Activity summary built beforehand (Parquet file or folder, e.g. written by "
            "mqlml.features.spark.activity_summary) at each lead's training as-of: the "
            "activity features come from it instead of the activities file.",
            show_default="computed from the activities",
        ),
    ] = None,
) -> None:
    """Train from CRM history (or one flat export); print the path of the model bundle."""
    overrides = _train_overrides(
        name=name, models_dir=models_dir, no_tracking=no_tracking, policy=policy,
        capacity=capacity, target_precision=target_precision, target_recall=target_recall,
        cost_per_lead=cost_per_lead, value_per_won=value_per_won, rules=rules,
        keep_grades=keep_grades, backtest_folds=backtest_folds, segment_column=segment_column,
    )
    if activities is not None:
        overrides.setdefault("data", {})["activities"] = activities
    try:
        cfg = _load_config(config, overrides)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bundle, model = _train_from(data, cfg, activity_features)
    except MqlmlError as exc:
        _fail(exc)
    _echo_warnings(caught)
    from mqlml.report.text import model_choice, threshold_lines, training_notes

    for line in training_notes(model.summary):
        typer.echo(line, err=True)
    typer.echo(_test_figures_line(model.summary), err=True)
    if model.summary.model is not None and model_choice(model.summary.model.to_dict()):
        typer.echo(model_choice(model.summary.model.to_dict()).strip(), err=True)
    for line in threshold_lines(model.summary, cfg.thresholds.interval_level):
        typer.echo(line, err=True)
    typer.echo(str(bundle))


def _train_overrides(
    *,
    name: str | None,
    models_dir: Path | None,
    no_tracking: bool,
    policy: str | None,
    capacity: float | None,
    target_precision: float | None,
    target_recall: float | None,
    cost_per_lead: float | None,
    value_per_won: float | None,
    rules: Path | None,
    keep_grades: Path | None,
    backtest_folds: int | None,
    segment_column: str | None,
) -> dict:
    """Configuration overrides (nested dict) from the flags of ``mqlml train`` that were given."""
    overrides: dict = {}
    thresholds = {
        k: v
        for k, v in (
            ("policy", policy),
            ("capacity_per_week", capacity),
            ("target_precision", target_precision),
            ("target_recall", target_recall),
            ("cost_per_lead", cost_per_lead),
            ("value_per_won", value_per_won),
            ("keep_grades_from", str(keep_grades) if keep_grades else None),
        )
        if v is not None
    }
    if thresholds:
        overrides["thresholds"] = thresholds
    if rules:
        overrides["baselines"] = {"rules_path": str(rules)}
    if backtest_folds is not None:
        overrides["backtest"] = {"folds": backtest_folds}
    if segment_column:
        overrides["segments"] = {"column": segment_column}
    if name:
        overrides["name"] = name
    if models_dir:
        overrides["models_dir"] = str(models_dir)
    if no_tracking:
        overrides["tracking"] = {"enabled": False}
    return overrides


def _echo_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Nothing; shows warnings caught while training, those about the data plainly."""
    from mqlml.labels.flat import OptimisticSplitWarning
    from mqlml.training.audit import LeakageWarning

    for w in caught:
        if issubclass(w.category, (LeakageWarning, OptimisticSplitWarning)):
            # Said plainly, without a source line: they are about the data, not the code.
            typer.echo(f"warning: {w.message}", err=True)
        elif not _is_third_party_noise(w):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _test_figures_line(summary: TrainingSummary) -> str:
    """One line: the test ROC AUC of model and baseline, and the MQL cutoff and policy."""
    s, mql = summary.metrics_test, summary.mql_threshold
    return (
        f"test ROC AUC {s.model.roc_auc:.3f} "
        f"(baseline {s.baseline_logistic.roc_auc:.3f}), "
        f"MQL cutoff score >= {mql.cutoff} ({mql.policy} policy)"
    )


ModelOption = Annotated[
    str,
    typer.Option(
        help="A bundle version folder (models/<name>/<version>); a model folder "
        "(models/<name>: the registry's champion if its MLflow store knows one, else the "
        "newest version); or models:/<name>@<alias> or models:/<name>/<version>."
    ),
]
ModelStoreOption = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI to resolve --model in (default: the store its bundles "
        "were registered in, else $MLFLOW_TRACKING_URI; for models:/ also ./mlflow.db)."
    ),
]


def _resolve(model: str, tracking_uri: str | None, *, say: bool = True):
    """The model ``--model`` names, said on stderr (which version, and why that one)."""
    from mqlml.serving.tracking import resolve_model

    resolved = resolve_model(model, tracking_uri=tracking_uri)
    if say:
        typer.echo(resolved.describe(), err=True)
    return resolved


@app.command()
def score(
    model: ModelOption,
    leads: Annotated[Path, typer.Option(help="Leads to score (CSV/TSV, .xlsx or Parquet).")],
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")],
    activities: Annotated[
        str | None,
        typer.Option(
            help="Their activities: a CSV/TSV/.xlsx file is read in memory; a Parquet file, "
            "a folder of Parquet files or a quoted glob ('acts/*.parquet') is checked and "
            "summarised out of core by DuckDB at each lead's scoring time, within "
            "data.memory_limit (see docs/spark.md)."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring time for all leads (default: as_of column, else now)."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Leads scored at a time (bounds memory on large batches).")
    ] = 50_000,
    tracking_uri: ModelStoreOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML configuration whose data: section (column_mapping, dates), crm: "
            "section (import file columns, state store, webhook), output: section and "
            "scoring: section (prior shift) replace the model's for this batch (default: "
            "the model's own)."
        ),
    ] = None,
    crm: Annotated[
        str | None,
        typer.Option(
            help="Also write this CRM's import file beside OUT (salesforce, hubspot or "
            "dynamics: e.g. scored.salesforce.csv), with what changed since the previous "
            "scoring of the same leads.",
            show_default="none",
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            help="Post each new MQL as JSON to this http(s) address, with retries and an "
            "Idempotency-Key header (crm.webhook in --config sets the rest).",
            show_default="config, else none",
        ),
    ] = None,
    raw_csv: Annotated[
        bool,
        typer.Option(
            "--raw-csv",
            help="Write CSV cells as they are, for machine consumers: no leading ' on text "
            "cells starting with = + - @ tab or CR (config output.safe_csv).",
            show_default="spreadsheet-safe CSV",
        ),
    ] = False,
    adjust_prior: Annotated[
        bool,
        typer.Option(
            "--adjust-prior",
            help="Move every probability to the conversion rate this batch implies from its "
            "own scores (estimated and reported in OUT's report either way) and recompute "
            "scores, grades and is_mql; only when leads behave as before given their outcome "
            "(see docs/scoring.md).",
            show_default="scoring.prior_shift.adjust",
        ),
    ] = False,
) -> None:
    """Score a batch of leads: probability, score, grade, is_mql and the top reasons.

    Rows that cannot be scored go to OUT's rejects file (e.g. scored.rejects.csv) with
    the reason; drift against the training data goes to OUT's report (scored.report.json).
    With --crm or a webhook, each lead is compared with its previous scoring, kept in
    mqlml-state.sqlite beside OUT (lead ids and scores only).
    """
    from mqlml.data.files import check_writable, table_format
    from mqlml.scoring.batch import score_files

    try:
        table_format(out)
        check_writable(out)  # before loading the model and scoring, not after
        crm_settings = _crm_settings(crm, webhook, config)
        resolved = _resolve(model, tracking_uri)
        trained = resolved.model
        if config is not None:
            trained = _with_data_settings(trained, _load_config(config, {}))
        crm_settings = crm_settings or _crm_settings(crm, webhook, None, trained.config)
        with _ScoringProgress() as progress:
            run = score_files(
                trained, leads, out, activities, as_of, chunk_rows=chunk_rows,
                progress=progress, model_record=resolved.to_dict(),
                safe_csv=False if raw_csv else None,
                adjust_prior=True if adjust_prior else None,
            )
        exported = None
        if crm is not None or crm_settings.webhook.url:
            import mqlml

            exported = mqlml.export_to_crm(
                run.result.scored, out=out, tool=crm, as_of=run.result.as_of,
                settings=crm_settings, model=resolved.to_dict(),
                safe_csv=False if raw_csv else trained.config.output.safe_csv,
            )
    except MqlmlError as exc:
        _fail(exc)
    for note in run.result.notes:
        typer.echo(f"note: {note}", err=True)
    for warning in run.result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"rejects {run.rejects_path}; report {run.report_path}", err=True)
    if exported is not None:
        typer.echo(exported.summary, err=True)
    typer.echo(run.summary)


def _crm_settings(crm: str | None, webhook: str | None, config: Path | None, model_config=None):
    """The ``crm`` settings of this run: from ``--config`` (else the model's config, when
    ``model_config`` is given), with ``--webhook`` as ``crm.webhook.url``; ``None`` when
    neither a config nor a model's config is given yet. Checks ``--crm`` first, so a
    wrong value stops the run before the model is loaded."""
    from mqlml.api import _crm_settings as with_webhook

    if crm is not None:
        from mqlml.scoring.crm import check_tool

        check_tool(crm)
    if config is not None:
        settings = _load_config(config, {}).crm
    elif model_config is not None:
        settings = model_config.crm
    else:
        settings = None  # the defaults: still check --webhook now
    settings = with_webhook(settings, webhook, "--webhook")
    return settings if config is not None or model_config is not None else None


def _with_data_settings(trained, cfg):
    """The model with the given config's ``data``, ``output`` and ``scoring`` sections in place
    of its own.

    How the batch's files are read and renamed (``data.column_mapping``, date order) is a
    property of the export, which may differ from the one the model was trained on, and
    what is checked about a batch (``scoring.prior_shift``) a property of the scoring;
    what the model learned is not touched.
    """
    import dataclasses

    config = trained.config.model_copy(
        update={"data": cfg.data, "output": cfg.output, "scoring": cfg.scoring}
    )
    return dataclasses.replace(trained, config=config)


class _ScoringProgress:
    """A progress bar on a terminal for batches of several chunks; nothing in logs."""

    #: Fewer leads than this score too fast for a bar to help.
    MIN_ROWS = 10_000

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True)
        self._bar = None
        self._task = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if not self._console.is_terminal or total < self.MIN_ROWS or done >= total:
                return
            from rich.progress import Progress

            self._bar = Progress(console=self._console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("scoring leads", total=total)
        self._bar.update(self._task, completed=done)

    def __enter__(self) -> _ScoringProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


TrackingUriOption = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)."
    ),
]


@app.command()
def promote(
    name: Annotated[str, typer.Option(help="Registered model name (the config's name).")],
    version: Annotated[str, typer.Option(help="Version to make champion.")],
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Point the champion alias of a registered model at a version, by hand."""
    from mqlml.serving.tracking import promote as promote_version

    try:
        move = promote_version(name, version, tracking_uri)
    except MqlmlError as exc:
        _fail(exc)
    typer.echo(f"{move.name}: champion is version {move.version} (was {move.previous or 'none'})")


@app.command()
def rollback(
    name: Annotated[str, typer.Option(help="Registered model name (the config's name).")],
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Move the champion alias back to the version it replaced."""
    from mqlml.serving.tracking import rollback as rollback_champion

    try:
        move = rollback_champion(name, tracking_uri)
    except MqlmlError as exc:
        _fail(exc)
    typer.echo(f"{move.name}: champion is version {move.version} (was {move.previous})")


@app.command()
def report(
    model: ModelOption,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    tracking_uri: ModelStoreOption = None,
) -> None:
    """Write the leaders' HTML report of a trained model (figures as PNG beside it)."""
    from mqlml.report.html import build_report, figures_dir, write_report

    try:
        if out.suffix.lower() not in (".html", ".htm"):
            raise MqlmlError(f"--out must be an .html file, got {out}")
        resolved = _resolve(model, tracking_uri)
        page = build_report(resolved.model.summary.to_dict(), model_line=resolved.describe())
        written = write_report(page, out)
    except MqlmlError as exc:
        _fail(exc)
    typer.echo(f"report {out} ({len(written) - 1} figures and tables in {figures_dir(out)})")


@app.command()
def monitor(
    model: ModelOption,
    scored: Annotated[
        list[Path],
        typer.Option(
            help="A scored output of mqlml score (its .report.json beside it), or a folder of "
            "them; repeat for every batch scored since the model went live."
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(help="The CRM history as it stands now: folder of leads, activities, "
                     "outcomes."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for monitor.html and monitor.json.")] = Path(
        "monitor"
    ),
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML configuration whose monitor: section (alert levels) and data: section "
            "(column_mapping, dates) are used (default: the model's own)."
        ),
    ] = None,
    tracking_uri: ModelStoreOption = None,
) -> None:
    """Promised vs realised conversion, drift and alerts for the model in use.

    Exit status: 0 no alert, 3 a warning, 4 a critical alert (2: the command failed).
    """
    import mqlml

    try:
        scorer = mqlml.load_model(model, tracking_uri=tracking_uri)
        typer.echo(scorer.loaded_from_.describe(), err=True)
        cfg = _load_config(config, {}) if config is not None else None
        result = mqlml.monitor(scorer, scored, data, config=cfg)
        written = result.write(out)
    except MqlmlError as exc:
        _fail(exc)
    typer.echo(
        f"{result.rows.scored:,} scored leads, {result.rows.matured:,} matured; status "
        f"{result.status} ({len(result.alerts)} alerts)"
    )
    for alert in result.alerts[:10]:
        typer.echo(f"{alert.level}: {alert.message}")
    if len(result.alerts) > 10:
        typer.echo(f"... and {len(result.alerts) - 10} more in {written.json}")
    typer.echo(f"monitor {written.html} and {written.json}")
    raise typer.Exit(code=result.exit_code)


@app.command()
def retrain(
    data: Annotated[
        Path | None,
        typer.Option(
            help="The fresh CRM history: directory with leads, activities, outcomes; in flat "
            "mode (config flat:) the one export file."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML configuration file (the recipe; its registry: section is "
                     "the gate).", show_default="built-in defaults"),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Model name (the registered model whose champion is challenged).",
                     show_default=_config_default(_CONFIG.name)),
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where bundles are written.", show_default=_config_default(_CONFIG.models_dir)
        ),
    ] = None,
    keep_grades: Annotated[
        bool | None,
        typer.Option(
            "--keep-grades/--relearn-grades",
            help="Keep the champion's grade cutoffs, or learn new ones.",
            show_default=_config_default("relearn"),
        ),
    ] = None,
    compare_leads: Annotated[
        int | None,
        typer.Option(help="Compare on at most this many of the newest mature leads.",
                     show_default=_config_default("all of the test slice")),
    ] = None,
    compare_days: Annotated[
        int | None,
        typer.Option(help="Compare on the mature leads of this many most recent days.",
                     show_default=_config_default("no limit")),
    ] = None,
) -> None:
    """Train a challenger on fresh history; promote it only if it beats the champion.

    Both score the same most recent mature leads (the challenger's test slice); the
    registry gate decides. Exit status 0 whether or not the challenger was promoted (the
    decision and its reason are printed); 2 when the command failed.
    """
    from mqlml.workflow import check_retrain_config
    from mqlml.workflow import retrain as run_retrain

    overrides: dict = {}
    settings = {k: v for k, v in (("keep_grades", keep_grades), ("compare_leads", compare_leads),
                                  ("compare_days", compare_days)) if v is not None}
    if settings:
        overrides["retrain"] = settings
    if name:
        overrides["name"] = name
    if models_dir:
        overrides["models_dir"] = str(models_dir)
    try:
        cfg = _load_config(config, overrides)
        check_retrain_config(cfg)  # before any data is read
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if cfg.flat is not None:
                from mqlml.labels.flat import load_flat

                export = data if data is not None else cfg.flat.path
                if export is None or export.is_dir():
                    raise MqlmlError(
                        "flat mode (config flat:) reads one export file: give --data FILE or "
                        f"set flat.path, got {export}"
                    )
                result = run_retrain(None, cfg, echo=typer.echo,
                                     labelled=_read_stage(load_flat, export, cfg),
                                     progress=_stage_line)
            else:
                from mqlml.data.contract import load_crm

                result = run_retrain(_read_stage(load_crm, data, cfg.data), cfg,
                                     echo=typer.echo, progress=_stage_line)
    except MqlmlError as exc:
        _fail(exc)
    _echo_warnings(caught)
    c = result.comparison
    grades = c["grades"]
    typer.echo(f"compared on {c['leads']:,} most recent mature leads ({c['converted']:,} "
               f"converted); grade cutoffs {grades['cutoffs']}"
               + (f", {grades['leads_changing_grade']:,} leads change grade"
                  if grades["leads_changing_grade"] is not None else ""), err=True)
    typer.echo(result.message, err=True)
    typer.echo(str(result.bundle))


@app.command()
def explain(
    model: ModelOption,
    lead_id: Annotated[str, typer.Option("--lead-id", help="The lead to explain.")],
    leads: Annotated[
        Path, typer.Option(help="Leads file (CSV/TSV, .xlsx or Parquet) holding the lead.")
    ],
    activities: Annotated[Path | None, typer.Option(help="Their activities.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring time (default: the lead's as_of column, else now)."),
    ] = None,
    tracking_uri: ModelStoreOption = None,
) -> None:
    """Why one lead scored what it did: its score and every field's points, in words."""
    from mqlml.scoring.batch import explain_file

    try:
        resolved = _resolve(model, tracking_uri, say=False)  # said in the output's header
        # Checked as `score` checks a batch: other rows' problems do not stop this lead.
        scored, table = explain_file(resolved.model, leads, lead_id, activities, as_of)
    except MqlmlError as exc:
        _fail(exc)
    row = scored.iloc[0]
    typer.echo(resolved.describe())
    typer.echo(
        f"lead {lead_id}: score {row['score']} (probability {row['probability']:.1%}), "
        f"grade {row['grade']}, {'MQL' if row['is_mql'] else 'not an MQL'}"
    )
    typer.echo(f"base score {row['base_score']:.1f}; points per field (largest effect first):")
    for r in table.itertuples():
        typer.echo(f"  {r.points:+6.1f}  {r.label:<24} {r.reason}")
    total = row["base_score"] + table["points"].sum()
    typer.echo(f"  base {row['base_score']:.1f} + points {table['points'].sum():+.1f} = "
               f"{total:.1f} -> score {row['score']}")


@app.command()
def serve(
    model: Annotated[
        str,
        typer.Option(help="The registered model to serve: models:/<name>@<alias>, "
                     "models:/<name>/<version> or runs:/<run>/model."),
    ] = "models:/lead-scoring@champion",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    max_request_mb: Annotated[
        float, typer.Option(help="Largest request body accepted (MB); larger: HTTP 413.")
    ] = 5.0,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Serve a registered model over REST, as `mlflow models serve` does (same requests and
    answers), with a request-size limit and error answers that never echo the request."""
    from mqlml.serving.rest import scoring_app
    from mqlml.serving.tracking import is_model_uri

    try:
        if not is_model_uri(model):
            raise MqlmlError(f"--model must be a models:/ or runs:/ URI, got {model!r}")
        if not max_request_mb > 0:
            raise MqlmlError(f"--max-request-mb must be positive, got {max_request_mb}")
        if tracking_uri:
            os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        asgi = scoring_app(model, max_request_bytes=int(max_request_mb * 1024 * 1024))
    except MqlmlError as exc:
        _fail(exc)
    import uvicorn

    typer.echo(f"serving {model} on http://{host}:{port}/invocations", err=True)
    uvicorn.run(asgi, host=host, port=port, log_level="warning")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Directory for everything the demo writes.")] = Path(
        "demo-output"
    ),
    leads: Annotated[int, typer.Option("--leads", help="Leads in the generated history.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    rules: Annotated[
        Path, typer.Option(help="Current MQL rules (YAML points sheet) to compare with.")
    ] = Path("configs/rules-example.yaml"),
) -> None:
    """Generate a history, train, report, score a fresh batch and print the headline figures."""
    from mqlml.synthetic.demo import run_demo

    try:
        run_demo(out, leads, seed, echo=typer.echo, rules=rules)
    except MqlmlError as exc:
        _fail(exc)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m mqlml``."""
    app(prog_name="mqlml")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
