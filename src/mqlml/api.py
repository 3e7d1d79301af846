"""The functions of the public API: train, score, explain a lead, load a model, monitor it,
export scores to a CRM.

Each is a thin shortcut over :class:`mqlml.estimator.LeadScorer` or the module that does
the work, so a script and a notebook get the same model, scores and files as the CLI
(``mqlml monitor`` and ``mqlml score --crm`` call :func:`monitor` and
:func:`export_to_crm`). Results are typed: :class:`MonitorResult`, :class:`CrmExport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mqlml.config import Config, CrmConfig, load_config
from mqlml.errors import ConfigError, MqlmlError
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
        The tables one by one, instead of ``data``. Activities given as a Parquet file, a
        folder of them or a glob are read out of core (:mod:`mqlml.data.activity_files`).
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


def score(model, leads, activities=None, *, as_of=None, adjust_prior: bool | None = None
          ) -> pd.DataFrame:
    """Score leads with a model (see :meth:`LeadScorer.score`).

    Parameters
    ----------
    model : LeadScorer, TrainedModel, path or URI
        A fitted scorer, or where to load one from.
    leads, activities : DataFrame or path
        The leads to score and their activities (a Parquet file, a folder of them or a
        glob: read out of core, :mod:`mqlml.data.activity_files`).
    as_of : time, optional
        The scoring moment; default the leads' ``as_of`` column, else now.
    adjust_prior : bool, optional
        Move every probability to the conversion rate the batch implies from its own
        scores, and recompute scores, grades and ``is_mql`` (``mqlml score
        --adjust-prior``; see ``docs/scoring.md``); None: the model's
        ``scoring.prior_shift.adjust``.

    Returns
    -------
    DataFrame
        ``lead_id``, ``probability``, ``score``, ``grade``, ``is_mql``, ``tier`` and the
        reason columns, one row per lead in input order.

    Raises
    ------
    MqlmlError
        When ``model`` or ``adjust_prior`` is of the wrong type.
    """
    return _scorer(model).score(leads, activities, as_of=as_of, adjust_prior=adjust_prior)


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


# --- monitoring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One check outside its level (``docs/monitoring.md``).

    Attributes
    ----------
    level : {"warn", "critical"}
    check : str
        ``psi``, ``unseen``, ``base_rate``, ``realised_rate``, ``calibration``,
        ``mql_volume`` or ``mql_rate``.
    subject : str
        What was checked: a feature, a grade, a batch, a week.
    value, threshold : float or None
        What was measured, and the level (or promise) it was compared with.
    message : str
        One line for a person.
    """

    level: str
    check: str
    subject: str
    value: float | None
    threshold: float | None
    message: str


@dataclass(frozen=True)
class MonitorCounts:
    """How many scored leads the monitor judged, and why the others were not.

    Attributes
    ----------
    batches, scored : int
        Scored batches read, and distinct leads in them (each at its first scoring).
    repeated_scorings : int
        Later scorings of a lead already scored (not judged again).
    not_in_history, no_scoring_moment : int
        Leads the CRM history does not hold, or without a scoring moment.
    matured, immature, converted_before_as_of : int
        Leads whose horizon has passed (judged), has not, or who had converted already.
    """

    batches: int
    scored: int
    repeated_scorings: int
    not_in_history: int
    no_scoring_moment: int
    matured: int
    immature: int
    converted_before_as_of: int


@dataclass(frozen=True)
class MonitorFiles:
    """The files :meth:`MonitorResult.write` wrote."""

    html: Path
    json: Path


