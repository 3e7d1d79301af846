import numpy as np
import pandas as pd
import pytest

from conftest import make_activities, make_leads
from mqlml.columns import ACTIVITY_TYPE, CREATED_AT, EMAIL, LEAD_ID, OCCURRED_AT
from mqlml.features.build import (
    build_features,
    email_domain_type,
    fit_feature_spec,
    parse_job_title,
    to_matrix,
    unseen_category_counts,
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


def test_counts_recency_and_trend_by_hand():
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


def test_events_at_or_after_as_of_change_no_feature(small_leads, small_activities):
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


def test_events_before_as_of_do_change_features(small_leads, small_activities):
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
