"""The training summary, typed: what a training measured, saved as a bundle's ``metrics.json``.

:class:`TrainingSummary` has one field per top-level key of the summary; the sections that
code reads (metrics, threshold, grades, model, calibration, backtest, ...) are frozen
dataclasses too, read by attribute (``summary.metrics_test.model.roc_auc``). Tables of
rows (the threshold table, policy rows, importance, criteria, ...) stay lists of records:
they are rendered, not looked up.

:meth:`TrainingSummary.from_dict` reads the JSON form (``metrics.json``) and is tolerant
of bundles written by older versions: a section added later is ``None`` when absent, and
a key this version does not know is kept in the section's ``extra`` mapping, so
:meth:`TrainingSummary.to_dict` writes back exactly what was read (keys absent from the
source stay absent).
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import MISSING, dataclass, field, fields

import numpy as np

#: Field metadata: the key is left out of ``to_dict`` when its value is None (an optional
#: section the training did not produce, e.g. ``backtest`` with no folds configured).
_OMIT_NONE = {"omit_none": True}


def _optional(*, repr: bool = True):
    """A section that a training may not produce: None, and then absent from the dict."""
    return field(default=None, metadata=_OMIT_NONE, repr=repr)


def _later(*, repr: bool = True):
    """A key added after the first bundle format: None when an older bundle lacks it."""
    return field(default=None, repr=repr)


class _Section:
    """From/to the summary's JSON dict, by field name; unknown keys kept in ``extra``."""

    @classmethod
    def from_dict(cls, d: dict):
        """Read a section from its dict form (see the module docstring).

        Raises
        ------
        ValueError
            When ``d`` is not a mapping, or lacks a key every bundle has.
        """
        if not isinstance(d, dict):
            raise ValueError(
                f"training summary: {cls.__name__} must be a mapping, got {type(d).__name__}"
            )
        kwargs, absent = {}, []
        hints = _hints(cls)
        for f in _data_fields(cls):
            if f.name in d:
                kwargs[f.name] = _read(hints[f.name], d[f.name])
            elif f.default is MISSING and f.default_factory is MISSING:
                raise ValueError(
                    f"training summary: {cls.__name__} has no {f.name!r} key; "
                    f"keys present: {sorted(map(str, d))}"
                )
            else:
                absent.append(f.name)
        known = {f.name for f in _data_fields(cls)}
        extra = {k: v for k, v in d.items() if k not in known}
        return cls(**kwargs, extra=extra, _absent=frozenset(absent))

    def to_dict(self) -> dict:
        """The section as the JSON-ready dict it was read from (or would be saved as)."""
        out = {}
        for f in _data_fields(type(self)):
            value = getattr(self, f.name)
            if f.name in self._absent or (value is None and f.metadata.get("omit_none")):
                continue
            out[f.name] = _write(value)
        out.update(self.extra)
        return out


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


@functools.cache
def _data_fields(cls) -> tuple:
    return tuple(f for f in fields(cls) if f.name not in ("extra", "_absent"))


def _section_type(hint):
    """The :class:`_Section` subclass in ``hint`` (``S``, ``S | None``), else None."""
    if isinstance(hint, type) and issubclass(hint, _Section):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        for arg in typing.get_args(hint):
            found = _section_type(arg)
            if found is not None:
                return found
    return None


def _element_type(hint, container):
    """The section type ``S`` of ``list[S]`` / ``dict[str, S]`` in ``hint`` (maybe ``| None``)."""
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is container:
            return _section_type(typing.get_args(arg)[-1])
    return None


def _read(hint, value):
    """Convert one JSON value to the field's type (sections become dataclasses)."""
    if value is None:
        return None
    section = _section_type(hint)
    if section is not None:
        return section.from_dict(value)
    item = _element_type(hint, list)
    if item is not None and isinstance(value, list):
        return [item.from_dict(v) for v in value]
    item = _element_type(hint, dict)
    if item is not None and isinstance(value, dict):
        return {k: item.from_dict(v) for k, v in value.items()}
    return value


def _write(value):
    if isinstance(value, _Section):
        return value.to_dict()
    if isinstance(value, list):
        return [_write(v) for v in value]
    if isinstance(value, dict) and any(isinstance(v, _Section) for v in value.values()):
        return {k: _write(v) for k, v in value.items()}
    return value