@dataclass(frozen=True, eq=False)
class MonitorResult:
    """What :func:`monitor` found: promised against realised conversion, drift, alerts.

    Attributes
    ----------
    status : {"ok", "warn", "critical"}
        The worst alert's level.
    exit_code : int
        ``mqlml monitor``'s exit status for it: 0 ok, 3 warn, 4 critical.
    alerts : tuple of Alert
        Worst first.
    rows : MonitorCounts
    snapshot_at : Timestamp
        The end of the CRM history the leads were judged against.
    details : dict
        Everything, JSON-safe, as ``monitor.json`` holds it (per grade, tier and band
        rates, calibration, MQLs per week, drift per week; keys in ``docs/monitoring.md``).
    """

    status: str
    exit_code: int
    alerts: tuple[Alert, ...]
    rows: MonitorCounts
    snapshot_at: pd.Timestamp
    details: dict

    def write(self, out_dir: str | Path) -> MonitorFiles:
        """Write ``monitor.html`` and ``monitor.json`` into ``out_dir`` (each atomically).

        Parameters
        ----------
        out_dir : path
            The folder; created if missing.

        Returns
        -------
        MonitorFiles
        """
        from mqlml.report.monitor import write_monitor

        written = write_monitor(self.details, out_dir)
        return MonitorFiles(html=written["html"], json=written["json"])


def _config(config, parameter: str = "config") -> Config | None:
    """A :class:`Config` from a Config, a YAML path or None."""
    if config is None or isinstance(config, Config):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    raise ConfigError(
        f"{parameter} must be a mqlml.Config, a YAML path or None, got {type(config).__name__}"
    )


def _paths(value, parameter: str) -> list[Path]:
    """One path or a sequence of them, as a list."""
    if isinstance(value, str | Path):
        return [Path(value)]
    if isinstance(value, Sequence) and value and all(isinstance(v, str | Path) for v in value):
        return [Path(v) for v in value]
    raise MqlmlError(
        f"{parameter} must be a path or a non-empty list of paths (scored outputs of "
        f"mqlml score, or folders of them), got {value!r:.80}"
    )


def monitor(model, scored, data, *, config: Config | str | Path | None = None
            ) -> MonitorResult:
    """Promised against realised conversion, drift and alerts for a model in use
    (``mqlml monitor``; ``docs/monitoring.md``).

    Parameters
    ----------
    model : LeadScorer, TrainedModel, path or URI
        The model that scored the batches, or where to load it from.
    scored : path or list of path
        Scored outputs of ``mqlml score`` (each with its ``.report.json`` beside it), or
        folders of them: every batch scored since the model went live.
    data : path or history
        The CRM history as it stands now: a folder of leads, activities and outcomes, or
        an object with those tables (e.g. :func:`mqlml.generate_history`'s).
    config : Config or path, optional
        Its ``monitor`` section (alert levels) and ``data`` section (column mapping,
        dates) are used; default the model's own.

    Returns
    -------
    MonitorResult
        ``status``, ``exit_code``, ``alerts``; ``write(out_dir)`` writes the HTML page and
        the JSON.

    Raises
    ------
    MqlmlError
        When a parameter is of the wrong type, a scored output or its report is missing,
        or the history cannot be read (:class:`DataValidationError`).
    """
    from mqlml.data.contract import load_crm, snapshot_time, validate_crm
    from mqlml.scoring.monitor import monitor as run_monitor
    from mqlml.scoring.monitor import read_scored, scored_outputs

    scorer = _scorer(model)
    outputs = _paths(scored, "scored")
    cfg = _config(config) or scorer.model_.config
    # The tables come from `data`: paths in the model's training config are not reused.
    data_cfg = cfg.data.model_copy(update={"leads": None, "activities": None,
                                           "outcomes": None})
    if not hasattr(data, "leads") and not isinstance(data, str | Path):
        raise MqlmlError(
            "data must be a folder of leads, activities and outcomes or an object with "
            f"those tables, got {type(data).__name__}"
        )
    history = read_scored(scored_outputs(outputs))
    if hasattr(data, "leads"):
        crm = validate_crm(data.leads, data.activities, data.outcomes, data_cfg)
    else:
        crm = load_crm(data, data_cfg)
    loaded = getattr(scorer, "loaded_from_", None)
    snapshot_at = snapshot_time(crm, data_cfg)
    details = run_monitor(
        scorer.model_, history, crm, snapshot_at, cfg.monitor,
        model_record=loaded.to_dict() if loaded is not None else None,
    )
    return MonitorResult(
        status=details["status"],
        exit_code=details["exit_code"],
        alerts=tuple(Alert(**a) for a in details["alerts"]),
        rows=MonitorCounts(**details["rows"]),
        snapshot_at=snapshot_at,
        details=details,
    )


