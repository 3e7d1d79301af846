import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlml.explain.reasons import field_sentence, level_sentence, sentences
from mqlml.features.build import FeatureSpec

SPEC = FeatureSpec(
    activity_types=("pricing_page_view", "demo_request"),
    windows_days=(7, 30, 90),
    categorical={"email_domain_type": ("business", "free"), "lead_source": ("paid_search",)},
    numeric_attributes=("employees",),
    columns=(),
    fields={},
    groups={},
)


def _row(**kw):
    base = {f"n_{t}_{w}d": 0.0 for t in ("pricing_page_view", "demo_request") for w in (7, 30, 90)}
    base.update(
        {"days_since_last_pricing_page_view": np.nan, "days_since_last_demo_request": np.nan}
    )
    base.update({f"n_all_{w}d": 0.0 for w in (7, 30, 90)})
    base.update({"active_days_90d": 0.0, "days_since_last_activity": np.nan})
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("field", "values", "text"),
    [
        (
            "pricing_page_view",
            dict(
                n_pricing_page_view_7d=1.0,
                n_pricing_page_view_30d=4.0,
                n_pricing_page_view_90d=4.0,
                days_since_last_pricing_page_view=2.0,
            ),
            "Visited the pricing page 4 times in the last 30 days",
        ),
        (
            "pricing_page_view",
            dict(
                n_pricing_page_view_7d=2.0,
                n_pricing_page_view_30d=2.0,
                n_pricing_page_view_90d=2.0,
                days_since_last_pricing_page_view=1.0,
            ),
            "Visited the pricing page twice in the last 7 days",
        ),
        (
            "pricing_page_view",
            dict(days_since_last_pricing_page_view=140.2),
            "Visited the pricing page, most recently 140 days ago",
        ),
        ("pricing_page_view", {}, "Has not visited the pricing page"),
        (
            "demo_request",
            dict(
                n_demo_request_7d=1.0,
                n_demo_request_30d=1.0,
                n_demo_request_90d=1.0,
                days_since_last_demo_request=0.2,
            ),
            "Requested a demo once in the last 7 days",
        ),
        (
            "engagement",
            dict(n_all_7d=3.0, n_all_30d=12.0, n_all_90d=12.0, active_days_90d=5.0),
            "12 activities in the last 30 days, active on 5 different days",
        ),
        ("engagement", {}, "No activity in the last 90 days"),
        ("recency", dict(days_since_last_activity=3.7), "Last activity 3 days ago"),
        ("recency", dict(days_since_last_activity=0.3), "Last activity today"),
        ("recency", {}, "No activity yet"),
        ("email_domain_type", dict(email_domain_type="free"), "Free email address (such as Gmail)"),
        ("email_domain_type", dict(email_domain_type=np.nan), "Email domain type not known"),
        ("lead_source", dict(lead_source="paid_search"), "Came from paid search"),
        ("employees", dict(employees=250.0), "Employees: 250"),
    ],
)
def test_sentences_quote_the_values(field, values, text):
    assert field_sentence(_row(**values), field, SPEC) == text


def test_unknown_levels_and_fields():
    assert level_sentence("industry", "Software") == "Industry: Software"
    assert level_sentence("plan_tier", "gold") == "Plan tier: gold"
    with pytest.raises(KeyError, match="not a business field"):
        field_sentence(_row(), "nonexistent", SPEC)


def test_sentences_fill_the_slots_of_many_leads():
    rows = [
        _row(
            n_pricing_page_view_90d=float(k),
            n_pricing_page_view_30d=float(k),
            n_pricing_page_view_7d=float(k),
        )
        for k in (0, 3, 3)
    ]
    features = pd.DataFrame(rows)
    fields = np.array(
        [
            ["pricing_page_view", None],
            ["recency", "pricing_page_view"],
            ["pricing_page_view", None],
        ],
        dtype=object,
    )
    out = sentences(features, fields, SPEC)
    assert out.tolist() == [
        ["Has not visited the pricing page", None],
        ["No activity yet", "Visited the pricing page 3 times in the last 7 days"],
        ["Visited the pricing page 3 times in the last 7 days", None],
    ]


