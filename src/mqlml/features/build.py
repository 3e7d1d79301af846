"""Point-in-time features.

Every lead is featurised at an as-of time. Activity features use only events that
happened strictly before as-of; fit features come from the lead row. Raw email
addresses are never features: only the derived email domain type is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd

from mqlml.config import DEFAULT_PERSONAL_COLUMNS
from mqlml.features.activity import OTHER_ACTIVITY, ActivitySummary, activity_features

_T = TypeVar("_T")

# --- derived fit attributes -----------------------------------------------

#: Consumer mailbox providers; an address at one of these is a "free" email.
FREE_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "mail.com",
        "protonmail.com",
        "proton.me",
        "yandex.ru",
        "yandex.com",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "zoho.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "t-online.de",
        "rediffmail.com",
        "uol.com.br",
        "bol.com.br",
        "fastmail.com",
        "hey.com",
    }
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")

EMAIL_BUSINESS = "business"
EMAIL_FREE = "free"
EMAIL_INVALID = "invalid"
EMAIL_MISSING = "missing"


def _per_distinct(
    values: pd.Series, func: Callable[[str | None], _T]
) -> tuple[list[_T], np.ndarray]:
    """``func`` of each distinct value as text (``None``: missing), and each value's position.

    ``results[positions]`` is ``func`` of every value in order; missing values point to
    the last result, ``func(None)``. ``func`` runs once per distinct value, so a column of a
    million leads costs a hash of each value plus a few thousand calls, and one lead costs
    one call: the same code serves a REST request and a batch.
    """
    codes, uniques = pd.factorize(values)
    results = [func(v if isinstance(v, str) else str(v)) for v in uniques]
    results.append(func(None))
    return results, np.where(codes < 0, len(results) - 1, codes)


def _text_column(values: list[str], positions: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object).take(positions), index=index, dtype="str")


def _email_type(value: str | None) -> str:
    """The domain type of one address (Python's ``str`` and ``re`` semantics)."""
    if value is None:
        return EMAIL_MISSING
    s = value.strip().lower()
    if _EMAIL_RE.match(s) is None:
        return EMAIL_INVALID
    return EMAIL_FREE if s.rsplit("@", 1)[-1] in FREE_EMAIL_DOMAINS else EMAIL_BUSINESS


def email_domain_type(emails: pd.Series) -> pd.Series:
    """Classify email addresses as ``business``, ``free``, ``invalid`` or ``missing``.

    Only this derived category is ever used as a feature; the address itself is not.
    Surrounding whitespace (as Python's ``str.strip`` defines it) and case are ignored.
    """
    types, positions = _per_distinct(emails, _email_type)
    return _text_column(types, positions, emails.index)


# Ordered: the first pattern that matches wins, so "Vice President" beats "President"
# and "Assistant to the Director" stays junior.
_SENIORITY_RULES: tuple[tuple[str, str], ...] = tuple(
    (label, r"\b(?:" + "|".join(words) + r")\b")
    for label, words in (
        (
            "student",
            (
                "student",
                "intern",
                "trainee",
                "apprentice",
                "graduate student",
            ),
        ),
        (
            "c_level",
            (
                "ceo",
                "cto",
                "cfo",
                "coo",
                "cmo",
                "cio",
                "ciso",
                "cro",
                "cpo",
                "chief",
                "founder",
                "co-founder",
                "cofounder",
                "owner",
                "president",
            ),
        ),
        (
            "vp",
            (
                "vp",
                "svp",
                "evp",
                "avp",
                "vice president",
                "head of",
            ),
        ),
        (
            "director",
            ("director",),
        ),
        (
            "manager",
            (
                "manager",
                "lead",
                "supervisor",
                "team lead",
            ),
        ),
        (
            "individual_contributor",
            (
                "engineer",
                "developer",
                "analyst",
                "specialist",
                "associate",
                "consultant",
                "coordinator",
                "executive",
                "representative",
                "rep",
                "administrator",
                "admin",
                "designer",
                "scientist",
                "accountant",
                "architect",
                "officer",
                "assistant",
                "agent",
                "strategist",
                "planner",
                "writer",
                "teacher",
                "professor",
                "researcher",
                "nurse",
                "technician",
                "clerk",
            ),
        ),
    )
)
_VICE_PRESIDENT = re.compile(r"\bvice[- ]president\b")

_DEPARTMENT_RULES: tuple[tuple[str, str], ...] = tuple(
    (label, r"\b(?:" + "|".join(words) + r")\b")
    for label, words in (
        (
            "marketing",
            (
                "marketing",
                "cmo",
                "demand gen",
                "demand generation",
                "growth",
                "brand",
                "content",
                "seo",
                "communications",
                "pr",
            ),
        ),
        (
            "sales",
            (
                "sales",
                "cro",
                "account executive",
                "business development",
                "bdr",
                "sdr",
                "account manager",
                "revenue",
            ),
        ),
        (
            "it_engineering",
            (
                "it",
                "cto",
                "cio",
                "ciso",
                "engineer",
                "engineering",
                "developer",
                "software",
                "devops",
                "data",
                "technology",
                "security",
                "architect",
                "infrastructure",
                "technical",
            ),
        ),
        (
            "finance",
            (
                "finance",
                "financial",
                "cfo",
                "accountant",
                "accounting",
                "controller",
                "treasury",
                "procurement",
            ),
        ),
        (
            "operations",
            (
                "operations",
                "coo",
                "ops",
                "supply chain",
                "logistics",
                "project",
                "program",
            ),
        ),
        (
            "hr",
            (
                "hr",
                "human resources",
                "people",
                "talent",
                "recruiter",
                "recruiting",
            ),
        ),
        (
            "executive",
            (
                "ceo",
                "founder",
                "co-founder",
                "cofounder",
                "owner",
                "president",
                "general manager",
                "managing director",
            ),
        ),
    )
)

SENIORITY_UNKNOWN = "unknown"
DEPARTMENT_OTHER = "other"


_TITLE_PUNCT = re.compile(r"[/,&|()]")
_WHITESPACE = re.compile(r"\s+")
_SENIORITY_RES = tuple((label, re.compile(p)) for label, p in _SENIORITY_RULES)
_DEPARTMENT_RES = tuple((label, re.compile(p)) for label, p in _DEPARTMENT_RULES)


def _title_parts(title: str | None) -> tuple[str, str]:
    """(seniority, department) of one title (Python's ``str`` and ``re`` semantics)."""
    if title is None:
        return SENIORITY_UNKNOWN, DEPARTMENT_OTHER
    t = _WHITESPACE.sub(" ", _TITLE_PUNCT.sub(" ", title.lower())).strip()
    seniority = next((lab for lab, rx in _SENIORITY_RES if rx.search(t)), SENIORITY_UNKNOWN)
    # "vice president" contains "president"; the c-level rule must not claim it.
    if _VICE_PRESIDENT.search(t):
        seniority = "vp"
    department = next((lab for lab, rx in _DEPARTMENT_RES if rx.search(t)), DEPARTMENT_OTHER)
    return seniority, department


def parse_job_title(titles: pd.Series) -> pd.DataFrame:
    """Derive ``seniority`` and ``department`` from free-text job titles.

    Keyword rules, case-insensitive; titles that match nothing get ``unknown`` / ``other``.

    Returns
    -------
    DataFrame
        Columns ``seniority`` (student, c_level, vp, director, manager,
        individual_contributor, unknown) and ``department``, indexed like ``titles``.
    """
    parts, positions = _per_distinct(titles, _title_parts)
    return pd.DataFrame(
        {
            "seniority": _text_column([p[0] for p in parts], positions, titles.index),
            "department": _text_column([p[1] for p in parts], positions, titles.index),
        },
        index=titles.index,
    )


# --- feature spec ------------------------------------------------------------

FIT = "fit"
BEHAVIOUR = "behaviour"

#: Lead columns that are never features: identifiers, raw personal data, and times.
_NEVER_FEATURES = {"lead_id", "created_at", "email", "job_title", "as_of"}
#: A text attribute with more distinct values than this share of leads is an identifier or
#: free text (names, companies), not a category.
_MAX_CATEGORY_SHARE = 0.5
#: Default of ``features.max_categories``: the most levels a categorical column keeps as its
#: own; the rarer ones share :data:`OTHER_LEVEL`.
MAX_CATEGORIES = 200
#: Default of ``features.min_category_count``: a value seen on fewer training leads shares
#: :data:`OTHER_LEVEL` (what a handful of leads say about a value does not hold up later).
MIN_CATEGORY_COUNT = 10
#: The level of the values grouped together: seen on too few training leads, beyond
#: ``features.max_categories``, or first seen when scoring.
OTHER_LEVEL = "(other)"
_MIN_CATEGORIES_FOR_ID = 20
#: A text column with at most this many values keeps each of them as its own level.
_FEW_CATEGORIES = 20
#: How the reason of a text column left out for its number of values begins (the training
#: output lists these columns).
IDENTIFIER_LIKE = "identifier-like"
ALL_VALUES_RARE = "all values rare"

_FIELD_LABELS = {
    "email_domain_type": "Email domain type",
    "seniority": "Job seniority",
    "department": "Job department",
    "company_size": "Company size",
    "industry": "Industry",
    "country": "Country",
    "lead_source": "Lead source",
    "engagement": "Overall engagement",
    "recency": "Recency of activity",
    "pricing_page_view": "Pricing page visits",
    "page_view": "Website page views",
    "content_download": "Content downloads",
    "webinar_signup": "Webinar sign-ups",
    "webinar_attended": "Webinars attended",
    "email_open": "Marketing email opens",
    "email_click": "Marketing email clicks",
    "form_fill": "Form fills",
    "demo_request": "Demo requests",
    "free_trial_request": "Free trial requests",
    "other": "Other activities",
}


#: Lead columns that are read through fields derived from them (the rest are their own field).
DERIVED_FIELDS = {
    "email": ("email_domain_type",),
    "job_title": ("seniority", "department"),
}


def field_label(field: str) -> str:
    """The human name of a business field, e.g. ``pricing_page_view`` -> ``Pricing page visits``."""
    return _FIELD_LABELS.get(field, field.replace("_", " ").capitalize())


@dataclass(frozen=True)
class FeatureSpec:
    """What the model sees, learned from the training leads and frozen with the model.

    Attributes
    ----------
    activity_types : tuple of str
        Activity types with their own features; rarer ones are pooled as ``other``.
    windows_days : tuple of int
        Look-back windows for activity counts.
    categorical : dict
        Categorical feature -> its levels; :data:`OTHER_LEVEL` last in a column with
        grouped values. Values first seen when scoring take :data:`OTHER_LEVEL` in such a
        column and are missing in the others.
    numeric_attributes : tuple of str
        Numeric lead attributes used as they are.
    columns : tuple of str
        The feature columns, in model order.
    fields : dict
        Feature column -> business field (what a person knows, e.g. ``pricing_page_view``).
    groups : dict
        Business field -> ``fit`` (who they are) or ``behaviour`` (what they did).
    excluded : dict
        Lead column -> why it is not a feature.
    grouped : dict
        Categorical feature -> the training values it groups as :data:`OTHER_LEVEL`
        (seen on fewer than ``features.min_category_count`` training leads, or beyond the
        ``features.max_categories`` most frequent); only columns that group any.
    """

    activity_types: tuple[str, ...]
    windows_days: tuple[int, ...]
    categorical: dict[str, tuple[str, ...]]
    numeric_attributes: tuple[str, ...]
    columns: tuple[str, ...]
    fields: dict[str, str]
    groups: dict[str, str]
    excluded: dict[str, str] = field(default_factory=dict)
    grouped: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        d = asdict(self)
        d["categorical"] = {k: list(v) for k, v in self.categorical.items()}
        d["grouped"] = {k: list(v) for k, v in self.grouped.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            activity_types=tuple(d["activity_types"]),
            windows_days=tuple(d["windows_days"]),
            categorical={k: tuple(v) for k, v in d["categorical"].items()},
            numeric_attributes=tuple(d["numeric_attributes"]),
            columns=tuple(d["columns"]),
            fields=dict(d["fields"]),
            groups=dict(d["groups"]),
            excluded=dict(d.get("excluded", {})),
            # Bundles from before grouping have none: their unseen values stay missing.
            grouped={k: tuple(v) for k, v in d.get("grouped", {}).items()},
        )

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """Feature columns that are categorical, in model order."""
        return tuple(c for c in self.columns if c in self.categorical)


def derived_columns(leads: pd.DataFrame) -> dict[str, pd.Series]:
    """The fit attributes derived from raw personal text, as Series indexed like ``leads``.

    ``email_domain_type`` from ``email``, ``seniority`` and ``department`` from
    ``job_title``; a lead table without those columns derives nothing from them.
    """
    out = {}
    if "email" in leads:
        out["email_domain_type"] = email_domain_type(leads["email"])
    if "job_title" in leads:
        out.update(parse_job_title(leads["job_title"]).items())
    return out


def _column_key(name: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def personal_columns(columns, personal) -> list:
    """The columns among ``columns`` that hold personal data (``data.personal_columns``).

    Names match whatever their case and separators: ``First Name`` is ``first_name``.
    """
    keys = {_column_key(p) for p in personal}
    return [c for c in columns if _column_key(c) in keys]


def without_personal(leads: pd.DataFrame, personal, *, derive: bool = False) -> pd.DataFrame:
    """``leads`` without its personal columns; with ``derive``, plus the derived attributes.

    What audits look at: the email domain type, never the address
    (:func:`derived_columns` gives ``email_domain_type``, ``seniority``, ``department``).
    """
    out = leads.drop(columns=personal_columns(leads.columns, personal))
    if derive:
        for name, values in derived_columns(leads).items():
            out[name] = values.to_numpy()
    return out


def _with_derived(frame: pd.DataFrame, leads: pd.DataFrame) -> dict[str, pd.Series]:
    """The columns of ``frame`` (rows of ``leads``) plus the derived fit attributes.

    Derived attributes replace same-named columns and come last. Rows are matched by
    position, not by index label, so a repeated index cannot duplicate rows.
    """
    derived = derived_columns(leads)
    columns = {c: frame[c] for c in frame.columns if c not in derived}
    columns.update(derived)
    return columns


def _activity_columns(types: tuple[str, ...], windows: tuple[int, ...]) -> list[tuple[str, str]]:
    """(column, field) pairs of the activity features, in a fixed order."""
    cols: list[tuple[str, str]] = []
    for t in (*types, OTHER_ACTIVITY):
        cols += [(f"n_{t}_{w}d", t) for w in windows]
        cols.append((f"days_since_last_{t}", t))
    cols += [(f"n_all_{w}d", "engagement") for w in windows]
    cols += [
        (f"active_days_{windows[-1]}d", "engagement"),
        ("trend_7d", "engagement"),
        ("days_since_last_activity", "recency"),
        ("days_since_first_activity", "recency"),
    ]
    return cols


def fit_feature_spec(
    leads: pd.DataFrame,
    activities: pd.DataFrame,
    windows_days: tuple[int, ...] = (7, 30, 90),
    min_leads_per_activity_type: int = 20,
    max_categories: int = MAX_CATEGORIES,
    personal: tuple[str, ...] = DEFAULT_PERSONAL_COLUMNS,
    min_category_count: int = MIN_CATEGORY_COUNT,
) -> FeatureSpec:
    """Learn the feature spec from training leads and their activities.

    Parameters
    ----------
    leads, activities : DataFrame
        Validated tables (see :mod:`mqlml.data.contract`); only training leads should be passed.
    windows_days : tuple of int
        Look-back windows for activity counts.
    min_leads_per_activity_type : int
        Activity types done by fewer leads get no features of their own (pooled as ``other``).
    max_categories : int
        The most levels a text column keeps as its own, its most frequent values
        (``features.max_categories``).
    personal : tuple of str
        Personal columns (``data.personal_columns``): never features, whatever their values.
    min_category_count : int
        In a column of more than 20 values, the values seen on fewer training leads
        (``features.min_category_count``), and in any column those beyond the
        ``max_categories`` most frequent, share one level, :data:`OTHER_LEVEL` (listed in
        ``grouped``); so do values first seen when scoring. A column with hundreds of values
        (landing pages, campaigns) is kept this way. One whose values are nearly unique per
        lead (an identifier or free text) is left out: ``excluded`` says so, beginning with
        :data:`IDENTIFIER_LIKE`; so is a column of more than 20 values none of which
        reaches ``min_category_count`` (:data:`ALL_VALUES_RARE`).
    """
    from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

    excluded: dict[str, str] = {}
    categorical: dict[str, tuple[str, ...]] = {}
    grouped: dict[str, tuple[str, ...]] = {}
    numeric: list[str] = []
    groups: dict[str, str] = {}
    fields: dict[str, str] = {}

    private = set(personal_columns(leads.columns, personal))
    for c in leads.columns:
        if c in ("email", "job_title"):
            excluded[c] = "raw personal text; derived features are used instead"
        elif c in private:
            excluded[c] = "personal data (data.personal_columns): never a feature"
    kept = leads.drop(columns=[c for c in leads.columns if c in _NEVER_FEATURES or c in private])
    attrs = _with_derived(kept, leads)
    n = max(len(leads), 1)
    for c, s in attrs.items():
        if is_datetime64_any_dtype(s):
            excluded[c] = "a date: dates are not used as features"
        elif s.isna().all():
            excluded[c] = "always empty in the training leads"
        elif s.nunique(dropna=True) < 2:
            excluded[c] = "a single value in the training leads"
        elif is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            numeric.append(c)
        else:
            levels = s.dropna().astype(str).value_counts()
            k = len(levels)
            if k > _MIN_CATEGORIES_FOR_ID and k > _MAX_CATEGORY_SHARE * n:
                filled = int(s.notna().sum())
                how = "unique per row" if k == filled else f"in {filled:,} filled rows"
                excluded[c] = (
                    f"{IDENTIFIER_LIKE}: {k:,} distinct values ({how}) among {n:,} training "
                    "leads: an identifier or free text, not a category"
                )
                continue
            # Most frequent first, ties by value: the same levels whatever the row order.
            ranked = sorted(levels.items(), key=lambda kv: (-kv[1], kv[0]))
            # A column of a few values keeps each (LightGBM and the linear base smooth
            # their rare levels); grouping is for the long tail of many-valued columns.
            least = min_category_count if k > _FEW_CATEGORIES else 1
            # A value spelled like the grouped level joins it: one level, one meaning.
            own = [v for v, m in ranked[:max_categories] if m >= least and v != OTHER_LEVEL]
            rest = sorted(set(levels.index) - set(own))
            if not own:
                excluded[c] = (
                    f"{ALL_VALUES_RARE}: each of its {k:,} values is on fewer than "
                    f"features.min_category_count ({min_category_count:,}) training leads"
                )
                continue
            categorical[c] = (*sorted(own), OTHER_LEVEL) if rest else tuple(sorted(own))
            if rest:
                grouped[c] = tuple(rest)
        if c in categorical or c in numeric:
            fields[c] = c
            groups[c] = FIT

    counts = activities.groupby("activity_type")["lead_id"].nunique() if len(activities) else None
    types: tuple[str, ...] = ()
    if counts is not None:
        types = tuple(sorted(t for t, k in counts.items() if k >= min_leads_per_activity_type))
        types = tuple(t for t in types if t != OTHER_ACTIVITY)
    windows = tuple(sorted(set(windows_days)))
    act_cols = _activity_columns(types, windows)
    for col, fld in act_cols:
        fields[col] = fld
        groups[fld] = BEHAVIOUR
    columns = tuple([c for c in attrs if c in fields] + [c for c, _ in act_cols])
    return FeatureSpec(
        activity_types=types,
        windows_days=windows,
        categorical=categorical,
        numeric_attributes=tuple(numeric),
        columns=columns,
        fields=fields,
        groups=groups,
        excluded=excluded,
        grouped=grouped,
    )


def _as_of_array(leads: pd.DataFrame, as_of) -> np.ndarray:
    """As-of times as int64 nanoseconds since the epoch (UTC), one per lead."""
    if isinstance(as_of, pd.Series):
        ts = pd.to_datetime(as_of, utc=True).reindex(leads.index)
    else:
        ts = pd.Series(pd.Timestamp(as_of), index=leads.index)
        ts = pd.to_datetime(ts, utc=True)
    if ts.isna().any():
        raise ValueError("as_of must be given for every lead; some are missing")
    return ts.dt.as_unit("ns").astype("int64").to_numpy()


@functools.lru_cache(maxsize=256)
def _category_dtype(levels: tuple[str, ...]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(categories=list(levels))


@functools.lru_cache(maxsize=256)
def _level_positions(levels: tuple[str, ...]) -> dict[str, int]:
    return {v: i for i, v in enumerate(levels)}


def _level_codes(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Position of each value, as text, in ``levels``; missing values are -1, and so are
    values not among ``levels`` unless ``levels`` ends with :data:`OTHER_LEVEL`, whose
    position they then take (a value grouped in training, or first seen now)."""
    pos = _level_positions(levels)
    other = len(levels) - 1 if levels and levels[-1] == OTHER_LEVEL else -1
    codes, positions = _per_distinct(values, lambda v: -1 if v is None else pos.get(v, other))
    return np.asarray(codes, dtype=np.int64).take(positions)


def build_features(
    leads: pd.DataFrame, activities: pd.DataFrame | ActivitySummary, as_of, spec: FeatureSpec
) -> pd.DataFrame:
    """Featurise ``leads`` at ``as_of`` using only activities strictly before it.

    Parameters
    ----------
    leads : DataFrame
        Validated leads (``lead_id`` unique).
    activities : DataFrame or ActivitySummary
        Validated activities; those of other leads and those at or after as-of are ignored.
        Or a prebuilt activity summary (e.g. from Spark) of these leads at ``as_of``.
    as_of : Timestamp, str or Series
        One time for all leads, or a Series aligned with ``leads.index``.
    spec : FeatureSpec
        From :func:`fit_feature_spec` on the training leads.

    Returns
    -------
    DataFrame
        Index of ``leads``, columns ``spec.columns``; categoricals use the spec's levels,
        values outside them take :data:`OTHER_LEVEL` where the column has it, else are
        missing.
    """
    n = len(leads)
    as_of_ns = _as_of_array(leads, as_of)
    out: dict[str, np.ndarray | pd.Series] = {}

    attrs = _with_derived(leads, leads)
    for c in spec.columns:
        if c in spec.categorical:
            # Values outside the levels take OTHER_LEVEL, or are missing in a column without
            # one (values never seen are counted by unseen_category_counts).
            codes = _level_codes(attrs[c], spec.categorical[c]) if c in attrs else np.full(n, -1)
            out[c] = pd.Categorical.from_codes(codes, dtype=_category_dtype(spec.categorical[c]))
        elif c in spec.numeric_attributes:
            out[c] = (
                pd.to_numeric(attrs[c], errors="coerce").to_numpy(dtype=float)
                if c in attrs
                else np.full(n, np.nan)
            )

    out.update(_activity_features(leads, activities, as_of_ns, spec))
    return pd.DataFrame({c: out[c] for c in spec.columns}, index=leads.index)


def _activity_features(
    leads: pd.DataFrame,
    activities: pd.DataFrame | ActivitySummary,
    as_of_ns: np.ndarray,
    spec: FeatureSpec,
) -> dict[str, np.ndarray]:
    """The spec's activity features: :mod:`mqlml.features.activity` (their one definition)."""
    if isinstance(activities, ActivitySummary):
        as_of = pd.Series(pd.to_datetime(as_of_ns, unit="ns", utc=True))
        return activities.features(
            leads["lead_id"].reset_index(drop=True), as_of, spec.activity_types,
            spec.windows_days,
        )
    return activity_features(
        leads, activities, as_of_ns // 1000, spec.activity_types, spec.windows_days
    )


#: :func:`to_matrix` copies the numeric columns this many rows at a time (bounded memory).
_MATRIX_BLOCK_ROWS = 65_536


def to_matrix(features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The float matrix LightGBM sees: categoricals as their level codes, missing as NaN."""
    X = np.empty((len(features), len(spec.columns)))
    at = {c: j for j, c in enumerate(spec.columns)}
    plain = [c for c in spec.columns if c not in spec.categorical]
    if plain:
        # The numeric columns as one block: column by column costs a single lead dearly.
        cols = [at[c] for c in plain]
        for start in range(0, len(features), _MATRIX_BLOCK_ROWS):
            block = features.iloc[start : start + _MATRIX_BLOCK_ROWS][plain]
            X[start : start + len(block), cols] = block.to_numpy(dtype=float, na_value=np.nan)
    for c in spec.categorical_columns:
        codes = features[c].cat.codes.to_numpy()
        X[:, at[c]] = np.where(codes < 0, np.nan, codes)
    return X


def unseen_category_counts(leads: pd.DataFrame, spec: FeatureSpec) -> dict[str, int]:
    """Per categorical feature, how many leads carry a value the model never saw (neither
    one of its levels nor one it grouped as :data:`OTHER_LEVEL`)."""
    attrs = _with_derived(leads, leads)
    counts = {}
    for c in spec.categorical:
        if c not in attrs:
            continue
        unseen = unseen_mask(attrs[c], spec, c)
        k = int(unseen.sum())
        if k:
            counts[c] = k
    return counts


def unseen_mask(values: pd.Series, spec: FeatureSpec, column: str) -> np.ndarray:
    """Whether each of ``values`` (of categorical feature ``column``) was never seen in
    training: filled, and neither one of the column's levels nor a value it grouped."""
    own = tuple(v for v in spec.categorical[column] if v != OTHER_LEVEL)
    known = (*own, *spec.grouped.get(column, ()))
    return (_level_codes(values, tuple(known)) < 0) & values.notna().to_numpy()
