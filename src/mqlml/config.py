"""Typed configuration, loaded once from YAML (and CLI flags) and passed down explicitly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mqlml.columns import N_POSITIVE_REASONS
from mqlml.errors import ConfigError

#: Horizon in days used when ``labels.horizon_days`` is not given, per target stage.
DEFAULT_HORIZON_DAYS = {"sql": 90, "won": 180}
#: Default observation window: training features are taken this many days after creation.
DEFAULT_OBSERVATION_DAYS = 14
#: Lead columns that hold personal data unless ``data.personal_columns`` says otherwise.
DEFAULT_PERSONAL_COLUMNS = (
    "email",
    "name",
    "full_name",
    "first_name",
    "last_name",
    "phone",
    "phone_number",
    "mobile",
    "mobile_phone",
)


#: Converted leads the train slice needs by default (the minimum-data gate).
DEFAULT_MIN_TRAIN_POSITIVES = 100
#: Converted leads the test slice needs by default.
DEFAULT_MIN_TEST_POSITIVES = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the three tables are and how their columns are named.

    ``column_mapping`` maps a table name (``leads``, ``activities``, ``outcomes``)
    to ``{their_column: our_column}``, e.g. ``{"Lead ID": "lead_id"}``.
    """

    #: Leads table (CSV/TSV, .xlsx or Parquet); the CLI's ``--data`` folder sets all three.
    leads: Path | None = None
    #: Activities table: one row per activity (lead_id, activity_type, occurred_at).
    activities: Path | None = None
    #: Outcomes table: when each lead reached SQL and customer (won), with deal value.
    outcomes: Path | None = None
    #: Per table, ``{their_column: our_column}`` to rename an export's columns.
    column_mapping: dict[Literal["leads", "activities", "outcomes"], dict[str, str]] = Field(
        default_factory=dict
    )
    #: End of the data (the export time). Default: the latest timestamp in any table.
    snapshot_at: str | None = None
    #: Slash dates (05/01/2026) are read in one order per column: day first when a value
    #: such as 21/12/2025 says so, month first when one such as 12/21/2025 does. When every
    #: value could be either, this decides (true: day/month/year); unset, month first with
    #: a warning.
    dayfirst: bool | None = None
    #: Lead columns (names after ``column_mapping``) that hold personal data. They are
    #: never features, never audited or shown as they are, and never reach MLflow, the
    #: report, ``metrics.json`` or the drift reference; ``email`` still gives the email
    #: domain type. Setting this replaces the defaults: list the ones you keep with yours.
    personal_columns: tuple[str, ...] = DEFAULT_PERSONAL_COLUMNS
    #: Memory cap of DuckDB when activities are read out of core (a Parquet file, a folder
    #: of them or a glob), e.g. ``"4GB"``; beyond it DuckDB spills to ``temp_directory``.
    #: Unset: DuckDB's default, 80% of the machine's memory.
    memory_limit: str | None = None
    #: Where DuckDB spills when out-of-core activities exceed ``memory_limit``. Unset:
    #: DuckDB's default (``.tmp`` in the working folder).
    temp_directory: Path | None = None
    #: DuckDB threads for out-of-core activities. Each thread holds its own share of the
    #: work in memory: under a small ``memory_limit``, fewer threads spill instead of
    #: failing. Unset: every core.
    threads: int | None = Field(default=None, ge=1)


