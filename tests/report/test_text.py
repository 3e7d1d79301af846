"""The training summary as terminal text (mqlml.report.text): the training notes."""

from mqlml.model.summary import TrainingSummary
from mqlml.report.text import training_notes


def test_training_notes_name_review_columns_and_columns_left_out_for_their_values(trained):
    summary = trained[0].summary.to_dict()
    review = {"reason": "its name suggests a sales verdict", "evidence": "the name contains "
              "'stage'", "action": "review"}
    s = TrainingSummary.from_dict({
        **summary,
        "warnings": [],
        "leakage_audit": [{**review, "column": "Lead Stage"}, {**review, "column": "Stage Id"}],
        "excluded_columns": {
            "Stage Id": "identifier-like: 900 distinct values (unique per row) among 900 ...",
            "Form Name": "all values rare: each of its 40 values is on fewer than ...",
            "email": "raw personal text; derived features are used instead",
        },
    })
    assert training_notes(s) == [
        "review: column 'Lead Stage' is used, but its name suggests a sales verdict (the name "
        "contains 'stage'); keep it only if it is known when a lead is scored "
        "(audit.allow_columns records that choice)",
        "left out: column 'Stage Id', identifier-like: 900 distinct values (unique per row) "
        "among 900 ...",
        "left out: column 'Form Name', all values rare: each of its 40 values is on fewer "
        "than ...",
    ]
