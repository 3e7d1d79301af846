"""The core summary of one split fit (mqlml.training.evaluation): warnings, importance."""

from types import SimpleNamespace

import numpy as np
import pytest

from mqlml.features.fields import field_matrix
from mqlml.model.summary import TrainingSummary
from mqlml.report.html import build_report
from mqlml.report.text import training_notes
from mqlml.training.evaluation import importance, summary_warnings


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


@pytest.mark.parametrize("tree_weight", [None, 1.0, 0.3, 0.0])
def test_field_importance_is_the_trees_gain_share_and_zero_without_trees(trained, tree_weight):
    """The gain share of each field in the trees: a blend's weight scales every tree alike
    (the shares stay), and a linear model's weightless trees give every field 0."""
    model = trained[0]
    linear = None if tree_weight is None else SimpleNamespace(tree_weight_=tree_weight)
    fit = SimpleNamespace(booster=model.booster, linear=linear)
    table = importance(SimpleNamespace(spec=model.spec, model=SimpleNamespace(fit=fit)))
    _, fields = field_matrix(model.spec)
    assert sorted(table["field"]) == sorted(fields)
    shares = table.set_index("field")["gain_share"]
    if tree_weight == 0.0:
        assert (shares == 0).all()
        return
    assert shares.sum() == pytest.approx(1.0)
    assert table["gain_share"].is_monotonic_decreasing
    # A field's share is the gain of its columns (one-hot levels, windows) summed.
    gain = dict(zip(model.booster.feature_name(),
                    model.booster.feature_importance(importance_type="gain"), strict=True))
    m, _ = field_matrix(model.spec)
    per_field = np.asarray(list(gain.values())) @ m
    expected = dict(zip(fields, per_field / per_field.sum(), strict=True))
    assert shares.to_dict() == pytest.approx(expected)