def _extra():
    return field(default_factory=dict, repr=False)


def _absent_keys():
    # Which known keys the source dict lacked, so to_dict leaves them out again.
    return field(default=frozenset(), repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class LabelCounts(_Section):
    """How many leads the labelling saw and kept.

    A segment model's summary counts only its ``eligible`` leads (and their positives,
    under ``extra["positive"]``): its leads were labelled with the whole history's.
    """

    leads: int | None = _later()
    eligible: int
    immature: int | None = _later()
    converted_before_as_of: int | None = _later()
    positives: int | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Period(_Section):
    """One slice of the time split (``train``, ``calibration`` or ``test``)."""

    name: str
    #: ISO 8601 timestamps of the first and last lead's creation.
    start: str
    end: str
    n_leads: int
    n_positive: int
    positive_rate: float
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class ClassificationMetrics(_Section):
    """Quality of one set of probabilities on the test slice
    (:func:`mqlml.model.metrics.classification_metrics`)."""

    n: float
    n_positive: float
    base_rate: float
    mean_probability: float
    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float
    lift_top_decile: float
    #: Expected calibration error (:func:`mqlml.model.metrics.expected_calibration_error`).
    ece: float | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class TestMetrics(_Section):
    """Test-slice metrics of the model, the model before calibration, and the baseline."""

    __test__ = False  # not a pytest test class, whatever its name

    model: ClassificationMetrics
    model_uncalibrated: ClassificationMetrics | None = _later()
    baseline_logistic: ClassificationMetrics
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()

    def by_name(self) -> dict[str, ClassificationMetrics]:
        """Every set of metrics present, by its summary name (``model``, ...)."""
        named = {f.name: getattr(self, f.name) for f in _data_fields(type(self))}
        return {k: v for k, v in named.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class CalibrationInfo(_Section):
    """The calibration method in use and, for ``auto``, each method's selection log loss."""

    method: str
    selection_log_loss: dict[str, float]
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class ModelSearch(_Section):
    """The search on time folds that chose the model (:mod:`mqlml.training.search`)."""

    #: ``trees``, ``boosted`` (trees on a linear base), ``linear`` or ``blend``.
    kind: str
    #: LightGBM settings chosen: num_leaves, learning_rate, min_child_samples, lambda_l2,
    #: feature_fraction.
    settings: dict
    #: The trees' weight in the log-odds (1: trees alone, 0: the linear model alone).
    tree_weight: float
    #: Inverse L2 strength of the linear part, if any.
    linear_c: float | None
    #: Pooled log loss on the folds' periods of the configured settings, the trees kept, the
    #: linear model and the blend. It chose the model; it is not a held-out figure (each
    #: fold's period also sized its trees).
    log_loss: dict
    #: The chosen settings' early-stopped tree count on each fold.
    fold_trees: list[int]
    trials: int
    seconds: float
    #: Leads and converted leads in the folds' periods.
    fold_rows: int
    fold_positives: int
    #: Nothing beat the configured settings: the model is the one fit without a search.
    configured: bool | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class ModelInfo(_Section):
    """The fitted trees: size, early stopping, and the options the search chose."""

    best_iteration: int
    early_stopping_rows: int
    early_stopping_log_loss: float
    n_features: int
    num_leaves: int | None = _later()
    recency_half_life: float | None = _later()
    #: Column -> monotone direction forced on drifting columns.
    monotone: dict | None = _later()
    linear_base: bool | None = _later()
    #: Columns only the linear base uses.
    linear_only: list[str] | None = _later()
    #: Leads the model learned from (the training slice, plus the calibration slice when
    #: ``cross_fit_periods`` > 0: the model was refit on both).
    learned_from_rows: int | None = _later()
    #: Consecutive periods of the calibration slice scored out of time (0: no refit).
    cross_fit_periods: int | None = _later()
    #: The model that ships was refit on the test slice too once the figures were
    #: measured (``model.refit_on_all_history``): it learned from every labelled lead.
    learned_from_test_slice: bool | None = _later()
    #: How the log-odds are made: ``trees``, ``boosted``, ``linear`` or ``blend``.
    kind: str | None = _later()
    #: The search on time folds, or None when the configured settings were used.
    search: ModelSearch | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class MqlCalibration(_Section):
    """The MQL cutoff on the calibration slice it was learned on."""

    expected_mqls_per_week: float
    leads_per_week: float
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class MqlTest(_Section):
    """The MQL cutoff on the test slice."""

    __test__ = False

    mqls: int
    mqls_per_week: float
    mql_conversion_rate: float
    share_of_conversions_captured: float
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class MqlThreshold(_Section):
    """The MQL threshold in use: its policy, target and cutoff, and what it bought."""

    policy: str | None = _later()
    capacity_per_week: float
    target: float | None = _later()
    cutoff: int
    calibration: MqlCalibration
    test: MqlTest
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Tiers(_Section):
    """The tiers below the MQL line (nurture / disqualify)."""

    mql_min_score: int
    nurture_min_score: int
    disqualify_max_share: float
    calibration_lost_share: float
    #: One row per tier on the test slice.
    test: list[dict]
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Grades(_Section):
    """Grade cutoffs (grade -> minimum score) and the grades on the test slice."""

    cutoffs: dict[str, int]
    #: One row per grade on the test slice.
    test: list[dict]
    #: The bundle whose cutoffs were kept, or None when they were learned.
    kept_from: str | None = _later()
    tiers: Tiers | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Gate(_Section):
    """The minimum-data gate: its limits and the counts per segment it checked."""

    min_train_positives: int
    min_test_positives: int
    counts: list[dict]
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Drivers(_Section):
    """What drives the score on the test slice, by field and group (score points)."""

    fields: list[dict]
    groups: list[dict]
    #: Per-lead points of the top fields, for the beeswarm chart.
    sample: dict | None = _later()
    #: Leads the drivers are averaged over: all test leads or a sample of them.
    n_leads: int | None = _later()
    #: Leads in the test slice (more than ``n_leads`` when the drivers used a sample).
    test_leads: int | None = _later()
    by_segment: list[dict] | None = _later()
    segment_column: str | None = _later()
    base_score: float | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Scorecard(_Section):
    """The points scorecard distilled from the model, and how it compares."""

    rows: list[dict]
    threshold: int | None = _later()
    points_to_double_odds: float | None = _later()
    roc_auc_test: float | None = _later()
    model_roc_auc_test: float | None = _later()
    equal_volume: list[dict] | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Evaluation(_Section):
    """Chart data of the test slice: ROC and gains curves, calibration, histogram, deciles."""

    n: int
    positives: int
    #: Curve name (``model``, ``logistic baseline``) -> its points.
    roc: dict[str, dict]
    gains: dict[str, dict]
    calibration: list[dict]
    score_histogram: dict[str, list]
    deciles: list[dict]
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class RulesInfo(_Section):
    """The current MQL rules sheet the model is compared with."""

    name: str
    path: str
    mql_threshold: float
    #: Each line of the sheet on the test slice: ``criterion``, ``field``, ``points``,
    #: ``leads`` it scores, their ``conversion_rate`` and ``lift`` over the test base rate.
    lines: list[dict] | None = _later(repr=False)
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Funnel(_Section):
    """The lead -> SQL -> customer stage models (:mod:`mqlml.training.funnel`)."""

    sql_horizon_days: int
    won_horizon_days: int
    counts: list[dict] | None = _later()
    #: Why the stage models were not fit (too few positives), when they were not.
    skipped: str | None = _optional()
    stages: list[dict] | None = _optional()
    won_comparison: list[dict] | None = _optional()
    mean_deal_value: float | None = _optional()
    expected_value_per_lead: float | None = _optional()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class Backtest(_Section):
    """The rolling-origin backtest (:mod:`mqlml.training.backtest`): tables per fold."""

    #: One row per fold: its dates, sizes and test metrics.
    folds: list[dict]
    grades: list[dict] | None = _later()
    thresholds: list[dict] | None = _later()
    movement: list[dict] | None = _later()
    test_share: float | None = _later()
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()


@dataclass(frozen=True, kw_only=True)
class TrainingSummary(_Section):
    """What one training measured: every reported figure is from rows the model never saw.

    One field per top-level key of ``metrics.json``. Sections a training may not produce
    (``rules``, ``funnel``, ``segments``, ``segment_models``, ``backtest``) are None when
    it did not; sections added after the first bundle format are None in older bundles.
    """

    name: str
    target: str
    horizon_days: int
    observation_days: int
    #: ISO 8601: the moment the data was taken.
    snapshot_at: str
    label_counts: LabelCounts
    periods: list[Period]
    #: Test-slice metrics by model (``metrics_test.model.roc_auc``).
    metrics_test: TestMetrics
    calibration: CalibrationInfo
    model: ModelInfo
    mql_threshold: MqlThreshold
    grades: Grades
    threshold_policies: list[dict] | None = _later(repr=False)
    #: Every cutoff 1-99 with its test-slice volume and rates (and intervals).
    threshold_table: list[dict] | None = _later(repr=False)
    baselines_equal_volume: list[dict] | None = _later(repr=False)
    gate: Gate | None = _later(repr=False)
    #: Field importance rows (``field``, ``label``, ``group``, ``gain_share``).
    importance: list[dict] = field(repr=False)
    #: Column -> why it is not a feature.
    excluded_columns: dict[str, str] = field(repr=False)
    data_notes: list[str] = field(repr=False)
    versions: dict[str, str] = field(repr=False)
    leakage_audit: list[dict] | None = _later(repr=False)
    drift_audit: list[dict] | None = _later(repr=False)
    #: Sentences a user must read before trusting the model (e.g. worse than its own
    #: logistic baseline on the test slice); empty when there are none.
    warnings: list[str] | None = _later(repr=False)
    drivers: Drivers | None = _later(repr=False)
    criteria_rules: list[dict] | None = _later(repr=False)
    scorecard: Scorecard | None = _later(repr=False)
    evaluation: Evaluation | None = _later(repr=False)
    rules: RulesInfo | None = _optional()
    funnel: Funnel | None = _optional(repr=False)
    #: Per-segment test metrics (``segments.column`` set).
    segments: list[dict] | None = _optional(repr=False)
    #: Per-segment model comparison rows (``segments.models`` on).
    segment_models: list[dict] | None = _optional(repr=False)
    backtest: Backtest | None = _optional(repr=False)
    extra: dict = _extra()
    _absent: frozenset = _absent_keys()

    def learned_until(self) -> str:
        """When the newest lead whose outcome reached this model was created (ISO 8601).

        Its model, calibrator, thresholds and grades learned from the training and
        calibration slices, and from the test slice too when the model was refit on all
        history (``model.learned_from_test_slice``). A lead created later is one it cannot
        have seen: only such leads judge it fairly against another model.
        """
        last = "test" if self.model.learned_from_test_slice else "calibration"
        ends = {p.name: p.end for p in self.periods}
        if last not in ends:
            raise ValueError(
                f"the summary's periods name {sorted(ends)}; expected a {last!r} period"
            )
        return ends[last]


def unseen_by(summary: TrainingSummary, created_at) -> np.ndarray:
    """True for each lead created after every lead whose outcome reached the model.

    Parameters
    ----------
    summary : TrainingSummary
        The model's summary (:meth:`TrainingSummary.learned_until` gives the moment).
    created_at : array-like of datetimes
        The leads' creation times; naive times are read as UTC.

    Returns
    -------
    numpy.ndarray of bool
        Judging the model on the leads marked True is out of sample.
    """
    import pandas as pd

    created = pd.to_datetime(pd.Series(created_at), utc=True)
    return (created > pd.Timestamp(summary.learned_until())).to_numpy()


__all__ = [
    "Backtest",
    "CalibrationInfo",
    "ClassificationMetrics",
    "Drivers",
    "Evaluation",
    "Funnel",
    "Gate",
    "Grades",
    "LabelCounts",
    "ModelInfo",
    "MqlCalibration",
    "MqlTest",
    "MqlThreshold",
    "Period",
    "RulesInfo",
    "Scorecard",
    "TestMetrics",
    "Tiers",
    "TrainingSummary",
    "unseen_by",
]
