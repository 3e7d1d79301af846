"""``mqlml demo``: the whole job on built-in synthetic data, in one command."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mqlml.columns import CREATED_AT, LEAD_ID, SCORE
from mqlml.config import load_config
from mqlml.data.contract import validate_crm
from mqlml.data.files import write_table
from mqlml.report.text import threshold_lines, training_notes
from mqlml.scoring.batch import score_files
from mqlml.synthetic.generate import generate_history, write_history

#: New leads of the fresh batch: those created in the last days of a second history.
FRESH_BATCH_DAYS = 30
#: The documented example points sheet shipped in the repository (the "current rules"),
#: relative to where the demo runs (the repository root for ``make demo``).
RULES_EXAMPLE = Path("configs") / "rules-example.yaml"
#: Rolling-origin backtest folds the demo runs.
DEMO_BACKTEST_FOLDS = 3


#: Prefix of the fresh batch's lead ids: its leads are new, never the history's.
FRESH_ID_PREFIX = "new-"


@dataclass(frozen=True)
class FreshBatch:
    """The demo's fresh batch as written: its files and its scoring moment."""

    leads: Path
    activities: Path
    as_of: str

    def command(self, model: Path, out: Path) -> str:
        """The ``mqlml score`` command that scores this batch as the demo did."""
        return shlex.join(
            ["mqlml", "score", "--model", str(model), "--leads", str(self.leads),
             "--activities", str(self.activities), "--as-of", self.as_of, "--out", str(out)]
        )


def fresh_batch(n_leads: int, seed: int, out: Path) -> FreshBatch:
    """Write the leads created in the last :data:`FRESH_BATCH_DAYS` days of a new history,
    with their activities, as ``fresh_batch_leads.csv`` and ``fresh_batch_activities.csv``.

    Their lead ids carry :data:`FRESH_ID_PREFIX` so that they never collide with the
    training history's; the scoring moment is the new history's snapshot.
    """
    fresh = generate_history(n_leads, seed)
    cutoff = fresh.snapshot_at - pd.Timedelta(days=FRESH_BATCH_DAYS)
    batch = fresh.leads[fresh.leads[CREATED_AT] > cutoff].reset_index(drop=True)
    acts = fresh.activities[fresh.activities[LEAD_ID].isin(batch[LEAD_ID])]
    batch = batch.assign(**{LEAD_ID: FRESH_ID_PREFIX + batch[LEAD_ID].astype("str")})
    acts = acts.assign(**{LEAD_ID: FRESH_ID_PREFIX + acts[LEAD_ID].astype("str")})
    as_of = pd.Timestamp(fresh.snapshot_at)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    return FreshBatch(
        # Inputs for mqlml itself, written as generated (see generate.write_history).
        leads=write_table(batch, out / "fresh_batch_leads.csv", safe_csv=False),
        activities=write_table(acts.reset_index(drop=True), out / "fresh_batch_activities.csv",
                               safe_csv=False),
        as_of=as_of.isoformat(),
    )


def run_demo(
    out: Path,
    n_leads: int = 20_000,
    seed: int = 7,
    echo: Callable = print,
    rules: Path | None = RULES_EXAMPLE,
) -> dict:
    """Generate, train, report and score; return where everything is and the headline figures."""
    from mqlml.workflow import train_and_save

    started = time.perf_counter()
    out = Path(out)
    history = generate_history(n_leads, seed)
    data_paths = write_history(history, out / "data", "csv")
    echo(f"generated {n_leads:,} leads of CRM history -> {out / 'data'}")

    have_rules = rules is not None and Path(rules).is_file()
    cfg = load_config(
        None,
        {
            "name": "demo",
            "models_dir": str(out / "models"),
            "tracking": {"uri": f"sqlite:///{(out / 'mlflow.db').resolve()}"},
            "backtest": {"folds": DEMO_BACKTEST_FOLDS},
            "baselines": {"rules_path": str(rules) if have_rules else None},
        },
    )
    if not have_rules:
        echo(f"note: {rules} not found; the demo compares with logistic regression only")
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    bundle, model, _ = train_and_save(crm, cfg, echo=lambda *a, **k: echo(*a))

    fresh = fresh_batch(max(n_leads // 4, 2_000), seed + 1, out)
    run = score_files(model, fresh.leads, out / "scored_leads.csv", fresh.activities,
                      fresh.as_of, model_record={"name": cfg.name, "version": bundle.name,
                                                 "source": str(bundle)})
    scored, scored_path, batch_path = run.result.scored, run.output, fresh.leads

    m = model.summary.metrics_test
    mql = model.summary.mql_threshold
    figures = {
        "roc_auc": m.model.roc_auc,
        "baseline_roc_auc": m.baseline_logistic.roc_auc,
        "brier": m.model.brier,
        "lift_top_decile": m.model.lift_top_decile,
        "mql_cutoff": mql.cutoff,
        "fresh_batch_leads": len(scored),
        "fresh_batch_mqls": int(scored["is_mql"].sum()),
        "seconds": time.perf_counter() - started,
    }
    grades = scored["grade"].value_counts().reindex(list("ABCD"), fill_value=0)
    echo("")
    echo(f"model bundle      {bundle}")
    echo(f"training summary  {bundle / 'report.html'}")
    echo(f"scored batch      {scored_path}  (input {batch_path}, {fresh.activities})")
    echo(f"history           {data_paths['leads'].parent}")
    echo("")
    echo(
        f"test ROC AUC {figures['roc_auc']:.3f} vs logistic baseline "
        f"{figures['baseline_roc_auc']:.3f}; Brier {figures['brier']:.4f}; "
        f"top-decile lift {figures['lift_top_decile']:.1f}x"
    )
    for line in training_notes(model.summary):
        echo(line)
    echo(
        f"MQL cutoff score >= {mql.cutoff} for {mql.capacity_per_week:g} leads/week; "
        f"test: {mql.test.mqls_per_week:.0f} MQLs/week converting at "
        f"{mql.test.mql_conversion_rate:.1%}"
    )
    for line in threshold_lines(model.summary, model.config.thresholds.interval_level):
        echo(line)
    if model.summary.baselines_equal_volume is not None:
        figures["equal_volume"] = model.summary.baselines_equal_volume
    if model.summary.backtest is not None:
        figures["backtest_roc_auc"] = [r.get("roc_auc") for r in model.summary.backtest.folds]
    echo("")
    echo(
        f"fresh batch: {len(scored):,} leads scored, {figures['fresh_batch_mqls']:,} MQLs, grades "
        + ", ".join(f"{g} {n}" for g, n in grades.items())
        + f"; top score {int(scored[SCORE].max()) if len(scored) else 0}"
    )
    echo(f"re-score it: {fresh.command(bundle, out / 'rescored_leads.csv')}")
    echo(f"done in {figures['seconds']:.0f}s")
    return {"bundle": bundle, "scored": scored_path, "figures": figures}
