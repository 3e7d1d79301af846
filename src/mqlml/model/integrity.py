"""A bundle that proves its integrity: a SHA-256 manifest, no symlinks, a checked model text.

:func:`write_manifest` is the last write of :func:`mqlml.model.bundle.save_bundle`: it
records the SHA-256 of every file of the bundle in ``manifest.json``.
:func:`verify_bundle_files` runs first on every load: it refuses a symbolic link anywhere
in the bundle (a segment folder pointing at another bundle, a loop), then checks every
listed file against its checksum and refuses a file the loader would read that the
manifest does not list. A changed file is named in the error.

A checksum proves that nothing changed since the bundle was saved, not who saved it:
whoever can rewrite the bundle can rewrite its manifest too (see ``docs/trust.md``). So
every part is also validated as it is read (:mod:`mqlml.model.bundle`), and
:func:`check_model_text` parses LightGBM's model text before LightGBM sees it, because
LightGBM aborts the whole process (SIGABRT) on some malformed or truncated files instead
of raising an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path, PurePosixPath

from mqlml.errors import BundleError
from mqlml.features.build import OTHER_LEVEL
from mqlml.model.trees import lightgbm_feature_names

#: The manifest file of a bundle: ``{"format": 1, "algorithm": "sha256", "files": {...}}``.
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def bundle_files(folder: Path) -> list[str]:
    """Every regular file under ``folder`` as a POSIX path relative to it, sorted.

    Raises
    ------
    BundleError
        When anything in ``folder`` is a symbolic link or neither a file nor a folder.
    """
    folder = Path(folder)
    out: list[str] = []
    pending = [folder]
    while pending:
        here = pending.pop()
        with os.scandir(here) as entries:
            for entry in entries:
                rel = Path(entry.path).relative_to(folder).as_posix()
                if entry.is_symlink():
                    raise BundleError(
                        f"model bundle {folder}: {rel} is a symbolic link; a bundle holds only "
                        "its own files and folders (copy the bundle instead of linking into it)"
                    )
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    out.append(rel)
                else:
                    raise BundleError(
                        f"model bundle {folder}: {rel} is not a regular file or folder"
                    )
    return sorted(out)


def write_manifest(folder: Path) -> Path:
    """Write ``manifest.json`` with the SHA-256 of every file in ``folder``; return its path.

    Written last, once every other file of the bundle is in place.
    """
    folder = Path(folder)
    files = {rel: _sha256(folder / rel) for rel in bundle_files(folder) if rel != MANIFEST_FILE}
    manifest = {"format": MANIFEST_FORMAT, "algorithm": "sha256", "files": files}
    path = folder / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _read_manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(
            f"model bundle {folder} has no {MANIFEST_FILE} (the checksums every bundle is "
            "loaded against): it was saved by an older mqlml or copied incompletely. "
            "Retrain it with this mqlml (mqlml train), which saves a checked bundle."
        )
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from None
    files = d.get("files") if isinstance(d, dict) else None
    if (
        not isinstance(d, dict)
        or d.get("format") != MANIFEST_FORMAT
        or d.get("algorithm") != "sha256"
        or not isinstance(files, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        raise BundleError(
            f"{path} is not an mqlml manifest: expected "
            f'{{"format": {MANIFEST_FORMAT}, "algorithm": "sha256", "files": {{path: sha256}}}}'
        )
    for rel, digest in files.items():
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not _HEX.fullmatch(digest):
            raise BundleError(
                f"{path} lists {rel!r} with {digest!r}; expected a path inside the bundle "
                "and a SHA-256 in hexadecimal"
            )
    return files


def verify_bundle_files(folder: Path, read_by_loader) -> None:
    """Check ``folder`` against its manifest before anything in it is read.

    Parameters
    ----------
    folder : Path
        The bundle version folder.
    read_by_loader : callable
        ``read_by_loader(relative_path) -> bool``: whether loading reads that file. Such a
        file must be listed in the manifest; other files (``report.html``, the registration
        record written after saving) may be added later and are never read as the model.

    Raises
    ------
    BundleError
        Naming the symbolic link, the missing or changed file, or the unlisted file.
    """
    folder = Path(folder)
    present = bundle_files(folder)
    listed = _read_manifest(folder)
    here = set(present)
    for rel, digest in listed.items():
        if rel not in here:
            raise BundleError(
                f"model bundle {folder}: {rel} is missing (the manifest lists it); "
                "restore the bundle from a copy or retrain"
            )
        actual = _sha256(folder / rel)
        if actual != digest:
            raise BundleError(
                f"model bundle {folder}: {rel} changed since the bundle was saved "
                f"(SHA-256 {actual[:12]}..., the manifest says {digest[:12]}...); "
                "restore the bundle from a copy or retrain"
            )
    extra = [rel for rel in present if rel not in listed and rel != MANIFEST_FILE]
    read = [rel for rel in extra if read_by_loader(rel)]
    if read:
        raise BundleError(
            f"model bundle {folder}: {', '.join(read)} was added after the bundle was saved "
            "(not in its manifest); remove it or retrain"
        )


# --- LightGBM model text ------------------------------------------------------------------

_TREE_ARRAYS_INTERNAL = (
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "internal_value",
    "internal_count",
)
_TREE_ARRAYS_LEAF = ("leaf_value", "leaf_count")
_INT_ARRAYS = ("split_feature", "decision_type", "left_child", "right_child")


class _ModelTextError(ValueError):
    pass


def _fields(lines: list[str], where: str) -> dict[str, str]:
    out = {}
    for line in lines:
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise _ModelTextError(f"{where}: line {line[:40]!r} is not key=value")
        out[key] = value
    return out


def _numbers(
    fields: dict, key: str, n: int, where: str, *, integer: bool = False, finite: bool = False
) -> list:
    if key not in fields:
        raise _ModelTextError(f"{where} has no {key}")
    parts = fields[key].split(" ") if fields[key] else []
    if len(parts) != n:
        raise _ModelTextError(f"{where}: {key} has {len(parts)} values, expected {n}")
    try:
        values = [int(p) if integer else float(p) for p in parts]
    except ValueError:
        raise _ModelTextError(f"{where}: {key} holds a value that is not a number") from None
    # Split thresholds may be infinite (LightGBM writes inf); leaf values never are.
    if not integer and any(math.isnan(v) or (finite and math.isinf(v)) for v in values):
        raise _ModelTextError(f"{where}: {key} holds NaN or infinity")
    return values


def _check_tree(block: str, i: int, n_features: int) -> None:
    where = f"tree {i}"
    lines = block.split("\n")
    if lines[0] != f"Tree={i}":
        raise _ModelTextError(f"{where} does not start with 'Tree={i}' (got {lines[0][:40]!r})")
    fields = _fields(lines[1:], where)
    try:
        leaves = int(fields["num_leaves"])
        num_cat = int(fields.get("num_cat", "0"))
    except (KeyError, ValueError):
        raise _ModelTextError(f"{where}: num_leaves / num_cat missing or not integers") from None
    if leaves < 1 or num_cat < 0:
        raise _ModelTextError(f"{where}: {leaves} leaves and {num_cat} categorical splits")
    if fields.get("is_linear", "0") != "0":
        raise _ModelTextError(f"{where} is a linear tree, which mqlml never trains")
    for key in _TREE_ARRAYS_LEAF:
        _numbers(fields, key, leaves, where, finite=True)
    _numbers(fields, "shrinkage", 1, where, finite=True)
    if leaves == 1:
        return
    internal = leaves - 1
    values = {
        k: _numbers(fields, k, internal, where, integer=k in _INT_ARRAYS)
        for k in _TREE_ARRAYS_INTERNAL
    }
    if not all(0 <= f < n_features for f in values["split_feature"]):
        raise _ModelTextError(f"{where}: a split on a feature outside 0..{n_features - 1}")
    # A child is an internal node (>= 0) or a leaf, written as ~leaf = -(leaf + 1). Every
    # node but the root has exactly one parent and every leaf one: prediction walks from
    # the root and can neither loop nor read outside the tree.
    children = values["left_child"] + values["right_child"]
    nodes = sorted(c for c in children if c >= 0)
    ends = sorted(~c for c in children if c < 0)
    if nodes != list(range(1, internal)) or ends != list(range(leaves)):
        raise _ModelTextError(f"{where}: left_child / right_child do not form a tree")
    if not all(0 <= d < 16 for d in values["decision_type"]):
        raise _ModelTextError(f"{where}: decision_type outside 0..15")
    categorical = [t for d, t in zip(values["decision_type"], values["threshold"], strict=True)
                   if d & 1]
    if categorical and not num_cat:
        raise _ModelTextError(f"{where}: categorical splits without categories")
    if num_cat:
        bounds = _numbers(fields, "cat_boundaries", num_cat + 1, where, integer=True)
        if bounds[0] != 0 or any(b < a for a, b in zip(bounds, bounds[1:], strict=False)):
            raise _ModelTextError(f"{where}: cat_boundaries are not increasing from 0")
        _numbers(fields, "cat_threshold", bounds[-1], where, integer=True)
        # A categorical split's threshold is the index of its category set.
        if not all(t == int(t) and 0 <= t < num_cat for t in categorical):
            raise _ModelTextError(f"{where}: a categorical split names no category set")


def check_model_text(data: bytes, feature_names: tuple[str, ...] | list[str]) -> None:
    """Check LightGBM model text completely before LightGBM parses it.

    Parameters
    ----------
    data : bytes
        The contents of ``model.txt``.
    feature_names : sequence of str
        The feature columns of the bundle's feature spec, in model order.

    Raises
    ------
    ValueError
        Saying what is malformed: the header, a tree (by number), or the end of the file.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ModelTextError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\r" in text or "\0" in text:
        raise _ModelTextError("holds carriage returns or NUL bytes")
    start = text.find("\nTree=0\n")
    if not text.startswith("tree\n") or start < 0:
        raise _ModelTextError("not a LightGBM model text (no 'tree' header and first tree)")
    header = _fields(text[len("tree\n") : start].split("\n"), "the header")
    names = header.get("feature_names", "").split(" ")
    # LightGBM is given safe names for the spec's columns ("Landing Page" of a flat export
    # is Landing_Page in model.txt, 'Budget "USD"' is Budget__USD_): the same mapping here.
    if names != lightgbm_feature_names(feature_names):
        raise _ModelTextError(
            f"its {len(names)} feature names differ from the {len(feature_names)} columns "
            "of feature_spec.json"
        )
    try:
        if int(header["max_feature_idx"]) != len(names) - 1:
            raise _ModelTextError("max_feature_idx does not match the feature names")
        if int(header["num_class"]) != 1 or int(header["num_tree_per_iteration"]) != 1:
            raise _ModelTextError("not a binary model (num_class / num_tree_per_iteration)")
        sizes = [int(s) for s in header["tree_sizes"].split(" ")]
    except (KeyError, ValueError):
        raise _ModelTextError(
            "the header lacks readable max_feature_idx, num_class, num_tree_per_iteration "
            "or tree_sizes"
        ) from None
    # LightGBM reads tree i at the byte offset sum(tree_sizes[:i]) after the first tree,
    # without bounds checks: every block must be where the header says.
    raw = text.encode("utf-8")
    at = len(text[: start + 1].encode("utf-8"))
    for i, size in enumerate(sizes):
        if size <= 0 or at + size > len(raw):
            raise _ModelTextError(f"tree {i} runs past the end of the file (truncated?)")
        _check_tree(raw[at : at + size].decode("utf-8").strip("\n"), i, len(names))
        at += size
    tail = raw[at:].decode("utf-8")
    if not tail.lstrip("\n").startswith("end of trees\n"):
        raise _ModelTextError(f"no 'end of trees' after the {len(sizes)} trees (truncated?)")
    if "\nend of parameters\n" not in tail or "\npandas_categorical:" not in tail:
        raise _ModelTextError("the parameters section is incomplete (truncated?)")