class FeatureConfig(_Strict):
    """Point-in-time feature settings."""

    #: Days after a lead is created at which training scores it (its as-of moment); activities
    #: after that moment are never seen.
    observation_days: int = DEFAULT_OBSERVATION_DAYS
    #: Activity windows (days before as-of) for counts per activity type.
    windows_days: tuple[int, ...] = (7, 30, 90)
    #: Activity types seen in fewer training leads than this are pooled into ``other``.
    min_leads_per_activity_type: int = 20
    #: The most levels a text column keeps as its own (its most frequent values); the rest
    #: share one level, ``(other)``, with the rare values. A column with hundreds of values
    #: (landing pages, campaigns) is kept this way; one whose values are nearly unique per
    #: lead is left out as an identifier or free text (and named in the training output).
    max_categories: int = 200
    #: In a text column of more than 20 values, a value seen on fewer training leads than
    #: this shares the ``(other)`` level, as do values first seen when scoring: a handful of
    #: leads says little about a value. A column of at most 20 values keeps each.
    min_category_count: int = 10

    @field_validator("max_categories")
    @classmethod
    def _categories(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"features.max_categories must be at least 2, got {v}")
        return v

    @field_validator("min_category_count")
    @classmethod
    def _category_count(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"features.min_category_count must be at least 1, got {v}")
        return v

    @field_validator("observation_days")
    @classmethod
    def _positive_observation(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"observation_days must be a non-negative integer, got {v}")
        return v

    @field_validator("windows_days")
    @classmethod
    def _positive_windows(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(w <= 0 for w in v):
            raise ValueError(f"windows_days must be positive integers, got {list(v)}")
        return tuple(sorted(set(v)))


class LabelConfig(_Strict):
    """What counts as a conversion: reaching ``target`` within ``horizon_days`` after as-of."""

    #: The stage that counts as converted: ``sql`` or ``won`` (customer).
    target: Literal["sql", "won"] = "sql"
    #: Days after as-of to reach the target; default 90 for sql, 180 for won. Leads whose
    #: horizon has not passed are immature and never labelled.
    horizon_days: int | None = None

    @field_validator("horizon_days")
    @classmethod
    def _positive_horizon(cls, v: int | None) -> int | None:
        if v is not None and v <= 0:
            raise ValueError(f"horizon_days must be a positive integer, got {v}")
        return v

    @property
    def horizon(self) -> int:
        """The horizon in days, with the per-stage default filled in."""
        return (
            self.horizon_days
            if self.horizon_days is not None
            else DEFAULT_HORIZON_DAYS[self.target]
        )


class SplitConfig(_Strict):
    """Fractions of leads, ordered by ``created_at``, for train / calibration / test."""

    #: Share of the oldest labelled leads the model learns from.
    train: float = 0.6
    #: Share of the next leads that calibrate the model and set the thresholds and grades.
    calibration: float = 0.2
    #: Share of the newest labelled leads held out for every reported figure.
    test: float = 0.2
    #: Instead of the ``calibration`` share: calibrate on the newest pre-test leads that
    #: hold this many converted leads (the model then learns from all older leads; time
    #: ordered splits only). ``train`` and ``calibration`` still sum with ``test`` to 1.
    calibration_positives: int | None = None

    @field_validator("calibration_positives")
    @classmethod
    def _positives(cls, v: int | None) -> int | None:
        if v is not None and v < 10:
            raise ValueError(f"split.calibration_positives must be at least 10, got {v}")
        return v

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitConfig:
        parts = {"train": self.train, "calibration": self.calibration, "test": self.test}
        for name, v in parts.items():
            if not 0 < v < 1:
                raise ValueError(f"split.{name} must be between 0 and 1, got {v}")
        if abs(sum(parts.values()) - 1) > 1e-9:
            raise ValueError(f"split fractions must sum to 1, got {sum(parts.values()):.3f}")
        return self


class SearchConfig(_Strict):
    """The model search on time folds (``model.search``).

    The newest ``model.early_stopping_fraction`` of the training rows is cut into ``folds``
    consecutive periods; each is predicted by models fit only on the rows before it. An
    Optuna (TPE) search over LightGBM's settings (leaves, learning rate, leaf size, L2,
    feature share, recency weighting, monotone drifting columns, a linear base) and a
    logistic model are judged on those out-of-time predictions by log loss, and a blend of
    the best of each is kept when it predicts them better. The first trial is the configured
    settings, so the search never ships worse settings on the folds than no search.
    """

    #: Most trials (LightGBM settings tried). 0: no search; the configured settings (and
    #: the early-stopping choice among ``num_leaves_search``, ``recency_half_life_search``
    #: and ``linear_base: auto``) are used.
    trials: int = 20
    #: Wall-clock seconds for the trials and the linear model's strengths; a trial still
    #: running when it ends stops at its next fold, but the configured settings and the
    #: configured strength always run (each run then tries as many as the machine allows:
    #: set ``null`` and ``trials`` for runs that repeat exactly). A recipe searches once per
    #: model (backtest folds and segments each search within this budget); the funnel's
    #: stage models use the configured settings (a search per stage would double the
    #: training time at a million leads).
    budget_seconds: float | None = 10.0
    #: Consecutive time periods the search judges settings on.
    folds: int = 3
    #: Converted leads the folds' periods must hold together for the search to run; with
    #: fewer, differences between settings are noise and the configured settings are used.
    min_positives: int = 150
    #: Most training rows the search judges settings on: the newest ones (a larger training
    #: slice is fit whole once the settings are chosen). Bounds the search's cost at scale.
    max_rows: int = 100_000
    #: What may ship: ``trees`` (LightGBM, possibly boosted from a linear base), ``linear``
    #: (the logistic model alone) and ``blend`` (a weighed sum of the two's log-odds).
    candidates: tuple[Literal["trees", "linear", "blend"], ...] = ("trees", "linear", "blend")

    @field_validator("trials", "min_positives")
    @classmethod
    def _non_negative(cls, v: int, info) -> int:
        if v < 0:
            raise ValueError(f"model.search.{info.field_name} must be 0 or more, got {v}")
        return v

    @field_validator("max_rows")
    @classmethod
    def _max_rows(cls, v: int) -> int:
        if v < 1_000:
            raise ValueError(f"model.search.max_rows must be at least 1000, got {v}")
        return v

    @field_validator("folds")
    @classmethod
    def _folds(cls, v: int) -> int:
        if not 1 <= v <= 10:
            raise ValueError(f"model.search.folds must be an integer from 1 to 10, got {v}")
        return v

    @field_validator("budget_seconds")
    @classmethod
    def _budget(cls, v: float | None) -> float | None:
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError(f"model.search.budget_seconds must be positive or null, got {v}")
        return v

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "trees" not in v:
            raise ValueError(
                f"model.search.candidates must include 'trees', got {list(v)}"
            )
        return v


class ModelConfig(_Strict):
    """LightGBM settings. Early stopping uses the latest ``early_stopping_fraction`` of train."""

    #: LightGBM learning rate.
    learning_rate: float = 0.05
    #: LightGBM leaves per tree.
    num_leaves: int = 15
    #: LightGBM minimum leads in a leaf.
    min_child_samples: int = 40
    #: Most boosting rounds; early stopping usually ends sooner.
    max_boost_rounds: int = 1000
    #: Rounds without improvement on the early-stopping rows before boosting stops.
    early_stopping_rounds: int = 50
    #: The newest share of the train rows used for early stopping.
    early_stopping_fraction: float = 0.2
    #: LightGBM share of features per tree.
    feature_fraction: float = 0.8
    #: LightGBM share of rows per tree.
    bagging_fraction: float = 0.8
    #: LightGBM L2 regularisation.
    lambda_l2: float = 1.0
    #: Seed of every random choice in fitting.
    seed: int = 0
    #: Tree sizes to try; the one with the lowest early-stopping log loss (on the latest
    #: train rows) is kept. Empty: ``num_leaves`` only. 2 gives an additive model.
    num_leaves_search: tuple[int, ...] = ()
    #: Numeric columns whose calibration-slice values drift from the train slice (see
    #: the drift audit) may only move the score one way, the way they do on the train
    #: slice: trees then extrapolate flat, never backwards, past the range they saw.
    monotone_drifting: bool = False
    #: Recency weighting to try: each value is a half-life as a share of the train rows
    #: (0.05: a row 5% of the rows older than the newest counts half), ``null`` for equal
    #: weights. Chosen with ``num_leaves_search`` by early-stopping log loss.
    recency_half_life_search: tuple[float | None, ...] = (None,)
    #: Trees boosted from a linear base (:mod:`mqlml.model.linear`), whose effects extrapolate
    #: past the range of the history where trees would predict flat: ``off``, ``on``, or
    #: ``auto`` (with and without, whichever has the lower early-stopping log loss).
    linear_base: Literal["off", "on", "auto"] = "off"
    #: Inverse L2 strength of the linear base.
    linear_base_c: float = 1.0
    #: With a linear base: numeric columns whose calibration-slice values drift from the
    #: train slice (as for ``monotone_drifting``) are left to the linear base alone, where
    #: their effect extrapolates; the trees never split on them.
    linear_drifting: bool = False
    #: Threads for every LightGBM fit and prediction. ``null``: the CPUs this process may
    #: use (``os.sched_getaffinity``); 0: LightGBM's own default (every logical core). On a
    #: machine shared with other jobs set it to the cores free: LightGBM's threads wait on
    #: each other when there are more of them than free cores (a fit of 0.4 s took 175 s).
    num_threads: int | None = None
    #: The search on time folds over LightGBM's settings, the linear model and a blend.
    search: SearchConfig = Field(default_factory=SearchConfig)
    #: Once every test figure is measured, refit the model that ships, with every choice
    #: the recipe made, on all labelled leads (the test slice too), so it learns from the
    #: newest mature history. Its calibrator, thresholds and grades stay those fit on
    #: out-of-time scores, and the figures stay those of the model that never saw the test
    #: slice (the registry gate and ``mqlml retrain`` score with that one too). A later
    #: training's gate judges such a champion only on leads created after its data.
    refit_on_all_history: bool = True

    @field_validator("num_threads")
    @classmethod
    def _non_negative_threads(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError(f"model.num_threads must be 0 or a positive integer, got {v}")
        return v

    @model_validator(mode="after")
    def _linear_drifting_needs_a_base(self) -> ModelConfig:
        if self.linear_drifting and self.linear_base == "off":
            raise ValueError(
                "model.linear_drifting leaves drifting columns to the linear base, but "
                "model.linear_base is 'off'; set linear_base to 'on' or 'auto'"
            )
        return self

    @field_validator("linear_base_c")
    @classmethod
    def _linear_c(cls, v: float) -> float:
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"linear_base_c must be a positive number, got {v}")
        return v

    @field_validator("recency_half_life_search")
    @classmethod
    def _half_lives(cls, v: tuple[float | None, ...]) -> tuple[float | None, ...]:
        if not v or any(h is not None and not 0 < h <= 10 for h in v):
            raise ValueError(
                f"recency_half_life_search must list shares in (0, 10] or null, got {list(v)}"
            )
        return v

    @field_validator("early_stopping_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 < v < 0.5:
            raise ValueError(f"early_stopping_fraction must be between 0 and 0.5, got {v}")
        return v


class CalibrationConfig(_Strict):
    """Calibration method.

    ``auto`` picks isotonic or sigmoid by log loss on the later part of the calibration slice.
    """

    #: ``auto`` (isotonic or sigmoid, whichever has the lower log loss on the later calibration
    #: rows), ``isotonic`` or ``sigmoid``.
    method: Literal["auto", "isotonic", "sigmoid"] = "auto"
    #: Time cross-fitting: the calibration slice is cut into this many consecutive periods,
    #: each scored by a model with the chosen settings fit on every row before it; the
    #: calibrator, thresholds and grades are fit on those pooled out-of-time scores, and the
    #: model that ships is then refit on the training and calibration rows together, so it
    #: learns from the newest history. 0: the model learns from the training slice only and
    #: is calibrated on its own scores of the calibration slice (no refit), as the funnel's
    #: stage models always are (they only report figures).
    cross_fit_periods: int = 2

    @field_validator("cross_fit_periods")
    @classmethod
    def _periods(cls, v: int) -> int:
        if not 0 <= v <= 12:
            raise ValueError(f"calibration.cross_fit_periods must be between 0 and 12, got {v}")
        return v


class ThresholdConfig(_Strict):
    """MQL threshold policy and grade shares."""

    #: Leads per week that sales can work: the MQL cutoff admits about this many.
    capacity_per_week: float = 100.0
    #: Share of leads in grades A, B, C (D takes the rest), highest scores first. The tier
    #: lines are grade boundaries, so a grade never mixes tiers: B's cutoff is the MQL line
    #: (A and B are the MQLs) and C's the nurture line (D is disqualified); the shares set
    #: the cutoffs that no tier line fixes (A's, as a rule).
    grade_shares: tuple[float, float, float] = (0.1, 0.2, 0.3)

    #: Which policy sets ``is_mql``: capacity, precision, recall or expected_value. All four
    #: are fit and reported; this one is used for scoring.
    policy: Literal["capacity", "precision", "recall", "expected_value"] = "capacity"
    #: precision policy: the MQL -> target conversion rate to reach (e.g. 0.3 = 30%).
    target_precision: float = 0.3
    #: recall policy: the share of all conversions the MQLs must capture.
    target_recall: float = 0.8
    #: expected_value policy: cost of working one MQL (currency of deal_value).
    cost_per_lead: float = 500.0
    #: expected_value policy: value of a won deal; default the mean deal_value learned.
    value_per_won: float | None = None
    #: Below the MQL line, the lowest scores holding at most this share of conversions
    #: are tiered ``disqualify``; the rest ``nurture``.
    disqualify_max_share: float = 0.05
    #: Bootstrap resamples (seeded) for the intervals of the threshold table and policies.
    bootstrap_samples: int = 200
    #: Seed of the bootstrap resamples.
    bootstrap_seed: int = 0
    #: Coverage of the bootstrap intervals (0.95: 95% intervals).
    interval_level: float = 0.95
    #: A previous model bundle whose grade cutoffs are kept instead of learning new ones.
    keep_grades_from: Path | None = None

    @field_validator("target_precision", "interval_level")
    @classmethod
    def _open_unit(cls, v: float, info) -> float:
        if not 0 < v < 1:
            raise ValueError(f"{info.field_name} must be between 0 and 1, got {v}")
        return v

    @field_validator("target_recall")
    @classmethod
    def _recall(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"target_recall must be in (0, 1], got {v}")
        return v

    @field_validator("disqualify_max_share")
    @classmethod
    def _lost_share(cls, v: float) -> float:
        if not 0 <= v < 1:
            raise ValueError(f"disqualify_max_share must be in [0, 1), got {v}")
        return v

    @field_validator("cost_per_lead", "bootstrap_samples")
    @classmethod
    def _non_negative(cls, v, info):
        if v < 0:
            raise ValueError(f"{info.field_name} must be zero or positive, got {v}")
        return v

    @field_validator("value_per_won")
    @classmethod
    def _positive_value(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError(f"value_per_won must be positive, got {v}")
        return v

    @field_validator("capacity_per_week")
    @classmethod
    def _positive_capacity(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"capacity_per_week must be positive, got {v}")
        return v

    @field_validator("grade_shares")
    @classmethod
    def _shares(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s <= 0 for s in v) or sum(v) >= 1:
            raise ValueError(f"grade_shares must be positive and sum below 1, got {list(v)}")
        return v


class FunnelConfig(_Strict):
    """The lead -> SQL -> customer funnel models (see :mod:`mqlml.training.funnel`)."""

    #: Also fit the lead -> SQL and SQL -> won models and report the funnel.
    enabled: bool = True
    #: Days after as-of to reach SQL; default the label horizon (target sql) or 90.
    sql_horizon_days: int | None = None
    #: Days after reaching SQL to be won.
    won_horizon_days: int = 90

    @field_validator("sql_horizon_days", "won_horizon_days")
    @classmethod
    def _positive(cls, v: int | None, info) -> int | None:
        if v is not None and v <= 0:
            raise ValueError(f"{info.field_name} must be a positive integer, got {v}")
        return v


class BacktestConfig(_Strict):
    """Rolling-origin backtest (:mod:`mqlml.training.backtest`); ``folds: 0`` switches it off."""

    #: Rolling-origin test periods; 0 switches the backtest off.
    folds: int = 0
    #: Share of the labelled leads (the latest) cut into the test periods.
    test_share: float = 0.5

    @field_validator("folds")
    @classmethod
    def _folds(cls, v: int) -> int:
        if not 0 <= v <= 20:
            raise ValueError(f"folds must be an integer from 0 to 20, got {v}")
        return v

    @field_validator("test_share")
    @classmethod
    def _share(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError(f"test_share must be between 0 and 1, got {v}")
        return v


class GateConfig(_Strict):
    """Minimum-data gate (see :mod:`mqlml.training.gate`): converted leads each slice needs."""

    #: Converted leads the train slice needs; fewer stops training with a clear error.
    min_train_positives: int = DEFAULT_MIN_TRAIN_POSITIVES
    #: Converted leads the test slice needs.
    min_test_positives: int = DEFAULT_MIN_TEST_POSITIVES

    @field_validator("min_train_positives", "min_test_positives")
    @classmethod
    def _non_negative(cls, v: int, info) -> int:
        if v < 0:
            raise ValueError(f"{info.field_name} must be zero or positive, got {v}")
        return v


class SegmentConfig(_Strict):
    """Optional segment column (e.g. industry or lead_source) for per-segment figures."""

    #: Lead column to segment by (e.g. ``lead_source``) for per-segment figures.
    column: str | None = None
    #: Also fit one model per segment (on the global split's leads of that segment); a
    #: segment scores with its own model only where it beats the global model on the
    #: segment's calibration slice (log loss). Needs ``column``.
    models: bool = False

    @model_validator(mode="after")
    def _models_need_a_column(self) -> SegmentConfig:
        if self.models and self.column is None:
            raise ValueError(
                "segments.models is true but segments.column is not set; name the lead "
                "column to segment by (e.g. segments.column: lead_source) or set "
                "segments.models: false"
            )
        return self


class BaselineConfig(_Strict):
    """Baselines beside the model; ``rules_path`` is the team's MQL points sheet (YAML)."""

    #: The team's current MQL points sheet (YAML, see ``configs/rules-example.yaml``), compared
    #: with the model at equal MQL volume.
    rules_path: Path | None = None


class TrackingConfig(_Strict):
    """MLflow tracking. ``uri`` defaults to $MLFLOW_TRACKING_URI, else ``sqlite:///mlflow.db``."""

    #: Log every training to MLflow and register its model (``--no-tracking`` turns it off).
    enabled: bool = True
    #: MLflow tracking URI; default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.
    uri: str | None = None
    #: MLflow experiment the runs go to.
    experiment: str = "mqlml"


class FlatConfig(_Strict):
    """One flat export (a row per lead) instead of three tables.

    Either ``preset`` names a known CRM export (``salesforce`` or ``hubspot``, see
    :mod:`mqlml.data.presets`), whose lifecycle dates give the outcome, or ``target_column``
    and ``positive_values`` say which rows converted.
    """

    #: The export file; the CLI's ``--data`` overrides it.
    path: Path | None = None
    #: A known CRM export (``salesforce`` or ``hubspot``) whose lifecycle dates give the
    #: outcome.
    preset: Literal["salesforce", "hubspot"] | None = None
    #: Column saying whether the row converted (without a preset).
    target_column: str | None = None
    #: Values of ``target_column`` that mean converted (compared as stripped text).
    positive_values: tuple[str, ...] = ()
    #: A date/time or ordering column for a time-ordered split. Without one the split is
    #: stratified random and metrics may be optimistic.
    time_column: str | None = None
    #: The rows are already in time order (oldest first) though no column says when:
    #: the split then follows the row order instead of being random.
    rows_in_time_order: bool = False
    #: Unique row identifier; default: the row number in the file (1-based).
    id_column: str | None = None
    #: Columns never used as features (in addition to the audit's exclusions).
    exclude_columns: tuple[str, ...] = ()
    #: Cell values meaning "missing", e.g. ``Select`` or ``unknown`` (compared as text).
    missing_values: tuple[str, ...] = ()
    #: Rows arriving per week, used when there is no date/time column: rows are spread in
    #: file order at this rate so the weekly MQL capacity has weeks to count.
    rows_per_week: float | None = None
    #: Seed of the stratified random split (used only without a time column).
    seed: int = 0

    @field_validator("rows_per_week")
    @classmethod
    def _positive_rate(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"rows_per_week must be positive, got {v}")
        return v

    @model_validator(mode="after")
    def _target_given(self) -> FlatConfig:
        if self.preset is None:
            if not self.target_column:
                raise ValueError("flat.target_column is required when flat.preset is not set")
            if not self.positive_values:
                raise ValueError(
                    f"flat.positive_values must list the value(s) of {self.target_column!r} "
                    "that mean converted, e.g. ['yes']"
                )
        elif self.target_column is not None or self.positive_values:
            raise ValueError(
                f"flat.preset {self.preset!r} takes the outcome from its lifecycle dates; "
                "remove flat.target_column and flat.positive_values"
            )
        return self

    @model_validator(mode="after")
    def _one_role_per_column(self) -> FlatConfig:
        # A column read as the row's id cannot also be its time, its outcome or left out:
        # each role takes the column out of the attributes once.
        roles = {
            "flat.target_column": self.target_column,
            "flat.time_column": self.time_column,
            "flat.id_column": self.id_column,
        }
        named = [(k, v) for k, v in roles.items() if v is not None]
        for i, (key, col) in enumerate(named):
            for other, col2 in named[i + 1 :]:
                if col == col2:
                    raise ValueError(
                        f"{key} and {other} both name the column {col!r}; each must name a "
                        "different column (leave flat.id_column unset to identify rows by "
                        "their row number)"
                    )
        if self.id_column is not None and self.id_column in self.exclude_columns:
            raise ValueError(
                f"flat.id_column {self.id_column!r} is also listed in flat.exclude_columns; "
                "the id column is never a feature anyway: remove it from "
                "flat.exclude_columns"
            )
        return self


class AuditConfig(_Strict):
    """Leakage and drift audits of the lead attributes at training time."""

    #: Run the leakage and drift audits of lead attributes before training.
    enabled: bool = True
    #: Columns flagged as leaky that the user keeps anyway (named explicitly).
    allow_columns: tuple[str, ...] = ()
    #: A column whose single-column ROC AUC on the train slice reaches this is flagged.
    max_single_column_auc: float = 0.9
    #: A column filled for at least this share of positives, and whose filled rows are
    #: mostly positive, is flagged ("filled after the fact").
    min_positive_fill: float = 0.05
    #: PSI between the first and the last period above which a column is reported as drifting.
    psi_threshold: float = 0.2
    #: A column whose fill rate for converted leads and for the others differs by this
    #: ratio (either way round, and by 10 points or more) is excluded: sales fill it after
    #: contact.
    fill_ratio_exclude: float = 3.0
    #: The same ratio from which the column is listed for review (kept).
    fill_ratio_review: float = 2.0
    #: The newest share of the labelled leads whose fill rate is compared with the older
    #: leads' (no labels are read).
    recent_share: float = 0.2
    #: A column filled for the newest leads at most this many times as often as for the
    #: older ones (0.2: a fifth) is excluded: empty for every lead scored from now on.
    recent_fill_exclude: float = 0.2
    #: The same ratio at or below which the column is listed for review (kept).
    recent_fill_review: float = 0.5
    #: Words (or phrases, their words in order) in a column name that suggest a sales
    #: verdict or a value as of the export: such a column is listed for review, and
    #: excluded when other evidence agrees. Matched as whole words, plural s allowed.
    review_name_words: tuple[str, ...] = (
        "status",
        "stage",
        "quality",
        "tag",
        "disposition",
        "rating",
        "score",
        "grade",
        "qualified",
        "qualification",
        "verdict",
        "outcome",
        "lost",
        "converted",
        "last activity",
    )

    @field_validator("fill_ratio_exclude", "fill_ratio_review")
    @classmethod
    def _ratio_above_one(cls, v: float, info) -> float:
        if not v > 1:
            raise ValueError(f"audit.{info.field_name} must be above 1, got {v}")
        return v

    @field_validator("recent_share", "recent_fill_exclude", "recent_fill_review")
    @classmethod
    def _unit_share(cls, v: float, info) -> float:
        if not 0 < v < 1:
            raise ValueError(f"audit.{info.field_name} must be between 0 and 1, got {v}")
        return v

    @model_validator(mode="after")
    def _review_is_weaker(self) -> AuditConfig:
        if self.fill_ratio_review > self.fill_ratio_exclude:
            raise ValueError(
                f"audit.fill_ratio_review ({self.fill_ratio_review}) must not exceed "
                f"audit.fill_ratio_exclude ({self.fill_ratio_exclude})"
            )
        if self.recent_fill_review < self.recent_fill_exclude:
            raise ValueError(
                f"audit.recent_fill_review ({self.recent_fill_review}) must not be below "
                f"audit.recent_fill_exclude ({self.recent_fill_exclude})"
            )
        return self

    @field_validator("max_single_column_auc")
    @classmethod
    def _auc(cls, v: float) -> float:
        if not 0.5 < v <= 1:
            raise ValueError(f"max_single_column_auc must be in (0.5, 1], got {v}")
        return v


class RegistryConfig(_Strict):
    """Model registry: every tracked training registers a version of the model ``name``.

    The alias ``champion`` (the version that scores) moves to the new version only when it
    passes the gate, judged on the new training's test slice (its most recent mature leads)
    scored by both the new version and the current champion:

    - the new version's ROC AUC there is at least ``min_roc_auc``, and
    - its ``metric`` is at least as good as the champion's on those same leads, better by
      ``min_improvement`` or more (higher is better for ``roc_auc`` and ``pr_auc``, lower for
      ``log_loss`` and ``brier``).

    Defaults: ROC AUC no lower than the champion's and at least 0.6. Without a champion,
    the first version that reaches ``min_roc_auc`` becomes it. ``mqlml promote`` and
    ``mqlml rollback`` move the alias by hand.
    """

    #: Register every tracked training as a version and move the champion alias through the
    #: gate.
    enabled: bool = True
    #: Metric the gate compares on the new training's test slice.
    metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    #: Least ROC AUC a version needs to become champion.
    min_roc_auc: float = 0.6
    #: How much better than the champion's ``metric`` the new version must be.
    min_improvement: float = 0.0

    @field_validator("min_roc_auc")
    @classmethod
    def _auc_range(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"min_roc_auc must be between 0 and 1, got {v}")
        return v


class RetrainConfig(_Strict):
    """``mqlml retrain``: a challenger trained on fresh history against the champion.

    Both are scored on the same leads: the challenger's test slice (its most recent mature
    leads, which neither model trained on), optionally narrowed to the newest
    ``compare_leads`` or those of the last ``compare_days`` days. The champion is promoted
    away only through the ``registry`` gate.
    """

    #: Compare on at most this many of the newest test-slice leads (None: all of them).
    compare_leads: int | None = None
    #: Compare on the test-slice leads created in this many days before the newest one
    #: (None: no limit by date).
    compare_days: int | None = None
    #: Keep the champion's grade cutoffs (True) instead of learning new ones (False).
    keep_grades: bool = False

    @field_validator("compare_leads", "compare_days")
    @classmethod
    def _positive(cls, v: int | None, info) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"{info.field_name} must be at least 1 or null, got {v}")
        return v


class _CrmFields(_Strict):
    """Checks shared by the field names of every CRM's import file."""

    @model_validator(mode="after")
    def _names(self) -> _CrmFields:
        if not self.record_id.strip():
            raise ValueError("record_id must name the column of the CRM's record id")
        if len(self.reasons) > N_POSITIVE_REASONS:
            raise ValueError(
                f"reasons names at most {N_POSITIVE_REASONS} columns (mqlml gives the "
                f"{N_POSITIVE_REASONS} reasons that raised the score most), got {len(self.reasons)}"
            )
        names = [n for n in self.model_dump().values() for n in (n if isinstance(n, tuple)
                 else (n,)) if n]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"each column name once, got {', '.join(repeated)} more than once")
        return self


class SalesforceFields(_CrmFields):
    """Columns of the Salesforce import file (Lead object; Data Loader or ``sf data
    update bulk``): field API names. An empty name leaves that column out."""

    #: Column of the record id (the lead's 18-character Salesforce Id, its ``lead_id``).
    record_id: str = "Id"
    #: Score 1-99 (Number field).
    score: str = "Lead_Score__c"
    #: Grade A-D (Text or Picklist).
    grade: str = "Lead_Grade__c"
    #: Whether the lead is an MQL (Checkbox: ``true`` / ``false``).
    is_mql: str = "Is_MQL__c"
    #: Tier: ``mql``, ``nurture`` or ``disqualify`` (Picklist).
    tier: str = "Score_Tier__c"
    #: Columns of the top reasons that raised the score, best first (Text, 255).
    reasons: tuple[str, ...] = ("Score_Reason_1__c", "Score_Reason_2__c", "Score_Reason_3__c")
    #: Whether the lead became an MQL since its previous scoring, or is a new MQL (Checkbox).
    became_mql: str = "Became_MQL__c"
    #: Whether its grade differs from its previous scoring's (Checkbox).
    grade_changed: str = "Grade_Changed__c"
    #: Score minus the previous scoring's; empty for a lead scored the first time (Number).
    score_change: str = "Score_Change__c"
    #: ``up``, ``down``, ``same`` or ``new`` against the previous scoring (Picklist).
    score_trend: str = "Score_Trend__c"
    #: Scoring moment (Date/Time, ``2026-05-04T08:00:00.000Z``).
    scored_at: str = "Lead_Scored_At__c"


class HubspotFields(_CrmFields):
    """Columns of the HubSpot import file (contacts): property internal names, which the
    import tool maps by themselves. An empty name leaves that column out."""

    #: Column of the record id (``hs_object_id``: the contact's Record ID, its ``lead_id``).
    record_id: str = "hs_object_id"
    #: Score 1-99 (Number property).
    score: str = "mqlml_score"
    #: Grade A-D (Single-line text or Dropdown select).
    grade: str = "mqlml_grade"
    #: Whether the contact is an MQL (Single checkbox: ``true`` / ``false``).
    is_mql: str = "mqlml_is_mql"
    #: Tier: ``mql``, ``nurture`` or ``disqualify`` (Dropdown select).
    tier: str = "mqlml_tier"
    #: Columns of the top reasons that raised the score, best first (Single-line text).
    reasons: tuple[str, ...] = ("mqlml_reason_1", "mqlml_reason_2", "mqlml_reason_3")
    #: Whether the contact became an MQL since its previous scoring, or is a new MQL
    #: (Single checkbox).
    became_mql: str = "mqlml_became_mql"
    #: Whether its grade differs from its previous scoring's (Single checkbox).
    grade_changed: str = "mqlml_grade_changed"
    #: Score minus the previous scoring's; empty for a contact scored the first time (Number).
    score_change: str = "mqlml_score_change"
    #: ``up``, ``down``, ``same`` or ``new`` against the previous scoring (Dropdown select).
    score_trend: str = "mqlml_score_trend"
    #: Day of the scoring moment (Date picker, ``2026-05-04``).
    scored_at: str = "mqlml_scored_date"


class DynamicsFields(_CrmFields):
    """Columns of the Dynamics 365 import file (Lead table; Import Data wizard): column
    logical names, custom ones with the publisher prefix (``new_`` by default). An empty
    name leaves that column out."""

    #: Column of the record id (``leadid``: the lead's GUID, its ``lead_id``).
    record_id: str = "leadid"
    #: Score 1-99 (Whole number).
    score: str = "new_leadscore"
    #: Grade A-D (Text or Choice).
    grade: str = "new_leadgrade"
    #: Whether the lead is an MQL (Yes/No column, imported as ``1`` / ``0``).
    is_mql: str = "new_ismql"
    #: Tier: ``mql``, ``nurture`` or ``disqualify`` (Choice).
    tier: str = "new_scoretier"
    #: Columns of the top reasons that raised the score, best first (Text).
    reasons: tuple[str, ...] = ("new_scorereason1", "new_scorereason2", "new_scorereason3")
    #: Whether the lead became an MQL since its previous scoring, or is a new MQL (Yes/No).
    became_mql: str = "new_becamemql"
    #: Whether its grade differs from its previous scoring's (Yes/No).
    grade_changed: str = "new_gradechanged"
    #: Score minus the previous scoring's; empty for a lead scored the first time (Whole
    #: number).
    score_change: str = "new_scorechange"
    #: ``up``, ``down``, ``same`` or ``new`` against the previous scoring (Choice).
    score_trend: str = "new_scoretrend"
    #: Scoring moment (Date and time, ``2026-05-04T08:00:00Z``).
    scored_at: str = "new_scoredat"


class WebhookConfig(_Strict):
    """A JSON message posted to ``url`` per new MQL (or one per batch), with retries.

    Each message carries an ``Idempotency-Key`` header derived from the model, the event
    and the lead (or the batch's leads), not the scoring moment: a receiver that keeps the
    keys it has seen acts once on a message delivered twice, even when a later run sends
    it again after a failed delivery.
    """

    #: ``http://`` or ``https://`` address to post to; unset, no message is sent (the CLI's
    #: ``--webhook`` sets it).
    url: str | None = None
    #: ``mql``: one message per new MQL; ``batch``: one message listing a batch's new MQLs.
    per: Literal["mql", "batch"] = "mql"
    #: Attempts per message before the run fails (the first try included).
    attempts: int = 4
    #: Wait before the second attempt, doubled before each next one (a ``Retry-After`` header
    #: of the receiver, up to 60 s, takes precedence).
    backoff_seconds: float = 1.0
    #: Seconds to wait for the receiver's answer to one attempt.
    timeout_seconds: float = 10.0
    #: Environment variable holding the ``Authorization`` header's value (e.g.
    #: ``Bearer ...``), so no secret sits in the configuration file.
    authorization_env: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.lower().startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {v!r}")
        return v

    @field_validator("attempts")
    @classmethod
    def _attempts(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"attempts must be at least 1, got {v}")
        return v

    @field_validator("backoff_seconds", "timeout_seconds")
    @classmethod
    def _seconds(cls, v: float) -> float:
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"must be a number of seconds >= 0, got {v}")
        return v


class CrmConfig(_Strict):
    """Scores into the CRM: ``mqlml score --crm salesforce|hubspot|dynamics`` writes that
    tool's import file beside the output, with what changed since the previous scoring of
    the same leads (kept in a small state store); ``webhook`` posts each new MQL."""

    #: The state store (SQLite: lead id, score, grade, MQL flag, tier, scoring moment and
    #: model; no personal data). Default: ``mqlml-state.sqlite`` in the output's folder.
    state_path: Path | None = None
    #: Rows of the import file: ``all`` scored leads, or only ``changed`` ones (new, or
    #: whose score or grade moved since the previous scoring).
    rows: Literal["all", "changed"] = "all"
    salesforce: SalesforceFields = Field(default_factory=SalesforceFields)
    hubspot: HubspotFields = Field(default_factory=HubspotFields)
    dynamics: DynamicsFields = Field(default_factory=DynamicsFields)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)


