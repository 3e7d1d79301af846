"""Column-mapping presets for the exports teams actually have: Salesforce and HubSpot.

A preset (``flat.preset`` in the config) says which of the export's standard columns is
the lead id, the creation date, the lifecycle-stage dates that are the outcome
(HubSpot's "Became a Sales Qualified Lead Date" and "Became a Customer Date",
Salesforce's "Converted Date"), and the usual attributes (source, industry, employees,
job title, email, page views, sessions). The export then becomes a leads table and an
outcomes table and is labelled like any CRM history, with the horizon and maturity
rules of :mod:`mqlml.labels.labelling`. Columns the preset does not know stay lead attributes, so
the leakage audit judges them (a "Lead Status" or "Rating" filled in by sales after
contact is the classic leak). Columns that restate the outcome (HubSpot's "Lifecycle
Stage", Salesforce's "Converted") never become features.

The presets live in ``mqlml/resources/preset_<name>.yaml``; ``examples/`` holds a small
export of each, made by :func:`example_export` from
:func:`mqlml.synthetic.generate.generate_history`.

Counts such as page views in a real export are totals at the export moment, which
include visits after the outcome: the leakage audit checks them, and a model is only as
honest as the moment those counts were taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from mqlml.columns import CREATED_AT, LEAD_ID, SQL_AT, WON_AT
from mqlml.data import files as io
from mqlml.errors import ConfigError

PRESETS = ("salesforce", "hubspot")
#: Activity types the examples count as page views.
_PAGE_VIEW_TYPES = ("page_view", "pricing_page_view")
#: Days after creation whose activity the examples' counts cover.
EXAMPLE_COUNT_DAYS = 14


@dataclass(frozen=True)
class Preset:
    """One export's column names.

    Attributes
    ----------
    name, description : str
    columns : dict
        Their column -> mqlml's name (``lead_id``, ``created_at``, attributes).
    outcomes : dict
        ``sql_at`` / ``won_at`` -> their column holding that date.
    not_features : tuple of str
        Their columns that restate the outcome.
    """

    name: str
    description: str
    columns: dict[str, str]
    outcomes: dict[str, str]
    not_features: tuple[str, ...]

    @property
    def their(self) -> dict[str, str]:
        """mqlml's name -> their column."""
        return {v: k for k, v in self.columns.items()}


def load_preset(name: str) -> Preset:
    """The preset called ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ConfigError(f"flat.preset must be one of {list(PRESETS)}, got {name!r}")
    raw = yaml.safe_load(io.read_resource(f"preset_{name}.yaml"))
    return Preset(
        name=raw["name"],
        description=raw["description"],
        columns=dict(raw["columns"]),
        outcomes=dict(raw["outcomes"]),
        not_features=tuple(raw.get("not_features", ())),
    )


def preset_tables(
    frame: pd.DataFrame, name: str, source: str = "export", exclude=()
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Split a preset export into a leads and an outcomes table (both still untyped).

    Parameters
    ----------
    frame : DataFrame
        The export as read.
    name : str
        The preset.
    source : str
        The file name, for messages.
    exclude : iterable of str
        Further columns (their names) to leave out.

    Returns
    -------
    leads : DataFrame
        ``lead_id``, ``created_at``, the mapped attributes and every other column.
    outcomes : DataFrame
        ``lead_id``, ``sql_at``, ``won_at`` for the rows that have either date (empty
        when the export has no outcome columns, e.g. a batch to score).
    notes : list of str

    Raises
    ------
    ConfigError
        When the id or creation-date column is missing, or an excluded column is unknown.
    """
    preset = load_preset(name)
    their = preset.their
    missing = [their[c] for c in (LEAD_ID, CREATED_AT) if their[c] not in frame.columns]
    if missing:
        found = ", ".join(repr(str(c)) for c in frame.columns)
        raise ConfigError(
            f"{source}: the {preset.description} has no {', '.join(repr(m) for m in missing)} "
            f"column (flat.preset: {name}); columns found: {found}"
        )
    unknown = [c for c in exclude if c not in frame.columns]
    if unknown:
        raise ConfigError(
            f"{source}: flat.exclude_columns names {unknown}, which the file does not have"
        )
    outcome_cols = [c for c in preset.outcomes.values() if c in frame.columns]
    dropped = [c for c in (*preset.not_features, *exclude) if c in frame.columns]
    leads = frame.drop(columns=outcome_cols + dropped)
    leads = leads.rename(columns={k: v for k, v in preset.columns.items() if k in leads})
    notes = [f"{source}: read as a {preset.description} (flat.preset: {name})"]
    if dropped:
        notes.append(f"not used as features: {', '.join(dropped)}")
    absent = [k for k in preset.columns if k not in frame.columns]
    if absent:
        notes.append(f"preset columns not in the export: {', '.join(absent)}")
    outcomes = pd.DataFrame({LEAD_ID: frame[their[LEAD_ID]]})
    for ours in (SQL_AT, WON_AT):
        col = preset.outcomes.get(ours)
        outcomes[ours] = frame[col] if col is not None and col in frame.columns else pd.NA
    outcomes = outcomes[outcomes[[SQL_AT, WON_AT]].notna().any(axis=1)].reset_index(drop=True)
    return leads, outcomes, notes