# --- each part, as read -------------------------------------------------------------------


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _finite(v, what: str) -> float:
    if not _is_number(v) or not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v!r}")
    return float(v)


def _score(v, what: str, low: int = 1) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= 99:
        raise ValueError(f"{what} must be an integer score {low}-99, got {v!r}")
    return v


def _mapping(d, what: str) -> dict:
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    return d


def _numbers_list(v, what: str) -> list[float]:
    if not isinstance(v, list):
        raise ValueError(f"{what} must be a list of numbers, got {type(v).__name__}")
    return [_finite(x, f"each value of {what}") for x in v]


def check_calibrator(d) -> dict:
    """``calibrator.json`` as written by :meth:`ProbabilityCalibrator.to_dict`, or ValueError.

    Its mapping must give a probability in [0, 1] for every finite log-odds: finite
    sigmoid coefficients, or isotonic points with increasing x and y in [0, 1].
    """
    _mapping(d, "the calibrator")
    if d.get("method") not in ("auto", "isotonic", "sigmoid"):
        raise ValueError(f"method must be auto, isotonic or sigmoid, got {d.get('method')!r}")
    params = _mapping(d.get("params"), "params")
    if d.get("method_") == "sigmoid":
        _finite(params.get("coef"), "params.coef")
        _finite(params.get("intercept"), "params.intercept")
    elif d.get("method_") == "isotonic":
        x = _numbers_list(params.get("x"), "params.x")
        y = _numbers_list(params.get("y"), "params.y")
        if not x or len(x) != len(y):
            raise ValueError(f"params.x and params.y must be as long, got {len(x)} and {len(y)}")
        if any(b < a for a, b in zip(x, x[1:], strict=False)) or not all(0 <= v <= 1 for v in y):
            raise ValueError("params.x must increase and params.y lie in [0, 1]")
    else:
        raise ValueError(f"method_ must be isotonic or sigmoid, got {d.get('method_')!r}")
    _mapping(d.get("selection_log_loss_", {}), "selection_log_loss_")
    # The rate the calibration rows converted at (the prior-shift estimate starts from it);
    # bundles saved before it was stored have none.
    rate = d.get("base_rate_")
    if rate is not None and not (_is_number(rate) and 0 < rate < 1):
        raise ValueError(f"base_rate_ must be a rate between 0 and 1 (or null), got {rate!r}")
    return d


