"""Typed configuration, loaded once from YAML (and CLI flags) and passed down explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mqlml.errors import ConfigError

#: Horizon in days used when ``labels.horizon_days`` is not given, per target stage.
DEFAULT_HORIZON_DAYS = {"sql": 90, "won": 180}
#: Default observation window: training features are taken this many days after creation.
DEFAULT_OBSERVATION_DAYS = 14


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the three tables are and how their columns are named.

    ``column_mapping`` maps a table name (``leads``, ``activities``, ``outcomes``)
    to ``{their_column: our_column}``, e.g. ``{"Lead ID": "lead_id"}``.
    """

    leads: Path | None = None
    activities: Path | None = None
    outcomes: Path | None = None
    column_mapping: dict[Literal["leads", "activities", "outcomes"], dict[str, str]] = Field(
        default_factory=dict
    )
    #: End of the data (the export time). Default: the latest timestamp in any table.
    snapshot_at: str | None = None


class FeatureConfig(_Strict):
    """Point-in-time feature settings."""

    observation_days: int = DEFAULT_OBSERVATION_DAYS
    windows_days: tuple[int, ...] = (7, 30, 90)
    #: Activity types seen in fewer training leads than this are pooled into ``other``.
    min_leads_per_activity_type: int = 20

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

    target: Literal["sql", "won"] = "sql"
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

    train: float = 0.6
    calibration: float = 0.2
    test: float = 0.2

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitConfig:
        parts = {"train": self.train, "calibration": self.calibration, "test": self.test}
        for name, v in parts.items():
            if not 0 < v < 1:
                raise ValueError(f"split.{name} must be between 0 and 1, got {v}")
        if abs(sum(parts.values()) - 1) > 1e-9:
            raise ValueError(f"split fractions must sum to 1, got {sum(parts.values()):.3f}")
        return self


class ModelConfig(_Strict):
    """LightGBM settings. Early stopping uses the latest ``early_stopping_fraction`` of train."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 40
    max_boost_rounds: int = 1000
    early_stopping_rounds: int = 50
    early_stopping_fraction: float = 0.2
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    seed: int = 0

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

    method: Literal["auto", "isotonic", "sigmoid"] = "auto"


class ThresholdConfig(_Strict):
    """MQL threshold policy and grade shares."""

    #: Leads per week that sales can work: the MQL cutoff admits about this many.
    capacity_per_week: float = 100.0
    #: Share of leads in grades A, B, C (D takes the rest), highest scores first.
    grade_shares: tuple[float, float, float] = (0.1, 0.2, 0.3)

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


class TrackingConfig(_Strict):
    """MLflow tracking. ``uri`` defaults to $MLFLOW_TRACKING_URI, else ``sqlite:///mlflow.db``."""

    enabled: bool = True
    uri: str | None = None
    experiment: str = "mqlml"


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

    enabled: bool = True
    metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    min_roc_auc: float = 0.6
    min_improvement: float = 0.0

    @field_validator("min_roc_auc")
    @classmethod
    def _auc_range(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"min_roc_auc must be between 0 and 1, got {v}")
        return v


class Config(_Strict):
    """The whole mqlml configuration."""

    name: str = "lead-scoring"
    models_dir: Path = Path("models")
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    labels: LabelConfig = Field(default_factory=LabelConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)

    @property
    def split_fractions(self) -> tuple[float, float, float]:
        """(train, calibration, test) shares."""
        return (self.split.train, self.split.calibration, self.split.test)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or not all(ch.isalnum() or ch in "-_." for ch in v):
            raise ValueError(f"name must use letters, digits, '-', '_' or '.', got {v!r}")
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