# --- one implementation for one lead and for a batch -------------------------------------

_FIELDS = ["pricing_page_view", "demo_request", "other", "engagement", "recency"]
_FIELDS += ["email_domain_type", "lead_source", "employees"]
COUNT = st.integers(0, 3).map(float)
DAYS = st.floats(0, 200) | st.just(np.nan) | st.just(-0.0)
NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 12.0])


@st.composite
def leads_and_fields(draw):
    n = draw(st.integers(1, 15))

    def column(values):
        return draw(st.lists(values, min_size=n, max_size=n))

    frame = {}
    for t in ("pricing_page_view", "demo_request", "other", "all"):
        counts = np.array([column(COUNT) for _ in range(3)]).cumsum(axis=0)
        frame.update({f"n_{t}_{w}d": counts[k] for k, w in enumerate((7, 30, 90))})
    for t in ("pricing_page_view", "demo_request", "other", "activity"):
        frame[f"days_since_last_{t}"] = column(DAYS)
    frame["active_days_90d"] = column(COUNT)
    frame["employees"] = column(NUMBER)
    for c, levels in SPEC.categorical.items():
        frame[c] = pd.Categorical(column(st.sampled_from([*levels, None])), categories=levels)
    k = draw(st.integers(1, 3))
    fields = np.array(column(st.lists(st.sampled_from([*_FIELDS, None]), min_size=k, max_size=k)))
    return pd.DataFrame(frame), fields.astype(object)


@settings(max_examples=100, deadline=None)
@given(leads_and_fields())
def test_sentences_of_a_batch_are_those_of_each_lead_alone(data):
    features, fields = data
    whole = sentences(features, fields, SPEC)
    alone = np.vstack(
        [sentences(features.iloc[[i]], fields[[i]], SPEC) for i in range(len(features))]
    )
    assert whole.tolist() == alone.tolist()
    for i, j in zip(*np.nonzero(pd.notna(fields)), strict=True):
        assert whole[i, j] == field_sentence(features.iloc[i], fields[i, j], SPEC)


def test_zero_reads_alike_whatever_its_sign():
    assert field_sentence({"employees": -0.0}, "employees", SPEC) == "Employees: 0"


TOPIC_SPEC = FeatureSpec(
    activity_types=("pricing_page_view", "demo_request"),
    windows_days=(7, 30, 90),
    categorical={"seniority": ("manager", "unknown"), "department": ("marketing", "other")},
    numeric_attributes=(),
    columns=(),
    fields={"seniority": "seniority", "department": "department",
            "n_all_90d": "engagement", "days_since_last_activity": "recency"},
    groups={},
)


@pytest.mark.parametrize(
    ("topic", "values", "lowers", "text"),
    [
        ("job_title", dict(seniority="manager", department="marketing"), False,
         "Manager-level job title, works in marketing"),
        ("job_title", dict(seniority="unknown", department="other"), True,
         "Job title not recognised (no seniority or department)"),
        ("activity_level", {}, True, "No activity yet"),
        ("activity_level", dict(n_all_30d=3.0, n_all_90d=3.0, active_days_90d=2.0,
                                days_since_last_activity=4.2), True,
         "Only 3 activities in the last 30 days, active on 2 different days, "
         "last activity 4 days ago"),
        ("activity_level", dict(n_all_30d=3.0, n_all_90d=3.0, active_days_90d=2.0,
                                days_since_last_activity=4.2), False,
         "3 activities in the last 30 days, active on 2 different days, last activity 4 days ago"),
    ],
)
def test_reason_topics_read_as_one_sentence(topic, values, lowers, text):
    row = _row(**{"seniority": None, "department": None, **values})
    assert field_sentence(row, topic, TOPIC_SPEC, lowers=lowers) == text


