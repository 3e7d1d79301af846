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
from mqlml.model.summary import TrainingSummary
from mqlml.scoring.batch import score_files
from mqlml.synthetic.generate import generate_history, write_history

#: New leads of the fresh batch: those created in the last days of a second history.
FRESH_BATCH_DAYS = 30
#: The documented example points sheet shipped in the repository (the "current rules"),
#: relative to where the demo runs (the repository root for ``make demo``).
RULES_EXAMPLE = Path("configs") / "rules-example.yaml"
#: Rolling-origin backtest folds the demo runs.
DEMO_BACKTEST_FOLDS = 3


def _pct(row: dict, key: str) -> str:
    v, lo, hi = row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if v is None or v != v:
        return "–"
    return f"{v:.0%} [{lo:.0%}–{hi:.0%}]"


def _policy_lines(summary: TrainingSummary) -> list[str]:
    """The threshold policy table: what each policy's cutoff bought on the test slice."""
    lines = [
        f"{'policy':<15}{'target':>9}{'cutoff':>7}  {'MQLs/week':<17}{'MQL->SQL':<17}"
        f"{'MQL->won':<17}{'SQLs captured':<17}"
    ]
    for r in summary.threshold_policies or []:
        if "error" in r:
            lines.append(f"{r['policy']:<15} not learned: {r['error']}")
            continue
        target = r["target"]
        shown = f"{target:.0%}" if r["policy"] in ("precision", "recall") else f"{target:g}"
        mark = "*" if r["in_use"] else " "
        volume = (
            f"{r['mqls_per_week']:.0f} [{r['mqls_per_week_lo']:.0f}–{r['mqls_per_week_hi']:.0f}]"
        )
        lines.append(
            f"{r['policy'] + mark:<15}{shown:>9}{r['cutoff']:>7}  {volume:<17}"
            f"{_pct(r, 'mql_sql_rate'):<17}{_pct(r, 'mql_won_rate'):<17}"
            f"{_pct(r, 'share_sql_captured'):<17}"
        )
    return lines


def threshold_lines(s: TrainingSummary, level: float = 0.95) -> list[str]:
    """What the demo prints about thresholds: policies, equal-volume baselines, backtest."""
    out = ["", "MQL threshold policies, learned on the calibration slice, measured on the test "
           "slice", f"({level:.0%} bootstrap intervals; * = the policy in use):"]
    out += [("  " + line).rstrip() for line in _policy_lines(s)]
    eq = s.baselines_equal_volume or []
    if eq:
        ref = eq[0]
        title = "model vs current rules" if s.rules is not None else "model vs logistic regression"
        out += ["", f"{title} at equal MQL volume ({ref['mqls']:,} test-slice MQLs each):"]
        for r in eq:
            out.append(
                f"  {r['method']:<18} {r['sqls']:>5,} SQLs ({r['mql_sql_rate']:.1%})  "
                f"{r['customers']:>4,} customers   "
                f"{r['extra_sqls_vs_reference']:+,} SQLs, "
                f"{r['extra_customers_vs_reference']:+,} customers vs {ref['method']}"
            )
    bt = s.backtest
    if bt is not None:
        out += ["", f"rolling-origin backtest ({len(bt.folds)} folds; each trains only on "
                "labels known before its test period):"]
        for r in bt.folds:
            if "skipped" in r:
                out.append(f"  fold {r['fold']}: skipped ({r['skipped']})")
                continue
            out.append(
                f"  fold {r['fold']}  test {r['test_start'][:10]}..{r['test_end'][:10]}  "
                f"ROC AUC {r['roc_auc']:.3f}  MQL cutoff {r.get('mql_cutoff', '–')}  "
                f"{r.get('mqls_per_week', float('nan')):.0f} MQLs/week converting at "
                f"{r.get('mql_rate', float('nan')):.1%}"
            )
        moves = ", ".join(
            f"{m['policy']} {m['min_cutoff']}–{m['max_cutoff']}" for m in bt.movement or []
        )
        out.append(f"  learned cutoffs across folds: {moves}")
    return out


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
        leads=write_table(batch, out / "fresh_batch_leads.csv"),
        activities=write_table(acts.reset_index(drop=True), out / "fresh_batch_activities.csv"),
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
