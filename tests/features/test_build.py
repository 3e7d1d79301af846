import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_activities, make_leads
from mqlml.columns import ACTIVITY_TYPE, CREATED_AT, EMAIL, LEAD_ID, OCCURRED_AT
from mqlml.features.build import (
    OTHER_LEVEL,
    FeatureSpec,
    build_features,
    email_domain_type,
    fit_feature_spec,
    parse_job_title,
    personal_columns,
    to_matrix,
    unseen_category_counts,
    without_personal,
)


@pytest.mark.parametrize(
    ("title", "seniority", "department"),
    [
        ("VP of Marketing", "vp", "marketing"),
        ("Vice President, Sales", "vp", "sales"),
        ("Chief Financial Officer", "c_level", "finance"),
        ("CEO & Founder", "c_level", "executive"),
        ("Director, Demand Generation", "director", "marketing"),
        ("Senior Software Engineer", "individual_contributor", "it_engineering"),
        ("Marketing Manager", "manager", "marketing"),
        ("HR Business Partner", "unknown", "hr"),
        ("Marketing Intern", "student", "marketing"),
        ("  Vice-President, Sales ", "vp", "sales"),
        ("VP/Head of IT", "vp", "it_engineering"),
        ("Co-Founder & CEO", "c_level", "executive"),
        ("HR | People (Talent)", "unknown", "hr"),
        ("Lead\x0bEngineer", "manager", "it_engineering"),
        ("Président Directeur", "unknown", "other"),
        ("", "unknown", "other"),
        (None, "unknown", "other"),
    ],
)
def test_parse_job_title(title, seniority, department):
    got = parse_job_title(pd.Series([title], dtype=object))
    assert got.loc[0, "seniority"] == seniority
    assert got.loc[0, "department"] == department


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("jane.doe@acme.com", "business"),
        ("Jane.Doe@ACME.co.uk ", "business"),
        ("someone@gmail.com", "free"),
        ("x@outlook.com", "free"),
        ("n/a", "invalid"),
        ("test@", "invalid"),
        ("a@b", "invalid"),
        (None, "missing"),
    ],
)
def test_email_domain_type(email, kind):
    assert email_domain_type(pd.Series([email], dtype=object)).iloc[0] == kind


def _one_lead():
    leads = pd.DataFrame(
        {
            LEAD_ID: ["L1", "L2"],
            CREATED_AT: pd.to_datetime(["2025-01-01", "2025-01-01"], utc=True),
            EMAIL: ["a@acme.com", "b@gmail.com"],
        }
    )
    t = pd.Timestamp("2025-01-31", tz="UTC")
    acts = pd.DataFrame(
        {
            LEAD_ID: ["L1", "L1", "L1", "L1", "L2"],
            OCCURRED_AT: [t - pd.Timedelta(days=d) for d in (1, 3, 10, 40, 2)],
            ACTIVITY_TYPE: [
                "pricing_page_view",
                "pricing_page_view",
                "page_view",
                "page_view",
                "x",
            ],
        }
    )
    return leads, acts, t


def test_counts_recency_and_trend_by_hand(engine):
    leads, acts, t = _one_lead()
    spec = fit_feature_spec(leads, acts, (7, 30), min_leads_per_activity_type=1)
    f = build_features(leads, acts, t, spec)
    row = f.iloc[0]
    assert row["n_pricing_page_view_7d"] == 2
    assert row["n_page_view_7d"] == 0
    assert row["n_page_view_30d"] == 1
    assert row["n_all_30d"] == 3
    assert row["days_since_last_pricing_page_view"] == pytest.approx(1)
    assert row["days_since_last_activity"] == pytest.approx(1)
    assert row["days_since_first_activity"] == pytest.approx(40)
    assert row["trend_7d"] == 2 - 1  # two events in the last week, one in the week before
    assert row["active_days_30d"] == 3
    assert np.isnan(f.iloc[1]["days_since_last_pricing_page_view"])
    assert f.iloc[1]["email_domain_type"] == "free"


@pytest.fixture(params=["duckdb", "numpy"])
def engine(request, monkeypatch):
    """Each activity engine in turn: DuckDB for every batch, or numpy (small batches)."""
    import mqlml.features.activity as activity

    if request.param == "duckdb":
        monkeypatch.setattr(activity, "NUMPY_MAX_EVENTS", -1)
    return request.param


