"""Small exports in the column names of the Salesforce and HubSpot presets, generated.

``examples/salesforce_leads.csv`` and ``examples/hubspot_contacts.csv`` are made by
:func:`write_examples` from :func:`mqlml.synthetic.generate.generate_history`; the presets
themselves live in :mod:`mqlml.data.presets`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mqlml.columns import CREATED_AT, LEAD_ID, SQL_AT, WON_AT
from mqlml.data import files as io
from mqlml.data.presets import load_preset
from mqlml.synthetic.generate import generate_history

#: Activity types the examples count as page views.
_PAGE_VIEW_TYPES = ("page_view", "pricing_page_view")
#: Days after creation whose activity the examples' counts cover.
EXAMPLE_COUNT_DAYS = 14


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


def example_export(name: str, *, n_leads: int = 2000, seed: int = 11) -> pd.DataFrame:
    """A small export in the preset's column names, from a generated CRM history.

    Page views and sessions count activity in the first :data:`EXAMPLE_COUNT_DAYS` days
    after creation (sessions = active days). The Salesforce example carries a sales-filled
    "Lead Status" that the leakage audit should catch; the HubSpot one a "Lifecycle Stage".

    Parameters
    ----------
    name : str
        The preset (``salesforce`` or ``hubspot``).
    n_leads : int
        Leads in the generated history.
    seed : int
        Random seed: the export is deterministic for a given ``name``, ``n_leads``, ``seed``.

    Returns
    -------
    DataFrame
        Text and number cells as the CRM would export them (dates as text).
    """
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


def write_examples(directory: str | Path) -> dict[str, Path]:
    """Write ``salesforce_leads.csv`` and ``hubspot_contacts.csv`` into ``directory``.

    Parameters
    ----------
    directory : path
        Where to write (``examples/`` in the repository).

    Returns
    -------
    dict of str to Path
        Preset name -> the file written.
    """
    paths = {}
    for name, file in (("salesforce", "salesforce_leads.csv"), ("hubspot", "hubspot_contacts.csv")):
        paths[name] = io.write_table(example_export(name), f"{directory}/{file}", safe_csv=False)
    return paths
