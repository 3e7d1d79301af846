"""The functions of the public API: train, score, explain a lead, load a model.

Each is a thin shortcut over :class:`mqlml.estimator.LeadScorer`, so a script and a
notebook get the same model and the same scores as the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mqlml.config import Config
from mqlml.errors import MqlmlError
from mqlml.estimator import LeadScorer


def train(
    data=None,
    *,
    leads=None,
    activities=None,
    outcomes=None,
    config: Config | str | Path | None = None,
) -> LeadScorer:
    """Train a lead scoring model; nothing is saved or tracked (see :meth:`LeadScorer.save`).

    Parameters
    ----------
    data : path or history, optional
        A directory with ``leads``, ``activities`` and ``outcomes`` files; in flat mode
        (``config.flat``) the one export file; or an object with ``leads``,
        ``activities`` and ``outcomes`` tables (e.g. :func:`mqlml.generate_history`'s).
    leads, activities, outcomes : DataFrame or path, optional
        The tables one by one, instead of ``data``.
    config : Config or path, optional
        The configuration or its YAML file; default the defaults.

    Returns
    -------
    LeadScorer
        Fitted; its ``summary_`` holds the held-out figures.

    Raises
    ------
    MqlmlError
        When both or neither of ``data`` and ``leads`` are given.
    DataValidationError, InsufficientDataError
        As :meth:`LeadScorer.fit`.
    """
    if (data is None) == (leads is None):
        raise MqlmlError(
            "train needs the data once: give data (a directory, an export file or a "
            "history with leads, activities and outcomes) or leads=..., not both or neither"
        )
    if data is not None and hasattr(data, "leads"):
        leads, activities, outcomes = data.leads, data.activities, data.outcomes
    elif data is not None:
        if activities is not None or outcomes is not None:
            raise MqlmlError("give activities and outcomes with leads=..., not with data")
        leads = data
    return LeadScorer(config=config).fit(leads, activities, outcomes)


def load_model(path_or_uri: str | Path, *, tracking_uri: str | None = None) -> LeadScorer:
    """A fitted :class:`LeadScorer` from a bundle folder, a model folder (its champion, else
    its newest version) or ``models:/<name>@<alias>`` (see :meth:`LeadScorer.load`).

    Raises
    ------
    BundleError
        When the model cannot be found or read.
    """
    return LeadScorer.load(path_or_uri, tracking_uri=tracking_uri)


def _scorer(model) -> LeadScorer:
    if isinstance(model, LeadScorer):
        return model
    if isinstance(model, str | Path):
        return load_model(model)
    from mqlml.model.bundle import TrainedModel

    if isinstance(model, TrainedModel):
        return LeadScorer.from_model(model)
    raise MqlmlError(
        "model must be a LeadScorer, a TrainedModel, a bundle path or a models:/ URI, "
        f"got {type(model).__name__}"
    )


def score(model, leads, activities=None, *, as_of=None) -> pd.DataFrame:
    """Score leads with a model (see :meth:`LeadScorer.score`).

    Parameters
    ----------
    model : LeadScorer, TrainedModel, path or URI
        A fitted scorer, or where to load one from.
    leads, activities : DataFrame or path
        The leads to score and their activities.
    as_of : time, optional
        The scoring moment; default the leads' ``as_of`` column, else now.

    Returns
    -------
    DataFrame
        ``lead_id``, ``probability``, ``score``, ``grade``, ``is_mql``, ``tier`` and the
        reason columns, one row per lead in input order.
    """
    return _scorer(model).score(leads, activities, as_of=as_of)


def explain_lead(model, leads, activities=None, *, lead_id: str, as_of=None) -> pd.DataFrame:
    """Every field's points in one lead's score (see :meth:`LeadScorer.explain`).

    Named ``explain_lead`` rather than ``explain``: ``mqlml.explain`` is the sub-package
    of explanations, and a package attribute cannot be both.

    Parameters
    ----------
    model : LeadScorer, TrainedModel, path or URI
        A fitted scorer, or where to load one from.
    leads, activities : DataFrame or path
        Leads including ``lead_id``, and their activities.
    lead_id : str
        The lead to explain.
    as_of : time, optional
        The scoring moment.

    Returns
    -------
    DataFrame
        ``field``, ``label``, ``group``, ``reason`` and ``points``, largest effect first.
    """
    return _scorer(model).explain(leads, activities, lead_id=lead_id, as_of=as_of)