def test_events_at_or_after_as_of_change_no_feature(small_leads, small_activities, engine):
    as_of = small_leads[CREATED_AT] + pd.Timedelta(days=14)
    spec = fit_feature_spec(small_leads, small_activities, min_leads_per_activity_type=1)
    before = build_features(small_leads, small_activities, as_of, spec)
    rng = np.random.default_rng(1)
    future = pd.DataFrame(
        {
            LEAD_ID: np.repeat(small_leads[LEAD_ID].to_numpy(), 3),
            OCCURRED_AT: as_of.repeat(3).reset_index(drop=True)
            + pd.to_timedelta(np.tile([0.0, 0.5, 30.0], len(small_leads)), unit="D"),
            ACTIVITY_TYPE: rng.choice(["pricing_page_view", "demo_request"], 3 * len(small_leads)),
        }
    )
    more = pd.concat([small_activities, future], ignore_index=True)
    after = build_features(small_leads, more, as_of, spec)
    pd.testing.assert_frame_equal(before, after)


def test_events_before_as_of_do_change_features(small_leads, small_activities, engine):
    # The guard above must not pass merely because features ignore activity.
    as_of = small_leads[CREATED_AT] + pd.Timedelta(days=14)
    spec = fit_feature_spec(small_leads, small_activities, min_leads_per_activity_type=1)
    earlier = small_activities.assign(occurred_at=as_of.iloc[0] - pd.Timedelta(hours=1))
    earlier[LEAD_ID] = small_leads[LEAD_ID].iloc[0]
    a = build_features(small_leads, small_activities, as_of, spec)
    b = build_features(small_leads, pd.concat([small_activities, earlier]), as_of, spec)
    assert not a.iloc[0].equals(b.iloc[0])


def test_spec_excludes_raw_personal_text_ids_and_constants():
    leads = make_leads(100)
    leads["company_name"] = [f"Company {i}" for i in range(100)]
    leads["region"] = "EMEA"
    leads["employees"] = np.arange(100)
    spec = fit_feature_spec(leads, make_activities(leads))
    assert EMAIL not in spec.columns and "job_title" not in spec.columns
    assert {"email", "job_title", "company_name", "region"} <= set(spec.excluded)
    assert "email_domain_type" in spec.categorical and "seniority" in spec.categorical
    assert "employees" in spec.numeric_attributes
    assert spec.groups["email_domain_type"] == "fit"
    assert spec.groups["pricing_page_view"] == "behaviour"
    assert all(c in spec.fields for c in spec.columns)


def test_raw_email_never_reaches_the_features(small_leads, small_activities):
    spec = fit_feature_spec(small_leads, small_activities)
    f = build_features(small_leads, small_activities, small_leads[CREATED_AT], spec)
    values = set(map(str, f.astype(object).to_numpy().ravel()))
    assert not values & set(small_leads[EMAIL])


def test_unseen_categories_become_missing_and_are_counted(small_leads, small_activities):
    spec = fit_feature_spec(small_leads, small_activities)
    new = small_leads.head(5).copy()
    new["industry"] = ["Aerospace", "Software", "Aerospace", None, "Retail"]
    f = build_features(new, small_activities, new[CREATED_AT], spec)
    assert f["industry"].isna().sum() == 3
    assert unseen_category_counts(new, spec) == {"industry": 2}
    X = to_matrix(f, spec)
    assert X.shape == (5, len(spec.columns))
    assert np.isnan(X[0, spec.columns.index("industry")])


def test_rare_activity_types_pool_into_other(small_leads, small_activities):
    rare = small_activities.head(3).assign(activity_type="partner_referral")
    acts = pd.concat([small_activities, rare])
    spec = fit_feature_spec(small_leads, acts, min_leads_per_activity_type=20)
    assert "partner_referral" not in spec.activity_types
    as_of = small_leads[CREATED_AT] + pd.Timedelta(days=40)
    f = build_features(small_leads, acts, as_of, spec)
    lead = rare[LEAD_ID].iloc[0]
    pos = small_leads.index[small_leads[LEAD_ID] == lead][0]
    assert f.loc[pos, "n_other_90d"] >= 1


# --- one implementation for one lead and for a batch -------------------------------------
# Each derived value is a function of its own row only: a whole column gives exactly what
# its rows give one at a time (a REST request scores one lead, a batch a million).

_WORDS = [
    "vice president",
    "Vice-President",
    "VP",
    "head of",
    "CEO",
    "co-founder",
    "director",
    "manager",
    "engineer",
    "marketing",
    "sales",
    "IT",
    "data",
    "HR",
    "student",
    "intern",
    "@gmail.com",
    "@GMAIL.COM",
    "@acme.io",
    "@yahoo.co.uk",
    "o'neil",
    "a.b",
    "@",
    ".",
    "1-10",
    "51-200",
    "Software",
    "Retail",
]
_ODD = [
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x85",
    "\xa0",
    "\u2003",
    "\u200b",
    "é",
    "İ",
    "ß",
    "К",
    "ﬁ",
    "/",
    ",",
    "&",
    "|",
    "(",
    ")",
]
TEXT = st.lists(
    st.sampled_from(_WORDS) | st.sampled_from(_ODD) | st.text(max_size=3), max_size=5
).map("".join)
VALUE = TEXT | st.sampled_from([None, np.nan, pd.NA, "", " "])


