"""Apply a trained model to leads: probability, score, grade, is_mql and reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlml.columns import (
    AS_OF,
    BASE_SCORE,
    CREATED_AT,
    GRADE,
    IS_MQL,
    LEAD_ID,
    N_NEGATIVE_REASONS,
    N_POSITIVE_REASONS,
    NEGATIVE,
    OTHER_POINTS,
    POSITIVE,
    PROBABILITY,
    SCORE,
    SCORE_COLUMNS,
    TIER,
    TIER_MQL,
    TIER_NURTURE,
    reason_points,
    reason_text,
)
from mqlml.data.validate import YEARS, as_text, out_of_years, plural
from mqlml.errors import DataValidationError
from mqlml.explain.contributions import (
    explain_lead,
    field_contributions,
    field_points,
    lead_reasons,
    prediction_threads,
    shap_tables_for,
)
from mqlml.features.build import build_features, to_matrix
from mqlml.model.bundle import TrainedModel
from mqlml.model.calibrate import probability_to_score
from mqlml.model.segments import MISSING_SEGMENT, segment_values


def score_features(
    model: TrainedModel, features: pd.DataFrame, *, num_threads: int | None = None
) -> pd.DataFrame:
    """Score already-built feature rows (index kept): the scoring columns without ``lead_id``.

    Reasons are the business fields that raised the score most (3) and lowered it most
    (2), each as a plain sentence with its score points (see :mod:`mqlml.explain.contributions`):
    ``base_score`` + the reasons' points + ``other_points`` = the score, within 1 point.
    ``num_threads``: LightGBM's threads, as in
    :func:`mqlml.explain.contributions.prediction_threads` (None: one thread for a few
    rows); they change how fast, never what is scored.
    """
    X = to_matrix(features, model.spec)
    raw = model.predict_raw(X, **prediction_threads(len(X), num_threads))
    out = probability_columns(model, model.calibrator.predict(raw))
    per_field, base_raw = field_contributions(
        model.booster,
        X,
        model.spec,
        shap_tables_for(model, n_rows=len(X)),
        model.linear,
        num_threads=num_threads,
    )
    points, base_score = field_points(per_field, base_raw, model.calibrator)
    r = lead_reasons(
        points, base_score, features, model.spec, N_POSITIVE_REASONS, N_NEGATIVE_REASONS
    )
    for direction, text, pts in (
        (POSITIVE, r.positive, r.positive_points),
        (NEGATIVE, r.negative, r.negative_points),
    ):
        for i in range(text.shape[1]):
            out[reason_text(direction, i + 1)] = as_text(text[:, i])
            out[reason_points(direction, i + 1)] = np.round(pts[:, i], 1)
    out[BASE_SCORE] = np.full(len(features), round(base_score, 1))
    out[OTHER_POINTS] = np.round(r.other_points, 1)
    # One frame built at once: column by column costs a REST request more than scoring.
    frame = pd.DataFrame(out, index=features.index)
    return frame[[c for c in SCORE_COLUMNS if c != LEAD_ID]]


def probability_columns(model: TrainedModel, probability) -> dict[str, np.ndarray]:
    """``probability``, ``score``, ``grade``, ``is_mql`` and ``tier`` of calibrated
    probabilities, through the model's score mapping and thresholds."""
    probability = np.asarray(probability, dtype=float)
    score = probability_to_score(probability)
    is_mql = model.mql.predict(score)
    return {
        PROBABILITY: probability,
        SCORE: score,
        GRADE: model.grades.predict(score),
        IS_MQL: is_mql,
        # Bundles from before tiers know only the MQL line: everything below it is nurtured.
        TIER: model.tiers.predict(score)
        if model.tiers is not None
        else np.where(is_mql, TIER_MQL, TIER_NURTURE),
    }


def segment_routes(
    model: TrainedModel, leads: pd.DataFrame
) -> list[tuple[TrainedModel, np.ndarray]]:
    """Which model scores which leads: ``(model, positions)`` pairs covering every lead once.

    A lead goes to the model of its segment (its ``model.segment_column`` value, named as
    :func:`mqlml.training.gate.segment_values` names it; an absent column counts as missing) when
    that segment has its own model; every other lead, including those of segments never
    seen in training, to ``model`` itself. The global model comes first.
    """
    everyone = np.arange(len(leads))
    if not model.segment_models or not len(leads):
        return [(model, everyone)]
    column = model.segment_column
    values = (
        segment_values(leads[column])
        if column in leads
        else np.full(len(leads), MISSING_SEGMENT, dtype=object)
    )
    own = np.isin(values, list(model.segment_models))
    routes = [(model, everyone[~own])] if (~own).any() else []
    for segment, sub in model.segment_models.items():
        pos = np.flatnonzero(values == segment)
        if len(pos):
            routes.append((sub, pos))
    return routes