# --- example exports ------------------------------------------------------------


def _employees(bands: pd.Series, rng: np.random.Generator) -> pd.Series:
    """A head count inside each size band such as ``51-200`` or ``5000+``."""
    out = []
    for band in bands.fillna(""):
        text = str(band).replace(",", "")
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            out.append(int(rng.integers(lo, hi + 1)))
        elif text.endswith("+"):
            lo = int(text[:-1])
            out.append(int(rng.integers(lo, 3 * lo)))
        else:
            out.append(None)
    return pd.Series(out, index=bands.index, dtype="Int64")


def example_export(name: str, n_leads: int = 2000, seed: int = 11) -> pd.DataFrame:
    """A small export in the preset's column names, from a generated CRM history.

    Page views and sessions count activity in the first :data:`EXAMPLE_COUNT_DAYS` days
    after creation (sessions = active days). The Salesforce example carries a sales-filled
    "Lead Status" that the leakage audit should catch; the HubSpot one a "Lifecycle Stage".
    Deterministic for a given ``name``, ``n_leads`` and ``seed``.
    """
    from mqlml.synthetic.generate import generate_history

    preset = load_preset(name)
    their = preset.their
    h = generate_history(n_leads, seed)
    leads = h.leads.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    acts = h.activities
    created = acts["lead_id"].map(leads.set_index("lead_id")["created_at"])
    early = acts[(acts["occurred_at"] - created) <= pd.Timedelta(days=EXAMPLE_COUNT_DAYS)]
    views = early[early["activity_type"].isin(_PAGE_VIEW_TYPES)].groupby("lead_id").size()
    days = early.assign(day=early["occurred_at"].dt.floor("D")).groupby("lead_id")["day"]
    sessions = days.nunique()
    out = pd.DataFrame(
        {
            their[LEAD_ID]: [f"{preset.name[:2].upper()}{i:06d}" for i in range(len(leads))],
            their[CREATED_AT]: leads["created_at"],
            their["email"]: leads["email"],
            their["job_title"]: leads["job_title"],
            their["industry"]: leads["industry"],
            their["company_size"]: _employees(leads["company_size"], rng),
            their["lead_source"]: leads["lead_source"],
            their["country"]: leads["country"],
            their["page_views"]: leads["lead_id"].map(views).fillna(0).astype(int),
            their["sessions"]: leads["lead_id"].map(sessions).fillna(0).astype(int),
        }
    )
    outcomes = h.outcomes.set_index("lead_id")
    sql = leads["lead_id"].map(outcomes["sql_at"])
    won = leads["lead_id"].map(outcomes["won_at"])
    if name == "salesforce":
        status = np.where(
            sql.notna().to_numpy(),
            np.where(rng.random(len(leads)) < 0.95, "Qualified", "Working"),
            rng.choice(["Open - Not Contacted", "Working", "Unqualified"], len(leads)),
        )
        out["Lead Status"] = status
        out["Converted"] = np.where(sql.notna(), "1", "0")
        out[preset.outcomes[SQL_AT]] = sql
        fmt = "%m/%d/%Y %I:%M %p"
    else:
        stage = np.where(won.notna(), "customer", np.where(sql.notna(), "salesqualifiedlead",
                                                           "lead"))
        out["Lifecycle Stage"] = stage
        out[preset.outcomes[SQL_AT]] = sql
        out[preset.outcomes[WON_AT]] = won
        fmt = "%Y-%m-%d %H:%M"
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.strftime(fmt).where(out[c].notna())
    return out


def write_examples(directory) -> dict[str, object]:
    """Write ``salesforce_leads.csv`` and ``hubspot_contacts.csv`` into ``directory``."""
    paths = {}
    for name, file in (("salesforce", "salesforce_leads.csv"), ("hubspot", "hubspot_contacts.csv")):
        paths[name] = io.write_table(example_export(name), f"{directory}/{file}")
    return paths