def _check_policy(d, what: str) -> int:
    _mapping(d, what)
    for key in ("policy", "params", "fitted"):
        if key not in d:
            raise ValueError(f"{what} has no {key!r}")
    for key, v in {**_mapping(d["params"], f"{what}.params"),
                   **_mapping(d["fitted"], f"{what}.fitted")}.items():
        if v is not None and not isinstance(v, int | float | bool):
            raise ValueError(f"{what}: {key} must be a number, got {v!r}")
    return _score(d["fitted"].get("cutoff_"), f"{what} cutoff_")


def check_thresholds(d) -> dict:
    """``thresholds.json``, or ValueError: cutoffs are scores 1-99 that agree with each other.

    Grade cutoffs must be integers with 99 >= A > B > C >= 2; the tiers' MQL line must
    be the MQL cutoff in use (so the tier ``mql`` and ``is_mql`` agree), with the nurture
    line at or below it.
    """
    _mapping(d, "the thresholds")
    mql = _check_policy(d.get("mql"), "mql")
    for name, policy in _mapping(d.get("policies", {}), "policies").items():
        _check_policy(policy, f"policies.{name}")
    grades = _mapping(d.get("grades"), "grades")
    shares = grades.get("shares")
    if not isinstance(shares, list) or len(shares) != 3:
        raise ValueError(f"grades.shares must be 3 numbers, got {shares!r}")
    if not all(0 < _finite(s, "grades.shares") for s in shares) or sum(shares) >= 1:
        raise ValueError(f"grades.shares must be positive and sum below 1, got {shares}")
    cutoffs = _mapping(grades.get("cutoffs_"), "grades.cutoffs_")
    if sorted(cutoffs) != ["A", "B", "C"]:
        raise ValueError(f"grades.cutoffs_ must give grades A, B and C, got {sorted(cutoffs)}")
    a, b, c = (_score(cutoffs[g], f"grade {g} cutoff", 2) for g in "ABC")
    if not a > b > c:
        raise ValueError(f"grade cutoffs must fall from A to C, got A {a}, B {b}, C {c}")
    if "tiers" in d:
        t = _mapping(d["tiers"], "tiers")
        line = _score(t.get("mql_cutoff_"), "tiers.mql_cutoff_")
        nurture = _score(t.get("nurture_cutoff_"), "tiers.nurture_cutoff_")
        _score(t.get("mql_cutoff"), "tiers.mql_cutoff")
        if line != mql or nurture > line:
            raise ValueError(
                f"tiers must agree with the MQL cutoff {mql}: got an MQL line at {line} and a "
                f"nurture line at {nurture}"
            )
        share = t.get("max_lost_share")
        if not 0 <= _finite(share, "tiers.max_lost_share") < 1:
            raise ValueError(f"tiers.max_lost_share must be in [0, 1), got {share}")
        if not _is_number(t.get("lost_share_")):
            raise ValueError(f"tiers.lost_share_ must be a number, got {t.get('lost_share_')!r}")
    if not isinstance(d.get("threshold_table", []), list):
        raise ValueError("threshold_table must be a list of rows")
    return d


