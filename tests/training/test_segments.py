"""Per-segment models: trained on the global split, chosen on calibration, routed when scoring."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mqlml.cli import app
from mqlml.columns import CREATED_AT, LEAD_ID, SCORE_COLUMNS, SQL_AT
from mqlml.config import DEFAULT_OBSERVATION_DAYS, load_config
from mqlml.data.contract import validate_activities, validate_crm, validate_leads
from mqlml.errors import BundleError, ConfigError
from mqlml.labels.labelled import label_history
from mqlml.labels.split import time_split
from mqlml.model.bundle import SEGMENTS_DIR, SEGMENTS_FILE, load_bundle, save_bundle
from mqlml.model.integrity import write_manifest
from mqlml.model.metrics import classification_metrics
from mqlml.scoring.batch import check_batch, score_checked
from mqlml.scoring.score import explain_leads, score_leads
from mqlml.serving.pyfunc import BUNDLE_ARTIFACT, LeadScoringModel, lead_rows, score_lead_rows
from mqlml.synthetic.generate import generate_history
from mqlml.training.segments import SEGMENT_WIN_CONFIDENCE
from mqlml.workflow import fit_labelled

REGION = "region"
#: A field that means something only for partner leads: their programme tier, and the
#: conversion rate of each. Other leads carry one of hundreds of campaign codes there, so
#: the global model sees an identifier-like column and leaves it out; a partner model
#: sees four tiers.
PROGRAM = "program"
TIER_RATES = {"gold": 0.6, "silver": 0.3, "bronze": 0.12, "registered": 0.03}
AS_OF = pd.Timestamp("2026-06-01", tz="UTC")


def _history(n: int, seed: int):
    """A generated history with a test-only ``region``: ``core`` keeps the generated
    outcomes, ``partner`` leads reach SQL (5 days after their as-of) by programme tier,
    ``noisy`` is left as generated (its train labels are shuffled in the library fixture)."""
    h = generate_history(n, seed=seed)
    rng = np.random.default_rng(seed)
    leads = h.leads.copy()
    leads[REGION] = rng.choice(["core", "partner", "noisy"], len(leads), p=[0.45, 0.35, 0.2])
    is_partner = (leads[REGION] == "partner").to_numpy()
    tiers = rng.choice(list(TIER_RATES), len(leads))
    # Elsewhere ``program`` is a per-lead campaign code: identifier-like in the whole
    # history, so only the partner segment's own model can use the tiers.
    campaigns = np.char.add("cmp-", rng.integers(0, 400, len(leads)).astype(str))
    codes = np.char.add(campaigns, np.char.add("-", np.arange(len(leads)).astype(str)))
    leads[PROGRAM] = np.where(is_partner, tiers, codes)
    partner = leads[is_partner]
    rate = partner[PROGRAM].map(TIER_RATES).to_numpy(dtype=float)
    converted = partner[rng.random(len(partner)) < rate]
    new = pd.DataFrame(
        {
            LEAD_ID: converted[LEAD_ID].to_numpy(),
            SQL_AT: (
                converted[CREATED_AT] + pd.Timedelta(days=DEFAULT_OBSERVATION_DAYS + 5)
            ).to_numpy(),
        }
    )
    kept = h.outcomes[~h.outcomes[LEAD_ID].isin(partner[LEAD_ID])]
    outcomes = pd.concat([kept, new.reindex(columns=h.outcomes.columns)], ignore_index=True)
    outcomes = outcomes.astype(h.outcomes.dtypes.to_dict())
    return leads, h.activities, outcomes


def _overrides() -> dict:
    return {
        "tracking": {"enabled": False},
        "model": {"learning_rate": 0.1},  # fewer trees: the same checks, less time
        "thresholds": {"capacity_per_week": 30, "bootstrap_samples": 20},
        "segments": {"column": REGION, "models": True},
        "gate": {"min_train_positives": 20, "min_test_positives": 5},
    }


@pytest.fixture(scope="module")
def seg_trained():
    """(model, artifacts, labelled, crm) of a training with segment models, where the
    ``noisy`` segment's train labels are shuffled, so its own model must lose."""
    cfg = load_config(None, _overrides())
    leads, acts, outcomes = _history(6_000, seed=21)
    crm = validate_crm(leads, acts, outcomes, cfg.data)
    labelled = label_history(crm, cfg)
    split = time_split(labelled.leads, labelled.y, cfg.split_fractions)
    noisy_train = split.train[(labelled.leads[REGION].to_numpy() == "noisy")[split.train]]
    y = labelled.y.copy()
    y[noisy_train] = np.random.default_rng(0).permutation(y[noisy_train])
    labelled = replace(labelled, y=y)
    model, artifacts = fit_labelled(labelled, cfg)
    return model, artifacts, labelled, crm


