"""Plain sentences about a lead's business fields, for reasons and criteria rules.

A reason names what the lead did or who they are, in words a sales rep reads aloud:
"Visited the pricing page 4 times in the last 30 days", "Free email address",
"No activity yet". Sentences are built from the lead's feature values at its scoring
moment (:func:`mqlml.features.build.build_features`), so they say what the model saw.
"""

from __future__ import annotations

import functools
import math
import re
from types import MappingProxyType

import numpy as np
import pandas as pd

from mqlml.features.build import OTHER_ACTIVITY, OTHER_LEVEL, FeatureSpec, field_label

#: activity type -> (what doing it reads like, what never doing it reads like).
ACTIVITY_PHRASES: dict[str, tuple[str, str]] = {
    "pricing_page_view": ("Visited the pricing page", "Has not visited the pricing page"),
    "page_view": ("Viewed website pages", "Has not viewed the website"),
    "content_download": ("Downloaded content", "Has not downloaded content"),
    "webinar_signup": ("Signed up for webinars", "Has not signed up for a webinar"),
    "webinar_attended": ("Attended webinars", "Has not attended a webinar"),
    "email_open": ("Opened marketing emails", "Has not opened a marketing email"),
    "email_click": ("Clicked marketing emails", "Has not clicked a marketing email"),
    "form_fill": ("Filled in forms", "Has not filled in a form"),
    "demo_request": ("Requested a demo", "Has not requested a demo"),
    "free_trial_request": ("Requested a free trial", "Has not requested a free trial"),
    OTHER_ACTIVITY: ("Did other activities", "No other activities"),
}

#: categorical fit field -> level -> sentence. Levels not listed use "<Label>: <level>".
LEVEL_PHRASES: dict[str, dict[str, str]] = {
    "email_domain_type": {
        "business": "Business email address",
        "free": "Free email address (such as Gmail)",
        "invalid": "Invalid email address",
        "missing": "No email address",
    },
    "seniority": {
        "c_level": "C-level job title",
        "vp": "VP-level job title",
        "director": "Director-level job title",
        "manager": "Manager-level job title",
        "individual_contributor": "Individual contributor job title",
        "student": "Student",
        "unknown": "Job title shows no seniority",
    },
    "department": {
        "marketing": "Works in marketing",
        "sales": "Works in sales",
        "it_engineering": "Works in IT / engineering",
        "finance": "Works in finance",
        "operations": "Works in operations",
        "hr": "Works in HR",
        "executive": "Runs the company (CEO / founder)",
        "other": "Department not recognised from the job title",
    },
    "country": {"other": "Based in another country"},
}
_LEVEL_TEMPLATES = {
    "company_size": "Company size {} employees",
    "industry": "Industry: {}",
    "country": "Based in {}",
    "lead_source": "Came from {}",
}


#: Reason topics: business fields a sales rep reads as one thing, named together in one
#: reason with their points summed (both job-title fields, both kinds of email response,
#: both webinar steps, and overall activity with its recency). Fewer, larger reasons
#: leave less of the score to ``other_points``.
REASON_TOPICS: dict[str, tuple[str, ...]] = {
    "job_title": ("seniority", "department"),
    "email_engagement": ("email_open", "email_click"),
    "webinars": ("webinar_signup", "webinar_attended"),
    "activity_level": ("engagement", "recency", OTHER_ACTIVITY),
}


def reason_topics(fields) -> dict[str, tuple[str, ...]]:
    """Reason name -> the business fields it sums, for the fields a model has.

    A topic stands for its members present in ``fields`` when there are two or more; a
    field outside every topic (or alone in its topic) is a reason of its own. Order
    follows ``fields``.
    """
    present = list(dict.fromkeys(fields))
    out: dict[str, tuple[str, ...]] = {}
    for f in present:
        topic = next((t for t, members in REASON_TOPICS.items() if f in members), None)
        members = tuple(m for m in REASON_TOPICS.get(topic, ()) if m in present)
        if len(members) < 2:
            out[f] = (f,)
        elif topic not in out:
            out[topic] = members
    return out


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def activity_phrases(activity_type: str) -> tuple[str, str]:
    """(doing it, never doing it) phrases for an activity type, also for unknown types."""
    if activity_type in ACTIVITY_PHRASES:
        return ACTIVITY_PHRASES[activity_type]
    name = activity_type.replace("_", " ")
    return (f"Did “{name}”", f"No “{name}” yet")