class OutputConfig(_Strict):
    """Files written for people: scored leads, rejects, report tables.

    A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    run as a formula when a spreadsheet opens the file (CSV injection). By default every
    such text cell and column name is written with a leading single quote ``'``, as OWASP
    advises; numbers (a negative score or probability) are never touched. Parquet files
    are written as they are.
    """

    #: Neutralise CSV text cells a spreadsheet would run as a formula (prefix ``'``); turn
    #: off for machine consumers (``mqlml score --raw-csv``).
    safe_csv: bool = True


class ExplanationsConfig(_Strict):
    """The explanations computed once at training time for the report.

    The score-point drivers (SHAP), the refined rules and the points scorecard are
    learned on a seeded random sample of each slice when it has more leads than
    ``sample_rows``: their figures are means and small fits that a sample of this size
    pins down, while on every row of a 1M-lead history they would take minutes. The
    ROC and gains charts and every metric still use the whole test slice.
    """

    #: Most leads per slice (train, calibration, test) the drivers, rules and scorecard
    #: are computed on; a larger slice is sampled (seeded). None: every lead.
    sample_rows: int | None = Field(default=50_000, ge=1_000)


class MonitorConfig(_Strict):
    """``mqlml monitor``: the levels at which a check raises an alert.

    Every check has a ``warn`` and a ``critical`` level; the run's exit status is that of
    the worst alert (0 none, 3 warn, 4 critical; 2 stays the command's error). A check on
    too few leads (``min_matured``, ``min_rows``) is reported without an alert.
    """

    #: PSI of a feature or of the score distribution in a week (against the training
    #: reference) at which a warning is raised.
    psi_warn: float = 0.2
    #: PSI at which the alert is critical.
    psi_critical: float = 0.5
    #: Share of a week's leads with a category the model never saw, per column: warning.
    unseen_warn: float = 0.05
    #: Share of unseen categories at which the alert is critical.
    unseen_critical: float = 0.2
    #: The base rate a batch implies (its mean probability) over the training rate, or the
    #: inverse: warning at this ratio.
    base_rate_warn: float = 1.5
    #: Base-rate ratio at which the alert is critical.
    base_rate_critical: float = 2.0
    #: A grade, tier or score band whose realised rate misses the promised one (the mean
    #: probability lies outside the realised rate's interval) by this relative gap: warning.
    rate_gap_warn: float = 0.3
    #: Relative gap of realised against promised rate at which the alert is critical.
    rate_gap_critical: float = 0.5
    #: Expected calibration error of the matured leads at which a warning is raised.
    ece_warn: float = 0.05
    #: ECE at which the alert is critical.
    ece_critical: float = 0.1
    #: MQLs per week over the capacity the threshold was set for (or the inverse): warning.
    mql_volume_warn: float = 1.5
    #: MQL volume ratio at which the alert is critical.
    mql_volume_critical: float = 2.0
    #: Fewest matured leads in a group (grade, tier, band, the MQLs) for a rate alert.
    min_matured: int = Field(default=100, ge=1)
    #: Fewest scored leads in a week for its PSI and unseen-category figures.
    min_rows: int = Field(default=200, ge=1)
    #: Family-wise coverage of the Wilson intervals of the realised rates of one table
    #: (Bonferroni: with 4 grades, each interval covers 1 - 0.05 / 4).
    interval_level: float = 0.95
    #: Equal-width score bands (1-99) of the promised-vs-realised table.
    score_bands: int = Field(default=10, ge=2, le=99)

    @model_validator(mode="after")
    def _levels(self) -> MonitorConfig:
        for check in ("psi", "unseen", "base_rate", "rate_gap", "ece", "mql_volume"):
            warn, critical = getattr(self, f"{check}_warn"), getattr(self, f"{check}_critical")
            if not 0 < warn <= critical:
                raise ValueError(
                    f"{check}_warn must be positive and at most {check}_critical, got "
                    f"{warn} and {critical}"
                )
        for check in ("base_rate", "mql_volume"):
            if getattr(self, f"{check}_warn") <= 1:
                raise ValueError(
                    f"{check}_warn is a ratio and must be above 1, got "
                    f"{getattr(self, f'{check}_warn')}"
                )
        if not 0 < self.interval_level < 1:
            raise ValueError(f"interval_level must be between 0 and 1, got {self.interval_level}")
        return self


