"""A lead scored alone (a REST request) gets exactly what it gets in a large batch.

Features, reasons and calibration have one implementation for any number of leads
(property tests in their own modules, the input checks' in tests/data/test_validate.py);
these tests check the whole scoring path.
"""

from __future__ import annotations

import pandas as pd
import pytest

from mqlml.columns import (
    CREATED_AT,
    NEGATIVE,
    OCCURRED_AT,
    POSITIVE,
    reason_text,
)
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