def times(n: float) -> str:
    """``once``, ``twice``, ``3 times``."""
    k = int(round(n))
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


def days_ago(d: float) -> str:
    """``today``, ``1 day ago``, ``12 days ago``."""
    if d < 1:
        return "today"
    k = int(math.floor(d))
    return "1 day ago" if k == 1 else f"{k} days ago"


def _plain_level(value: str) -> str:
    return value.replace("_", " ")


#: Words in a column's name that say where a lead came from: its values read "Came from
#: landing page /pricing" (whole words, case-insensitive).
_ORIGIN_WORDS = re.compile(
    r"\b(?:landing|page|campaign|utm|source|medium|form|referr?er|channel|origin)s?\b"
)


def _origin_field(field: str) -> bool:
    return _ORIGIN_WORDS.search(field.replace("_", " ").lower()) is not None


def level_sentence(field: str, value) -> str:
    """Sentence for a categorical fit field at ``value`` (missing: not known).

    The grouped level (:data:`~mqlml.features.build.OTHER_LEVEL`: values too rare in
    training, or first seen now) reads "Came from another landing page" for a column
    that says where a lead came from, else "Industry: another value".
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return f"{field_label(field)} not known"
    value = str(value)
    if field in LEVEL_PHRASES and value in LEVEL_PHRASES[field]:
        return LEVEL_PHRASES[field][value]
    origin = field not in _LEVEL_TEMPLATES and _origin_field(field)
    if value == OTHER_LEVEL:
        if origin or field == "lead_source":
            return f"Came from another {field_label(field).lower()}"
        return f"{field_label(field)}: another value"
    if origin:
        return f"Came from {field_label(field).lower()} {value}"
    template = _LEVEL_TEMPLATES.get(field, field_label(field) + ": {}")
    return template.format(_plain_level(value) if field == "lead_source" else value)


def _activity_sentence(row, activity_type: str, windows: tuple[int, ...]) -> str:
    does, never = activity_phrases(activity_type)
    counts = [float(row[f"n_{activity_type}_{w}d"]) for w in windows]
    last = float(row[f"days_since_last_{activity_type}"])
    total = counts[-1]
    if total > 0:
        # The shortest window that holds all of the recent activity reads most precisely.
        w = next(w for w, c in zip(windows, counts, strict=True) if c == total)
        return f"{does} {times(total)} in the last {w} days"
    if not math.isnan(last):
        return f"{does}, most recently {days_ago(last)}"
    return never


def _engagement_sentence(row, windows: tuple[int, ...], lowers: bool = False) -> str:
    w_max = windows[-1]
    total = float(row[f"n_all_{w_max}d"])
    if total == 0:
        return f"No activity in the last {w_max} days"
    w = next(w for w in windows if float(row[f"n_all_{w}d"]) == total)
    active = float(row[f"active_days_{w_max}d"])
    n = int(round(total))
    text = f"{n} {'activity' if n == 1 else 'activities'} in the last {w} days"
    if lowers:  # some activity, but less than the typical lead's: say so
        text = "Only " + text
    if active > 1:
        text += f", active on {int(active)} different days"
    return text


def _recency_sentence(row) -> str:
    last = float(row["days_since_last_activity"])
    if math.isnan(last):
        return "No activity yet"
    return f"Last activity {days_ago(last)}"


def _numeric_sentence(field: str, value) -> str:
    v = float(value) if value is not None and value is not pd.NA else float("nan")
    if math.isnan(v):
        return f"{field_label(field)} not known"
    # + 0.0 turns -0.0 into 0.0: equal values read alike ("0", never "-0").
    return f"{field_label(field)}: {v + 0.0:g}"


#: The feature columns :func:`_topic_sentence` reads itself, beside its members' sentences
#: (for the cases it says once): a batch groups leads by these too (:func:`sentences`).
_TOPIC_READS: dict[str, tuple[str, ...]] = {
    "activity_level": ("days_since_last_activity",),
    "job_title": ("seniority", "department"),
}


def _topic_sentence(
    row, topic: str, spec: FeatureSpec, lowers: bool, parts: dict[str, str] | None = None
) -> str:
    """One sentence for a reason topic: its members' sentences joined, with the cases that
    would repeat themselves said once. ``parts``: member -> its sentence of ``row``, when
    known already (a batch builds each distinct one once, see :func:`sentences`)."""
    members = tuple(parts) if parts is not None else _topic_members(topic, spec)
    if topic == "activity_level" and "recency" in members:
        if math.isnan(float(row["days_since_last_activity"])):
            return "No activity yet"
    if topic == "job_title" and _level(row, "seniority") in (None, "unknown"):
        if _level(row, "department") in (None, "other"):
            return "Job title not recognised (no seniority or department)"
    if parts is None:
        parts = {f: field_sentence(row, f, spec, lowers=lowers) for f in members}
    texts = list(parts.values())
    return ", ".join([texts[0], *(_lower_first(p) for p in texts[1:])])


def _level(row, field: str):
    value = row[field] if field in row else None
    return None if value is None or value is pd.NA or value != value else str(value)


def field_sentence(row, field: str, spec: FeatureSpec, *, lowers: bool = False) -> str:
    """The sentence for one business field (or reason topic) of one lead.

    Parameters
    ----------
    row : Series or dict
        The lead's feature values (one row of :func:`mqlml.features.build.build_features`).
    field : str
        A business field of ``spec`` (a value of ``spec.fields``).
    spec : FeatureSpec
        The model's feature spec.
    lowers : bool
        The field lowers the lead's score: overall activity then reads "Only 3 activities".
    """
    windows = spec.windows_days
    if field in REASON_TOPICS:
        return _topic_sentence(row, field, spec, lowers)
    if field in (*spec.activity_types, OTHER_ACTIVITY):
        return _activity_sentence(row, field, windows)
    if field == "engagement":
        return _engagement_sentence(row, windows, lowers)
    if field == "recency":
        return _recency_sentence(row)
    if field in spec.categorical:
        return level_sentence(field, row[field])
    if field in spec.numeric_attributes:
        return _numeric_sentence(field, row[field])
    raise KeyError(f"field {field!r} is not a business field of this model")


@functools.lru_cache(maxsize=64)
def _model_topics(fields: tuple[str, ...]) -> MappingProxyType:
    """:func:`reason_topics` of one model's fields, computed once: a batch's sentences
    ask for it per lead and reason (it was 40% of scoring 100k leads with reasons)."""
    return MappingProxyType(reason_topics(fields))


def _topic_members(topic: str, spec: FeatureSpec) -> tuple[str, ...]:
    """The members of a reason topic this model has (activity level: without "other",
    which the overall counts already hold)."""
    members = _model_topics(tuple(spec.fields.values())).get(topic, ())
    return tuple(m for m in members if not (topic == "activity_level" and m == OTHER_ACTIVITY))


def _day_columns(spec: FeatureSpec) -> frozenset[str]:
    """The feature columns sentences read only in whole days (:func:`days_ago`) or as
    missing: the days since the last activity, of any type or of each."""
    kinds = (*spec.activity_types, OTHER_ACTIVITY, "activity")
    return frozenset(f"days_since_last_{k}" for k in kinds)


def field_columns(field: str, spec: FeatureSpec) -> list[str]:
    """The feature columns a field's (or a reason topic's) sentence is built from."""
    if field in REASON_TOPICS:
        members = _topic_members(field, spec)
        return list(dict.fromkeys(c for f in members for c in field_columns(f, spec)))
    windows = spec.windows_days
    if field in (*spec.activity_types, OTHER_ACTIVITY):
        return [f"n_{field}_{w}d" for w in windows] + [f"days_since_last_{field}"]
    if field == "engagement":
        return [f"n_all_{w}d" for w in windows] + [f"active_days_{windows[-1]}d"]
    if field == "recency":
        return ["days_since_last_activity"]
    return [field]


def topic_points(points: pd.DataFrame) -> pd.DataFrame:
    """Score points per reason: each topic's member fields summed (:data:`REASON_TOPICS`)."""
    topics = reason_topics(points.columns)
    values = points.to_numpy(dtype=float)
    where = {c: i for i, c in enumerate(points.columns)}
    summed = {t: values[:, [where[m] for m in ms]].sum(axis=1) for t, ms in topics.items()}
    return pd.DataFrame(summed, index=points.index)