class PriorShiftConfig(_Strict):
    """The conversion rate a scored batch implies from its own probabilities, beside the
    rate the model was calibrated to (EM of Saerens, Latinne and Decaestecker, 2002; see
    docs/scoring.md). It assumes the leads behave as before given their outcome: when a
    new campaign or form changes *who* converts, the estimate is wrong and so is adjusting.
    """

    #: Warn when the batch's estimated rate and the training rate differ by more than this
    #: factor, either way (1.5: a 6% training rate warns below 4% or above 9%).
    warn_factor: float = 1.5
    #: Move every probability to the batch's estimated rate (Bayes' rule; the ranking of
    #: leads is kept) and recompute scores, grades, tiers and is_mql from them. Off by
    #: default: ``mqlml score --adjust-prior`` turns it on for one batch.
    adjust: bool = False
    #: Fewest scored leads the rate is estimated from; a smaller batch reports no estimate
    #: (and is not adjusted): a few leads say little about a rate.
    min_leads: int = 200

    @field_validator("warn_factor")
    @classmethod
    def _factor(cls, v: float) -> float:
        if not v > 1:
            raise ValueError(f"warn_factor must be greater than 1, got {v}")
        return v

    @field_validator("min_leads")
    @classmethod
    def _min_leads(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"min_leads must be at least 1, got {v}")
        return v


