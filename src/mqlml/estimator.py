"""``LeadScorer``: the whole model as one scikit-learn estimator, for Python and notebooks.

It trains exactly what ``mqlml train`` trains and scores exactly as ``mqlml score`` does;
it only saves or tracks when asked (:meth:`LeadScorer.save`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from mqlml.columns import IS_MQL, LEAD_ID, PROBABILITY
from mqlml.config import Config, config_from_dict, config_to_dict, load_config
from mqlml.data.activity_files import is_out_of_core
from mqlml.errors import ConfigError, DataValidationError, MqlmlError

#: LeadScorer parameter -> the (section, key) of :class:`mqlml.config.Config` it sets.
CONFIG_PARAMETERS = {
    "target": ("labels", "target"),
    "horizon_days": ("labels", "horizon_days"),
    "observation_days": ("features", "observation_days"),
    "capacity_per_week": ("thresholds", "capacity_per_week"),
    "policy": ("thresholds", "policy"),
    "random_state": ("model", "seed"),
}
#: Rejected rows listed in the error when a scoring batch has some.
_SHOWN_REJECTS = 20


class LeadScorer(BaseEstimator):
    """Learn which leads convert; score, grade and explain new ones.

    A scikit-learn estimator (``get_params``, ``set_params`` and ``sklearn.base.clone``
    work). Parameters left as None take their value from ``config`` (or the defaults);
    they are checked once, by the configuration's own validation, in :meth:`fit`.

    Parameters
    ----------
    config : Config or path, optional
        The training configuration, or a YAML file of it (see :mod:`mqlml.config`).
        Default: the defaults.
    target : {"sql", "won"}, optional
        The stage a lead converts to (``labels.target``).
    horizon_days : int, optional
        Days after creation within which a lead must convert (``labels.horizon_days``).
    observation_days : int, optional
        Days of a lead's activity the model sees before scoring it
        (``features.observation_days``).
    capacity_per_week : float, optional
        Leads per week sales can work (``thresholds.capacity_per_week``).
    policy : {"capacity", "precision", "recall", "expected_value"}, optional
        How the MQL cutoff is learned (``thresholds.policy``).
    random_state : int, optional
        Seed of the model (``model.seed``).

    Attributes
    ----------
    model_ : TrainedModel
        The trained model with its calibration and thresholds (what a bundle holds).
    summary_ : TrainingSummary
        What the training measured on held-out leads (``summary_.metrics_test.model``).
    config_ : Config
        The configuration the model was trained with.
    classes_ : ndarray
        ``[False, True]``: the columns of :meth:`predict_proba` (converts or not).
    test_predictions_ : DataFrame or None
        The test slice's leads with their predictions and labels (None after :meth:`load`).
    loaded_from_ : ResolvedModel
        After :meth:`load` only: the model's name, version, source and how that version
        was chosen.

    Examples
    --------
    Train on a generated history, read a held-out figure, score the latest leads::

        history = mqlml.generate_history(5_000, seed=1)
        scorer = LeadScorer(capacity_per_week=40).fit(
            history.leads, history.activities, history.outcomes
        )
        scorer.summary_.metrics_test.model.roc_auc
        scorer.score(history.leads.tail(100), history.activities)
    """

    def __init__(
        self,
        *,
        config: Config | str | Path | None = None,
        target: str | None = None,
        horizon_days: int | None = None,
        observation_days: int | None = None,
        capacity_per_week: float | None = None,
        policy: str | None = None,
        random_state: int | None = None,
    ):
        self.config = config
        self.target = target
        self.horizon_days = horizon_days
        self.observation_days = observation_days
        self.capacity_per_week = capacity_per_week
        self.policy = policy
        self.random_state = random_state

    # --- training --------------------------------------------------------------------

    def build_config(self) -> Config:
        """The configuration :meth:`fit` trains with: ``config`` with the parameters set.

        Raises
        ------
        ConfigError
            When ``config`` is not a Config or a readable YAML file, or a parameter is
            out of range (the configuration's own message names it).
        """
        base = self.config
        if base is None or isinstance(base, str | Path):
            base = load_config(base)
        elif not isinstance(base, Config):
            raise ConfigError(
                "config must be a mqlml Config, a path to a YAML file or None, "
                f"got {type(base).__name__}"
            )
        raw = config_to_dict(base)
        changed = False
        for param, (section, key) in CONFIG_PARAMETERS.items():
            value = getattr(self, param)
            if value is not None:
                raw.setdefault(section, {})[key] = value
                changed = True
        return config_from_dict(raw, "LeadScorer parameters") if changed else base

    def fit(self, leads, activities=None, outcomes=None) -> LeadScorer:
        """Train on a CRM history (or, with a ``flat`` config, on one export).

        Parameters
        ----------
        leads : DataFrame or path
            The leads table, a file of it (CSV, Parquet, Excel), or a directory holding
            ``leads``, ``activities`` and ``outcomes`` files. With ``config.flat`` and no
            other table: the flat export, one row per lead with its outcome.
        activities, outcomes : DataFrame or path, optional
            The activities and outcomes tables.

        Returns
        -------
        LeadScorer
            ``self``, fitted.

        Raises
        ------
        DataValidationError
            Listing every problem of the tables (the same checks as ``mqlml train``).
        InsufficientDataError
            When too few leads converted to learn from.
        """
        from mqlml.workflow import fit_history, fit_labelled

        cfg = self.build_config()
        if cfg.flat is not None and activities is None and outcomes is None:
            from mqlml.data.flat import flat_export
            from mqlml.labels.flat import label_flat

            frame, source = _read(leads, "export")
            labelled = label_flat(flat_export(frame, cfg, source=source), cfg)
            model, artifacts = fit_labelled(labelled, cfg)
        else:
            model, artifacts = fit_history(_crm(leads, activities, outcomes, cfg), cfg)
        return self._set_fitted(model, artifacts.get("test_predictions"))

    def _set_fitted(self, model, test_predictions) -> LeadScorer:
        self.model_ = model
        self.summary_ = model.summary
        self.config_ = model.config
        self.classes_ = np.array([False, True])
        self.test_predictions_ = test_predictions
        return self

    # --- scoring ---------------------------------------------------------------------

    def _check_fitted(self, method: str):
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This LeadScorer is not fitted yet: call fit (or LeadScorer.load) before "
                f"{method}"
            )
        return self.model_

    def score(
        self, leads, activities=None, *, as_of=None, adjust_prior: bool | None = None
    ) -> pd.DataFrame:
        """Score leads: probability, score, grade, MQL flag, tier and reasons.

        Unlike scikit-learn's ``score`` (a quality figure), this returns the scored
        leads, as ``mqlml score`` writes them; the held-out quality is in
        :attr:`summary_`.

        Parameters
        ----------
        leads : DataFrame or path
            The leads to score (with a model trained in flat mode: export rows).
        activities : DataFrame or path, optional
            Their activities.
        as_of : time, optional
            The scoring moment of every lead; default the leads' ``as_of`` column, else
            now. Only what was known then is used.
        adjust_prior : bool, optional
            Move every probability to the conversion rate the batch implies from its own
            scores (:mod:`mqlml.scoring.prior`) and recompute scores, grades and
            ``is_mql``, as ``mqlml score --adjust-prior`` does; only when leads behave as
            before given their outcome. None: the configuration's
            ``scoring.prior_shift.adjust``.

        Returns
        -------
        DataFrame
            One row per lead in input order: ``lead_id``, ``probability``, ``score``,
            ``grade``, ``is_mql``, ``tier`` and the reason columns.

        Raises
        ------
        DataValidationError
            When a table cannot be read as the model's schema, or rows cannot be scored
            (each listed with its row, column and reason; no row is dropped silently).
        MqlmlError
            When ``adjust_prior`` is not True, False or None.
        """
        model = self._check_fitted("score")
        from mqlml.scoring.batch import score_checked

        if adjust_prior is not None and not isinstance(adjust_prior, bool):
            raise MqlmlError(f"adjust_prior must be True, False or None, got {adjust_prior!r}")
        batch = _checked(model, leads, activities, as_of)
        return score_checked(model, batch, adjust_prior=adjust_prior).scored

    def predict_proba(self, leads, activities=None, *, as_of=None) -> np.ndarray:
        """Calibrated probabilities, one row per lead: ``[P(not converting), P(converting)]``.

        Parameters are as in :meth:`score`; column 1 is its ``probability`` column.
        """
        self._check_fitted("predict_proba")
        p = self.score(leads, activities, as_of=as_of)[PROBABILITY].to_numpy(float)
        return np.column_stack([1 - p, p])

    def predict(self, leads, activities=None, *, as_of=None) -> np.ndarray:
        """Whether each lead is an MQL (``score >= summary_.mql_threshold.cutoff``).

        The cutoff is the learned MQL threshold, not a probability of 0.5. Parameters as
        in :meth:`score`.
        """
        self._check_fitted("predict")
        return self.score(leads, activities, as_of=as_of)[IS_MQL].to_numpy(bool)

    def explain(self, leads, activities=None, *, lead_id: str, as_of=None) -> pd.DataFrame:
        """The score of one lead broken down into every field's points.

        Parameters
        ----------
        leads, activities, as_of
            As in :meth:`score`.
        lead_id : str
            The lead to explain.

        Returns
        -------
        DataFrame
            ``field``, ``label``, ``group``, ``reason`` (a sentence) and ``points``,
            largest effect first; the base score plus all points is the unrounded score.

        Raises
        ------
        DataValidationError
            When ``lead_id`` is not among ``leads`` (or the tables are invalid).
        """
        model = self._check_fitted("explain")
        from mqlml.columns import AS_OF
        from mqlml.scoring.score import explain_leads

        batch = _checked(model, leads, activities, as_of)
        ids = batch.leads[LEAD_ID].astype("str")
        pos = np.flatnonzero((ids == str(lead_id)).to_numpy())
        if len(pos) == 0:
            shown = ids.head(5).tolist()
            raise DataValidationError(
                [f"lead_id: {lead_id!r} is not among the {len(ids):,} leads given "
                 f"(first: {shown})"]
            )
        one = batch.leads.iloc[pos[:1]].assign(**{AS_OF: batch.as_of.iloc[pos[:1]].to_numpy()})
        return explain_leads(model, one.reset_index(drop=True), batch.activities_of(lead_id))[1]

    # --- persistence -------------------------------------------------------------------

    def save(self, path: str | Path, *, name: str | None = None) -> Path:
        """Save the model as a bundle under ``path/<name>/<next version>/``.

        Parameters
        ----------
        path : path
            The models directory.
        name : str, optional
            The model's name; default the configuration's ``name``.

        Returns
        -------
        Path
            The bundle directory (what :meth:`load` and ``mqlml score --model`` read).
        """
        model = self._check_fitted("save")
        from mqlml.config import config_from_dict
        from mqlml.model.bundle import save_bundle

        if name is not None:  # the config's rule: no path separators, no "..", no hidden name
            config_from_dict({"name": name}, "LeadScorer.save(name=...)")
        return save_bundle(model, Path(path), name)

    @classmethod
    def load(cls, path: str | Path, *, tracking_uri: str | None = None) -> LeadScorer:
        """A fitted scorer from a model reference, resolved as ``mqlml score --model`` does.

        Parameters
        ----------
        path : str or path
            A bundle version folder, a model folder (the registry's champion when its
            MLflow store knows one, else the newest version), ``models:/<name>@<alias>``
            or ``models:/<name>/<version>`` (see
            :func:`mqlml.serving.tracking.resolve_model`).
        tracking_uri : str, optional
            The MLflow store to resolve the reference in.

        Returns
        -------
        LeadScorer
            Fitted; ``loaded_from_`` says which model version it is and why that one.

        Raises
        ------
        BundleError
            When the bundle is missing, corrupt, or written by incompatible versions.
        """
        from mqlml.serving.tracking import resolve_model

        resolved = resolve_model(path, tracking_uri=tracking_uri)
        scorer = cls.from_model(resolved.model)
        scorer.loaded_from_ = resolved
        return scorer

    @classmethod
    def from_model(cls, model) -> LeadScorer:
        """A fitted scorer around a :class:`mqlml.model.bundle.TrainedModel`."""
        return cls(config=model.config)._set_fitted(model, None)


def _read(table, name: str) -> tuple[pd.DataFrame | None, str]:
    """A table given as a DataFrame or a file, and the name messages use for it."""
    if table is None or isinstance(table, pd.DataFrame):
        return table, name
    if isinstance(table, str | Path):
        from mqlml.data import files

        path = Path(table)
        return files.read_table(path), str(path)
    raise DataValidationError(
        [f"{name}: expected a pandas DataFrame or a file path, got {type(table).__name__}"]
    )


def _crm(leads, activities, outcomes, cfg: Config):
    """Validated CRM tables, read from frames, files or a directory of them."""
    from mqlml.data.activity_files import is_out_of_core
    from mqlml.data.contract import activity_files, load_crm, validate_crm

    if isinstance(leads, str | Path) and Path(leads).is_dir():
        if activities is not None or outcomes is not None:
            raise MqlmlError(
                f"leads is the directory {leads}: its activities and outcomes files are "
                "read from it; pass activities and outcomes only with a leads table"
            )
        return load_crm(leads, cfg.data)
    frames, sources = {}, {}
    for name, table in (("leads", leads), ("activities", activities), ("outcomes", outcomes)):
        if name == "activities" and isinstance(table, str | Path) and is_out_of_core(table):
            # Parquet files, a folder or a glob: checked and summarised out of core.
            frames[name], sources[name] = activity_files(table, cfg.data), str(table)
            continue
        frames[name], sources[name] = _read(table, name)
    return validate_crm(
        frames["leads"], frames["activities"], frames["outcomes"], cfg.data, sources=sources
    )


def _checked(model, leads, activities, as_of):
    """The batch checked as ``mqlml score`` checks it; any rejected row is an error."""
    from mqlml.scoring.batch import check_batch

    if model.config.flat is not None:  # as `mqlml score` reads a flat model's batches
        from mqlml.data.flat import flat_batch

        frame, source = _read(leads, "export")
        frame = flat_batch(frame, model.config.flat, source=source)
    else:
        frame, source = _read(leads, "leads")
    if isinstance(activities, str | Path) and is_out_of_core(activities):
        from mqlml.data.contract import activity_files

        acts, acts_source = activity_files(activities, model.config.data), str(activities)
    else:
        acts, acts_source = _read(activities, "activities")
    batch = check_batch(frame, acts, model, as_of, source=source, activities_source=acts_source)
    if len(batch.rejects):
        rows = batch.rejects.head(_SHOWN_REJECTS).itertuples(index=False)
        problems = [f"{source}: row {r.row} (lead_id {r.lead_id}): {r.reason}" for r in rows]
        if len(batch.rejects) > _SHOWN_REJECTS:
            problems.append(f"... and {len(batch.rejects) - _SHOWN_REJECTS:,} more rows")
        raise DataValidationError(
            [f"{len(batch.rejects):,} of {batch.n_input:,} leads cannot be scored; "
             "fix or remove them:", *problems]
        )
    return batch