@st.composite
def text_series(draw, min_size=1, max_size=30):
    values = draw(st.lists(VALUE, min_size=min_size, max_size=max_size))
    dtype = draw(st.sampled_from([object, "str"]))
    # A repeated, unordered index: values follow their position, never their label.
    index = draw(st.lists(st.integers(0, 5), min_size=len(values), max_size=len(values)))
    return pd.Series(values, index=index, dtype=dtype)


def _one_at_a_time(func, s):
    return pd.concat([func(s.iloc[[i]]) for i in range(len(s))])


@settings(max_examples=100, deadline=None)
@given(text_series())
def test_email_type_of_a_column_is_that_of_each_address_alone(emails):
    whole = email_domain_type(emails)
    pd.testing.assert_series_equal(whole, _one_at_a_time(email_domain_type, emails))
    assert whole.index.equals(emails.index) and set(whole) <= {
        "business",
        "free",
        "invalid",
        "missing",
    }
    assert (whole[emails.isna().to_numpy()] == "missing").all()


@settings(max_examples=100, deadline=None)
@given(text_series())
def test_job_titles_of_a_column_are_those_of_each_title_alone(titles):
    whole = parse_job_title(titles)
    pd.testing.assert_frame_equal(whole, _one_at_a_time(parse_job_title, titles))
    assert whole.index.equals(titles.index)


_TRAIN_LEADS = make_leads(200, seed=4).assign(employees=np.arange(200.0))
_TRAIN_ACTS = make_activities(_TRAIN_LEADS, seed=4)
_SPEC = fit_feature_spec(_TRAIN_LEADS, _TRAIN_ACTS)
NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([None, -0.0, 7])


@st.composite
def lead_tables(draw):
    n = draw(st.integers(1, 12))
    column = st.lists(VALUE, min_size=n, max_size=n)
    leads = pd.DataFrame(
        {
            LEAD_ID: [f"N{i}" for i in range(n)],
            CREATED_AT: pd.Timestamp("2025-03-01", tz="UTC"),
            EMAIL: draw(column),
            "job_title": draw(column),
            "company_size": draw(column),
            "industry": draw(column),
            "employees": draw(st.lists(NUMBER, min_size=n, max_size=n)),
        },
        index=draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
    )
    return leads, make_activities(leads, per_lead=draw(st.integers(1, 3)), seed=n)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lead_tables())
def test_features_and_matrix_of_a_batch_are_those_of_each_lead_alone(tables):
    leads, acts = tables
    as_of = pd.Timestamp("2025-04-01", tz="UTC")
    whole = build_features(leads, acts, as_of, _SPEC)
    alone = [build_features(leads.iloc[[i]], acts, as_of, _SPEC) for i in range(len(leads))]
    pd.testing.assert_frame_equal(whole, pd.concat(alone), check_exact=True)
    np.testing.assert_array_equal(
        to_matrix(whole, _SPEC), np.vstack([to_matrix(f, _SPEC) for f in alone])
    )
    counts: dict[str, int] = {}
    for i in range(len(leads)):
        for c, k in unseen_category_counts(leads.iloc[[i]], _SPEC).items():
            counts[c] = counts.get(c, 0) + k
    assert unseen_category_counts(leads, _SPEC) == counts


def test_levels_are_matched_as_text_and_unseen_or_missing_values_are_missing():
    spec = fit_feature_spec(_TRAIN_LEADS.assign(flag=[True, False] * 100), _TRAIN_ACTS)
    leads = _TRAIN_LEADS.head(4).assign(
        industry=["Software", "software", None, "Aerospace"], flag=[True, False, None, True]
    )
    f = build_features(leads, _TRAIN_ACTS, "2026-01-01", spec)
    assert f["industry"].astype(object).where(f["industry"].notna(), None).tolist() == [
        "Software",
        None,
        None,
        None,
    ]
    assert f["flag"].astype(object).where(f["flag"].notna(), None).tolist() == [
        "True",
        "False",
        None,
        "True",
    ]
    assert unseen_category_counts(leads, spec) == {"industry": 2}


