"""Point-in-time features.

Every lead is featurised at an as-of time. Activity features use only events that
happened strictly before as-of; fit features come from the lead row. Raw email
addresses are never features: only the derived email domain type is.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mqlml.data.contract import ascii_texts

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


# Per-call pandas string methods cost far more than the regexes themselves on the few rows
# of a REST request. For ASCII text Python's str and re give exactly what pandas' string
# methods give (pandas runs Python's re, or RE2 where RE2 agrees on ASCII), so those values
# are classified one by one in Python; other text takes the pandas path.
_FAST_MAX_ROWS = 64


def _email_type(value: str | None) -> str:
    if value is None:
        return EMAIL_MISSING
    s = value.strip().lower()
    if _EMAIL_RE.match(s) is None:
        return EMAIL_INVALID
    return EMAIL_FREE if s.rsplit("@", 1)[-1] in FREE_EMAIL_DOMAINS else EMAIL_BUSINESS


def email_domain_type(emails: pd.Series) -> pd.Series:
    """Classify email addresses as ``business``, ``free``, ``invalid`` or ``missing``.

    Only this derived category is ever used as a feature; the address itself is not.
    """
    plain = ascii_texts(emails)
    if plain is not None:
        return pd.Series([_email_type(v) for v in plain], index=emails.index, dtype="str")
    s = emails.astype("string").str.strip().str.lower()
    valid = s.str.match(_EMAIL_RE).fillna(False).astype(bool)
    domain = s.str.rsplit("@", n=1).str[-1]
    out = np.where(
        s.isna(),
        EMAIL_MISSING,
        np.where(
            ~valid,
            EMAIL_INVALID,
            np.where(domain.isin(FREE_EMAIL_DOMAINS).fillna(False), EMAIL_FREE, EMAIL_BUSINESS),
        ),
    )
    return pd.Series(out, index=emails.index, dtype="str")


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
    """(seniority, department) of one ASCII title: :func:`parse_job_title` for one value."""
    if title is None:
        return SENIORITY_UNKNOWN, DEPARTMENT_OTHER
    t = _WHITESPACE.sub(" ", _TITLE_PUNCT.sub(" ", title.lower())).strip()
    seniority = next((lab for lab, rx in _SENIORITY_RES if rx.search(t)), SENIORITY_UNKNOWN)
    if _VICE_PRESIDENT.search(t):
        seniority = "vp"
    department = next((lab for lab, rx in _DEPARTMENT_RES if rx.search(t)), DEPARTMENT_OTHER)
    return seniority, department


def _first_match(titles: pd.Series, rules: tuple[tuple[str, str], ...], default: str) -> pd.Series:
    out = pd.Series(default, index=titles.index, dtype="object")
    unset = pd.Series(True, index=titles.index)
    for label, pattern in rules:
        hit = titles.str.contains(pattern, regex=True).fillna(False).astype(bool) & unset
        out[hit] = label
        unset &= ~hit
    return out.astype("str")


def parse_job_title(titles: pd.Series) -> pd.DataFrame:
    """Derive ``seniority`` and ``department`` from free-text job titles.

    Keyword rules, case-insensitive; titles that match nothing get ``unknown`` / ``other``.

    Returns
    -------
    DataFrame
        Columns ``seniority`` (student, c_level, vp, director, manager,
        individual_contributor, unknown) and ``department``, indexed like ``titles``.
    """
    plain = ascii_texts(titles)
    if plain is not None:
        parsed = [_title_parts(v) for v in plain]
        return pd.DataFrame(
            {
                "seniority": pd.Series([p[0] for p in parsed], index=titles.index, dtype="str"),
                "department": pd.Series([p[1] for p in parsed], index=titles.index, dtype="str"),
            },
            index=titles.index,
        )
    t = titles.astype("string").str.lower().str.replace(r"[/,&|()]", " ", regex=True)
    t = t.str.replace(r"\s+", " ", regex=True).str.strip()
    seniority = _first_match(t, _SENIORITY_RULES, SENIORITY_UNKNOWN)
    # "vice president" contains "president"; the c-level rule must not claim it.
    is_vp = t.str.contains(_VICE_PRESIDENT).fillna(False).astype(bool)
    seniority[is_vp] = "vp"
    department = _first_match(t, _DEPARTMENT_RULES, DEPARTMENT_OTHER)
    return pd.DataFrame({"seniority": seniority, "department": department}, index=titles.index)


# --- feature spec ------------------------------------------------------------

FIT = "fit"
BEHAVIOUR = "behaviour"
OTHER_ACTIVITY = "other"
DAY = pd.Timedelta(days=1)

#: Lead columns that are never features: identifiers, raw personal data, and times.
_NEVER_FEATURES = {"lead_id", "created_at", "email", "job_title", "as_of"}
#: A text attribute with more distinct values than this share of leads is an identifier or
#: free text (names, companies), not a category.
_MAX_CATEGORY_SHARE = 0.5
_MAX_CATEGORIES = 200
_MIN_CATEGORIES_FOR_ID = 20

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
        Categorical feature -> its known levels (unseen values become missing).
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
    """

    activity_types: tuple[str, ...]
    windows_days: tuple[int, ...]
    categorical: dict[str, tuple[str, ...]]
    numeric_attributes: tuple[str, ...]
    columns: tuple[str, ...]
    fields: dict[str, str]
    groups: dict[str, str]
    excluded: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-safe dict."""
        d = asdict(self)
        d["categorical"] = {k: list(v) for k, v in self.categorical.items()}
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
        )

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """Feature columns that are categorical, in model order."""
        return tuple(c for c in self.columns if c in self.categorical)


def _derived_fit(leads: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=leads.index)
    if "email" in leads:
        out["email_domain_type"] = email_domain_type(leads["email"])
    if "job_title" in leads:
        out = out.join(parse_job_title(leads["job_title"]))
    return out


def _derived_columns(leads: pd.DataFrame) -> dict[str, pd.Series]:
    """The derived fit attributes as Series indexed like ``leads``."""
    out = {}
    if "email" in leads:
        out["email_domain_type"] = email_domain_type(leads["email"])
    if "job_title" in leads:
        out.update(parse_job_title(leads["job_title"]).items())
    return out


def _with_derived(frame: pd.DataFrame, leads: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus the derived fit attributes (they replace same-named columns)."""
    derived = _derived_fit(leads)
    return frame.drop(columns=[c for c in derived if c in frame]).join(derived)


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
    """
    from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

    excluded: dict[str, str] = {}
    categorical: dict[str, tuple[str, ...]] = {}
    numeric: list[str] = []
    groups: dict[str, str] = {}
    fields: dict[str, str] = {}

    attrs = leads.drop(columns=[c for c in leads.columns if c in _NEVER_FEATURES])
    for c in leads.columns:
        if c in ("email", "job_title"):
            excluded[c] = "raw personal text; derived features are used instead"
    attrs = _with_derived(attrs, leads)
    n = max(len(leads), 1)
    for c in attrs.columns:
        s = attrs[c]
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
            if k > _MAX_CATEGORIES or (k > _MIN_CATEGORIES_FOR_ID and k > _MAX_CATEGORY_SHARE * n):
                excluded[c] = (
                    f"{len(levels)} distinct values: an identifier or free text, not a category"
                )
                continue
            categorical[c] = tuple(sorted(levels.index))
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
    columns = tuple([c for c in attrs.columns if c in fields] + [c for c, _ in act_cols])
    return FeatureSpec(
        activity_types=types,
        windows_days=windows,
        categorical=categorical,
        numeric_attributes=tuple(numeric),
        columns=columns,
        fields=fields,
        groups=groups,
        excluded=excluded,
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


def _level_codes(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray | None:
    """Level positions of a few text values (-1: missing or unseen), else ``None``.

    What ``pd.Categorical`` of the values would hold, without its per-call cost; only for
    values that are all text or missing, so no conversion to text is involved.
    """
    if len(values) > _FAST_MAX_ROWS:
        return None
    pos = {v: i for i, v in enumerate(levels)}
    codes = []
    for v in values.tolist():
        if isinstance(v, str):
            codes.append(pos.get(v, -1))
        elif v is None or v is pd.NA or (isinstance(v, float) and v != v):
            codes.append(-1)
        else:
            return None
    return np.asarray(codes, dtype=np.int64)


def build_features(
    leads: pd.DataFrame, activities: pd.DataFrame, as_of, spec: FeatureSpec
) -> pd.DataFrame:
    """Featurise ``leads`` at ``as_of`` using only activities strictly before it.

    Parameters
    ----------
    leads : DataFrame
        Validated leads (``lead_id`` unique).
    activities : DataFrame
        Validated activities; those of other leads and those at or after as-of are ignored.
    as_of : Timestamp, str or Series
        One time for all leads, or a Series aligned with ``leads.index``.
    spec : FeatureSpec
        From :func:`fit_feature_spec` on the training leads.

    Returns
    -------
    DataFrame
        Index of ``leads``, columns ``spec.columns``; categoricals use the spec's levels,
        unseen values are missing.
    """
    n = len(leads)
    as_of_ns = _as_of_array(leads, as_of)
    out: dict[str, np.ndarray | pd.Series] = {}

    if leads.index.is_unique:
        # What _with_derived gives, without joining frames (same index, so same rows).
        attrs = {c: leads[c] for c in leads.columns}
        attrs.update(_derived_columns(leads))
    else:
        attrs = _with_derived(leads, leads)
    for c in spec.columns:
        if c in spec.categorical:
            levels = list(spec.categorical[c])
            codes = _level_codes(attrs[c], spec.categorical[c]) if c in attrs else None
            if codes is not None:
                out[c] = pd.Categorical.from_codes(
                    codes, dtype=_category_dtype(spec.categorical[c])
                )
                continue
            vals = attrs[c].astype("string") if c in attrs else pd.Series(pd.NA, index=leads.index)
            # Values the model never saw become missing (counted by unseen_category_counts).
            vals = vals.astype(object).where(vals.isin(levels).fillna(False).astype(bool))
            out[c] = pd.Categorical(vals, categories=levels)
        elif c in spec.numeric_attributes:
            out[c] = (
                pd.to_numeric(attrs[c], errors="coerce").to_numpy(dtype=float)
                if c in attrs
                else np.full(n, np.nan)
            )

    out.update(_activity_features(leads, activities, as_of_ns, spec))
    return pd.DataFrame({c: out[c] for c in spec.columns}, index=leads.index)


def _activity_features(
    leads: pd.DataFrame, activities: pd.DataFrame, as_of_ns: np.ndarray, spec: FeatureSpec
) -> dict[str, np.ndarray]:
    n = len(leads)
    types = (*spec.activity_types, OTHER_ACTIVITY)
    n_types = len(types)
    windows = spec.windows_days

    lead_pos = pd.Index(leads["lead_id"]).get_indexer(activities["lead_id"])
    t_ns = activities["occurred_at"].dt.as_unit("ns").astype("int64").to_numpy()
    keep = lead_pos >= 0
    lead_pos, t_ns = lead_pos[keep], t_ns[keep]
    type_pos = pd.Index(types).get_indexer(activities["activity_type"].to_numpy()[keep])
    type_pos = np.where(type_pos < 0, n_types - 1, type_pos)
    # Strictly before as-of: an event at the scoring moment itself is not yet known.
    age_days = (as_of_ns[lead_pos] - t_ns) / 86_400e9
    before = age_days > 0
    lead_pos, type_pos, age_days = lead_pos[before], type_pos[before], age_days[before]

    out: dict[str, np.ndarray] = {}
    cell = lead_pos * n_types + type_pos
    for w in windows:
        in_w = age_days <= w
        counts = np.bincount(cell[in_w], minlength=n * n_types).reshape(n, n_types)
        for j, t in enumerate(types):
            out[f"n_{t}_{w}d"] = counts[:, j].astype(float)
        out[f"n_all_{w}d"] = counts.sum(axis=1).astype(float)

    last = np.full(n * n_types, np.inf)
    np.minimum.at(last, cell, age_days)
    last = last.reshape(n, n_types)
    for j, t in enumerate(types):
        out[f"days_since_last_{t}"] = np.where(np.isinf(last[:, j]), np.nan, last[:, j])

    w_max = windows[-1]
    in_max = age_days <= w_max
    day_key = lead_pos[in_max].astype(np.int64) * (w_max + 2) + np.floor(age_days[in_max]).astype(
        np.int64
    )
    uniq = np.unique(day_key)
    out[f"active_days_{w_max}d"] = np.bincount(uniq // (w_max + 2), minlength=n).astype(float)

    last7 = np.bincount(lead_pos[age_days <= 7], minlength=n)
    prev7 = np.bincount(lead_pos[(age_days > 7) & (age_days <= 14)], minlength=n)
    out["trend_7d"] = (last7 - prev7).astype(float)

    newest = np.full(n, np.inf)
    np.minimum.at(newest, lead_pos, age_days)
    oldest = np.full(n, -np.inf)
    np.maximum.at(oldest, lead_pos, age_days)
    out["days_since_last_activity"] = np.where(np.isinf(newest), np.nan, newest)
    out["days_since_first_activity"] = np.where(np.isinf(oldest), np.nan, oldest)
    return out


def to_matrix(features: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The float matrix LightGBM sees: categoricals as their level codes, missing as NaN."""
    plain = [c for c in spec.columns if c not in spec.categorical]
    if len(features) <= _FAST_MAX_ROWS and (features.dtypes[plain] == np.float64).all():
        # One block for the float columns: per-column access costs a REST request dearly.
        X = np.empty((len(features), len(spec.columns)))
        at = {c: j for j, c in enumerate(spec.columns)}
        X[:, [at[c] for c in plain]] = features[plain].to_numpy(dtype=float)
        for c in spec.categorical_columns:
            codes = features[c].cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            X[:, at[c]] = codes
        return X
    cols = []
    for c in spec.columns:
        s = features[c]
        if c in spec.categorical:
            codes = s.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            cols.append(codes)
        else:
            cols.append(s.to_numpy(dtype=float))
    return np.column_stack(cols) if cols else np.empty((len(features), 0))


def unseen_category_counts(leads: pd.DataFrame, spec: FeatureSpec) -> dict[str, int]:
    """Per categorical feature, how many leads carry a value the model never saw."""
    attrs = _with_derived(leads, leads)
    counts = {}
    for c, levels in spec.categorical.items():
        if c not in attrs:
            continue
        s = attrs[c].dropna().astype(str)
        k = int((~s.isin(levels)).sum())
        if k:
            counts[c] = k
    return counts
