import numpy as np
import pandas as pd
import pytest

from mqlml.config import AuditConfig
from mqlml.errors import ConfigError
from mqlml.labels.split import time_split
from mqlml.training.audit import (
    LeakageWarning,
    audit_training,
    drift_audit,
    leakage_audit,
    single_column_auc,
)


def _frame(n=3000, seed=0):
    """Leads with one honest signal and the leaks exports are full of."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal - 2)))).astype(float)
    # A disposition sales fill in after the call: equal to the label for 95% of rows.
    agree = rng.random(n) < 0.95
    disposition = np.where(agree == (y == 1), "interested", "not interested")
    # Filled only once a lead converted (a lost reason would be the mirror image).
    deal_owner = np.where((y == 1) & (rng.random(n) < 0.7), "Kim", None)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="h")
    outcome_at = pd.Series(created + pd.Timedelta(days=10)).where(y == 1)
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_at": created,
            "signal": signal,
            "industry": rng.choice(["software", "retail", "banking"], n),
            "disposition": disposition,
            "deal_owner": pd.Series(deal_owner, dtype="str"),
            "closed_at": outcome_at + pd.Timedelta(days=3),
        }
    )
    return frame, y, outcome_at


def test_single_column_auc_separates_leaks_from_noise():
    frame, y, _ = _frame()
    assert single_column_auc(frame["disposition"], y) > 0.93
    assert single_column_auc(frame["industry"], y) < 0.6
    # A genuine numeric signal is predictive, but nowhere near perfect.
    assert 0.6 < single_column_auc(frame["signal"], y) < 0.9


def test_leakage_audit_flags_each_kind_with_evidence():
    frame, y, outcome_at = _frame()
    rows = {r["column"]: r for r in leakage_audit(frame, y, AuditConfig(), outcome_at)}
    assert set(rows) == {"disposition", "deal_owner", "closed_at"}
    assert "almost perfectly" in rows["disposition"]["reason"]
    assert "single-column ROC AUC 0.9" in rows["disposition"]["evidence"]
    assert "filled mostly for converted leads" in rows["deal_owner"]["reason"]
    assert "100% converted" in rows["deal_owner"]["evidence"]
    assert "after the outcome" in rows["closed_at"]["reason"]
    assert all(r["action"] == "excluded" for r in rows.values())


def test_allowed_column_is_kept_and_marked():
    frame, y, outcome_at = _frame()
    cfg = AuditConfig(allow_columns=("disposition",))
    rows = {r["column"]: r["action"] for r in leakage_audit(frame, y, cfg, outcome_at)}
    assert rows["disposition"] == "allowed"
    split = time_split(frame, y, (0.6, 0.2, 0.2))
    with pytest.warns(LeakageWarning, match="'deal_owner' excluded"):
        result = audit_training(frame, y, split, cfg, outcome_at)
    assert "disposition" not in result.excluded
    assert "deal_owner" in result.excluded


def test_allow_columns_must_name_real_columns():
    frame, y, _ = _frame(200)
    split = time_split(frame, y, (0.6, 0.2, 0.2))
    with pytest.raises(ConfigError, match="audit.allow_columns names \\['dispositon'\\]"):
        audit_training(frame, y, split, AuditConfig(allow_columns=("dispositon",)))


def test_drift_audit_names_columns_that_leave_their_range():
    rng = np.random.default_rng(1)
    n = 1000
    first = pd.DataFrame({"rate": rng.uniform(3, 5, n), "stable": rng.normal(size=n)})
    latest = pd.DataFrame({"rate": rng.uniform(0.5, 1.5, n), "stable": rng.normal(size=n)})
    rows = drift_audit(first, first, latest, AuditConfig())
    assert [r["column"] for r in rows] == ["rate"]
    assert rows[0]["out_of_range"] == 1.0
    assert rows[0]["psi"] > 0.2
    assert "earlier 3" in rows[0]["evidence"]


def test_drift_audit_sees_new_categories():
    first = pd.DataFrame({"month": ["may", "jun"] * 200})
    latest = pd.DataFrame({"month": ["may", "sep"] * 200})
    rows = drift_audit(first, first, latest, AuditConfig())
    assert rows[0]["column"] == "month"
    assert rows[0]["out_of_range"] == pytest.approx(0.5)
    assert "'sep'" in rows[0]["evidence"]


def test_monotone_directions_come_from_pre_test_drift_only():
    from mqlml.features.build import fit_feature_spec
    from mqlml.training.audit import monotone_for_drifting

    rng = np.random.default_rng(2)
    n = 1500
    rate = np.linspace(5, 1, n)  # falls through the whole history
    y = (rng.random(n) < 1 / (1 + np.exp(rate - 1))).astype(float)
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_at": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(np.arange(n), unit="h"),
            "rate": rate,
            "noise": rng.normal(size=n),
        }
    )
    split = time_split(frame, y, (0.6, 0.2, 0.2))
    spec = fit_feature_spec(frame.iloc[split.train], pd.DataFrame(columns=["lead_id",
                                                                           "activity_type"]))
    features = frame[["rate", "noise"]]
    # Conversion rises as the rate falls, and the rate leaves its train range before the test.
    def directions(f):
        return monotone_for_drifting(
            f.iloc[split.train], f.iloc[split.calibration], y[split.train], spec, AuditConfig()
        )

    assert directions(features) == {"rate": -1}
    # Changing the test slice changes nothing: it is never looked at.
    shuffled = features.copy()
    shuffled.iloc[split.test] = shuffled.iloc[split.test].sample(frac=1, random_state=0).values
    assert directions(shuffled) == {"rate": -1}


def test_recency_weights_halve_every_half_life():
    from mqlml.model.trees import recency_weights

    w = recency_weights(101, 0.5)
    assert w[-1] == 1.0
    assert w[-1 - 50] == pytest.approx(0.5, rel=0.02)
    assert recency_weights(10, None) is None


def sales_filled_export(n=4000, seed=0):
    """A lead export as a CRM hands it over, with the fields sales and vendors fill in.

    Ordinary attributes (industry, company size, country, source, page views) carry
    signal, and some are missing at random or a little more often for unconverted leads.
    Planted: a rating filled mostly for converted leads; two vendor scores filled for old
    leads and empty for recent ones (one without a telling name); a tags field filled
    after contact (less often for the newest leads, its values hinting at the outcome);
    a lead quality whose only sign is its name; a lost reason filled for unconverted leads.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(t * 2, unit="h")
    industry = rng.choice(["software", "retail", "banking", "health"], n)
    size = rng.choice(["1-10", "11-50", "51-200", "201-1000", "1000+"], n)
    country = rng.choice(["US", "DE", "FR", "IN", "BR"], n)
    source = rng.choice(["organic", "paid", "referral", "event"], n)
    views = rng.poisson(3, n)
    logit = (
        -2.3
        + 0.25 * views
        + np.select([size == "1000+", size == "201-1000"], [0.8, 0.4], 0)
        + np.where(source == "referral", 0.7, 0)
        + np.where(industry == "software", 0.3, 0)
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    newest = t >= int(n * 0.8)
    # Ordinary missingness: company size a little more often missing when unconverted.
    size_missing = rng.random(n) < np.where(y, 0.12, 0.2)
    country_missing = rng.random(n) < 0.05
    # Sales rate the leads they talk to: mostly converted ones.
    rated = rng.random(n) < np.where(y, 0.7, 0.15)
    rating = np.where(rng.random(n) < np.where(y, 0.6, 0.3), "Hot", "Warm")
    # A vendor's engagement scores, bought for a while: old leads only.
    vendor = rng.random(n) < np.where(newest, 0.03, 0.9)
    # Tags after contact: fewer for the newest leads, values that read the outcome.
    tagged = rng.random(n) < np.where(newest, 0.1, np.where(y, 0.8, 0.6))
    tag_value = np.where(
        rng.random(n) < 0.75,
        np.where(y, "Will revert after reading the email", "Ringing"),
        rng.choice(["Interested in other courses", "Already a student"], n),
    )
    lost = (~y) & (rng.random(n) < 0.6)
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i:05d}" for i in range(n)],
            "created_at": created,
            "industry": industry,
            "company_size": pd.Series(size, dtype="str").mask(size_missing),
            "country": pd.Series(country, dtype="str").mask(country_missing),
            "lead_source": source,
            "page_views": views,
            "Lead Rating": pd.Series(rating, dtype="str").where(rated),
            "Vendor Engagement Score": pd.Series(
                np.round(rng.normal(14 + y, 2), 0)
            ).where(vendor),
            "Vendor Profile Index": pd.Series(np.round(rng.normal(16 + y, 2), 0)).where(vendor),
            "Tags": pd.Series(tag_value, dtype="str").where(tagged),
            "Lead Quality": rng.choice(["High in relevance", "Might be", "Not sure"], n),
            "Lost Reason": pd.Series(
                rng.choice(["budget", "no answer", "competitor"], n), dtype="str"
            ).where(lost),
        }
    )
    return frame, y.astype(float)


