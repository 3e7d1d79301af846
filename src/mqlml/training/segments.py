"""Per-segment figures of the global model, and one model per segment where it wins.

:func:`segment_rows` reports the global model on each segment's test leads, with the
policy in use refit on the segment's calibration leads. :func:`fit_segment_models` fits
the recipe on each segment's leads (:func:`mqlml.training.evaluation.fit_and_evaluate`,
with the global split's membership) and keeps a segment's own model only where it beats
the global model on the segment's calibration slice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mqlml.columns import CREATED_AT, LEAD_ID
from mqlml.config import Config, SegmentConfig
from mqlml.errors import ConfigError, InsufficientDataError
from mqlml.labels.labelled import LabelledLeads
from mqlml.labels.split import Period, TimeSplit
from mqlml.model.bundle import TrainedModel
from mqlml.model.calibrate import ProbabilityCalibrator
from mqlml.model.metrics import classification_metrics, expected_calibration_error
from mqlml.model.thresholds import fit_policy, make_policy, slice_weeks
from mqlml.training.evaluation import SplitFit, fit_and_evaluate

#: Share of a segment's calibration slice, at its end, that judges segment vs global model.
SEGMENT_SELECTION_FRACTION = 0.5
#: A segment model is used only when its log loss is lower in at least this share of paired
#: bootstrap resamples of the judging leads: a gap within the noise keeps the global model.
SEGMENT_WIN_CONFIDENCE = 0.9
SEGMENT_BOOTSTRAP_SAMPLES = 1000


def segment_rows(fitted: SplitFit) -> list[dict]:
    """Per-segment test metrics of the global model, and the policy in use refit on each
    segment's calibration leads (capacity shared in proportion to calibration leads)."""
    split, thr = fitted.split, fitted.config.thresholds
    cal, test = split.calibration, split.test
    segments, st, y = fitted.segments, fitted.stages, fitted.labelled.y
    score, probability = fitted.scored.score, fitted.scored.probability
    created = fitted.labelled.leads[CREATED_AT]
    test_weeks = slice_weeks(created.iloc[test])
    params = thr.model_dump()
    rows = []
    for c in fitted.gate_rows[1:]:
        seg = c["segment"]
        s_cal = cal[segments[cal] == seg]
        s_test = test[segments[test] == seg]
        seg_params = {**params, "capacity_per_week": thr.capacity_per_week * len(s_cal) / len(cal)}
        row = {
            "segment": seg,
            "leads": c["test_leads"],
            "positives": c["test_positives"],
            "train_positives": c["train_positives"],
            "roc_auc": classification_metrics(y[s_test], probability[s_test])["roc_auc"]
            if len(s_test)
            else float("nan"),
            "base_rate": float(y[s_test].mean()) if len(s_test) else float("nan"),
        }
        try:
            seg_t = fit_policy(
                make_policy(thr.policy, seg_params),
                score[s_cal],
                y[s_cal],
                created.iloc[s_cal],
                st.policy_won[s_cal] if st.policy_won is not None else None,
                st.deal_value[s_cal],
            )
            is_seg = seg_t.predict(score[s_test])
            row.update(
                cutoff=int(seg_t.cutoff_),
                mqls_per_week=float(is_seg.sum() / test_weeks),
                mql_sql_rate=_rate(st.sql[s_test], is_seg),
            )
        except ValueError as exc:
            row["error"] = str(exc)
        row["global_cutoff_mql_sql_rate"] = _rate(
            st.sql[s_test], fitted.recipe.mql.predict(score[s_test])
        )
        rows.append(row)
    return rows


def _rate(outcome: np.ndarray, chosen: np.ndarray) -> float:
    return float(np.nanmean(outcome[chosen])) if chosen.any() else float("nan")


def segment_labelled(
    labelled: LabelledLeads, split: TimeSplit, mask: np.ndarray, drop: list[str]
) -> LabelledLeads:
    """The leads where ``mask`` holds, with the global split's slices restricted to them.

    Keeping the global membership means a segment model learns, is calibrated and is
    tested on exactly the global model's leads of that segment, in the same periods.
    """
    idx = np.flatnonzero(mask)
    leads = labelled.leads.iloc[idx].drop(columns=drop).reset_index(drop=True)
    y = labelled.y[idx]
    created = leads[CREATED_AT]
    parts, periods = [], []
    for period, old in zip(
        split.periods, (split.train, split.calibration, split.test), strict=True
    ):
        new = np.searchsorted(idx, old[mask[old]])
        parts.append(new)
        periods.append(
            Period(period.name, created.iloc[new].min(), created.iloc[new].max(), len(new),
                   int(np.nansum(y[new])))
        )
    ids = leads[LEAD_ID]
    acts = labelled.activities
    outcomes = labelled.outcomes
    return replace(
        labelled,
        leads=leads,
        as_of=labelled.as_of.iloc[idx].reset_index(drop=True),
        y=y,
        activities=acts[acts[LEAD_ID].isin(ids)].reset_index(drop=True),
        activity_summary=labelled.activity_summary.restrict(ids)
        if labelled.activity_summary is not None
        else None,
        label_counts={"eligible": len(idx), "positive": int(np.nansum(y))},
        outcomes=outcomes[outcomes[LEAD_ID].isin(ids)] if outcomes is not None else None,
        split=TimeSplit(*parts, periods=tuple(periods)),
        outcome_at=labelled.outcome_at.iloc[idx].reset_index(drop=True)
        if labelled.outcome_at is not None
        else None,
    )


