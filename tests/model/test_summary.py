"""The typed training summary: every key typed, lossless to and from metrics.json."""

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlml.model.bundle import save_bundle
from mqlml.model.summary import (
    Backtest,
    ClassificationMetrics,
    Funnel,
    MqlThreshold,
    Period,
    TrainingSummary,
    _Section,
    unseen_by,
)

#: The keys of the first bundle format: every metrics.json has them.
FIRST_FORMAT = (
    "name", "target", "horizon_days", "observation_days", "snapshot_at", "label_counts",
    "periods", "metrics_test", "calibration", "model", "mql_threshold", "grades",
    "importance", "excluded_columns", "data_notes", "versions",
)


def _text(d: dict) -> str:
    """metrics.json's text (NaN != NaN, so dicts from JSON are compared as text)."""
    return json.dumps(d, indent=2, default=str)


def _sections(value):
    """Every typed section inside ``value``, itself included."""
    if isinstance(value, _Section):
        yield value
        for f in dataclasses.fields(value):
            yield from _sections(getattr(value, f.name))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _sections(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _sections(v)


@pytest.fixture(scope="module")
def full_summary(funnel_trained):
    """The summary of a training with every optional section (backtest, funnel, rules,
    segments) as the JSON dict a bundle saves."""
    return funnel_trained[0].summary


def test_a_training_is_read_by_attribute(trained):
    s = trained[0].summary
    assert isinstance(s, TrainingSummary)
    assert isinstance(s.metrics_test.model, ClassificationMetrics)
    assert isinstance(s.mql_threshold, MqlThreshold)
    assert all(isinstance(p, Period) for p in s.periods)
    assert [p.name for p in s.periods] == ["train", "calibration", "test"]
    assert 0.5 < s.metrics_test.model.roc_auc <= 1
    assert s.mql_threshold.cutoff == trained[0].mql.cutoff_
    assert s.grades.cutoffs == trained[0].grades.cutoffs_
    # No backtest was configured: the optional sections are None, not empty dicts.
    assert s.backtest is None and s.rules is None


def test_every_key_a_training_writes_is_typed(full_summary):
    assert isinstance(full_summary.backtest, Backtest)
    assert isinstance(full_summary.funnel, Funnel)
    assert full_summary.rules is not None and full_summary.segments is not None
    # Nothing lands in ``extra``: each key the pipeline writes has its field.
    untyped = {
        type(s).__name__: sorted(s.extra) for s in _sections(full_summary) if s.extra
    }
    assert untyped == {}


@pytest.mark.parametrize("fixture", ["trained", "funnel_trained"])
def test_to_dict_and_from_dict_round_trip(fixture, request):
    s = request.getfixturevalue(fixture)[0].summary
    d = s.to_dict()
    assert TrainingSummary.from_dict(d) == s
    assert TrainingSummary.from_dict(d).to_dict() == d
    assert set(FIRST_FORMAT) <= set(d)


def test_a_trained_model_given_the_dict_holds_the_typed_summary(trained):
    model = trained[0]
    again = dataclasses.replace(model, summary=model.summary.to_dict())
    assert isinstance(again.summary, TrainingSummary) and again.summary == model.summary


def test_metrics_json_is_the_summary_and_reads_back_byte_for_byte(full_summary, funnel_trained,
                                                                   tmp_path):
    path = save_bundle(funnel_trained[0], tmp_path)
    text = (path / "metrics.json").read_text(encoding="utf-8")
    assert text == _text(full_summary.to_dict())
    again = TrainingSummary.from_dict(json.loads(text))
    assert _text(again.to_dict()) == text


def test_an_older_metrics_json_reads_with_none_for_later_sections(full_summary):
    d = json.loads(_text(full_summary.to_dict()))
    old = {k: d[k] for k in FIRST_FORMAT}
    old["model"] = {k: old["model"][k] for k in ("best_iteration", "early_stopping_rows",
                                                  "early_stopping_log_loss", "n_features")}
    old["grades"] = {k: old["grades"][k] for k in ("cutoffs", "test")}
    s = TrainingSummary.from_dict(old)
    assert s.backtest is None and s.drivers is None and s.threshold_table is None
    assert s.grades.tiers is None and s.model.linear_base is None
    # what was absent stays absent when written back
    assert _text(s.to_dict()) == _text(old)


def test_unknown_keys_are_kept(full_summary):
    d = full_summary.to_dict()
    d = {**d, "from_a_later_version": [1, 2], "mql_threshold": {**d["mql_threshold"], "x": 1}}
    s = TrainingSummary.from_dict(d)
    assert s.extra == {"from_a_later_version": [1, 2]}
    assert s.mql_threshold.extra == {"x": 1}
    assert s.to_dict() == d


@pytest.mark.parametrize(
    ("drop", "message"),
    [("metrics_test", "TrainingSummary has no 'metrics_test' key"),
     ("snapshot_at", "TrainingSummary has no 'snapshot_at' key")],
)
def test_a_missing_first_format_key_is_an_error_naming_it(trained, drop, message):
    d = {k: v for k, v in trained[0].summary.to_dict().items() if k != drop}
    with pytest.raises(ValueError, match=message):
        TrainingSummary.from_dict(d)


def test_a_section_that_is_not_a_mapping_is_an_error(trained):
    d = {**trained[0].summary.to_dict(), "mql_threshold": [1]}
    with pytest.raises(ValueError, match="MqlThreshold must be a mapping, got list"):
        TrainingSummary.from_dict(d)


OPTIONAL = ("threshold_policies", "threshold_table", "baselines_equal_volume", "gate",
            "leakage_audit", "drift_audit", "drivers", "criteria_rules", "scorecard",
            "evaluation", "rules", "funnel", "segments", "segment_models", "backtest",
            "warnings")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=40, deadline=None)