#: What each planted column must get from the audit on the sales-filled export.
PLANTED = {
    "Lead Rating": "excluded",
    "Vendor Engagement Score": "excluded",
    "Vendor Profile Index": "excluded",
    "Tags": "excluded",
    "Lead Quality": "review",
    "Lost Reason": "excluded",
}
ORDINARY = ("industry", "company_size", "country", "lead_source", "page_views")


def test_sales_filled_fields_are_flagged_and_ordinary_attributes_are_not():
    frame, y = sales_filled_export()
    split = time_split(frame, y, (0.6, 0.2, 0.2))
    with pytest.warns(LeakageWarning):
        result = audit_training(frame, y, split, AuditConfig())
    rows = {r["column"]: r for r in result.leakage}
    for r in rows.values():
        print(r)
    assert {c: r["action"] for c, r in rows.items()} == PLANTED
    assert not set(ORDINARY) & set(rows)


def test_name_words_match_whole_words_in_order():
    from mqlml.training.audit import name_findings

    cfg = AuditConfig()
    for flagged in ("Lead Status", "leadScore", "lead_score", "Tags", "Lead Quality",
                    "Last Notable Activity", "RATING", "Lifecycle Stage"):
        assert name_findings(flagged, cfg), flagged
    for ordinary in ("Last Name", "storage_gb", "industry", "company_size", "Country/Region",
                     "Original Source", "lead_source", "poutcome", "Page Views", "tagline"):
        assert not name_findings(ordinary, cfg), ordinary
    # A date is never a feature: its name alone says nothing worth reviewing.
    frame, y, _ = _frame(300)
    dated = frame[["lead_id", "created_at", "industry"]].assign(
        **{"Last Activity Date": frame["created_at"], "Lead Stage": "open"}
    )
    assert [r["column"] for r in leakage_audit(dated, y, cfg)] == ["Lead Stage"]