#: Reasons about overall activity: some activity may still lower a score ("Only 3...").
_OVERALL = ("activity_level", "engagement")


def _did(features: pd.DataFrame, reason: str, spec: FeatureSpec) -> np.ndarray | None:
    """Whether each lead did the behaviour a reason names (None: not a behaviour)."""
    w = spec.windows_days[-1]
    if reason in _OVERALL:
        return features["days_since_last_activity"].notna().to_numpy()
    members = REASON_TOPICS.get(reason, (reason,))
    kinds = [m for m in members if m in (*spec.activity_types, OTHER_ACTIVITY)]
    if not kinds:
        return None
    done = np.zeros(len(features), dtype=bool)
    for k in kinds:
        count = features[f"n_{k}_{w}d"].to_numpy(dtype=float)
        done |= (np.nan_to_num(count) > 0) | features[f"days_since_last_{k}"].notna().to_numpy()
    return done


def against_direction(
    features: pd.DataFrame, points: pd.DataFrame, spec: FeatureSpec
) -> np.ndarray:
    """Reasons whose sign contradicts what the behaviour means to sales, per lead.

    Doing something (a pricing visit, an email click) never reads as a reason against a
    lead, and never having done it never reads as a reason for one. The model may still
    give such points through interactions between fields; they stay in the score and in
    ``other_points``, not in a sentence that says the opposite of what sales knows.
    Overall activity may lower a score ("Only 3 activities..."), less than typical.

    Parameters
    ----------
    features : DataFrame
        The leads' feature values, positionally aligned with ``points``.
    points : DataFrame
        Score points per reason (:func:`topic_points`).
    spec : FeatureSpec
    """
    out = np.zeros(points.shape, dtype=bool)
    for j, reason in enumerate(points.columns):
        done = _did(features, reason, spec)
        if done is None:
            continue
        p = points[reason].to_numpy(dtype=float)
        out[:, j] = (~done & (p > 0)) | (done & (p < 0) & (reason not in _OVERALL))
    return out


