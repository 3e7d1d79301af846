"""The few-rows paths (REST requests) give exactly what the pandas paths of batches give.

Scoring a handful of leads takes value-by-value shortcuts (features, data, reasons) to
avoid pandas' per-call cost; these tests pin them to the batch code, value for value.
"""

from __future__ import annotations

import numpy as np
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
from mqlml.explain import contributions as explain
from mqlml.explain import reasons
from mqlml.features import build as features
from mqlml.model import calibrate
from mqlml.serving.pyfunc import LeadScoringModel, lead_rows


def _as_rest(rows: pd.DataFrame) -> pd.DataFrame:
    """The frame ``mlflow models serve`` builds from ``dataframe_split`` JSON."""
    clean = rows.astype(object).where(rows.notna(), None)
    return pd.DataFrame(clean.to_numpy().tolist(), columns=list(clean.columns))


@pytest.fixture(scope="module")
def scorer_and_rows(trained):
    model, _, crm, _ = trained
    leads = crm.leads.sort_values(CREATED_AT).tail(40).reset_index(drop=True)
    as_of = pd.Series(crm.activities[OCCURRED_AT].max() + pd.Timedelta(hours=1), leads.index)
    scorer = LeadScoringModel()
    scorer._model = model
    return scorer, _as_rest(lead_rows(leads, crm.activities, as_of))


def test_one_lead_per_request_scores_exactly_as_the_batch(scorer_and_rows, monkeypatch):
    scorer, rows = scorer_and_rows
    one_by_one = pd.concat(
        [
            scorer.predict(None, rows.iloc[i : i + 1].reset_index(drop=True))
            for i in range(len(rows))
        ],
        ignore_index=True,
    )
    in_fives = pd.concat(
        [
            scorer.predict(None, rows.iloc[i : i + 5].reset_index(drop=True))
            for i in range(0, 40, 5)
        ],
        ignore_index=True,
    )
    monkeypatch.setattr(features, "_FAST_MAX_ROWS", -1)
    monkeypatch.setattr(data, "_FEW_ROWS", -1)
    monkeypatch.setattr(reasons, "_FEW_LEADS", -1)
    monkeypatch.setattr(explain, "FEW_ROWS_ONE_THREAD", -1)
    monkeypatch.setattr(calibrate, "_FEW_VALUES", -1)
    batch = scorer.predict(None, rows)
    assert batch[reason_text(POSITIVE, 1)].notna().sum() > 20
    assert batch[reason_text(NEGATIVE, 1)].notna().sum() > 20
    pd.testing.assert_frame_equal(one_by_one, batch, check_exact=True)
    pd.testing.assert_frame_equal(in_fives, batch, check_exact=True)


_TITLES = [
    "  Vice-President, Sales ",
    "VP/Head of IT",
    "Co-Founder & CEO",
    "a\tb  Director\n",
    "Lead\x0bEngineer",
    "Assistant to the Director",
    "HR | People (Talent)",
    "data scientist",
    "",
    None,
    np.nan,
    "Président Directeur",  # not ASCII: the pandas path
    "Chef\x1cde projet",  # a control character: the pandas path
]
_EMAILS = [
    "x@GMAIL.com ",
    " A.B@Corp.IO",
    "bad@",
    "no-at-sign",
    "o'neil@yahoo.co.uk",
    "a@b.c",
    "",
    None,
    np.nan,
    "é@acme.com",
]


@pytest.mark.parametrize("dtype", [object, "str"])
def test_job_titles_and_emails_of_a_few_leads_equal_the_batch_path(dtype, monkeypatch):
    titles = pd.Series(_TITLES, dtype=dtype, index=range(10, 10 + len(_TITLES)))
    emails = pd.Series(_EMAILS, dtype=dtype)
    few = [features.parse_job_title(titles), features.email_domain_type(emails)]
    few += [features.parse_job_title(titles.iloc[[i]]) for i in range(len(titles))]
    monkeypatch.setattr(features, "_FAST_MAX_ROWS", -1)
    batch = [features.parse_job_title(titles), features.email_domain_type(emails)]
    batch += [features.parse_job_title(titles.iloc[[i]]) for i in range(len(titles))]
    assert few[0].loc[10].tolist() == ["vp", "sales"]
    for a, b in zip(few, batch, strict=True):
        (
            pd.testing.assert_frame_equal
            if isinstance(a, pd.DataFrame)
            else pd.testing.assert_series_equal
        )(a, b, check_exact=True)


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
    c = check(frame, source="t")
    return c.frame, c.problems, c.notes, c.naive


@pytest.mark.parametrize(
    ("check", "frame"),
    [
        (data.check_leads, _LEADS),
        (data.check_leads, _LEADS.iloc[[0]]),
        (data.check_leads, _LEADS.iloc[[2]]),
        (data.check_leads, _LEADS.assign(created_at=["now", "not a date", ""])),
        (data.check_activities, _ACTIVITIES),
        (data.check_activities, _ACTIVITIES.iloc[[1]]),
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
