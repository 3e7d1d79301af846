"""A batch's implied conversion rate in the scoring report, its warning and the adjustment."""

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.columns import (
    AS_OF,
    BASE_SCORE,
    CREATED_AT,
    GRADE,
    IS_MQL,
    LEAD_ID,
    NEGATIVE,
    OTHER_POINTS,
    POSITIVE,
    PROBABILITY,
    SCORE,
    reason_points,
)
from mqlml.config import PriorShiftConfig
from mqlml.model.bundle import load_bundle
from mqlml.model.calibrate import probability_to_score
from mqlml.model.prior_shift import adjust_probabilities
from mqlml.scoring.batch import check_batch, score_checked
from mqlml.scoring.prior import training_base_rate
from mqlml.synthetic.generate import generate_history


@pytest.fixture(scope="module")
def converters_batch():
    """A batch where half the leads reached SQL: far above the training rate."""
    h = generate_history(2_000, seed=23)
    leads = h.leads.copy()
    # Each lead scored as training saw it: 14 days (features.observation_days) after creation.
    leads[AS_OF] = pd.to_datetime(leads[CREATED_AT], utc=True) + pd.Timedelta(days=14)
    leads = leads[leads[AS_OF] <= h.snapshot_at]
    sql = set(h.outcomes.loc[h.outcomes["sql_at"].notna(), LEAD_ID])
    is_sql = leads[LEAD_ID].isin(sql)
    n = int(is_sql.sum())
    leads = pd.concat([leads[is_sql], leads[~is_sql].iloc[:n]]).sort_index()
    leads["employees"] = np.random.default_rng(1).integers(1, 5_000, len(leads)).astype(str)
    acts = h.activities[h.activities[LEAD_ID].isin(set(leads[LEAD_ID]))]
    text = {"nan": "", "None": "", "NaT": ""}
    return leads.astype(str).replace(text).reset_index(drop=True), acts.astype(str).replace(text)


def _with(model, **settings):
    scoring = model.config.scoring.model_copy(
        update={"prior_shift": PriorShiftConfig(**settings)}
    )
    return dataclasses.replace(model, config=model.config.model_copy(update={"scoring": scoring}))


def _score(model, batch, **kw):
    leads, acts = batch
    return score_checked(model, check_batch(leads, acts, model), **kw)


def test_the_training_rate_is_the_calibration_rows_rate_and_survives_the_bundle(scoring_model):
    model, bundle, _ = scoring_model
    cal = next(p for p in model.summary.periods if p.name == "calibration")
    assert model.calibrator.base_rate_ == pytest.approx(cal.positive_rate)
    assert load_bundle(bundle).calibrator.base_rate_ == pytest.approx(cal.positive_rate)


def test_an_older_bundle_without_the_rate_falls_back_to_the_summary(scoring_model):
    model = scoring_model[0]
    calibrator = copy.deepcopy(model.calibrator)
    calibrator.base_rate_ = None  # as from_dict rebuilds a calibrator.json without it
    old = dataclasses.replace(model, calibrator=calibrator)
    cal = next(p for p in model.summary.periods if p.name == "calibration")
    assert training_base_rate(old) == pytest.approx(cal.positive_rate)
    # Neither known: no estimate, said in the report.
    older = dataclasses.replace(old, summary=dataclasses.replace(model.summary, periods=[]))
    assert training_base_rate(older) is None


def test_report_gives_both_rates_and_warns_in_words(scoring_model, converters_batch):
    model = scoring_model[0]
    result = _score(model, converters_batch)
    rate = result.report["base_rate"]
    training = model.calibrator.base_rate_
    assert rate["training"] == pytest.approx(training, abs=1e-4)
    assert rate["adjusted"] is False and rate["converged"] is True and rate["reliable"] is True
    # Half the batch converts: the estimate moves well above the training rate.
    assert rate["estimated"] > 2 * training
    assert rate["factor"] == pytest.approx(rate["estimated"] / rate["training"], rel=1e-2)
    said = [w for w in result.warnings if "looks unlike" in w]
    assert said == [
        "this batch looks unlike the training history: its scores imply a conversion rate "
        f"of {rate['estimated']:.1%} against {training:.1%} in the rows the model was "
        f"calibrated on ({rate['factor']:.1f} times higher); the probabilities assume the "
        "training rate; if these leads really convert at that rate, rescore with "
        "--adjust-prior (see docs/scoring.md for when not to)"
    ]
    assert said[0] in result.report["warnings"]
    # Not adjusted: the probabilities are the model's own.
    quiet = _score(_with(model, warn_factor=rate["factor"] * 1.1), converters_batch)
    assert not any("looks unlike" in w for w in quiet.warnings)
    pd.testing.assert_frame_equal(quiet.scored, result.scored)


