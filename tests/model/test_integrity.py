"""Bundles prove their integrity: a checksum manifest, no symlinks, every part validated.

Each edit below was accepted (or crashed) before: scores of 99 from edited leaf values,
score -9223372036854775808 from a NaN coefficient, tracebacks, a process abort on a
truncated model.txt, a segment folder linked to another bundle.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mqlml.errors import BundleError
from mqlml.model.bundle import load_bundle, save_bundle
from mqlml.model.integrity import MANIFEST_FILE, check_model_text, write_manifest
from mqlml.scoring.score import score_leads


@pytest.fixture
def saved(trained, tmp_path):
    return save_bundle(trained[0], tmp_path / "models")


def _edit_json(path, name, change):
    file = path / name
    d = json.loads(file.read_text())
    d = change(d)
    file.write_text(json.dumps(d))


def test_the_manifest_lists_every_file_and_the_bundle_loads(saved):
    manifest = json.loads((saved / MANIFEST_FILE).read_text())
    files = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {MANIFEST_FILE}
    assert {"model.txt", "calibrator.json", "reference.parquet"} <= set(manifest["files"])
    load_bundle(saved)
    # files written after saving and never read as the model may be added
    (saved / "report.html").write_text("<html></html>")
    (saved / "registration.json").write_text("{}")
    load_bundle(saved)


def test_leaf_values_edited_to_the_same_length_are_an_integrity_error(saved):
    file = saved / "model.txt"
    text = file.read_text()
    lines = text.split("\n")
    i = next(k for k, line in enumerate(lines) if line.startswith("leaf_value="))
    values = lines[i].removeprefix("leaf_value=").split(" ")
    lines[i] = "leaf_value=" + " ".join("9" * len(v) for v in values)
    edited = "\n".join(lines)
    assert len(edited) == len(text) and edited != text
    file.write_text(edited)
    with pytest.raises(BundleError, match=r"model\.txt changed since the bundle was saved"):
        load_bundle(saved)


def test_a_bundle_without_a_manifest_says_to_retrain(saved):
    (saved / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match="has no manifest.json.*Retrain it"):
        load_bundle(saved)


def test_removed_or_added_model_files_are_refused(saved):
    (saved / "linear.json").write_text("{}")
    with pytest.raises(BundleError, match="linear.json was added after the bundle was saved"):
        load_bundle(saved)
    (saved / "linear.json").unlink()
    (saved / "reference.parquet").unlink()
    with pytest.raises(BundleError, match="reference.parquet is missing"):
        load_bundle(saved)


def _coef(value):
    def change(d):
        d["params"]["coef"] = value
        return d

    return change


def _mql_cutoff(value):
    def change(d):
        d["mql"]["fitted"]["cutoff_"] = value
        return d

    return change


def _grades(cutoffs):
    def change(d):
        d["grades"]["cutoffs_"] = cutoffs
        return d

    return change


def _tier_line(d):
    d["tiers"]["mql_cutoff_"] = 99 if d["mql"]["fitted"]["cutoff_"] != 99 else 50
    return d


def _drop_column(d):
    gone = d["columns"].pop()
    del d["fields"][gone]
    d["categorical"].pop(gone, None)
    d["numeric_attributes"] = [c for c in d["numeric_attributes"] if c != gone]
    return d


def _grouped_without_level(d):
    d["grouped"] = {next(iter(d["categorical"])): ["a rare value"]}
    return d


# Written as the issue found them: a NaN coefficient, impossible and disordered cutoffs,
# text for a number, a missing grade, versions.json a list, a column dropped.
EDITS = [
    ("calibrator.json", _coef(float("nan")), "params.coef must be a finite number"),
    ("calibrator.json", _coef("abc"), "params.coef must be a finite number, got 'abc'"),
    ("calibrator.json", lambda d: {**d, "base_rate_": "x"}, "base_rate_ must be a rate between"),
    ("thresholds.json", _mql_cutoff(500), "mql cutoff_ must be an integer score 1-99, got 500"),
    ("thresholds.json", _mql_cutoff(-5), "mql cutoff_ must be an integer score 1-99, got -5"),
    ("thresholds.json", _grades({"A": 10, "B": 30, "C": 5}), "must fall from A to C"),
    ("thresholds.json", _grades({"A": 60, "B": 30}), "must give grades A, B and C"),
    ("thresholds.json", _tier_line, "tiers must agree with the MQL cutoff"),
    ("versions.json", lambda d: list(d), "versions.json: expected a JSON object, got list"),
    ("feature_spec.json", _drop_column, "model.txt: its .* feature names differ"),
    ("feature_spec.json", _grouped_without_level, "groups values but has no '\\(other\\)' level"),
]


@pytest.mark.parametrize(("name", "change", "message"), EDITS)
def test_every_edit_is_caught_by_the_manifest_and_then_by_validation(saved, name, change,
                                                                     message):
    _edit_json(saved, name, change)
    with pytest.raises(BundleError, match=f"{name} changed since the bundle was saved"):
        load_bundle(saved)
    # Re-signed (the manifest rewritten to match), the part itself is refused, by name.
    write_manifest(saved)
    with pytest.raises(BundleError, match=message) as err:
        load_bundle(saved)
    assert "corrupt" in str(err.value) or "format" in str(err.value)


def test_a_valid_resigned_edit_still_scores_within_1_to_99(trained, saved):
    model, _, crm, _ = trained
    _edit_json(saved, "calibrator.json", _coef(1e300))
    write_manifest(saved)
    leads = crm.leads.head(50)
    scored = score_leads(load_bundle(saved), leads, crm.activities, leads["created_at"].max())
    assert scored["score"].between(1, 99).all()


def test_truncated_model_text_is_an_error_not_an_abort(saved, tmp_path):
    """LightGBM aborted the process (SIGABRT) on these; run where an abort would show."""
    data = (saved / "model.txt").read_bytes()
    cuts = [len(data) // 7 * k for k in range(1, 7)] + [len(data) - 40]
    script = textwrap.dedent(
        f"""
        import shutil, sys
        from pathlib import Path
        from mqlml.errors import BundleError
        from mqlml.model.bundle import load_bundle
        from mqlml.model.integrity import write_manifest
        src = Path({str(saved)!r})
        data = (src / "model.txt").read_bytes()
        for i, cut in enumerate({cuts!r}):
            dst = Path({str(tmp_path)!r}) / f"cut{{i}}"
            shutil.copytree(src, dst)
            (dst / "model.txt").write_bytes(data[:cut])
            write_manifest(dst)
            try:
                load_bundle(dst)
            except BundleError as exc:
                print("refused:", str(exc).splitlines()[0][-120:])
            else:
                print("LOADED", cut)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert len(lines) == len(cuts) and all(line.startswith("refused:") for line in lines), lines
    assert all("model.txt" in line for line in lines)


