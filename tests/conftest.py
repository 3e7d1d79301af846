"""Shared fixtures: small, seeded, synthetic CRM tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import (
    ACTIVITY_TYPE,
    COMPANY_SIZE,
    CREATED_AT,
    DEAL_VALUE,
    EMAIL,
    INDUSTRY,
    JOB_TITLE,
    LEAD_ID,
    LOST_AT,
    OCCURRED_AT,
    SQL_AT,
    WON_AT,
)


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    """Never write tracking data into the repository."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def make_leads(n: int = 200, seed: int = 0, start: str = "2025-01-01") -> pd.DataFrame:
    """Leads created one every ~6 hours with a few fit attributes."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.arange(n) * 6, unit="h")
    return pd.DataFrame(
        {
            LEAD_ID: [f"L{i:05d}" for i in range(n)],
            CREATED_AT: created,
            EMAIL: rng.choice(["a@acme.com", "b@gmail.com", "bad"], n),
            JOB_TITLE: rng.choice(["VP of Marketing", "Software Engineer", "Student"], n),
            COMPANY_SIZE: rng.choice(["1-10", "51-200", "5000+"], n),
            INDUSTRY: rng.choice(["Software", "Retail"], n),
        }
    )


def make_activities(leads: pd.DataFrame, per_lead: int = 4, seed: int = 0) -> pd.DataFrame:
    """A few activities per lead, within 20 days after creation."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(leads[LEAD_ID].to_numpy(), per_lead)
    base = np.repeat(leads[CREATED_AT].to_numpy(), per_lead)
    offsets = pd.to_timedelta(rng.uniform(0, 20, len(ids)), unit="D")
    return pd.DataFrame(
        {
            LEAD_ID: ids,
            OCCURRED_AT: pd.Series(base).dt.tz_convert("UTC") + offsets,
            ACTIVITY_TYPE: rng.choice(["page_view", "pricing_page_view", "email_open"], len(ids)),
        }
    ).assign(detail=pd.NA)


@pytest.fixture
def small_leads() -> pd.DataFrame:
    return make_leads()


@pytest.fixture
def small_activities(small_leads) -> pd.DataFrame:
    return make_activities(small_leads)


def make_outcomes(leads: pd.DataFrame, sql_after_days: dict[str, float]) -> pd.DataFrame:
    """Outcomes: lead -> SQL that many days after creation (won 30 days later)."""
    ids = list(sql_after_days)
    created = leads.set_index(LEAD_ID).loc[ids, CREATED_AT]
    sql = created + pd.to_timedelta(list(sql_after_days.values()), unit="D")
    return pd.DataFrame(
        {
            LEAD_ID: ids,
            SQL_AT: sql.to_numpy(),
            WON_AT: (sql + pd.Timedelta(days=30)).to_numpy(),
            LOST_AT: pd.NaT,
            DEAL_VALUE: 1000.0,
        }
    )


@pytest.fixture(scope="session")
def history():
    """A small generated CRM history (shared, read-only)."""
    from mqlml.synthetic.generate import generate_history

    return generate_history(6_000, seed=3)


@pytest.fixture(scope="session")
def trained(history):
    """A model trained on ``history`` without tracking: (model, artifacts, crm, config)."""
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.workflow import fit_history

    cfg = load_config(
        None, {"tracking": {"enabled": False}, "thresholds": {"capacity_per_week": 30}}
    )
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    model, artifacts = fit_history(crm, cfg)
    return model, artifacts, crm, cfg


@pytest.fixture(scope="session")
def linear_trained(history):
    """Like ``trained``, with the trees boosted from a linear base (model.linear_base on)."""
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.workflow import fit_history

    cfg = load_config(
        None,
        {
            "tracking": {"enabled": False},
            "thresholds": {"capacity_per_week": 30},
            "model": {"linear_base": "on"},
        },
    )
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    model, artifacts = fit_history(crm, cfg)
    return model, artifacts, crm, cfg


@pytest.fixture(scope="session")
def funnel_trained():
    """A 12k-lead history trained with every issue-3 feature on, once per session.

    Backtest (2 folds), the shipped rules sheet and the lead_source segments are on; the
    gate is lowered so every lead source passes (the gate itself is tested on its own).
    Returns (model, artifacts, labelled, config).
    """
    from pathlib import Path

    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.synthetic.generate import generate_history
    from mqlml.workflow import fit_labelled

    history = generate_history(12_000, seed=5)
    rules = Path(__file__).resolve().parents[1] / "configs" / "rules-example.yaml"
    cfg = load_config(
        None,
        {
            "tracking": {"enabled": False},
            "model": {"learning_rate": 0.1},  # fewer trees: the same checks, half the time
            "thresholds": {"capacity_per_week": 25, "target_precision": 0.3,
                           "target_recall": 0.7, "cost_per_lead": 800,
                           # 99% intervals: a 95% one misses its target on 1 history in 20
                           "interval_level": 0.99},
            "backtest": {"folds": 2},
            "baselines": {"rules_path": str(rules)},
            "segments": {"column": "lead_source"},
            "gate": {"min_train_positives": 10, "min_test_positives": 3},
        },
    )
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    labelled = label_history(crm, cfg)
    model, artifacts = fit_labelled(labelled, cfg)
    return model, artifacts, labelled, cfg


@pytest.fixture(scope="session")
def scoring_model(tmp_path_factory):
    """A small model whose leads carry a numeric attribute (``employees``), saved as a
    bundle, for the scoring-batch tests: (model, bundle path, validated crm)."""
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.model.bundle import save_bundle
    from mqlml.synthetic.generate import generate_history

    history = generate_history(3_000, seed=5)
    leads = history.leads.copy()
    leads["employees"] = np.random.default_rng(0).integers(1, 5_000, len(leads)).astype(str)
    cfg = load_config(
        None, {"tracking": {"enabled": False}, "thresholds": {"capacity_per_week": 30}}
    )
    crm = validate_crm(leads, history.activities, history.outcomes, cfg.data)
    from mqlml.workflow import fit_history

    model, _ = fit_history(crm, cfg)
    bundle = save_bundle(model, tmp_path_factory.mktemp("scoring-model"))
    return model, bundle, crm


# The longest tests start first: under `pytest -n 2` they then run beside the rest instead
# of alone at the end (the README walk-through alone takes minutes).
_LONGEST_FIRST = ("tests/test_readme.py", "tests/test_notebooks.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return _LONGEST_FIRST.index(path) if path in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def monitor_worlds(tmp_path_factory):
    """One model and its scored batches in a plain and a shifted world (monitor_worlds.py)."""
    from monitor_worlds import make_worlds

    return make_worlds(tmp_path_factory.mktemp("monitor"))


def _java_missing() -> bool:
    import os
    import shutil

    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is None and not (home and os.path.exists(f"{home}/bin/java"))


#: Spark tests skip only when there is no Java to run Spark on.
needs_java = pytest.mark.skipif(
    _java_missing(), reason="Spark needs Java 17: no java on PATH and no JAVA_HOME"
)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A local[2] Spark session bound to loopback, Python workers on this interpreter, UTC."""
    import sys

    from pyspark.sql import SparkSession

    mp = pytest.MonkeyPatch()
    mp.setenv("PYSPARK_PYTHON", sys.executable)
    mp.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mqlml-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark-local")))
        .getOrCreate()
    )
    yield session
    session.stop()
    mp.undo()