def test_adjusting_recomputes_everything_from_the_adjusted_probabilities(
    scoring_model, converters_batch
):
    model = scoring_model[0]
    plain = _score(model, converters_batch)
    adjusted = _score(model, converters_batch, adjust_prior=True)
    rate = adjusted.report["base_rate"]
    assert rate["adjusted"] is True
    before, after = plain.scored, adjusted.scored
    expected = adjust_probabilities(before[PROBABILITY], rate["training"], rate["estimated"])
    np.testing.assert_allclose(after[PROBABILITY], expected, rtol=1e-3)
    assert after[PROBABILITY].mean() == pytest.approx(rate["estimated"], abs=2e-3)
    score = probability_to_score(after[PROBABILITY])
    np.testing.assert_array_equal(after[SCORE], score)
    np.testing.assert_array_equal(after[GRADE], model.grades.predict(score))
    np.testing.assert_array_equal(after[IS_MQL], model.mql.predict(score))
    assert adjusted.report["rows"]["mqls"] == int(after[IS_MQL].sum())
    assert after[PROBABILITY].mean() > before[PROBABILITY].mean()
    assert (after[SCORE] > before[SCORE]).any() and (after[SCORE] >= before[SCORE]).all()
    assert after[IS_MQL].sum() >= before[IS_MQL].sum()
    # The ranking is kept, and the score still adds up from its parts.
    order = np.argsort(before[PROBABILITY].to_numpy(), kind="stable")
    assert np.all(np.diff(after[PROBABILITY].to_numpy()[order]) >= 0)
    parts = after[BASE_SCORE] + after[OTHER_POINTS] + sum(
        after[reason_points(d, i)].fillna(0) for d, k in ((POSITIVE, 3), (NEGATIVE, 2))
        for i in range(1, k + 1)
    )
    assert np.abs(parts - after[SCORE]).max() <= 1.01
    assert any("probabilities adjusted from the training rate" in n for n in adjusted.notes)
    assert any("were adjusted to it" in w for w in adjusted.warnings)


def test_a_batch_too_small_is_neither_estimated_nor_adjusted(scoring_model, converters_batch):
    model = _with(scoring_model[0], min_leads=10_000, adjust=True)
    plain = _score(scoring_model[0], converters_batch)
    result = _score(model, converters_batch)
    rate = result.report["base_rate"]
    assert rate["estimated"] is None and rate["factor"] is None and rate["adjusted"] is False
    n = len(converters_batch[0])
    assert rate["note"] == (
        f"the batch's conversion rate is not estimated: {n:,} scored leads, fewer than "
        "scoring.prior_shift.min_leads = 10,000; the probabilities are not adjusted"
    )
    assert rate["note"] in result.notes
    pd.testing.assert_frame_equal(result.scored, plain.scored)
    # Not asked to adjust: the report says it, the terminal is not told every time.
    quiet = _score(_with(scoring_model[0], min_leads=10_000), converters_batch)
    assert quiet.report["base_rate"]["note"].startswith("the batch's conversion rate is not")
    assert not any("conversion rate is not estimated" in n for n in quiet.notes)


def test_config_adjust_applies_without_the_flag(scoring_model, converters_batch):
    result = _score(_with(scoring_model[0], adjust=True), converters_batch)
    assert result.report["base_rate"]["adjusted"] is True


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"warn_factor": 1.0}, "warn_factor must be greater than 1"),
     ({"min_leads": 0}, "min_leads must be at least 1")],
)
def test_bad_settings_are_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        PriorShiftConfig(**settings)


def test_cli_adjust_prior_flag(scoring_model, converters_batch, tmp_path):
    leads, acts = converters_batch
    leads.to_csv(tmp_path / "leads.csv", index=False)
    acts.to_csv(tmp_path / "acts.csv", index=False)
    out = tmp_path / "scored.csv"
    res = CliRunner().invoke(
        app,
        ["score", "--model", str(scoring_model[1]), "--leads", str(tmp_path / "leads.csv"),
         "--activities", str(tmp_path / "acts.csv"), "--out", str(out), "--adjust-prior"],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "scored.report.json").read_text())
    assert report["base_rate"]["adjusted"] is True
    assert "note: probabilities adjusted from the training rate" in res.output


def test_scores_no_rate_explains_are_warned_and_never_adjusted(scoring_model):
    # Old leads scored at the history's end, long after the 14 days training scored them
    # at: their recent behaviour is gone, so nearly all score below the training rate,
    # converters too. That is no change in how many convert, and is not adjusted.
    h = generate_history(300, seed=21)
    leads = h.leads.copy()
    leads["employees"] = "10"
    text = {"nan": "", "None": "", "NaT": ""}
    batch = check_batch(
        leads.astype(str).replace(text), h.activities.astype(str).replace(text),
        scoring_model[0], h.snapshot_at,
    )
    plain = score_checked(scoring_model[0], batch)
    result = score_checked(scoring_model[0], batch, adjust_prior=True)
    rate = result.report["base_rate"]
    assert rate["reliable"] is False and rate["adjusted"] is False
    assert rate["estimated"] < 1e-3 < rate["mean_probability"]
    said = [w for w in result.warnings if "looks unlike" in w]
    assert len(said) == 1
    assert f"its mean probability is {rate['mean_probability']:.1%} against a rate of" in said[0]
    assert "runs to 0%" in said[0]
    pd.testing.assert_frame_equal(result.scored, plain.scored)