def test_many_valued_text_columns_are_kept_with_rare_values_grouped_identifiers_left_out():
    # Issue 14, item 2: a 205-value landing page was left out; it carries signal.
    rng = np.random.default_rng(0)
    leads = make_leads(1000)
    # Pages 0-29 on 20+ leads each; pages 30-204 on one or two leads each.
    pages = [i % 30 for i in range(600)] + [30 + i % 175 for i in range(400)]
    leads["landing_page"] = [f"/lp/{pages[i]}" for i in rng.permutation(len(leads))]
    leads["visitor_id"] = [f"v{i}" for i in range(len(leads))]
    leads["form"] = [f"f{i % 40}" for i in range(len(leads))]  # 40 values on 25 leads each
    spec = fit_feature_spec(leads, make_activities(leads))
    assert "landing_page" not in spec.excluded and "landing_page" in spec.columns
    own = [f"/lp/{i}" for i in range(30)]
    assert spec.categorical["landing_page"] == (*sorted(own), OTHER_LEVEL)
    assert spec.grouped["landing_page"] == tuple(sorted(f"/lp/{i}" for i in range(30, 205)))
    assert len(spec.categorical["form"]) == 40 and "form" not in spec.grouped
    assert spec.excluded["visitor_id"].startswith(
        "identifier-like: 1,000 distinct values (unique per row) among 1,000 training leads"
    )
    # features.max_categories caps the levels of their own: the rest join the grouped ones.
    capped = fit_feature_spec(leads, make_activities(leads), max_categories=10)
    assert len(capped.categorical["landing_page"]) == 11
    assert len(capped.grouped["landing_page"]) == 195
    assert "visitor_id" in capped.excluded  # an identifier whatever the cap
    # A many-valued column whose every value is rare is left out, saying so.
    strict = fit_feature_spec(leads, make_activities(leads), min_category_count=30)
    assert strict.excluded["form"].startswith(
        "all values rare: each of its 40 values is on fewer than "
        "features.min_category_count (30) training leads"
    )
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_grouped_and_never_seen_values_take_the_other_level_only_new_ones_count_as_unseen():
    leads = make_leads(600)
    leads["landing_page"] = [f"/lp/{i % 30}" if i < 500 else f"/lp/rare{i}" for i in range(600)]
    spec = fit_feature_spec(leads, make_activities(leads))
    rare = spec.grouped["landing_page"][0]
    new = leads.head(4).assign(landing_page=["/lp/3", rare, "/lp/brand-new", None])
    f = build_features(new, make_activities(leads).head(0), "2026-01-01", spec)
    assert f["landing_page"].astype(object).where(f["landing_page"].notna(), None).tolist() == [
        "/lp/3",
        OTHER_LEVEL,
        OTHER_LEVEL,
        None,
    ]
    assert unseen_category_counts(new, spec) == {"landing_page": 1}


def test_personal_columns_are_never_features_and_match_any_spelling(small_leads, small_activities):
    from mqlml.config import DEFAULT_PERSONAL_COLUMNS

    leads = small_leads.assign(**{"First Name": ["Ann", "Bob", "Cy", "Di"] * 50})
    assert personal_columns(leads.columns, DEFAULT_PERSONAL_COLUMNS) == ["email", "First Name"]
    # four names: a categorical feature, were it not personal
    spec = fit_feature_spec(leads, small_activities)
    assert "First Name" not in spec.columns
    assert spec.excluded["First Name"].startswith("personal data")
    assert "First Name" in fit_feature_spec(leads, small_activities, personal=()).columns
    audited = without_personal(leads, DEFAULT_PERSONAL_COLUMNS, derive=True)
    assert "email" not in audited and "First Name" not in audited
    assert audited["email_domain_type"].tolist() == email_domain_type(leads["email"]).tolist()


@pytest.mark.parametrize("n_values", [3, 40])
def test_a_value_spelled_like_the_grouped_level_is_that_level_once(n_values):
    # A CRM value "(other)" must not become a second "(other)" category (a traceback).
    leads = make_leads(1000)
    values = [OTHER_LEVEL, *(f"v{i}" for i in range(n_values - 1))]
    leads["segment"] = [values[i % n_values] for i in range(len(leads))]
    acts = make_activities(leads)
    spec = fit_feature_spec(leads, acts)
    levels = spec.categorical["segment"]
    assert levels.count(OTHER_LEVEL) == 1 and levels[-1] == OTHER_LEVEL
    feats = build_features(leads, acts, leads[CREATED_AT], spec)
    is_other = (leads["segment"] == OTHER_LEVEL).to_numpy()
    assert (feats["segment"].astype(str).to_numpy() == OTHER_LEVEL)[is_other].all()