def _equal_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Group of each row by its values in ``columns`` (missing equals missing), and the
    first row of each group."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    bound = 1  # key < bound
    for values in columns:
        codes, uniques = pd.factorize(values)
        if bound * (len(uniques) + 1) >= 2**62:  # renumber densely before key overflows
            key = np.unique(key, return_inverse=True)[1]
            bound = int(key.max()) + 1
        key = key * (len(uniques) + 1) + (codes + 1)
        bound *= len(uniques) + 1
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    return group, first


def sentences(
    features: pd.DataFrame, fields: np.ndarray, spec: FeatureSpec, *, lowers: bool = False
) -> np.ndarray:
    """Sentences for ``fields[i, j]`` of lead ``i`` (``None`` entries stay ``None``).

    Each sentence is :func:`field_sentence` of the lead's values. It is built once per
    distinct value of what it reads: days in whole days (all :func:`days_ago` says), and a
    reason topic from its members' sentences, each built once, joined once per distinct
    combination. So a million leads cost a few thousand calls.

    Parameters
    ----------
    features : DataFrame
        One row per lead, positionally aligned with the rows of ``fields``.
    fields : ndarray of object, shape (n_leads, k)
        Business field names, or ``None`` where there is no reason.
    spec : FeatureSpec
        The model's feature spec.
    lowers : bool
        The fields lower the leads' scores (negative reasons); see :func:`field_sentence`.
    """
    out = np.full(fields.shape, None, dtype=object)
    rows_all, slots_all = np.nonzero(pd.notna(fields))
    # Each field's slots at once: one pass over the names instead of one per field.
    codes, names = pd.factorize(fields[rows_all, slots_all])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    days = _day_columns(spec)
    arrays: dict[str, np.ndarray] = {}
    for k, field in enumerate(names):
        pick = order[bounds[k] : bounds[k + 1]]
        rows, slots = rows_all[pick], slots_all[pick]
        read: dict[str, np.ndarray] = {}
        for c in field_columns(field, spec):
            if c not in arrays:
                arrays[c] = _values(features[c])
            # Whole days: what days_ago says of them (and missing stays missing).
            read[c] = np.floor(arrays[c][rows].astype(float)) if c in days else arrays[c][rows]
        group, texts = _distinct_sentences(read, field, spec, lowers)
        out[rows, slots] = np.asarray(texts, dtype=object)[group]
    return out