def _rows(model) -> dict:
    return {r["segment"]: r for r in model.summary.segment_models}


def test_segment_models_without_a_segment_column_is_a_config_error():
    with pytest.raises(ConfigError, match="segments.models is true but segments.column is not"):
        load_config(None, {"segments": {"models": True}})


def test_each_segment_model_keeps_the_global_split(seg_trained):
    model, artifacts, labelled, _ = seg_trained
    slices = artifacts["slices"].assign(region=labelled.leads[REGION].to_numpy())
    assert "partner" in (model.segment_models or {}), model.summary.segment_models
    sub = model.segment_models["partner"]
    mine = slices[slices[REGION] == "partner"]
    for period in sub.summary.periods:
        members = mine[mine["slice"] == period.name]
        assert period.n_leads == len(members)
        assert pd.Timestamp(period.end) == labelled.leads.loc[members.index, CREATED_AT].max()
    # the segment model never reads the routing column (constant within its segment)
    assert REGION not in sub.spec.columns and REGION in model.spec.columns


def test_a_segment_uses_its_own_model_only_where_it_wins_on_calibration(seg_trained):
    model, *_ = seg_trained
    rows = _rows(model)
    assert set(rows) == {"(all)", "core", "partner", "noisy"}
    for seg in ("core", "partner", "noisy"):
        r = rows[seg]
        wins = (
            r["selection_log_loss_segment"] < r["selection_log_loss_global"]
            and r["selection_win_share"] >= SEGMENT_WIN_CONFIDENCE
        )
        assert r["used"] == ("segment" if wins else "global"), r
        assert (seg in model.segment_models) == wins
    # trained on shuffled labels, the noisy segment's model must lose; the partner
    # segment's own pattern must win, and it does on the test slice too
    assert rows["noisy"]["used"] == "global"
    assert rows["partner"]["used"] == "segment"
    assert rows["partner"]["roc_auc_segment"] > rows["partner"]["roc_auc_global"] + 0.03
    assert rows["(all)"]["roc_auc_segment"] > rows["(all)"]["roc_auc_global"]
    assert rows["partner"]["leads"] + rows["core"]["leads"] + rows["noisy"]["leads"] == (
        rows["(all)"]["leads"]
    )


def test_a_segment_model_ships_refit_on_all_its_leads_its_row_measures_the_fit_before(
    seg_trained,
):
    model, artifacts, labelled, _ = seg_trained
    shipped = model.segment_models["partner"]
    measured = artifacts["measured_model"].segment_models["partner"]
    slices = artifacts["slices"]["slice"].to_numpy()
    partner = labelled.leads[REGION].eq("partner").to_numpy()
    assert shipped.summary.model.learned_from_test_slice
    assert shipped.summary.model.learned_from_rows == int((partner & (slices != "")).sum())
    assert not measured.summary.model.learned_from_test_slice
    assert shipped.booster.model_to_string() != measured.booster.model_to_string()
    # The report's test figures are the measured model's, on leads it never saw.
    test = (partner & (slices == "test")).nonzero()[0]
    rows = lead_rows(labelled.leads.iloc[test], labelled.activities, labelled.as_of.iloc[test])
    y = labelled.y[test]
    for scorer, same in ((measured, True), (shipped, False)):
        p = score_lead_rows(scorer, rows, "partner test leads")["probability"].to_numpy()
        auc = classification_metrics(y, p)["roc_auc"]
        assert (auc == pytest.approx(_rows(model)["partner"]["roc_auc_segment"])) is same