def score_routed(
    model: TrainedModel,
    leads: pd.DataFrame,
    activities: pd.DataFrame,
    as_of: pd.Series,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score each lead with the model of its segment (:func:`segment_routes`).

    Parameters
    ----------
    model : TrainedModel
        The global model, with its segment models if any.
    leads, activities : DataFrame
        Validated tables.
    as_of : Series
        Scoring moment per lead, aligned with ``leads.index``.
    features : DataFrame, optional
        The leads' features under ``model.spec`` when already built (index of ``leads``);
        a segment model builds its own from its feature spec.

    Returns
    -------
    DataFrame
        :func:`score_features` columns, index of ``leads``, rows in the order of ``leads``;
        probability, score, thresholds and reasons all from the model that scored the lead.
    """
    parts, positions = [], []
    for sub, pos in segment_routes(model, leads):
        if sub is model and features is not None:
            part_features = features.iloc[pos]
        else:
            part_features = build_features(leads.iloc[pos], activities, as_of.iloc[pos], sub.spec)
        parts.append(score_features(sub, part_features))
        positions.append(pos)
    if len(parts) == 1:
        return parts[0]
    scored = pd.concat(parts).iloc[np.argsort(np.concatenate(positions), kind="stable")]
    return scored.set_axis(leads.index)


def resolve_as_of(leads: pd.DataFrame, as_of=None, source: str = "leads") -> pd.Series:
    """The scoring moment of each lead.

    ``as_of`` given: that time for every lead. Otherwise the leads' ``as_of`` column when
    present, else now (UTC). A lead created after its scoring moment is an error: its
    data cannot be right.
    """
    if as_of is not None:
        try:
            ts = pd.Timestamp(as_of)
        except (ValueError, TypeError):
            raise DataValidationError(
                [f"as_of: expected a date or time such as 2026-01-31T12:00Z, got {as_of!r}"]
            ) from None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        result = pd.Series(ts, index=leads.index)
    elif AS_OF in leads:
        result = pd.to_datetime(leads[AS_OF], utc=True, errors="coerce", format="mixed")
        bad = result.isna()
        if bad.any():
            rows = (np.flatnonzero(bad.to_numpy())[:5] + 1).tolist()
            raise DataValidationError(
                [
                    f"{source}: column {AS_OF!r}: {int(bad.sum())} rows are not dates "
                    f"(rows {rows}); expected a date or time for every lead"
                ]
            )
    else:
        result = pd.Series(pd.Timestamp.now(tz="UTC"), index=leads.index)
    for column, values in ((CREATED_AT, leads[CREATED_AT]), (AS_OF, result)):
        # A placeholder such as 9999-12-31 is not a date: said as such, not as a lead
        # "created after its scoring time" (the batch path rejects these rows the same way).
        far = out_of_years(pd.Series(values)).to_numpy(dtype=bool)
        if far.any():
            ids = leads[LEAD_ID].to_numpy()[far][:5].tolist()
            shown = pd.Series(values).to_numpy()[far][0]
            raise DataValidationError(
                [
                    f"{source}: column {column!r}: a date outside the years "
                    f"{YEARS[0]}-{YEARS[1]} for {plural(int(far.sum()), 'lead')} "
                    f"(lead_id {ids}; first: "
                    f"{pd.Timestamp(shown).isoformat()}); a date such as 9999-12-31 is a "
                    "placeholder, not a date"
                ]
            )
    early = (leads[CREATED_AT] > result).to_numpy()
    if early.any():
        rows = (np.flatnonzero(early)[:5] + 1).tolist()
        ids = leads[LEAD_ID].to_numpy()[early][:5].tolist()
        raise DataValidationError(
            [
                f"{source}: column {CREATED_AT!r}: {int(early.sum())} leads were created after "
                f"their scoring time (rows {rows}, lead_id {ids}); expected created_at <= as_of"
            ]
        )
    return result.rename(AS_OF)


def score_leads(
    model: TrainedModel,
    leads: pd.DataFrame,
    activities: pd.DataFrame,
    as_of=None,
    source: str = "leads",
) -> pd.DataFrame:
    """Score validated leads at ``as_of``: one output row per input lead, in input order.

    Parameters
    ----------
    model : TrainedModel
        From :func:`mqlml.model.bundle.load_bundle` or training.
    leads, activities : DataFrame
        Validated tables (see :mod:`mqlml.data.contract`).
    as_of : time, optional
        Scoring moment for all leads; default the leads' ``as_of`` column, else now.

    Returns
    -------
    DataFrame
        Columns :data:`mqlml.columns.SCORE_COLUMNS`.
    """
    moments = resolve_as_of(leads, as_of, source)
    scored = score_routed(model, leads, activities, moments)
    scored.insert(0, LEAD_ID, leads[LEAD_ID].to_numpy())
    return scored[list(SCORE_COLUMNS)].reset_index(drop=True)


def explain_leads(
    model: TrainedModel, leads: pd.DataFrame, activities: pd.DataFrame, as_of=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score ``leads`` and break the first one's score down into every field's points.

    Returns
    -------
    scored : DataFrame
        :func:`score_leads` output for all ``leads``.
    fields : DataFrame
        For the first lead: field, label, group, reason (a sentence) and points, largest
        effect first. Base score plus all points is the unrounded score.
    """
    moments = resolve_as_of(leads, as_of)
    scored = score_routed(model, leads, activities, moments)
    scored.insert(0, LEAD_ID, leads[LEAD_ID].to_numpy())
    # The first lead is explained by the model that scored it.
    first = next((m for m, pos in segment_routes(model, leads) if 0 in pos), model)
    features = build_features(leads.iloc[:1], activities, moments.iloc[:1], first.spec)
    X = to_matrix(features, first.spec)
    per_field, base_raw = field_contributions(
        first.booster, X, first.spec, linear=first.linear
    )
    points, _ = field_points(per_field, base_raw, first.calibrator)
    table = explain_lead(points.iloc[0], features.iloc[0], first.spec)
    return scored[list(SCORE_COLUMNS)].reset_index(drop=True), table
