"""Minimum-data gate: refuse to train when the slices hold too few converted leads.

A model, its calibration and its thresholds learned from a few dozen conversions look
precise and are not; a test slice with a handful of conversions cannot tell a good model
from a bad one. The gate counts converted leads (positives) in the train and test slices,
overall and, when ``segments.column`` is set, in every segment, and refuses with a
message naming each count and what is needed.

Defaults (``gate`` section of the config): :data:`mqlml.config.DEFAULT_MIN_TRAIN_POSITIVES` in the
train slice and :data:`mqlml.config.DEFAULT_MIN_TEST_POSITIVES` in the test slice.
"""

from __future__ import annotations

import numpy as np

from mqlml.errors import InsufficientDataError


def gate_counts(
    y_train,
    y_test,
    segments_train: np.ndarray | None = None,
    segments_test: np.ndarray | None = None,
) -> list[dict]:
    """Positives per slice: one row for ``(all)`` and one per segment.

    Returns
    -------
    list of dict
        ``segment``, ``train_leads``, ``train_positives``, ``test_leads``,
        ``test_positives``.
    """
    y_train = np.asarray(y_train, dtype=float)
    y_test = np.asarray(y_test, dtype=float)
    rows = [
        {
            "segment": "(all)",
            "train_leads": len(y_train),
            "train_positives": int(np.nansum(y_train)),
            "test_leads": len(y_test),
            "test_positives": int(np.nansum(y_test)),
        }
    ]
    if segments_train is None or segments_test is None:
        return rows
    for seg in sorted(set(segments_train) | set(segments_test)):
        tr = segments_train == seg
        te = segments_test == seg
        rows.append(
            {
                "segment": str(seg),
                "train_leads": int(tr.sum()),
                "train_positives": int(np.nansum(y_train[tr])),
                "test_leads": int(te.sum()),
                "test_positives": int(np.nansum(y_test[te])),
            }
        )
    return rows


def check_gate(
    counts: list[dict],
    min_train_positives: int,
    min_test_positives: int,
    segment_column: str | None = None,
) -> None:
    """Raise when any row of :func:`gate_counts` has too few positives.

    Raises
    ------
    InsufficientDataError
        Naming, for every slice and segment short of positives, how many it has and how
        many are needed, and what the user can do.
    """
    problems = []
    for row in counts:
        where = (
            "overall"
            if row["segment"] == "(all)"
            else f"in segment {segment_column}={row['segment']!r}"
        )
        for part, need, key in (
            ("train", min_train_positives, "train_positives"),
            ("test", min_test_positives, "test_positives"),
        ):
            if row[key] < need:
                problems.append(
                    f"{part} slice {where} has {row[key]} converted leads "
                    f"(of {row[f'{part}_leads']}); at least {need} are needed "
                    f"(gate.min_{part}_positives)"
                )
    if problems:
        hint = (
            "Provide more history, a longer horizon_days, or a target with more conversions"
        )
        if segment_column:
            hint += f", or a coarser segments.column than {segment_column!r}"
        raise InsufficientDataError(
            "too few converted leads to train and test honestly: "
            + "; ".join(problems)
            + f". {hint}. Lowering the gate makes the reported figures unreliable."
        )