class ScoringConfig(_Strict):
    """What ``mqlml score`` checks and reports about a batch beyond its rows."""

    #: The batch's conversion rate estimated from its scores, warned about and optionally
    #: adjusted to (``base_rate`` in the scoring report).
    prior_shift: PriorShiftConfig = Field(default_factory=PriorShiftConfig)


class Config(_Strict):
    """The whole mqlml configuration."""

    #: Model name: the bundle folder under ``models_dir`` and the registered model.
    name: str = "lead-scoring"
    #: Folder the model bundles are written to (``models/<name>/<version>``).
    models_dir: Path = Path("models")
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    labels: LabelConfig = Field(default_factory=LabelConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    funnel: FunnelConfig = Field(default_factory=FunnelConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    segments: SegmentConfig = Field(default_factory=SegmentConfig)
    baselines: BaselineConfig = Field(default_factory=BaselineConfig)
    #: One flat export instead of three tables (see the ``flat`` section).
    flat: FlatConfig | None = None
    audit: AuditConfig = Field(default_factory=AuditConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    crm: CrmConfig = Field(default_factory=CrmConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    explanations: ExplanationsConfig = Field(default_factory=ExplanationsConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    #: What scoring checks about a batch (``mqlml score --config`` may replace it per batch).
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)

    @property
    def split_fractions(self) -> tuple[float, float, float]:
        """(train, calibration, test) shares."""
        return (self.split.train, self.split.calibration, self.split.test)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or not all(ch.isalnum() or ch in "-_." for ch in v):
            raise ValueError(f"name must use letters, digits, '-', '_' or '.', got {v!r}")
        if v.startswith("."):
            # ".." would put the bundles outside models_dir; ".x" would be a hidden folder.
            raise ValueError(f"name must not start with '.', got {v!r}")
        return v


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        extra = f" (got {got!r})" if err["type"] == "extra_forbidden" else ""
        lines.append(f"  - {where}: {msg}{extra}")
    return "\n".join(lines)


def config_from_dict(raw: dict, source: str = "configuration") -> Config:
    """Validate a plain dict into a :class:`Config`.

    Raises
    ------
    ConfigError
        Naming every invalid or unknown key, what was expected and what came.
    """
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Load the YAML configuration at ``path`` (defaults when ``None``), then apply overrides.

    ``overrides`` is a nested dict, e.g. ``{"labels": {"horizon_days": 60}}``, merged
    over the file's values (CLI flags use this).
    """
    raw: dict = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {path} must hold a mapping at the top level, "
                f"got {type(loaded).__name__}"
            )
        raw = loaded
    if overrides:
        raw = _deep_merge(raw, overrides)
    return config_from_dict(raw, source)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def config_to_dict(config: Config) -> dict:
    """A JSON/YAML-safe dict of ``config`` (paths as strings)."""
    return config.model_dump(mode="json")