def _texts(v, what: str) -> list[str]:
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"{what} must be a list of text")
    return list(v)


def check_spec(spec):
    """A :class:`~mqlml.features.build.FeatureSpec` read from a bundle, or ValueError.

    Every name is text, the columns are distinct and each has a field and a group; the
    categorical and numeric columns are among them; a column that groups values has the
    grouped level.
    """
    columns = _texts(spec.columns, "columns")
    if not columns or len(set(columns)) != len(columns):
        raise ValueError("columns must be distinct feature names, at least one")
    _texts(spec.activity_types, "activity_types")
    _texts(spec.numeric_attributes, "numeric_attributes")
    if not spec.windows_days or not all(
        isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in spec.windows_days
    ):
        raise ValueError(f"windows_days must be positive integers, got {spec.windows_days!r}")
    for name, levels in spec.categorical.items():
        _texts(levels, f"the levels of {name!r}")
    for name, values in spec.grouped.items():
        # Grouped values score as the column's last level, the grouped one.
        if tuple(spec.categorical.get(name, ()))[-1:] != (OTHER_LEVEL,):
            raise ValueError(f"{name!r} groups values but has no {OTHER_LEVEL!r} level")
        _texts(values, f"the grouped values of {name!r}")
    unknown = [c for c in (*spec.categorical, *spec.numeric_attributes) if c not in columns]
    if unknown:
        raise ValueError(f"{unknown} are not among the feature columns")
    fields, groups = spec.fields, spec.groups
    if set(fields) != set(columns) or not all(isinstance(v, str) for v in fields.values()):
        raise ValueError("fields must give the business field of every feature column")
    if not set(fields.values()) <= set(groups) or not set(groups.values()) <= {"fit", "behaviour"}:
        raise ValueError("groups must put every field in 'fit' or 'behaviour'")
    return spec


