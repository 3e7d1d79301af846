"""A lead scored alone (a REST request) gets exactly what it gets in a large batch.

Features, reasons and calibration have one implementation for any number of leads
(property tests in their own modules); these tests check the whole scoring path. The
input checks of :mod:`mqlml.data.contract` still have a few-rows path (``_FEW_ROWS``),
pinned to its batch path here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from mqlml.columns import (
    ACTIVITY_TYPE,
    CREATED_AT,
    DETAIL,
    LEAD_ID,
    NEGATIVE,
    OCCURRED_AT,
    POSITIVE,
    reason_text,
)
from mqlml.data import contract as data
from mqlml.serving.pyfunc import LeadScoringModel, lead_rows


def _as_rest(rows: pd.DataFrame) -> pd.DataFrame:
    """The frame ``mlflow models serve`` builds from ``dataframe_split`` JSON."""
    clean = rows.astype(object).where(rows.notna(), None)
    return pd.DataFrame(clean.to_numpy().tolist(), columns=list(clean.columns))


N_ROWS = 100  # more than any few-rows path of the input checks takes


@pytest.fixture(scope="module")
def scorer_and_rows(trained):
    model, _, crm, _ = trained
    leads = crm.leads.sort_values(CREATED_AT).tail(N_ROWS).reset_index(drop=True)
    as_of = pd.Series(crm.activities[OCCURRED_AT].max() + pd.Timedelta(hours=1), leads.index)
    scorer = LeadScoringModel()
    scorer._model = model
    return scorer, _as_rest(lead_rows(leads, crm.activities, as_of))


def test_one_lead_per_request_scores_exactly_as_in_a_large_batch(scorer_and_rows):
    scorer, rows = scorer_and_rows
    one_by_one = pd.concat(
        [
            scorer.predict(None, rows.iloc[i : i + 1].reset_index(drop=True))
            for i in range(len(rows))
        ],
        ignore_index=True,
    )
    in_sevens = pd.concat(
        [
            scorer.predict(None, rows.iloc[i : i + 7].reset_index(drop=True))
            for i in range(0, len(rows), 7)
        ],
        ignore_index=True,
    )
    batch = scorer.predict(None, rows)
    assert batch[reason_text(POSITIVE, 1)].notna().sum() > 50
    assert batch[reason_text(NEGATIVE, 1)].notna().sum() > 50
    pd.testing.assert_frame_equal(one_by_one, batch, check_exact=True)
    pd.testing.assert_frame_equal(in_sevens, batch, check_exact=True)


_LEADS = pd.DataFrame(
    {
        LEAD_ID: [" L1 ", "L2", "L3"],
        CREATED_AT: ["2026-01-05T10:00:00Z", "2026-01-05 09:00", "01/06/2026"],
        "company_size": [" 51-200", "", None],
        "employees": ["12", " 7 ", None],
        "revenue": ["1.5", "2", "1234567890123456"],
        "industry": ["Software ", "\tRetail", "Café"],
    }
)
_ACTIVITIES = pd.DataFrame(
    {
        LEAD_ID: ["L1", "L2", "L2"],
        OCCURRED_AT: ["2026-01-06T10:00:00+02:00", "2026-01-07", "2026-01-07 08:00 UTC"],
        ACTIVITY_TYPE: ["Page View", " email_open", "Pricing  Page View"],
        DETAIL: ["/pricing", None, " x "],
    }
)


def _checked(check, frame):
    c = check(frame, "t", None)
    return c.frame, c.problems, c.notes, c.naive


@pytest.mark.parametrize(
    ("check", "frame"),
    [
        (data._check_leads, _LEADS),
        (data._check_leads, _LEADS.iloc[[0]]),
        (data._check_leads, _LEADS.iloc[[2]]),
        (data._check_leads, _LEADS.assign(created_at=["now", "not a date", ""])),
        (data._check_activities, _ACTIVITIES),
        (data._check_activities, _ACTIVITIES.iloc[[1]]),
    ],
)
def test_checks_of_a_few_rows_equal_the_batch_path(check, frame, monkeypatch):
    few = _checked(check, frame)
    monkeypatch.setattr(data, "_FEW_ROWS", -1)
    batch = _checked(check, frame)
    if batch[0] is None:
        assert few[0] is None
    else:
        pd.testing.assert_frame_equal(few[0], batch[0], check_exact=True)
    assert few[1:] == batch[1:]


def test_one_row_tables_validate_like_the_batch(monkeypatch):
    few = [data.validate_leads(_LEADS.iloc[[1]]), data.validate_activities(_ACTIVITIES.iloc[[2]])]
    monkeypatch.setattr(data, "_FEW_ROWS", -1)
    batch = [data.validate_leads(_LEADS.iloc[[1]]), data.validate_activities(_ACTIVITIES.iloc[[2]])]
    for a, b in zip(few, batch, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert few[1][ACTIVITY_TYPE].tolist() == ["pricing_page_view"]
