"""The team's current MQL rules as a baseline: a YAML points sheet, as in marketing tools.

Marketing automation tools score leads with a points sheet: points per attribute value
(job title, company size, ...) and per activity count band (visited pricing 3+ times),
and a lead with at least ``mql_threshold`` points is an MQL. mqlml reads such a sheet
(documented example: ``configs/rules-example.yaml``), applies it to the test slice at the
same as-of moments the model sees, and compares both at the same number of MQLs.

Sheet format::

    name: current-rules            # a label for the report
    mql_threshold: 40              # points needed to be an MQL
    window_days: null              # count activities this many days before as-of (null: all)
    attributes:                    # lead column -> rules; the first matching rule counts
      job_title:
        - {contains: vp, points: 15}      # case-insensitive substring
        - {equals: Student, points: -20}  # case-insensitive whole value
        - {missing: true, points: -5}     # value absent
    activities:                    # activity type -> bands; the highest band reached counts
      pricing_page_view:
        - {min: 1, points: 10}
        - {min: 3, points: 25}

Rows of :func:`compare_at_equal_volume` (``baselines_equal_volume`` in the training
summary): ``method``, ``mqls``, ``sqls``, ``customers`` (won, among leads whose won
outcome is known), ``mql_sql_rate``, ``mql_won_rate``, ``extra_sqls_vs_reference`` and
``extra_customers_vs_reference`` (against the first method, the current rules when given).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mqlml.columns import ACTIVITY_TYPE, LEAD_ID, OCCURRED_AT
from mqlml.errors import ConfigError
from mqlml.features.activity import ActivitySummary, files_type_counts


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeRule(_Strict):
    """Points when a lead attribute matches: ``equals``, ``contains`` or ``missing``."""

    equals: str | None = None
    contains: str | None = None
    missing: bool | None = None
    points: float

    @model_validator(mode="after")
    def _one_condition(self) -> AttributeRule:
        given = [k for k in ("equals", "contains", "missing") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"each attribute rule needs exactly one of equals, contains, missing; got {given}"
            )
        return self


class ActivityBand(_Strict):
    """Points when a lead did an activity at least ``min`` times."""

    min: int = Field(ge=1)
    points: float


class RulesSheet(_Strict):
    """A manual MQL points sheet."""

    name: str = "current-rules"
    mql_threshold: float
    window_days: int | None = Field(default=None, ge=1)
    attributes: dict[str, list[AttributeRule]] = Field(default_factory=dict)
    activities: dict[str, list[ActivityBand]] = Field(default_factory=dict)


def load_rules(path: str | Path) -> RulesSheet:
    """Read and validate a rules sheet.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or breaks the sheet format (naming the key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"rules file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"rules file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"rules file {path} must hold a mapping at the top level, got {type(raw).__name__}"
        )
    try:
        return RulesSheet.model_validate(raw)
    except ValidationError as exc:
        lines = [f"invalid rules sheet in {path}:"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  - {where}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None


@dataclass(frozen=True)
class RuleLine:
    """One line of a points sheet and the leads it gives its points to."""

    #: The line in words, e.g. ``job_title contains 'vp'`` or ``demo_request at least 1``.
    criterion: str
    #: The sheet's column (attributes) or activity type (activities).
    field: str
    points: float
    #: Leads this line scores (an attribute's first matching rule; an activity's highest band).
    hit: np.ndarray


def _attribute_text(column: str, rule: AttributeRule) -> str:
    if rule.missing is not None:
        return f"{column} {'is' if rule.missing else 'is not'} empty"
    if rule.equals is not None:
        return f"{column} is {rule.equals!r}"
    return f"{column} contains {rule.contains!r}"


def rule_lines(
    sheet: RulesSheet, leads: pd.DataFrame, activities: pd.DataFrame, as_of: pd.Series
) -> list[RuleLine]:
    """Every line of ``sheet`` with the leads it scores, activities strictly before as-of.

    Parameters
    ----------
    sheet : RulesSheet
        The points sheet.
    leads : DataFrame
        Leads with the attribute columns the sheet names.
    activities : DataFrame
        Activities (``lead_id``, ``occurred_at``, ``activity_type``).
    as_of : Series
        Scoring moment per lead, aligned with ``leads``.

    Raises
    ------
    ConfigError
        When the sheet names an attribute that is not a column of the leads.
    """
    missing = [c for c in sheet.attributes if c not in leads.columns]
    if missing:
        raise ConfigError(
            f"rules sheet {sheet.name!r} scores attributes {missing} that are not columns of "
            f"the leads (columns: {list(leads.columns)})"
        )
    lines: list[RuleLine] = []
    for column, rules in sheet.attributes.items():
        lowered = leads[column].astype("string").str.strip().str.lower()
        lowered = lowered.mask(lowered == "")
        done = np.zeros(len(leads), dtype=bool)
        for rule in rules:
            if rule.missing is not None:
                hit = lowered.isna().to_numpy() == rule.missing
            elif rule.equals is not None:
                hit = (lowered == rule.equals.strip().lower()).fillna(False).to_numpy(bool)
            else:
                found = lowered.str.contains(rule.contains.lower(), regex=False)
                hit = found.fillna(False).to_numpy(bool)
            hit &= ~done
            done |= hit
            lines.append(RuleLine(_attribute_text(column, rule), column, rule.points, hit))
    if sheet.activities:
        counts = _activity_counts(leads, activities, as_of, sheet.window_days)
        for kind, bands in sheet.activities.items():
            n = counts.get(kind, np.zeros(len(leads), dtype=int))
            ordered = sorted(bands, key=lambda b: b.min)
            for i, band in enumerate(ordered):
                # The highest band reached counts, so a lead is in this band's line only
                # below the next band's minimum.
                upper = ordered[i + 1].min if i + 1 < len(ordered) else np.inf
                hit = (n >= band.min) & (n < upper)
                text = f"{kind} at least {band.min} time{'s' if band.min > 1 else ''}"
                lines.append(RuleLine(text, kind, band.points, hit))
    return lines


def rule_points(
    sheet: RulesSheet, leads: pd.DataFrame, activities: pd.DataFrame, as_of: pd.Series
) -> np.ndarray:
    """Points of each lead under ``sheet``: the sum of the lines that score it.

    Parameters and errors as :func:`rule_lines`.
    """
    points = np.zeros(len(leads))
    for line in rule_lines(sheet, leads, activities, as_of):
        points[line.hit] += line.points
    return points


def _activity_counts(
    leads: pd.DataFrame, activities, as_of: pd.Series, window_days: int | None
) -> dict[str, np.ndarray]:
    if isinstance(activities, ActivitySummary):
        # Activities read out of core: counted in SQL, never loaded.
        return files_type_counts(activities.files, leads[LEAD_ID], as_of, window_days)
    moment = pd.Series(as_of.to_numpy(), index=leads[LEAD_ID].to_numpy())
    acts = activities[activities[LEAD_ID].isin(moment.index)]
    known = acts[LEAD_ID].map(moment)
    keep = acts[OCCURRED_AT] < known
    if window_days is not None:
        keep &= acts[OCCURRED_AT] >= known - pd.Timedelta(days=window_days)
    acts = acts[keep.to_numpy(bool)]
    table = acts.groupby([LEAD_ID, ACTIVITY_TYPE], observed=True).size().unstack(fill_value=0)
    table = table.reindex(leads[LEAD_ID].to_numpy(), fill_value=0)
    return {str(c): table[c].to_numpy() for c in table.columns}


def compare_at_equal_volume(
    rankings: dict[str, np.ndarray],
    n_mql: int,
    sql,
    won,
    fixed: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """How many SQLs and customers each method finds when all pick ``n_mql`` MQLs.

    Parameters
    ----------
    rankings : dict of name -> array of float
        Methods that rank leads (higher first); each takes its top ``n_mql``.
    n_mql : int
        MQLs per method.
    sql, won : array-like of {0, 1, NaN}
        Outcomes of the same leads (NaN: not known yet).
    fixed : dict of name -> array of bool, optional
        Methods whose MQL set is given (the current rules); listed first.

    Returns
    -------
    list of dict
        One row per method; fields in the module docstring.
    """
    sql = np.asarray(sql, dtype=float)
    won = np.asarray(won, dtype=float)
    sets: dict[str, np.ndarray] = {}
    for name, mask in (fixed or {}).items():
        sets[name] = np.asarray(mask, dtype=bool)
    for name, rank in rankings.items():
        mask = np.zeros(len(sql), dtype=bool)
        # stable order: ties keep input (time) order, the same for every method
        mask[np.argsort(-np.asarray(rank, dtype=float), kind="stable")[:n_mql]] = True
        sets[name] = mask
    rows = []
    for name, mask in sets.items():
        known_sql = mask & ~np.isnan(sql)
        known_won = mask & ~np.isnan(won)
        rows.append(
            {
                "method": name,
                "mqls": int(mask.sum()),
                "sqls": int(np.nansum(sql[mask])),
                "customers": int(np.nansum(won[mask])),
                "mql_sql_rate": float(sql[known_sql].mean()) if known_sql.any() else np.nan,
                "mql_won_rate": float(won[known_won].mean()) if known_won.any() else np.nan,
            }
        )
    ref = rows[0] if rows else None
    for row in rows:
        row["extra_sqls_vs_reference"] = row["sqls"] - ref["sqls"]
        row["extra_customers_vs_reference"] = row["customers"] - ref["customers"]
    return rows