def test_the_planted_evidence_is_named_and_allow_columns_keeps_one():
    frame, y = sales_filled_export()
    split = time_split(frame, y, (0.6, 0.2, 0.2))
    cfg = AuditConfig(allow_columns=("Tags",))
    with pytest.warns(LeakageWarning) as caught:
        result = audit_training(frame, y, split, cfg)
    rows = {r["column"]: r for r in result.leakage}
    assert "filled far more often for one outcome" in rows["Lead Rating"]["reason"]
    assert "filled for 68% of converted leads and 15% of the others" in (
        rows["Lead Rating"]["evidence"]
    )
    # No telling name: the fall of its fill for the newest leads alone excludes it.
    assert rows["Vendor Profile Index"]["reason"] == "filled far less often for the newest leads"
    assert "90% of the older leads but 3% of the newest 20%" in (
        rows["Vendor Profile Index"]["evidence"]
    )
    assert rows["Tags"]["action"] == "allowed" and "Tags" not in result.excluded
    assert [r["column"] for r in result.review] == ["Lead Quality"]
    assert "Lead Quality" not in result.excluded
    message = str(caught[0].message)
    assert "'Lead Rating' excluded" in message and "'Tags' allowed" in message
    # The evidence never quotes a value of the column.
    for value in ("Hot", "Warm", "Ringing", "budget", "High in relevance"):
        assert value not in " ".join(str(r) for r in result.leakage)


