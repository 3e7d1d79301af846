"""Segments: the column value that routes a lead to its segment's model."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Segment name used for leads whose segment value is missing.
MISSING_SEGMENT = "(missing)"


def segment_values(values: pd.Series) -> np.ndarray:
    """Segment names as text, missing values as :data:`MISSING_SEGMENT`."""
    return values.astype("object").where(values.notna(), MISSING_SEGMENT).astype(str).to_numpy()