def test_a_segment_whose_model_cannot_be_trained_keeps_the_global_model(monkeypatch):
    import mqlml.training.segments as segments
    from mqlml.errors import InsufficientDataError
    from mqlml.training.pipeline import train_labelled

    real = segments.fit_and_evaluate

    def failing_for_partner(labelled, config, **kwargs):
        # Segment fits run with segments off; the partner segment's fit fails.
        if config.segments.column is None and labelled.leads[PROGRAM].isin(TIER_RATES).all():
            raise InsufficientDataError("calibration slice has 4 converted leads")
        return real(labelled, config, **kwargs)

    monkeypatch.setattr(segments, "fit_and_evaluate", failing_for_partner)
    cfg = load_config(None, _overrides())
    leads, acts, outcomes = _history(4_000, seed=21)
    labelled = label_history(validate_crm(leads, acts, outcomes, cfg.data), cfg)
    model, _ = train_labelled(labelled, cfg)
    rows = _rows(model)
    assert "partner" not in (model.segment_models or {})
    assert rows["partner"]["used"] == "global"
    assert rows["partner"]["reason"] == (
        "no segment model: calibration slice has 4 converted leads"
    )
    assert {"core", "noisy"} <= set(rows)  # the other segments were still judged


def _sample(labelled, crm, n=60, seed=1):
    """Test-slice-like leads in shuffled order, one with an unseen and one with a
    missing region."""
    leads = labelled.leads.sample(n, random_state=seed).reset_index(drop=True)
    leads.loc[0, REGION] = "mars"
    leads.loc[1, REGION] = None
    acts = crm.activities[crm.activities[LEAD_ID].isin(leads[LEAD_ID])]
    return leads, acts


def test_a_lead_scores_with_its_segment_model_and_unseen_segments_with_the_global(
    seg_trained,
):
    model, _, labelled, crm = seg_trained
    leads, acts = _sample(labelled, crm)
    scored = score_leads(model, leads, acts, AS_OF)
    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert scored[LEAD_ID].tolist() == leads[LEAD_ID].tolist()
    own = leads[REGION].eq("partner").to_numpy()
    assert 0 < own.sum() < len(leads)
    alone = score_leads(model.segment_models["partner"], leads[own], acts, AS_OF)
    pd.testing.assert_frame_equal(scored[own].reset_index(drop=True), alone)
    global_only = replace(model, segment_models=None)
    rest = score_leads(global_only, leads[~own], acts, AS_OF)
    pd.testing.assert_frame_equal(scored[~own].reset_index(drop=True), rest)
    # the unseen ("mars") and the missing region are among the global model's leads
    assert not own[0] and not own[1]


def test_a_lead_is_explained_by_the_model_that_scored_it(seg_trained):
    model, _, labelled, crm = seg_trained
    leads, acts = _sample(labelled, crm)
    for region, scorer in (("partner", model.segment_models["partner"]), ("noisy", model)):
        first = leads[REGION].eq(region).to_numpy().argmax()
        order = [first, *(i for i in range(len(leads)) if i != first)]
        some = leads.iloc[order].reset_index(drop=True)
        _, table = explain_leads(model, some, acts, AS_OF)
        _, alone = explain_leads(replace(scorer, segment_models=None), some, acts, AS_OF)
        pd.testing.assert_frame_equal(table, alone)


def test_bundle_round_trip_gives_identical_scores(seg_trained, tmp_path):
    model, _, labelled, crm = seg_trained
    # an awkward segment name must still give a safe folder and come back unchanged
    odd = "../Partner / EMEA"
    awkward = replace(model, segment_models={**model.segment_models, odd: model.segment_models[
        "partner"]})
    path = save_bundle(awkward, tmp_path)
    folders = yaml.safe_load((path / SEGMENTS_DIR / SEGMENTS_FILE).read_text())["models"]
    assert all("/" not in f and ".." not in f for f in folders.values())
    assert sorted(p.name for p in (path / SEGMENTS_DIR).iterdir() if p.is_dir()) == sorted(
        folders.values()
    )
    loaded = load_bundle(path)
    assert loaded.segment_column == REGION and set(loaded.segment_models) == {"partner", odd}
    leads, acts = _sample(labelled, crm)
    leads.loc[2, REGION] = odd
    pd.testing.assert_frame_equal(
        score_leads(loaded, leads, acts, AS_OF), score_leads(awkward, leads, acts, AS_OF)
    )
    # a tampered index may not point outside the bundle
    index = path / SEGMENTS_DIR / SEGMENTS_FILE
    index.write_text(json.dumps({"column": REGION, "models": {"partner": "../../elsewhere"}}))
    write_manifest(path)  # even re-signed
    with pytest.raises(BundleError, match="names folder '../../elsewhere' for segment 'partner'"):
        load_bundle(path)
    # a bundle without segment models loads as one model
    plain = load_bundle(save_bundle(replace(model, segment_models=None, segment_column=None),
                                    tmp_path / "plain"))
    assert plain.segment_models is None
    assert not (tmp_path / "plain" / model.config.name / "1" / SEGMENTS_DIR).exists()


