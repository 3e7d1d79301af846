import numpy as np
import pandas as pd
import pytest

from mqlml.columns import AS_OF, CREATED_AT, LEAD_ID, SCORE_COLUMNS, reason_points
from mqlml.errors import DataValidationError
from mqlml.explain import field_contributions, field_points
from mqlml.features import build_features, to_matrix
from mqlml.score import resolve_as_of, score_leads


def test_one_row_per_lead_in_input_order(trained):
    model, _, crm, _ = trained
    leads = crm.leads.sample(300, random_state=1).reset_index(drop=True)
    out = score_leads(model, leads, crm.activities, as_of=leads[CREATED_AT].max())
    assert list(out.columns) == list(SCORE_COLUMNS)
    assert out[LEAD_ID].tolist() == leads[LEAD_ID].tolist()
    assert out["score"].between(1, 99).all()
    assert set(out["grade"]) <= set("ABCD")
    assert (out["is_mql"] == (out["score"] >= model.mql.cutoff_)).all()
    assert np.allclose(out["score"], np.clip(np.rint(100 * out["probability"]), 1, 99))


def test_reasons_are_the_top_fields_by_points(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(50)
    out = score_leads(model, leads, crm.activities, as_of="2025-06-30")
    X = to_matrix(
        build_features(leads, crm.activities, pd.Timestamp("2025-06-30", tz="UTC"), model.spec),
        model.spec,
    )
    per_field, base = field_contributions(model.booster, X, model.spec)
    points, _ = field_points(per_field, base, model.calibrator)
    best = points.abs().max(axis=1).to_numpy()
    np.testing.assert_allclose(out[reason_points(1)].abs(), np.round(best, 1), atol=0.051)
    assert (out[reason_points(1)].abs() >= out[reason_points(2)].abs() - 1e-9).all()


def test_scoring_ignores_activities_after_as_of(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(100)
    t = pd.Timestamp("2025-03-01", tz="UTC")
    leads = leads[leads[CREATED_AT] < t]
    a = score_leads(model, leads, crm.activities, as_of=t)
    b = score_leads(model, leads, crm.activities[crm.activities["occurred_at"] < t], as_of=t)
    pd.testing.assert_frame_equal(a, b)


def test_as_of_column_per_lead(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(20).copy()
    leads[AS_OF] = (leads[CREATED_AT] + pd.Timedelta(days=14)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    per_lead = score_leads(model, leads, crm.activities)
    for i in (0, 7):
        one = score_leads(
            model, leads.iloc[[i]].drop(columns=AS_OF), crm.activities, as_of=leads[AS_OF].iloc[i]
        )
        assert per_lead["probability"].iloc[i] == pytest.approx(one["probability"].iloc[0])


def test_lead_created_after_as_of_is_an_error_naming_rows(trained):
    model, _, crm, _ = trained
    leads = crm.leads.head(5)
    with pytest.raises(
        DataValidationError, match=r"created after their scoring time \(rows \[1, 2"
    ):
        resolve_as_of(leads, "2000-01-01", "new.csv")
    with pytest.raises(DataValidationError, match="as_of"):
        resolve_as_of(leads, "not a date", "new.csv")


def test_empty_batch(trained):
    model, _, crm, _ = trained
    out = score_leads(model, crm.leads.iloc[:0], crm.activities, as_of="2025-06-30")
    assert len(out) == 0 and list(out.columns) == list(SCORE_COLUMNS)