# --- scores into the CRM ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CrmExport:
    """What :func:`export_to_crm` did.

    Attributes
    ----------
    changes : DataFrame
        The scored leads with what changed since their previous scoring: ``scored_at``,
        ``became_mql``, ``grade_changed``, ``score_change``, ``score_trend``.
    import_file : Path or None
        The CRM import file written, when a tool was given.
    import_rows : int
        Rows in it.
    state_path : Path
        The state store compared with and updated (lead ids and scores only).
    became_mql, changed_grade : int
        Leads that became MQLs, and that changed grade, since their previous scoring.
    delivered : int
        Webhook messages delivered.
    summary : str
        One line, as ``mqlml score --crm`` prints it.
    """

    changes: pd.DataFrame
    import_file: Path | None
    import_rows: int
    state_path: Path
    became_mql: int
    changed_grade: int
    delivered: int
    summary: str


def _crm_settings(settings, webhook: str | None, parameter: str = "webhook") -> CrmConfig:
    """``settings`` as a :class:`CrmConfig`, with ``webhook`` as its webhook's url.

    ``parameter`` names where ``webhook`` came from in the error (``--webhook`` for the
    command line)."""
    from mqlml.config import WebhookConfig

    if settings is None:
        crm = CrmConfig()
    elif isinstance(settings, CrmConfig):
        crm = settings
    elif isinstance(settings, Config | str | Path):
        crm = _config(settings, "settings").crm
    else:
        raise ConfigError(
            "settings must be a mqlml.Config, its crm section, a YAML path or None, got "
            f"{type(settings).__name__}"
        )
    if webhook is None:
        return crm
    try:
        hook = WebhookConfig.model_validate({**crm.webhook.model_dump(), "url": webhook})
    except ValueError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{parameter}: {msg}") from None
    return crm.model_copy(update={"webhook": hook})


def _scored_at(as_of, scored: pd.DataFrame) -> pd.Series:
    """Each scored lead's scoring moment (UTC), aligned with ``scored``."""
    from mqlml.data.validate import to_utc

    if as_of is None:
        return pd.Series(pd.Timestamp.now(tz="UTC"), index=scored.index)
    if isinstance(as_of, pd.Series):
        if len(as_of) != len(scored):
            raise MqlmlError(
                f"as_of must hold one moment per scored lead ({len(scored):,}), got "
                f"{len(as_of):,}"
            )
        if isinstance(as_of.dtype, pd.DatetimeTZDtype):  # e.g. the moments scoring used
            return as_of.dt.tz_convert("UTC").set_axis(scored.index)
        moments = to_utc(as_of.astype("str")).set_axis(scored.index)
        if moments.isna().any():
            bad = as_of[moments.isna().to_numpy()].iloc[0]
            raise MqlmlError(f"as_of must hold dates/times, got {bad!r}")
        return moments
    moment = to_utc(pd.Series([str(as_of)], dtype="str")).iloc[0]
    if pd.isna(moment):
        raise MqlmlError(f"as_of must be a date/time, got {as_of!r}")
    return pd.Series(moment, index=scored.index)