def test_recent_fill_reads_no_label_and_needs_a_fall():
    from mqlml.training.audit import recent_fill_findings

    frame, _ = sales_filled_export(1000)
    found = recent_fill_findings(frame, AuditConfig())
    assert set(found) == {"Vendor Engagement Score", "Vendor Profile Index", "Tags"}
    # Shuffled rows in, the same answer: the audit orders them by creation time.
    again = recent_fill_findings(frame.sample(frac=1, random_state=0), AuditConfig())
    assert again == found
    assert recent_fill_findings(frame, AuditConfig(recent_fill_review=0.02,
                                                   recent_fill_exclude=0.01)) == {}


def test_training_output_and_report_show_the_flagged_columns_first(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from mqlml.cli import app

    frame, y = sales_filled_export(2000)
    export = frame.rename(columns={"lead_id": "Id", "created_at": "Created"}).assign(
        Converted=np.where(y == 1, "yes", "no"),
        # 260 landing pages on 4-5 training leads each: all rare; a visitor id: one per row.
        **{"Landing Page": [f"/lp/{i % 260}" for i in range(len(y))],
           "Visitor Id": [f"v{i:06d}" for i in range(len(y))]},
    )
    data = tmp_path / "export.csv"
    export.to_csv(data, index=False)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "flat": {"target_column": "Converted", "positive_values": ["yes"],
                 "id_column": "Id", "time_column": "Created"},
        "model": {"max_boost_rounds": 80},
        "thresholds": {"capacity_per_week": 10, "bootstrap_samples": 0},
    }))
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data),
                                      "--no-tracking", "--models-dir", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "warning: leakage audit: 'Lead Rating' excluded" in err
    assert "review: column 'Lead Quality' is used, but its name suggests" in err
    assert "left out: column 'Landing Page', all values rare: each of its 260 values" in err
    assert "features.min_category_count (10)" in err
    assert "left out: column 'Visitor Id', identifier-like: 1,200 distinct values (unique" in err
    bundle = tmp_path / "m" / "lead-scoring" / "1"
    html = (bundle / "report.html").read_text()
    top = html[: html.index("<nav>")]
    assert "Read this first" in top
    for column in PLANTED:
        assert column in top
    for column in ORDINARY:
        assert column not in top


def test_the_drift_audit_never_quotes_personal_data():
    # Personal data never leaves the user's files: the report and metrics.json quoted
    # the test slice's new email addresses as "categories never seen earlier".
    n = 400
    first = pd.DataFrame({"email": [f"ana{i}@acme.io" for i in range(n)],
                          "job_title": ["VP Sales", "CTO"] * (n // 2),
                          "plan": ["free", "pro"] * (n // 2)})
    latest = pd.DataFrame({"email": [f"bob{i}@corp.io" for i in range(n)],
                           "job_title": ["Student", "CTO"] * (n // 2),
                           "plan": ["free", "team"] * (n // 2)})
    rows = {r["column"]: r for r in drift_audit(first, first, latest, AuditConfig())}
    assert "email" not in rows  # an identifier: never a feature
    assert "1 categories never seen earlier (not shown: personal data)" in (
        rows["job_title"]["evidence"]
    )
    assert "Student" not in str(rows) and "@" not in str(rows)
    assert "'team'" in rows["plan"]["evidence"]  # an ordinary category is named


def test_drift_evidence_never_quotes_personal_values():
    """The drift audit ran on raw emails and listed addresses never seen earlier as evidence;
    it reads the email domain type instead."""
    n = 300
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="D")
    frame = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_at": created,
            # the latest leads write from free mailboxes: the domain type drifts
            "email": [f"person{i}@{'gmail.com' if i >= 240 else 'acme.com'}" for i in range(n)],
            "phone": [f"+1 555 {i:04d}" for i in range(n)],
        }
    )
    y = pd.Series(np.tile([0.0, 1.0], n // 2))
    split = time_split(frame, y, (0.6, 0.2, 0.2))
    result = audit_training(frame, y.to_numpy(), split, AuditConfig())
    text = repr(result)
    assert "person2" not in text and "+1 555" not in text
    assert [r["column"] for r in result.drift] == ["email_domain_type"]