BATCH_SPEC = FeatureSpec(
    activity_types=("email_open", "email_click", "pricing_page_view"),
    windows_days=(7, 30, 90),
    categorical={"seniority": ("manager", "unknown"), "department": ("marketing", "other")},
    numeric_attributes=(),
    columns=(),
    fields={"seniority": "seniority", "department": "department",
            "n_email_open_90d": "email_open", "n_email_click_90d": "email_click",
            "n_pricing_page_view_90d": "pricing_page_view",
            "n_all_90d": "engagement", "days_since_last_activity": "recency"},
    groups={},
)
_REASONS = ["job_title", "email_engagement", "activity_level", "pricing_page_view"]
# Days that share a whole day, or not: a batch groups leads by what the sentence says.
CLOSE_DAYS = st.sampled_from([np.nan, 0.0, 0.2, 0.9, 1.0, 1.5, 3.2, 3.7, 4.0, 140.2])


@st.composite
def leads_and_reasons(draw):
    n = draw(st.integers(1, 25))

    def column(values):
        return draw(st.lists(values, min_size=n, max_size=n))

    frame = {}
    for t in ("email_open", "email_click", "pricing_page_view", "other", "all"):
        counts = np.array([column(st.integers(0, 2).map(float)) for _ in range(3)])
        frame.update({f"n_{t}_{w}d": counts.cumsum(axis=0)[k] for k, w in
                      enumerate((7, 30, 90))})
    for t in ("email_open", "email_click", "pricing_page_view", "other", "activity"):
        frame[f"days_since_last_{t}"] = column(CLOSE_DAYS)
    frame["active_days_90d"] = column(st.integers(0, 3).map(float))
    for c, levels in BATCH_SPEC.categorical.items():
        frame[c] = pd.Categorical(column(st.sampled_from([*levels, None])), categories=levels)
    fields = np.array(column(st.lists(st.sampled_from([*_REASONS, None]), min_size=2,
                                      max_size=2)), dtype=object)
    return pd.DataFrame(frame), fields, draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(leads_and_reasons())
def test_topic_sentences_of_a_batch_are_those_of_each_lead_alone(data):
    # A batch builds a topic's sentence once per distinct combination of its members'
    # sentences, and a member's once per distinct value in whole days: each lead must
    # still read exactly what it reads alone.
    features, fields, lowers = data
    whole = sentences(features, fields, BATCH_SPEC, lowers=lowers)
    for i, j in zip(*np.nonzero(pd.notna(fields)), strict=True):
        alone = field_sentence(features.iloc[i], fields[i, j], BATCH_SPEC, lowers=lowers)
        assert whole[i, j] == alone
    assert (pd.isna(fields) == pd.isna(whole)).all()


def test_days_within_one_day_read_alike_and_others_do_not():
    features = pd.DataFrame([_row(days_since_last_activity=d) for d in (3.2, 3.7, 4.0, 0.1)])
    fields = np.array([["recency"]] * 4, dtype=object)
    assert sentences(features, fields, SPEC)[:, 0].tolist() == [
        "Last activity 3 days ago", "Last activity 3 days ago", "Last activity 4 days ago",
        "Last activity today",
    ]


def test_topic_points_sum_their_fields_and_keep_the_rest():
    from mqlml.explain.reasons import reason_topics, topic_points

    points = pd.DataFrame({"seniority": [1.0, -2.0], "department": [0.5, 0.5],
                           "industry": [3.0, 0.0], "email_open": [1.0, 1.0]})
    assert reason_topics(points.columns) == {
        "job_title": ("seniority", "department"), "industry": ("industry",),
        "email_open": ("email_open",),
    }
    out = topic_points(points)
    assert out["job_title"].tolist() == [1.5, -1.5]
    assert out["industry"].tolist() == [3.0, 0.0]
