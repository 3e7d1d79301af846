"""The core summary of one split fit (mqlml.training.evaluation): its warnings."""

from mqlml.model.summary import TrainingSummary
from mqlml.report.html import build_report
from mqlml.report.text import training_notes
from mqlml.training.evaluation import summary_warnings


def _metrics(model, baseline):
    return {"model": {"roc_auc": model}, "baseline_logistic": {"roc_auc": baseline}}


def test_a_model_worse_than_its_logistic_baseline_is_warned_with_both_aucs():
    # Issue 14, item 6: such a model shipped without a word.
    (sentence,) = summary_warnings(_metrics(0.7123, 0.7481))
    assert sentence.startswith("The model ranks the test leads worse than its own logistic")
    assert "test ROC AUC 0.712 for the model against 0.748 for a logistic regression" in sentence
    assert summary_warnings(_metrics(0.75, 0.74)) == []
    assert summary_warnings(_metrics(0.7481, 0.7485)) == []  # equal at three decimals
    assert summary_warnings(_metrics(float("nan"), 0.7)) == []


def test_the_warning_is_recorded_printed_and_shown_first_in_the_report(trained):
    summary = trained[0].summary.to_dict()
    # Recorded by every training, from its own test figures.
    assert summary["warnings"] == summary_warnings(summary["metrics_test"])
    assert "Read this first" not in build_report({**summary, "warnings": []}).html
    worse = {**summary, "warnings": summary_warnings(_metrics(0.61, 0.66))}
    lines = training_notes(TrainingSummary.from_dict(worse))
    assert lines[0].startswith("warning: The model ranks the test leads worse")
    html = build_report(worse).html
    top = html[: html.index("<nav>")]
    assert "Read this first" in top and "0.610 for the model against 0.660" in top
