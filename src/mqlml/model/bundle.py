"""The model bundle: everything scoring needs, in ``models/<name>/<version>/``.

Files: ``model.txt`` (LightGBM, text), ``calibrator.json``, ``thresholds.json``,
``feature_spec.json``, ``config.yaml``, ``versions.json`` (library versions at training
time) and ``metrics.json`` (test metrics and the training summary), and last
``manifest.json``, the SHA-256 of every other file (:mod:`mqlml.model.integrity`). Loading
checks the manifest, refuses symbolic links, validates every part as it reads it, and
refuses a bundle written by an incompatible LightGBM or bundle format.
Optional: ``reference.parquet``, a sample of training feature rows with their scores,
the reference of the drift report at scoring time (bundles saved before it still load);
``linear.json``, the linear base the trees start from (:mod:`mqlml.model.linear`); and
``segments/``, with ``segments.json`` (the routing column and segment -> folder) and one
sub-bundle (the same files) per segment that scores with its own model.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version as _dist_version
from pathlib import Path

import lightgbm as lgb
import pandas as pd
import yaml

from mqlml import __version__
from mqlml.config import Config, config_from_dict, config_to_dict
from mqlml.data import files as io
from mqlml.errors import BundleError, MqlmlError
from mqlml.features.build import FeatureSpec
from mqlml.model.calibrate import ProbabilityCalibrator
from mqlml.model.integrity import (
    check_calibrator,
    check_linear,
    check_model_text,
    check_spec,
    check_thresholds,
    verify_bundle_files,
    write_manifest,
)
from mqlml.model.linear import LinearBase
from mqlml.model.summary import TrainingSummary
from mqlml.model.thresholds import (
    GRADES,
    CapacityThreshold,
    GradeThresholds,
    TierThresholds,
    threshold_from_dict,
    threshold_to_dict,
)
from mqlml.model.trees import predict_raw

BUNDLE_FORMAT = 1
BUNDLE_FILES = (
    "model.txt",
    "calibrator.json",
    "thresholds.json",
    "feature_spec.json",
    "config.yaml",
    "versions.json",
    "metrics.json",
)
#: Optional file: training feature rows and scores, the reference for drift at scoring.
REFERENCE_FILE = "reference.parquet"
#: Optional file: the linear base under the trees.
LINEAR_FILE = "linear.json"
#: Optional folder of per-segment sub-bundles, and its index file.
SEGMENTS_DIR = "segments"
SEGMENTS_FILE = "segments.json"
#: Libraries whose major.minor version must match between training and scoring.
_PINNED = ("lightgbm", "scikit-learn")


@dataclass(frozen=True)
class TrainedModel:
    """A trained, calibrated model with its thresholds: what a bundle holds."""

    booster: lgb.Booster
    calibrator: ProbabilityCalibrator
    mql: CapacityThreshold
    grades: GradeThresholds
    spec: FeatureSpec
    config: Config
    #: What the training measured (a dict in the ``metrics.json`` form is converted).
    summary: TrainingSummary
    #: Tiers below the MQL line (nurture / disqualify); None in bundles from before tiers.
    tiers: TierThresholds | None = None
    #: Every fitted MQL threshold policy by name (``mql`` is the one in use).
    policies: dict | None = None
    #: Training feature rows with their scores (see :mod:`mqlml.scoring.scoring_report`), or None.
    reference: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    #: Segment value -> the model that scores that segment's leads (only segments whose own
    #: model beat this one on their calibration slice); None or empty: one model for all.
    segment_models: dict[str, TrainedModel] | None = field(default=None, repr=False)
    #: The lead column whose value (normalised as :func:`mqlml.training.gate.segment_values`)
    #: routes a lead to ``segment_models``.
    segment_column: str | None = None
    #: The linear base the trees start from (the model's log-odds is both), or None.
    linear: LinearBase | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if isinstance(self.summary, dict):
            object.__setattr__(self, "summary", TrainingSummary.from_dict(self.summary))

    def predict_raw(self, X, **kwargs):
        """The model's log-odds (before calibration) of feature matrix rows."""
        return predict_raw(self.booster, X, self.linear, **kwargs)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle depends on."""
    out = {"mqlml": __version__, "python": platform.python_version()}
    for dist in ("lightgbm", "scikit-learn", "pandas", "numpy", "shap", "mlflow"):
        try:
            out[dist] = _dist_version(dist)
        except Exception:  # noqa: BLE001 - an absent optional library is simply not recorded
            out[dist] = "not installed"
    return out


def _thresholds_dict(model: TrainedModel) -> dict:
    out = {
        "mql": threshold_to_dict(model.mql),
        "grades": {"shares": list(model.grades.shares), "cutoffs_": model.grades.cutoffs_},
    }
    if model.tiers is not None:
        out["tiers"] = {
            "mql_cutoff": model.tiers.mql_cutoff,
            "max_lost_share": model.tiers.max_lost_share,
            "mql_cutoff_": model.tiers.mql_cutoff_,
            "nurture_cutoff_": model.tiers.nurture_cutoff_,
            "lost_share_": model.tiers.lost_share_,
        }
    if model.policies:
        out["policies"] = {k: threshold_to_dict(v) for k, v in model.policies.items()}
    if model.summary.threshold_table is not None:
        out["threshold_table"] = model.summary.threshold_table
    return out


def load_grade_cutoffs(path: str | Path) -> dict:
    """The grade cutoffs of a saved bundle, to keep them when retraining.

    Raises
    ------
    BundleError
        When ``path`` is not a bundle or its thresholds file has no grade cutoffs.
    """
    path = resolve_bundle_path(path)
    file = path / "thresholds.json"
    try:
        return {k: int(v) for k, v in _load_json(file)["grades"]["cutoffs_"].items()}
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BundleError(
            f"cannot keep the grades of {path}: {file} has no readable grade cutoffs ({exc})"
        ) from None


def next_version(models_dir: Path, name: str) -> str:
    """The next free integer version under ``models_dir/name``."""
    base = Path(models_dir) / name
    taken = [int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()]
    return str(max(taken, default=0) + 1)


def save_bundle(
    model: TrainedModel,
    models_dir: Path,
    name: str | None = None,
    *,
    extra: Callable[[Path], object] | None = None,
) -> Path:
    """Write ``model`` to ``models_dir/<name>/<next version>/`` and return that path.

    The bundle is written in a temporary directory beside its target (``.incoming-*``,
    removed by the next save when its run died) and renamed into place, so a crash never
    leaves a half-written version. ``extra(folder)`` writes more files into the bundle
    (the report) before it is renamed: a version is published whole or not at all.
    """
    name = name or model.config.name
    base = Path(models_dir) / name
    base.mkdir(parents=True, exist_ok=True)
    tmp = io.temp_dir_beside(base, prefix=".incoming-")
    try:
        _write_files(model, tmp)
        # The checksums of the model's parts, checked on every load; ``extra`` files (the
        # report) come after: never read as the model, they may be rewritten later.
        write_manifest(tmp)
        if extra is not None:
            extra(tmp)
        while True:
            target = base / next_version(models_dir, name)
            try:
                os.rename(tmp, target)
                break
            except OSError:
                if not target.exists():
                    raise
        return target
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_files(model: TrainedModel, out: Path) -> None:
    """Write the bundle files of ``model`` (and of its segment models) into ``out``."""
    model.booster.save_model(str(out / "model.txt"))
    _dump_json(model.calibrator.to_dict(), out / "calibrator.json")
    _dump_json(_thresholds_dict(model), out / "thresholds.json")
    _dump_json(model.spec.to_dict(), out / "feature_spec.json")
    (out / "config.yaml").write_text(
        yaml.safe_dump(config_to_dict(model.config), sort_keys=False), encoding="utf-8"
    )
    _dump_json({"bundle_format": BUNDLE_FORMAT, **library_versions()}, out / "versions.json")
    _dump_json(model.summary.to_dict(), out / "metrics.json")
    if model.reference is not None:
        model.reference.to_parquet(out / REFERENCE_FILE, index=False)
    if model.linear is not None:
        _dump_json(model.linear.to_dict(), out / LINEAR_FILE)
    if model.segment_models:
        folders = {}
        for i, (segment, sub) in enumerate(sorted(model.segment_models.items())):
            # Segment values are arbitrary text: the folder is a numbered, safe slug.
            folders[segment] = f"{i:03d}-{_slug(segment)}"
            sub_dir = out / SEGMENTS_DIR / folders[segment]
            sub_dir.mkdir(parents=True)
            _write_files(sub, sub_dir)
        _dump_json(
            {"column": model.segment_column, "models": folders},
            out / SEGMENTS_DIR / SEGMENTS_FILE,
        )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40].strip("_") or "segment"


def _load_segments(
    path: Path, root: Path
) -> tuple[dict[str, TrainedModel] | None, str | None]:
    """The segment models of the bundle at ``path`` (None when it has none)."""
    index = path / SEGMENTS_DIR / SEGMENTS_FILE
    if not index.is_file():
        return None, None
    with _reading(root, index):
        d = _load_json(index)
        column, folders = d["column"], d["models"]
        if not isinstance(column, str) or not isinstance(folders, dict):
            raise ValueError("expected a text 'column' and an object 'models'")
    models = {}
    for segment, folder in folders.items():
        if not isinstance(folder, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", folder):
            raise BundleError(
                f"model bundle {path} is corrupt: {index} names folder {folder!r} for "
                f"segment {segment!r}; expected a plain folder name"
            )
        sub = path / SEGMENTS_DIR / folder
        if not sub.is_dir():
            raise BundleError(
                f"model bundle {path} is corrupt: {index} names folder {folder!r} for "
                f"segment {segment!r}, which is not in {path / SEGMENTS_DIR}"
            )
        models[str(segment)] = _load_parts(sub, root)
    return models, column


def _dump_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")


def _major_minor(v: str) -> tuple[str, ...]:
    return tuple(v.split(".")[:2])


def resolve_bundle_path(path: str | Path) -> Path:
    """A bundle directory, or the latest version inside ``models/<name>/``."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"model bundle {path} does not exist")
    if (path / "versions.json").is_file():
        return path
    versions = sorted(
        (p for p in path.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    if not versions:
        raise BundleError(
            f"{path} is neither a model bundle (no versions.json) nor a folder of versions"
        )
    return versions[-1]


def load_bundle(path: str | Path) -> TrainedModel:
    """Load a bundle written by :func:`save_bundle`, checked before and as it is read.

    ``path`` may be a version directory or the model's directory (latest version). The
    bundle's files are checked against its manifest first (:mod:`mqlml.model.integrity`),
    then every part is validated as it is read: types, finite numbers, cutoffs in 1-99 and
    in order, feature columns matching the model. A bundle that loads scores every lead
    1-99.

    Raises
    ------
    BundleError
        When a file is missing, changed since saving, unlisted, a symbolic link or
        malformed (naming it), or the bundle was written by an incompatible version of
        LightGBM, scikit-learn or of the bundle format itself.
    """
    path = resolve_bundle_path(path)
    missing = [f for f in BUNDLE_FILES if not (path / f).is_file()]
    if missing:
        raise BundleError(f"model bundle {path} is incomplete: missing {', '.join(missing)}")
    verify_bundle_files(path, _read_by_loader)
    return _load_parts(path, path)


def _read_by_loader(rel: str) -> bool:
    """Whether loading a bundle reads the file at ``rel`` (relative to the bundle)."""
    return rel in (*BUNDLE_FILES, REFERENCE_FILE, LINEAR_FILE) or rel.startswith(
        f"{SEGMENTS_DIR}/"
    )


@contextmanager
def _reading(bundle: Path, file: Path):
    """Turn any failure to read or validate ``file`` into a BundleError naming it."""
    try:
        yield
    except BundleError:
        raise
    except (
        OSError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        RecursionError,
        yaml.YAMLError,
        lgb.basic.LightGBMError,
        MqlmlError,
    ) as exc:
        detail = str(exc) if not isinstance(exc, KeyError) else f"no key {exc}"
        raise BundleError(
            f"model bundle {bundle} is corrupt: {file.relative_to(bundle)}: {detail}"
        ) from None


def _check_versions(path: Path, root: Path) -> None:
    file = path / "versions.json"
    with _reading(root, file):
        versions = _load_json(file)
        if not isinstance(versions, dict):
            raise ValueError(f"expected a JSON object, got {type(versions).__name__}")
    if versions.get("bundle_format") != BUNDLE_FORMAT:
        raise BundleError(
            f"model bundle {path} has format {versions.get('bundle_format')!r}; this mqlml "
            f"reads format {BUNDLE_FORMAT}. Retrain the model with this version of mqlml."
        )
    here = library_versions()
    mismatched = [
        f"{lib} {versions.get(lib)} at training, {here[lib]} now"
        for lib in _PINNED
        if _major_minor(str(versions.get(lib))) != _major_minor(here[lib])
    ]
    if mismatched:
        raise BundleError(
            f"model bundle {path} was trained with other library versions: "
            + "; ".join(mismatched)
            + ". Install the versions it was trained with or retrain it."
        )


def _load_parts(path: Path, root: Path) -> TrainedModel:
    """Read and validate the files of the bundle (or segment sub-bundle) at ``path``."""
    missing = [f for f in BUNDLE_FILES if not (path / f).is_file()]
    if missing:
        raise BundleError(f"model bundle {path} is incomplete: missing {', '.join(missing)}")
    _check_versions(path, root)
    with _reading(root, path / "feature_spec.json"):
        spec = check_spec(FeatureSpec.from_dict(_load_json(path / "feature_spec.json")))
    with _reading(root, path / "model.txt"):
        data = (path / "model.txt").read_bytes()
        # LightGBM aborts the process on some malformed files: parse it ourselves first.
        check_model_text(data, spec.columns)
        booster = lgb.Booster(model_str=data.decode("utf-8"))
        if booster.num_feature() != len(spec.columns):
            raise ValueError(
                f"the model reads {booster.num_feature()} features, feature_spec.json "
                f"has {len(spec.columns)} columns"
            )
    with _reading(root, path / "calibrator.json"):
        calibrator = ProbabilityCalibrator.from_dict(
            check_calibrator(_load_json(path / "calibrator.json"))
        )
    with _reading(root, path / "thresholds.json"):
        thr = check_thresholds(_load_json(path / "thresholds.json"))
        mql = threshold_from_dict(thr["mql"])
        tiers = None
        if "tiers" in thr:
            t = thr["tiers"]
            tiers = TierThresholds(t["mql_cutoff"], t["max_lost_share"])
            for k in ("mql_cutoff_", "nurture_cutoff_", "lost_share_"):
                setattr(tiers, k, t[k])
        policies = {k: threshold_from_dict(v) for k, v in thr.get("policies", {}).items()}
        grades = GradeThresholds(tuple(thr["grades"]["shares"]))
        grades.cutoffs_ = {g: int(thr["grades"]["cutoffs_"][g]) for g in GRADES[:3]}
    with _reading(root, path / "config.yaml"):
        config = config_from_dict(
            yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")),
            str(path / "config.yaml"),
        )
    with _reading(root, path / "metrics.json"):
        summary = TrainingSummary.from_dict(_load_json(path / "metrics.json"))
    reference = None
    if (path / REFERENCE_FILE).is_file():
        with _reading(root, path / REFERENCE_FILE):
            reference = io.read_table(path / REFERENCE_FILE)
            # The drift report reads every feature column and one score column.
            absent = [c for c in spec.columns if c not in reference.columns]
            if absent or len(reference.columns) != len(spec.columns) + 1:
                raise ValueError(
                    f"expected the {len(spec.columns)} feature columns and a score, got "
                    f"{len(reference.columns)} columns ({len(absent)} features absent)"
                )
    linear = None
    if (path / LINEAR_FILE).is_file():
        with _reading(root, path / LINEAR_FILE):
            linear = LinearBase.from_dict(check_linear(_load_json(path / LINEAR_FILE), spec))
    segment_models, segment_column = _load_segments(path, root)
    return TrainedModel(
        booster, calibrator, mql, grades, spec, config, summary, tiers=tiers,
        policies=policies or None, reference=reference, linear=linear,
        segment_models=segment_models, segment_column=segment_column,
    )


def _load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))