def test_model_text_check_rejects_every_truncation_and_accepts_the_whole(saved):
    data = (saved / "model.txt").read_bytes()
    columns = json.loads((saved / "feature_spec.json").read_text())["columns"]
    check_model_text(data, columns)
    for cut in np.linspace(0, len(data) - 30, 60).astype(int):
        with pytest.raises(ValueError):
            check_model_text(data[:cut], columns)


def test_a_segment_folder_linked_to_another_bundle_is_refused(trained, saved, tmp_path):
    other = save_bundle(trained[0], tmp_path / "other")
    os.symlink(other, saved / "segments")
    with pytest.raises(BundleError, match="segments is a symbolic link"):
        load_bundle(saved)


def test_a_symlink_loop_is_a_short_error(saved):
    os.symlink("loop", saved / "loop")
    with pytest.raises(BundleError, match="loop is a symbolic link") as err:
        load_bundle(saved)
    assert len(str(err.value)) < 400


def test_model_text_whose_tree_loops_back_to_its_root_is_refused(saved):
    """Same length, so LightGBM would read it; prediction would walk in a circle."""
    text = (saved / "model.txt").read_text()
    columns = json.loads((saved / "feature_spec.json").read_text())["columns"]
    lines = text.split("\n")
    i = next(k for k, line in enumerate(lines) if line.startswith("left_child=1 "))
    lines[i] = "left_child=0 " + lines[i].removeprefix("left_child=1 ")
    with pytest.raises(ValueError, match="do not form a tree"):
        check_model_text("\n".join(lines).encode(), columns)