@given(
    dropped=st.sets(st.sampled_from(OPTIONAL)),
    extra=st.dictionaries(st.text(min_size=1).filter(lambda k: k not in FIRST_FORMAT + OPTIONAL),
                          json_values, max_size=3),
    roc_auc=st.floats(0, 1) | st.just(float("nan")),
)
def test_any_mix_of_sections_round_trips(full_summary, dropped, extra, roc_auc):
    base = full_summary.to_dict()
    metrics = base["metrics_test"]
    d = {k: v for k, v in base.items() if k not in dropped} | extra
    d["metrics_test"] = {**metrics, "model": {**metrics["model"], "roc_auc": roc_auc}}
    s = TrainingSummary.from_dict(d)
    assert s.to_dict() == d
    assert TrainingSummary.from_dict(s.to_dict()) == s
    assert s.metrics_test.model.roc_auc is roc_auc
    assert all(getattr(s, k) is None for k in dropped)


@pytest.mark.parametrize(
    ("learned_from_test_slice", "last_seen"),
    [(True, "test"), (False, "calibration"), (None, "calibration")],
    ids=["refit on all history", "measured model", "bundle from before the refit"],
)
def test_a_model_is_unseen_only_by_leads_created_after_its_last_learned_outcome(
    trained, learned_from_test_slice, last_seen
):
    import pandas as pd

    s = trained[0].summary.to_dict()
    s["model"]["learned_from_test_slice"] = learned_from_test_slice
    summary = TrainingSummary.from_dict(s)
    end = {p.name: p.end for p in summary.periods}[last_seen]
    assert summary.learned_until() == end
    at = pd.Timestamp(end)
    created = [at - pd.Timedelta(days=1), at, at + pd.Timedelta(seconds=1)]
    assert unseen_by(summary, created).tolist() == [False, False, True]
    # naive times are read as UTC
    naive = [t.tz_convert("UTC").tz_localize(None) for t in created]
    assert unseen_by(summary, naive).tolist() == [False, False, True]
