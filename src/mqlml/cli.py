"""Command line: ``mqlml generate | train | score | demo``. Thin: parse, call, print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mqlml.errors import MqlmlError

app = typer.Typer(
    help="mqlml: learn which marketing leads convert, score new leads, explain why.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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
) -> None:
    """Write a synthetic B2B CRM history (and the true probabilities, for measurement only)."""
    from mqlml.generate import generate_history, write_history

    try:
        if fmt not in ("csv", "parquet"):
            raise MqlmlError(f"--format must be csv or parquet, got {fmt!r}")
        history = generate_history(leads, seed)
        paths = write_history(history, out, fmt)
    except (MqlmlError, ValueError) as exc:
        _fail(exc)
    for name, path in paths.items():
        typer.echo(f"{name:<11} {path}")


def _load_config(config: Path | None, overrides: dict):
    from mqlml.config import load_config

    return load_config(config, overrides)


def train_and_save(crm, cfg, echo=typer.echo) -> tuple[Path, object, dict]:
    """Train; save the bundle and its HTML summary; log to MLflow.

    Returns the bundle path, the trained model and the training artifacts.
    """
    from mqlml.bundle import save_bundle
    from mqlml.io import write_text
    from mqlml.pipeline import run_training
    from mqlml.report import render_summary_html

    model, artifacts = run_training(crm, cfg)
    bundle = save_bundle(model, cfg.models_dir)
    write_text(
        render_summary_html(model.summary, artifacts["test_predictions"]), bundle / "report.html"
    )
    if cfg.tracking.enabled:
        from mqlml.tracking import log_training, tracking_uri

        run_id = log_training(cfg, bundle, model)
        echo(f"MLflow run {run_id} in {tracking_uri(cfg.tracking)}", err=True)
    return bundle, model, artifacts


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="Directory with leads, activities, outcomes.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML configuration file.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name (default from config).")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Where bundles are written.")] = None,
    no_tracking: Annotated[
        bool, typer.Option("--no-tracking", help="Skip MLflow logging.")
    ] = False,
) -> None:
    """Train from CRM history; print the path of the model bundle."""
    from mqlml.data import load_crm

    overrides: dict = {}
    if name:
        overrides["name"] = name
    if models_dir:
        overrides["models_dir"] = str(models_dir)
    if no_tracking:
        overrides["tracking"] = {"enabled": False}
    try:
        cfg = _load_config(config, overrides)
        crm = load_crm(data, cfg.data)
        bundle, model, _ = train_and_save(crm, cfg)
    except MqlmlError as exc:
        _fail(exc)
    s = model.summary["metrics_test"]
    typer.echo(
        f"test ROC AUC {s['model']['roc_auc']:.3f} "
        f"(baseline {s['baseline_logistic']['roc_auc']:.3f}), "
        f"MQL cutoff score >= {model.summary['mql_threshold']['cutoff']}",
        err=True,
    )
    typer.echo(str(bundle))


@app.command()
def score(
    model: Annotated[Path, typer.Option(help="Model bundle (a version dir, or models/<name>).")],
    leads: Annotated[Path, typer.Option(help="Leads to score (CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet).")],
    activities: Annotated[Path | None, typer.Option(help="Their activities.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring time for all leads (default: as_of column, else now)."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Leads scored at a time (bounds memory on large batches).")
    ] = 50_000,
) -> None:
    """Score a batch of leads: probability, score, grade, is_mql and the top reasons.

    Rows that cannot be scored go to OUT's rejects file (e.g. scored.rejects.csv) with
    the reason; drift against the training data goes to OUT's report (scored.report.json).
    """
    from mqlml.batch import score_files
    from mqlml.bundle import load_bundle
    from mqlml.io import table_format

    try:
        table_format(out)
        trained = load_bundle(model)
        with _ScoringProgress() as progress:
            run = score_files(
                trained, leads, out, activities, as_of, chunk_rows=chunk_rows, progress=progress
            )
    except MqlmlError as exc:
        _fail(exc)
    for note in run.result.notes:
        typer.echo(f"note: {note}", err=True)
    for warning in run.result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"rejects {run.rejects_path}; report {run.report_path}", err=True)
    typer.echo(run.summary)


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


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Directory for everything the demo writes.")] = Path(
        "demo-output"
    ),
    leads: Annotated[int, typer.Option("--leads", help="Leads in the generated history.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate a history, train, report, score a fresh batch and print the headline figures."""
    from mqlml.demo import run_demo

    try:
        run_demo(out, leads, seed, echo=typer.echo)
    except MqlmlError as exc:
        _fail(exc)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point for ``python -m mqlml``."""
    app(prog_name="mqlml")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