def test_pyfunc_and_batch_paths_route_like_score_leads(seg_trained, tmp_path):
    model, _, labelled, crm = seg_trained
    leads, acts = _sample(labelled, crm, n=40, seed=2)
    expected = score_leads(model, leads, acts, AS_OF)
    moments = pd.Series(AS_OF, index=leads.index)
    rows = lead_rows(leads, acts, moments)
    # the MLflow pyfunc as served: loaded from the bundle artifact, then predict
    served = LeadScoringModel()
    served.load_context(SimpleNamespace(artifacts={BUNDLE_ARTIFACT: str(save_bundle(model,
                                                                                    tmp_path))}))
    assert set(served.trained.segment_models) == set(model.segment_models)
    via_pyfunc = served.predict(None, rows)
    text = [c for c in expected.columns if pd.api.types.is_string_dtype(expected[c])]
    served_expected = expected.assign(**{c: expected[c].fillna("") for c in text})
    # Missing points are JSON null (None) from the served model, NaN in the frame.
    points = [c for c in via_pyfunc.columns if c.endswith("_points")]
    via_pyfunc = via_pyfunc.assign(**{c: via_pyfunc[c].astype(float) for c in points})
    pd.testing.assert_frame_equal(via_pyfunc, served_expected, check_dtype=False)
    text = leads.astype(object).where(leads.notna(), None)
    text[CREATED_AT] = leads[CREATED_AT].map(lambda t: t.isoformat())
    batch = check_batch(text, acts, model, AS_OF)
    via_batch = score_checked(model, batch, chunk_rows=16).scored
    order = pd.Index(via_batch[LEAD_ID]).get_indexer(expected[LEAD_ID])
    got = via_batch.iloc[order].reset_index(drop=True)
    pd.testing.assert_series_equal(got["score"], expected["score"], check_dtype=False)
    pd.testing.assert_series_equal(
        got["probability"], expected["probability"], check_dtype=False
    )


def test_cli_trains_and_scores_with_segment_models(tmp_path):
    leads, acts, outcomes = _history(4_000, seed=8)
    data = tmp_path / "data"
    data.mkdir()
    leads.to_csv(data / "leads.csv", index=False)
    acts.to_csv(data / "activities.csv", index=False)
    outcomes.to_csv(data / "outcomes.csv", index=False)
    cfg = {k: v for k, v in _overrides().items() if k != "tracking"}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["train", "--data", str(data), "--config", str(tmp_path / "cfg.yaml"), "--no-tracking",
         "--models-dir", str(tmp_path / "models"), "--name", "seg"],
    )
    assert res.exit_code == 0, res.output
    bundle = tmp_path / "models" / "seg" / "1"
    model = load_bundle(bundle)
    assert "partner" in model.segment_models
    assert "Per-segment models" in (bundle / "report.html").read_text(encoding="utf-8")

    batch = leads.tail(300)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    out = tmp_path / "scored.csv"
    res = runner.invoke(
        app,
        ["score", "--model", str(bundle), "--leads", str(tmp_path / "batch.csv"),
         "--activities", str(data / "activities.csv"), "--as-of", "2026-06-01T00:00:00Z",
         "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    scored = pd.read_csv(out, dtype={LEAD_ID: str})
    valid_leads, valid_acts = validate_leads(batch), validate_activities(acts)
    expected = score_leads(model, valid_leads, valid_acts, AS_OF)
    got = scored.set_index(LEAD_ID).loc[expected[LEAD_ID]]
    assert got["score"].tolist() == expected["score"].tolist()
    partner = expected[LEAD_ID].isin(batch.loc[batch[REGION] == "partner", LEAD_ID])
    alone = score_leads(
        model.segment_models["partner"], valid_leads[partner.to_numpy()], valid_acts, AS_OF
    )
    assert got["score"].to_numpy()[partner.to_numpy()].tolist() == alone["score"].tolist()