def export_to_crm(
    scored: pd.DataFrame,
    *,
    out: str | Path,
    tool: str | None = None,
    as_of=None,
    settings: Config | CrmConfig | str | Path | None = None,
    webhook: str | None = None,
    model: LeadScorer | Mapping[str, object] | None = None,
    safe_csv: bool | None = None,
) -> CrmExport:
    """Compare scored leads with their previous scoring, write a CRM's import file and post
    the new MQLs to a webhook (``mqlml score --crm ... --webhook ...``;
    ``docs/scoring.md``).

    The comparison is kept in a state store beside ``out`` (``mqlml-state.sqlite``: lead
    ids and scores only), so the next export says what changed since this one. The store
    is updated only after every webhook message is delivered.

    Parameters
    ----------
    scored : DataFrame
        Scored leads, as :func:`score` returns them.
    out : path
        The scored output the files go beside: ``scored.csv`` gives
        ``scored.salesforce.csv`` (the file ``out`` itself is not written).
    tool : {"salesforce", "hubspot", "dynamics"}, optional
        The CRM whose import file to write; none: only compare (and post).
    as_of : time or Series, optional
        The leads' scoring moment (one for all, or one per lead); default now.
    settings : Config, CrmConfig or path, optional
        The ``crm`` section (column names, state store, webhook); default the defaults.
    webhook : str, optional
        Post each new MQL to this http(s) address (``settings``' ``crm.webhook.url``).
    model : LeadScorer or mapping, optional
        The model that scored the leads (its ``name`` and ``version``), kept in the store
        and the messages.
    safe_csv : bool, optional
        Neutralise the import file's text cells a spreadsheet would run as a formula (an
        id or reason starting with ``=``); default ``output.safe_csv`` of ``settings`` when
        it is a Config or path, else of ``model`` when it is a LeadScorer, else on.

    Returns
    -------
    CrmExport

    Raises
    ------
    MqlmlError
        When a parameter is wrong (named in the message), the store cannot be read or
        written, or a message cannot be delivered (the store is then left as it was, so
        the next export flags and posts those leads again).
    """
    from mqlml.columns import BECAME_MQL, GRADE_CHANGED, SCORE_COLUMNS
    from mqlml.scoring.crm import check_tool, export_scores

    if not isinstance(scored, pd.DataFrame):
        raise MqlmlError(
            f"scored must be a DataFrame of scored leads (mqlml.score's), got "
            f"{type(scored).__name__}"
        )
    missing = [c for c in SCORE_COLUMNS[:6] if c not in scored.columns]
    if missing:
        raise MqlmlError(
            f"scored must hold the columns of mqlml.score's result; missing {', '.join(missing)}"
        )
    if tool is not None:
        check_tool(tool, "tool", optional=True)
    if not isinstance(out, str | Path):
        raise MqlmlError(f"out must be a path, got {type(out).__name__}")
    if safe_csv is not None and not isinstance(safe_csv, bool):
        raise MqlmlError(f"safe_csv must be True, False or None, got {safe_csv!r}")
    config = _config(settings, "settings") if isinstance(settings, str | Path) else settings
    crm = _crm_settings(config, webhook)
    safe = safe_csv
    if safe is None and isinstance(config, Config):
        safe = config.output.safe_csv
    if isinstance(model, LeadScorer):
        loaded = getattr(model, "loaded_from_", None)
        fitted = model._check_fitted("export_to_crm")  # its name, and no AttributeError
        record = loaded.to_dict() if loaded is not None else {"name": fitted.config.name}
        safe = fitted.config.output.safe_csv if safe is None else safe
    elif model is None or isinstance(model, Mapping):
        record = model
    else:
        raise MqlmlError(
            f"model must be a LeadScorer, a mapping with name and version, or None, got "
            f"{type(model).__name__}"
        )
    run = export_scores(scored, _scored_at(as_of, scored), out, crm, tool=tool, model=record,
                        safe_csv=True if safe is None else safe)
    return CrmExport(
        changes=run.changes,
        import_file=run.import_file,
        import_rows=run.import_rows,
        state_path=run.state_path,
        became_mql=int(run.changes[BECAME_MQL].sum()),
        changed_grade=int(run.changes[GRADE_CHANGED].sum()),
        delivered=len(run.deliveries),
        summary=run.summary,
    )