def _selection_losses(raw: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """Per-lead log loss on the later part of a (time-ordered) calibration slice, with
    ``method`` calibrated on the earlier part: no calibrator is judged on its own leads."""
    cut = int(len(y) * (1 - SEGMENT_SELECTION_FRACTION))
    p = ProbabilityCalibrator(method).fit(raw[:cut], y[:cut]).predict(raw[cut:])
    return -(y[cut:] * np.log(p) + (1 - y[cut:]) * np.log(1 - p))


def _win_share(diff: np.ndarray, seed: int) -> float:
    """Share of paired bootstrap resamples in which ``diff`` (segment - global) is negative."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(SEGMENT_BOOTSTRAP_SAMPLES, len(diff)))
    return float((diff[idx].mean(axis=1) < 0).mean())


@dataclass(frozen=True)
class SegmentModels:
    """The segment models in use and how each segment was judged.

    Attributes
    ----------
    models : dict
        Segment -> model, only the segments that use their own model.
    rows : list of dict
        ``(all)`` (the routed scores vs the global model on the whole test slice), then one
        row per segment: test leads, positives, ROC AUC and ECE of both models,
        selection log loss of both, which model is used and why.
    fits : dict
        Segment -> its :class:`~mqlml.training.evaluation.SplitFit`, for the models in use
        (the fits the rows measure).
    """

    models: dict[str, TrainedModel]
    rows: list[dict]
    fits: dict[str, SplitFit]

    @property
    def measured(self) -> dict[str, TrainedModel]:
        """Segment -> the model of its fit before the refit on all history: what the rows
        measure, and what judges held-out leads (``models`` without
        ``model.refit_on_all_history``)."""
        return {seg: sub.to_model() for seg, sub in self.fits.items()}


def _sub_config(config: Config, share: float) -> Config:
    """A segment's config: no segments, backtest, funnel or rules (the global training
    reports those), no audit (the global one's exclusions are dropped from the leads),
    its share of the capacity, and grades learned afresh."""
    thr = config.thresholds
    return config.model_copy(
        update={
            "segments": SegmentConfig(),
            "backtest": config.backtest.model_copy(update={"folds": 0}),
            "funnel": config.funnel.model_copy(update={"enabled": False}),
            "audit": config.audit.model_copy(update={"enabled": False, "allow_columns": ()}),
            "baselines": config.baselines.model_copy(update={"rules_path": None}),
            "thresholds": thr.model_copy(
                update={"capacity_per_week": thr.capacity_per_week * share,
                        "keep_grades_from": None}
            ),
        }
    )


def fit_segment_models(fitted: SplitFit, names: list[str]) -> SegmentModels:
    """One model per segment, each used only where it beats the global model.

    Each segment's model is :func:`~mqlml.training.evaluation.fit_and_evaluate` on that
    segment's leads with the global split's membership and the columns the global audit
    excluded left out (:func:`_sub_config`). The choice is made on the segment's
    calibration slice, before the test slice is looked at: each model's raw scores are
    calibrated (with the method its own calibrator uses) on its earlier part and their
    log loss compared on its later part (:data:`SEGMENT_SELECTION_FRACTION`), so no
    calibrator is judged on leads it was fit on. The segment model is used when it is
    better in at least :data:`SEGMENT_WIN_CONFIDENCE` of paired bootstrap resamples of
    those leads. The test slice only reports the choice.
    """
    config, split = fitted.config, fitted.split
    drop = list(dict.fromkeys([config.segments.column, *fitted.recipe.audit.excluded]))
    routed = fitted.scored.probability.copy()
    fits, rows = {}, []
    for seg in names:
        mask = fitted.segments == seg
        s_cal = split.calibration[mask[split.calibration]]
        sub_config = _sub_config(config, len(s_cal) / len(split.calibration))
        sub_lab = segment_labelled(fitted.labelled, split, mask, drop)
        row = _comparison_row(fitted, seg, mask)
        try:
            sub = fit_and_evaluate(sub_lab, sub_config)
        except (InsufficientDataError, ConfigError) as exc:
            rows.append({**row, "used": "global", "reason": f"no segment model: {exc}"})
            continue
        row, better = _judge(fitted, sub, row, s_cal)
        rows.append(row)
        if better:
            fits[seg] = sub
            routed[split.test[mask[split.test]]] = sub.scored.probability[sub.split.test]
    rows.insert(0, _overall_row(fitted, routed, len(fits), len(names)))
    # Like the global model, each segment model ships refit on all its segment's leads
    # (model.refit_on_all_history); the rows above measure the fit that never saw the test.
    models = {seg: sub.shipped().to_model() for seg, sub in fits.items()}
    return SegmentModels(models, rows, fits)


def _comparison_row(fitted: SplitFit, seg: str, mask: np.ndarray) -> dict:
    """The segment's row before its own model is fit: the global model's figures."""
    split, y, probability = fitted.split, fitted.labelled.y, fitted.scored.probability
    s_cal, s_test = split.calibration[mask[split.calibration]], split.test[mask[split.test]]
    y_test = y[s_test]
    glob = classification_metrics(y_test, probability[s_test]) if len(s_test) else {}
    return {
        "segment": seg,
        "leads": len(s_test),
        "positives": int(np.nansum(y_test)),
        "roc_auc_segment": float("nan"),
        "roc_auc_global": glob.get("roc_auc", float("nan")),
        "ece_segment": float("nan"),
        "ece_global": expected_calibration_error(y_test, probability[s_test]),
        "calibration_leads": len(s_cal),
        "selection_log_loss_segment": float("nan"),
        "selection_log_loss_global": float("nan"),
    }


def _judge(fitted: SplitFit, sub: SplitFit, row: dict, s_cal: np.ndarray) -> tuple[dict, bool]:
    """Compare the segment's model with the global one on the segment's calibration leads."""
    y = fitted.labelled.y
    mask_test = fitted.split.test[(fitted.segments == row["segment"])[fitted.split.test]]
    y_test, y_cal = y[mask_test], y[s_cal]
    seg_test = sub.scored.probability[sub.split.test]
    row = {
        **row,
        "roc_auc_segment": classification_metrics(y_test, seg_test)["roc_auc"],
        "ece_segment": expected_calibration_error(y_test, seg_test),
        "cutoff_segment": int(sub.recipe.mql.cutoff_),
    }
    try:
        seg_losses = _selection_losses(
            sub.scored.raw[sub.split.calibration], y_cal, sub.recipe.model.calibrator.method_
        )
        glob_losses = _selection_losses(
            fitted.scored.raw[s_cal], y_cal, fitted.recipe.model.calibrator.method_
        )
    except ValueError as exc:  # a part of the slice without both outcomes
        return {**row, "used": "global", "reason": f"cannot compare: {exc}"}, False
    seg_loss, glob_loss = float(seg_losses.mean()), float(glob_losses.mean())
    win_share = _win_share(seg_losses - glob_losses, fitted.config.thresholds.bootstrap_seed)
    better = seg_loss < glob_loss and win_share >= SEGMENT_WIN_CONFIDENCE
    judged = (
        f"log loss on the later {SEGMENT_SELECTION_FRACTION:.0%} of the calibration "
        f"slice: segment model {seg_loss:.4f}, global {glob_loss:.4f}; the segment "
        f"model is better in {win_share:.0%} of bootstrap resamples"
    )
    need = f"{'>=' if better else 'needs'} {SEGMENT_WIN_CONFIDENCE:.0%}"
    row.update(
        selection_log_loss_segment=seg_loss,
        selection_log_loss_global=glob_loss,
        selection_win_share=win_share,
        used="segment" if better else "global",
        reason=f"{judged} ({need})",
    )
    return row, better


def _overall_row(fitted: SplitFit, routed: np.ndarray, n_used: int, n_segments: int) -> dict:
    """Routed scores (each segment's model in use) vs the global model on the test slice."""
    test = fitted.split.test
    y_all, probability = fitted.labelled.y[test], fitted.scored.probability
    return {
        "segment": "(all)",
        "leads": len(test),
        "positives": int(np.nansum(y_all)),
        "roc_auc_segment": classification_metrics(y_all, routed[test])["roc_auc"],
        "roc_auc_global": classification_metrics(y_all, probability[test])["roc_auc"],
        "ece_segment": expected_calibration_error(y_all, routed[test]),
        "ece_global": expected_calibration_error(y_all, probability[test]),
        "used": f"segment models in {n_used} of {n_segments} segments",
        "reason": "scores as routed (each segment's model in use) vs the global model",
    }