def check_linear(d, spec) -> dict:
    """``linear.json`` matching ``spec`` (one finite term per feature column), or ValueError."""
    _mapping(d, "the linear base")
    _finite(d.get("intercept_"), "intercept_")
    _finite(d.get("C"), "C")
    weight = d.get("tree_weight_", 1.0)
    _finite(weight, "tree_weight_")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"tree_weight_ must be between 0 and 1, got {weight}")
    n = len(spec.columns)
    cols = d.get("columns_")
    if not isinstance(cols, list) or len(cols) != n:
        raise ValueError(f"columns_ must describe the {n} feature columns")
    if len(_numbers_list(d.get("expected_terms_"), "expected_terms_")) != n:
        raise ValueError(f"expected_terms_ must hold {n} numbers")
    for name, col in zip(spec.columns, cols, strict=True):
        _mapping(col, f"column {name!r}")
        coef = _numbers_list(col.get("coef"), f"the coefficients of {name!r}")
        if col.get("kind") == "categorical":
            width = len(_numbers_list(col.get("levels"), f"the levels of {name!r}"))
        elif col.get("kind") == "numeric":
            for key in ("median", "mean", "scale"):
                _finite(col.get(key), f"{key} of {name!r}")
            if col["scale"] == 0 or not all(
                isinstance(col.get(k), bool) for k in ("log", "flag_missing")
            ):
                raise ValueError(f"column {name!r}: scale must not be 0, log and flag_missing "
                                 "true or false")
            width = 2 if col["flag_missing"] else 1
        else:
            raise ValueError(f"column {name!r}: kind must be numeric or categorical")
        if len(coef) != width:
            raise ValueError(f"column {name!r} has {len(coef)} coefficients, expected {width}")
    return d