def _distinct_sentences(
    read: dict[str, np.ndarray], field: str, spec: FeatureSpec, lowers: bool
) -> tuple[np.ndarray, list[str]]:
    """Each lead's sentence of ``field`` as a position in a list of distinct sentences.

    ``read``: the columns of :func:`field_columns` as the sentences read them. A field's
    sentence is built for the first lead of each distinct combination of its columns; a
    topic's from its members' (built so), once per distinct combination of them.
    """
    columns = field_columns(field, spec)
    values = [read[c] for c in columns]
    if field in REASON_TOPICS:
        members = _topic_members(field, spec)
        parts = {m: _distinct_sentences(read, m, spec, lowers) for m in members}
        # Equal members' sentences and equal columns of its own give an equal topic sentence.
        own = [read[c] for c in _TOPIC_READS.get(field, ()) if c in read]
        group, first = _equal_rows([codes for codes, _ in parts.values()] + own)
        texts = [
            _topic_sentence(
                {c: v[i] for c, v in zip(columns, values, strict=True)}, field, spec, lowers,
                parts={m: member[codes[i]] for m, (codes, member) in parts.items()},
            )
            for i in first.tolist()
        ]
    else:
        group, first = _equal_rows(values)
        texts = [
            field_sentence({c: v[i] for c, v in zip(columns, values, strict=True)}, field,
                           spec, lowers=lowers)
            for i in first.tolist()
        ]
    # Distinct sentences: leads whose values differ but read alike share one.
    codes, distinct = pd.factorize(np.asarray(texts, dtype=object))
    return codes[group], distinct.tolist()


def _values(column: pd.Series) -> np.ndarray:
    """A feature column's values; a categorical's through its codes (missing: NaN), without
    converting every row's level on its own."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        levels = np.asarray(column.cat.categories, dtype=object)
        return np.where(codes < 0, np.nan, levels.take(np.maximum(codes, 0)))
    return column.to_numpy()


def representative_column(field: str, spec: FeatureSpec) -> str | None:
    """The one feature column that best stands for a field on a chart (``None``: categorical).

    Activity fields use their count in the longest window, engagement all activities in
    it, recency the days since the last activity, numeric attributes themselves.
    """
    w = spec.windows_days[-1]
    if field in (*spec.activity_types, OTHER_ACTIVITY):
        return f"n_{field}_{w}d"
    if field == "engagement":
        return f"n_all_{w}d"
    if field == "recency":
        return "days_since_last_activity"
    if field in spec.numeric_attributes:
        return field
    return None


def representative_axis_label(field: str, spec: FeatureSpec) -> str:
    """Axis label of :func:`representative_column` for charts."""
    w = spec.windows_days[-1]
    if field in (*spec.activity_types, OTHER_ACTIVITY):
        return f"{field_label(field)}: count in the last {w} days"
    if field == "engagement":
        return f"all activities in the last {w} days"
    if field == "recency":
        return "days since the last activity"
    return field_label(field)
