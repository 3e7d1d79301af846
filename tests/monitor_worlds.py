"""A known change for the monitor tests: one model, scored batches from two worlds.

A history is generated twice with the same seed, once plain and once with a market shift
(:class:`mqlml.synthetic.generate.MarketShift`) at ``AT``: a new lead source (30 % of the
later leads, unseen by the model) and a fall of the base rate (-1 log-odds). Before ``AT``
both are identical, so one model trained on the history before ``AT`` serves both. The
leads of the six weeks after ``AT`` are scored weekly, each at its own moment
(``created_at + observation_days``); the full histories have matured them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mqlml import columns as C
from mqlml.config import MonitorConfig, load_config
from mqlml.data.contract import CrmData, validate_crm
from mqlml.data.files import write_table
from mqlml.model.bundle import TrainedModel, save_bundle
from mqlml.scoring.batch import score_files
from mqlml.synthetic.generate import MarketShift, generate_history, write_history
from mqlml.workflow import fit_history

N_LEADS, DAYS, SEED = 12_000, 520, 7
AT = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=DAYS - 160)
SHIFT = MarketShift(
    at=AT, new_source="partner_marketplace", new_source_logit=0.0, new_source_share=0.3,
    base_rate_logit=-1.0,
)
#: Weekly batches hold 170-200 leads at this size: the PSI needs that many per week.
MONITOR = MonitorConfig(min_rows=150)
WEEKS = 6


@dataclass(frozen=True)
class World:
    """One world's scored batches and CRM history as it stands at its end."""

    outputs: list[Path]
    crm: CrmData
    snapshot_at: pd.Timestamp
    data_dir: Path


@dataclass(frozen=True)
class Worlds:
    model: TrainedModel
    bundle: Path
    plain: World
    shifted: World


def _before(history, at: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The history as it stood at ``at``."""
    leads = history.leads[history.leads[C.CREATED_AT] < at]
    acts = history.activities[history.activities[C.OCCURRED_AT] < at]
    out = history.outcomes[history.outcomes[C.SQL_AT] < at].copy()
    for c in (C.WON_AT, C.LOST_AT):
        out.loc[out[c] >= at, c] = pd.NaT
    out.loc[out[C.WON_AT].isna(), C.DEAL_VALUE] = float("nan")
    return leads, acts, out


def _world(model, history, folder: Path, observation: pd.Timedelta, cfg) -> World:
    folder.mkdir(parents=True)
    outputs = []
    for w in range(WEEKS):
        lo, hi = AT + pd.Timedelta(weeks=w), AT + pd.Timedelta(weeks=w + 1)
        created = history.leads[C.CREATED_AT]
        leads = history.leads[(created >= lo) & (created < hi)].copy()
        leads[C.AS_OF] = leads[C.CREATED_AT] + observation
        acts = history.activities[history.activities[C.LEAD_ID].isin(leads[C.LEAD_ID])]
        write_table(leads, folder / f"leads{w}.csv")
        write_table(acts, folder / f"activities{w}.csv")
        run = score_files(model, folder / f"leads{w}.csv", folder / f"scored{w}.csv",
                          folder / f"activities{w}.csv")
        outputs.append(run.output)
    data_dir = folder / "crm"
    write_history(history, data_dir, "parquet")
    (data_dir / "truth.parquet").unlink()  # not part of a CRM
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    return World(outputs, crm, history.snapshot_at, data_dir)


def make_worlds(folder: Path) -> Worlds:
    """Train once on the shared past, score both worlds' batches (about 15 s)."""
    cfg = load_config(None, {
        "tracking": {"enabled": False}, "thresholds": {"capacity_per_week": 60},
        "model": {"max_boost_rounds": 80, "num_threads": 1}, "funnel": {"enabled": False},
    })
    plain = generate_history(N_LEADS, seed=SEED, days=DAYS)
    shifted = generate_history(N_LEADS, seed=SEED, days=DAYS, shift=SHIFT)
    model, _ = fit_history(validate_crm(*_before(plain, AT), cfg.data), cfg)
    observation = pd.Timedelta(days=cfg.features.observation_days)
    return Worlds(
        model=model,
        bundle=save_bundle(model, folder / "models"),
        plain=_world(model, plain, folder / "plain", observation, cfg),
        shifted=_world(model, shifted, folder / "shifted", observation, cfg),
    )
