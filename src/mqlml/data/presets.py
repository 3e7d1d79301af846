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
export of each, made by :func:`mqlml.synthetic.examples.example_export`.

Counts such as page views in a real export are totals at the export moment, which
include visits after the outcome: the leakage audit checks them, and a model is only as
honest as the moment those counts were taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import yaml

from mqlml.columns import CREATED_AT, LEAD_ID, SQL_AT, WON_AT
from mqlml.data import files as io
from mqlml.errors import ConfigError

PRESETS = ("salesforce", "hubspot")


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
