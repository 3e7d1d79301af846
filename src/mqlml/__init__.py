"""mqlml: learn which marketing leads convert.

Point-in-time features from CRM history, a LightGBM conversion model with a
logistic-regression baseline beside it, calibrated probabilities, a 1-99 score,
grades A-D and a learned MQL threshold.

The public API::

    import mqlml

    history = mqlml.generate_history(5_000, seed=1)
    scorer = mqlml.train(history)                 # or mqlml.LeadScorer(...).fit(...)
    scorer.summary_.metrics_test.model.roc_auc    # held-out figures, typed
    scored = mqlml.score(scorer, leads, activities)
    points = mqlml.explain_lead(scorer, leads, activities, lead_id="L00042")
    bundle = scorer.save("models")
    scorer = mqlml.load_model(bundle)
    found = mqlml.monitor(scorer, ["scored/"], "crm/")   # promised vs realised, alerts
    sent = mqlml.export_to_crm(scored, tool="hubspot", out="scored.csv")

Names are imported on first use, so ``import mqlml`` stays cheap (the CLI and the
scoring service import only what they use).
"""

from __future__ import annotations

import importlib

from mqlml.errors import (
    BundleError,
    ConfigError,
    DataValidationError,
    InsufficientDataError,
    MqlmlError,
    RegistryError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access, PEP 562).
_LAZY = {
    "LeadScorer": "mqlml.estimator",
    "train": "mqlml.api",
    "score": "mqlml.api",
    "explain_lead": "mqlml.api",
    "load_model": "mqlml.api",
    "monitor": "mqlml.api",
    "MonitorResult": "mqlml.api",
    "export_to_crm": "mqlml.api",
    "CrmExport": "mqlml.api",
    "Config": "mqlml.config",
    "load_config": "mqlml.config",
    "TrainingSummary": "mqlml.model.summary",
    "TrainedModel": "mqlml.model.bundle",
    "generate_history": "mqlml.synthetic.generate",
}

__all__ = [
    "BundleError",
    "Config",
    "ConfigError",
    "CrmExport",
    "DataValidationError",
    "InsufficientDataError",
    "LeadScorer",
    "MonitorResult",
    "MqlmlError",
    "RegistryError",
    "TrainedModel",
    "TrainingSummary",
    "__version__",
    "explain_lead",
    "export_to_crm",
    "generate_history",
    "load_config",
    "load_model",
    "monitor",
    "score",
    "train",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mqlml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
