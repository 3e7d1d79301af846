"""The training entry points above the pipeline: from validated CRM tables or labelled leads.

Both return ``(TrainedModel, artifacts)`` like :func:`mqlml.training.pipeline.train_labelled`.
"""

from __future__ import annotations

from mqlml.config import Config
from mqlml.data.contract import CrmData
from mqlml.labels.labelled import LabelledLeads
from mqlml.model.bundle import TrainedModel
from mqlml.training.pipeline import run_training, train_labelled


def fit_history(crm: CrmData, config: Config) -> tuple[TrainedModel, dict]:
    """Label a validated CRM history and fit a model on it (no saving, no tracking).

    Parameters
    ----------
    crm : CrmData
        From :func:`mqlml.data.contract.validate_crm` or ``load_crm``.
    config : Config
        The training configuration.

    Returns
    -------
    model : TrainedModel
    artifacts : dict
        ``test_predictions``, ``importance``, ``slices`` (and ``backtest_membership``).
    """
    return run_training(crm, config)


def fit_labelled(labelled: LabelledLeads, config: Config) -> tuple[TrainedModel, dict]:
    """Fit a model on already labelled leads (e.g. flat mode's :func:`label_flat`).

    Parameters
    ----------
    labelled : LabelledLeads
        Leads with labels and scoring moments.
    config : Config
        The training configuration.

    Returns
    -------
    model : TrainedModel
    artifacts : dict
        As :func:`fit_history`.
    """
    return train_labelled(labelled, config)
