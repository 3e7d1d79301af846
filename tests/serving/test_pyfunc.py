"""A lead scored alone (a REST request) gets exactly what it gets in a large batch.

Features, reasons and calibration have one implementation for any number of leads
(property tests in their own modules, the input checks' in tests/data/test_validate.py);
these tests check the whole scoring path.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import (
    ACTIVITIES,
    ACTIVITY_SUMMARY,
    AS_OF,
    CREATED_AT,
    LEAD_ID,
    NEGATIVE,
    OCCURRED_AT,
    POSITIVE,
    reason_points,
    reason_text,
)
from mqlml.serving.pyfunc import LeadScoringModel, json_safe, lead_rows


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



def test_rows_with_a_prebuilt_activity_summary_score_as_rows_with_activities(
    scorer_and_rows, trained
):
    from mqlml.features.activity import ActivitySummary, duckdb_summary
    from mqlml.serving.pyfunc import summary_rows

    scorer, rows = scorer_and_rows
    model, _, crm, _ = trained
    leads = crm.leads.set_index(LEAD_ID).loc[rows[LEAD_ID]].reset_index()
    as_of = pd.to_datetime(rows[AS_OF], utc=True)
    table = duckdb_summary(leads.assign(**{AS_OF: as_of}), crm.activities,
                           model.spec.windows_days).to_pandas()
    summarised = _as_rest(summary_rows(leads, ActivitySummary(table, "summary"), as_of))
    assert ACTIVITY_SUMMARY in summarised and ACTIVITIES not in summarised
    want = scorer.predict(None, rows)
    pd.testing.assert_frame_equal(scorer.predict(None, summarised), want, check_exact=True)
    alone = pd.concat(
        [scorer.predict(None, summarised.iloc[i : i + 1].reset_index(drop=True))
         for i in range(0, len(rows), 9)],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(alone, want.iloc[::9].reset_index(drop=True), check_exact=True)
    with pytest.raises(Exception, match="give either 'activities' or 'activity_summary'"):
        scorer.predict(None, summarised.assign(**{ACTIVITIES: "[]"}))


# --- issue 19, item 9: REST answers are strict JSON; rows in errors are counted from 1


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


def test_rest_answer_is_strict_json_with_empty_reasons(scorer_and_rows):
    from mlflow.pyfunc.scoring_server import predictions_to_json

    scorer, rows = scorer_and_rows
    # Leads without activities have fewer reasons than reason columns.
    bare = rows.assign(**{ACTIVITIES: "[]"})
    buffer = io.StringIO()
    predictions_to_json(scorer.predict(None, bare), buffer)
    answer = _strict_json(buffer.getvalue())["predictions"]
    assert len(answer) == len(rows)
    empty = [r for r in answer if r[reason_text(POSITIVE, 3)] == ""]
    assert empty and all(r[reason_points(POSITIVE, 3)] is None for r in empty)


def test_rest_numbers_missing_are_null_not_nan():
    out = pd.DataFrame({"lead_id": ["a"], "probability": [np.nan]})
    out["reason"] = pd.Series([None], dtype="str")
    clean = json_safe(out)
    assert clean["reason"].tolist() == [""]
    assert clean["probability"].tolist() == [None]
    _strict_json(clean.to_json(orient="records"))


def test_rest_errors_count_rows_from_one(scorer_and_rows):
    from mlflow.exceptions import MlflowException

    scorer, rows = scorer_and_rows
    bad = rows.head(3).copy()
    bad.loc[0, "created_at"] = "not a date"
    with pytest.raises(MlflowException) as err:
        scorer.predict(None, bad)
    message = str(err.value)
    assert "row 1" in message and "row 0" not in message, message
