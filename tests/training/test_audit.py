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
