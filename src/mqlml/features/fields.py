"""Business fields: the lead attributes and behaviours that feature columns belong to."""

from __future__ import annotations

import numpy as np

from mqlml.features.build import FeatureSpec


def field_matrix(spec: FeatureSpec) -> tuple[np.ndarray, list[str]]:
    """Indicator matrix (features x fields) and the field names, in first-seen order."""
    fields: list[str] = []
    for c in spec.columns:
        if spec.fields[c] not in fields:
            fields.append(spec.fields[c])
    pos = {f: i for i, f in enumerate(fields)}
    m = np.zeros((len(spec.columns), len(fields)))
    for j, c in enumerate(spec.columns):
        m[j, pos[spec.fields[c]]] = 1.0
    return m, fields
