"""Progress of a training: each stage reported as it finishes, with its seconds.

A training of 50,000 leads with a backtest runs for minutes; the CLI prints each stage as
it ends. The Python API stays silent: with no callback :class:`Stages` only keeps time.
The callback is passed down explicitly (no global state), so concurrent trainings in one
process report separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Called as ``callback(stage, seconds)`` when a stage finishes.
StageCallback = Callable[[str, float], None]


class Stages:
    """Times consecutive stages and reports each to ``callback`` as it finishes.

    Parameters
    ----------
    callback : callable, optional
        ``callback(stage, seconds)``; None: nothing is reported.
    """

    def __init__(self, callback: StageCallback | None = None) -> None:
        self.callback = callback
        self._since = time.perf_counter()

    def done(self, stage: str) -> None:
        """Report ``stage`` as finished with the seconds since the previous one ended."""
        now = time.perf_counter()
        if self.callback is not None:
            self.callback(stage, now - self._since)
        self._since = now


def as_stages(progress: Stages | StageCallback | None) -> Stages:
    """``progress`` as :class:`Stages` (a callback is wrapped; None reports nothing)."""
    return progress if isinstance(progress, Stages) else Stages(progress)
