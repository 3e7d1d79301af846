"""Keep the model honest in use: what it promised against what happened, and early drift.

:func:`monitor` reads the scored batches written since a model went live (each output
with its ``scored.report.json``), labels every scored lead from the CRM history as it
stands now with the training's own rule (:func:`mqlml.labels.labelling.make_labels`: the
target reached in ``(as_of, as_of + horizon]``), and compares:

- **promised vs realised** for the matured leads (their horizon has passed): per grade,
  tier and score band the mean probability (the promise) beside the realised rate and its
  Wilson interval; a calibration curve and the ECE; MQLs per week against the capacity the
  threshold was set for; the realised MQL rate against the policy's target;
- **early signal** for every scored lead, matured or not: per week of scoring moments the
  PSI (:mod:`mqlml.features.drift`) of each feature (rebuilt from the history at the lead's
  own scoring moment) and of the score against the training reference, the share of
  categories the model never saw, and the base rate each batch implies (its mean
  probability) against the training rate.

Each check is compared with the levels of the ``monitor:`` configuration section
(:class:`mqlml.config.MonitorConfig`); the worst alert sets the exit status
(:data:`EXIT_CODES`). The result is one JSON-safe dict, rendered by
:mod:`mqlml.report.monitor`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from mqlml import columns as C
from mqlml.config import MonitorConfig
from mqlml.data import files as io
from mqlml.data.contract import CrmData
from mqlml.data.validate import to_utc
from mqlml.errors import MqlmlError
from mqlml.features.activity import files_summary
from mqlml.features.build import build_features, unseen_category_counts
from mqlml.features.drift import psi
from mqlml.labels.labelling import ELIGIBLE, LABEL, STATUS, make_labels
from mqlml.model.bundle import TrainedModel
from mqlml.model.metrics import expected_calibration_error
from mqlml.scoring.batch import output_paths
from mqlml.scoring.prior import training_base_rate
from mqlml.scoring.scoring_report import REFERENCE_SCORE, _plain

__all__ = [
    "EXIT_CODES", "LEVELS", "ScoredHistory", "monitor", "read_scored", "scored_outputs",
    "wilson_interval",
]

#: Alert levels, mildest first.
LEVELS = ("ok", "warn", "critical")
#: Exit status of ``mqlml monitor`` per worst alert level (2 is the CLI's own error).
EXIT_CODES = {"ok": 0, "warn": 3, "critical": 4}
_BATCH = "batch"


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of a rate of ``k`` successes in ``n`` trials.

    Parameters
    ----------
    k, n : int
        Successes and trials.
    level : float
        Coverage, e.g. 0.95.

    Returns
    -------
    tuple of float
        ``(low, high)``; ``(None, None)`` when ``n`` is 0.
    """
    if n <= 0:
        return None, None
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ScoredHistory:
    """The scored leads of several batches, one row per lead (its first scoring).

    Attributes
    ----------
    leads : DataFrame
        ``lead_id, probability, score, grade, is_mql, tier, as_of, batch``.
    batches : list of dict
        Per batch: ``output``, ``as_of``, ``scored``, ``mqls``, ``mean_probability``,
        ``model`` (the record in its report).
    repeated : int
        Scorings of a lead already scored in an earlier batch (the first one is kept: it
        is the promise made when the lead was new).
    scorings : DataFrame, optional
        Every scoring of every batch (``leads`` before the repeats were dropped), so the
        batches of another model can be left out before the first scoring is chosen.
    """

    leads: pd.DataFrame
    batches: list[dict]
    repeated: int
    scorings: pd.DataFrame | None = None

    def for_model(self, record: dict) -> tuple[ScoredHistory, list[dict]]:
        """The batches the model ``record`` scored, and those another model scored.

        Parameters
        ----------
        record : dict
            The model in use, as ``scored.report.json`` records one (``name``,
            ``version``, ``source``).

        Returns
        -------
        tuple
            ``(history, other)``: the history of the matching batches (each lead at its
            first scoring among them) and, per batch left out, ``output`` and ``model``.
        """
        keep = [i for i, b in enumerate(self.batches) if _same_model(b.get("model"), record)]
        if len(keep) == len(self.batches) or self.scorings is None:
            return self, []
        other = [{"output": b["output"], "model": b.get("model")}
                 for i, b in enumerate(self.batches) if i not in keep]
        frame = self.scorings[self.scorings[_BATCH].isin(keep)]
        first = ~frame[C.LEAD_ID].duplicated()
        history = ScoredHistory(
            leads=frame[first].reset_index(drop=True),
            batches=[self.batches[i] for i in keep],
            repeated=int((~first).sum()),
            scorings=frame.reset_index(drop=True),
        )
        return history, other


def _source_kind(source: str) -> str:
    if source.startswith("models:/"):
        return "registry"
    return "uri" if "://" in source or source.startswith("runs:/") else "path"


def _same_model(batch: dict | None, ours: dict) -> bool:
    """Whether a batch's recorded model is the model in use; True when it cannot tell.

    The names must agree. Versions are compared when both are known and come from the
    same kind of source (a registry version and a bundle folder's name are numbered
    apart); otherwise two bundle folders are compared by path.
    """
    if not batch:
        return True
    if batch.get("name") and ours.get("name") and str(batch["name"]) != str(ours["name"]):
        return False
    bv, ov = batch.get("version"), ours.get("version")
    bs, os_ = batch.get("source"), ours.get("source")
    same_kind = bool(bs and os_) and _source_kind(str(bs)) == _source_kind(str(os_))
    if bv and ov and (same_kind or not (bs and os_)):
        return str(bv) == str(ov)
    if same_kind:
        if _source_kind(str(bs)) == "path":
            return Path(str(bs)).resolve() == Path(str(os_)).resolve()
        return str(bs) == str(os_)
    return True


def _lead_moments(report: dict, scored: pd.DataFrame, report_path: Path) -> pd.Series:
    """Each scored lead's scoring moment: the batch's one moment, else the leads file's
    ``as_of`` column (a batch scored at each lead's own moment)."""
    moment = report.get("as_of")
    if moment is None:
        return pd.Series(pd.NaT, index=scored.index, dtype="datetime64[us, UTC]")
    if ".." not in str(moment):
        at = to_utc(pd.Series([str(moment)], dtype="str")).iloc[0]
        return pd.Series(at, index=scored.index)
    source = Path(str(report.get("leads")))
    if not source.is_file() and (report_path.parent / source.name).is_file():
        # Recorded relative to where the batch was scored: also look beside the output.
        source = report_path.parent / source.name
    if not source.is_file():
        raise MqlmlError(
            f"{report_path}: the batch was scored at each lead's own moment ({moment}) and "
            f"its leads file {source} (to read the as_of column from) is not there"
        )
    leads = io.read_table(source)
    if C.AS_OF not in leads.columns or C.LEAD_ID not in leads.columns:
        raise MqlmlError(
            f"{source}: expected the columns {C.LEAD_ID} and {C.AS_OF} (the batch was scored "
            f"at each lead's own moment, {moment}), got {', '.join(map(str, leads.columns))}"
        )
    by_id = pd.Series(
        to_utc(leads[C.AS_OF].astype("str")).to_numpy(), index=leads[C.LEAD_ID].astype("str")
    )
    by_id = by_id[~by_id.index.duplicated()]
    return scored[C.LEAD_ID].astype("str").map(by_id)


def scored_outputs(paths: Sequence[str | Path]) -> list[Path]:
    """The scored output files ``paths`` name: a file as given; a folder, every output in it
    with a ``.report.json`` beside it (sorted by name).

    Raises
    ------
    MqlmlError
        When a path does not exist or a folder holds no scored output.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise MqlmlError(f"{path}: no such scored output or folder")
        inside = [
            p for report in sorted(path.glob("*.report.json"))
            for p in (report.with_name(report.name.removesuffix(".report.json") + suffix)
                      for suffix in (".csv", ".parquet"))
            if p.is_file()
        ]
        if not inside:
            raise MqlmlError(
                f"{path}: expected scored outputs of mqlml score (each with its .report.json), "
                "found none"
            )
        found += inside
    return found


def read_scored(outputs: Sequence[str | Path]) -> ScoredHistory:
    """Read scored batches (each output file with the ``.report.json`` beside it).

    Parameters
    ----------
    outputs : sequence of path
        Output files of ``mqlml score``, in any order.

    Returns
    -------
    ScoredHistory

    Raises
    ------
    MqlmlError
        When an output or its report is missing or lacks the score columns.
    """
    if not outputs:
        raise MqlmlError("no scored batch given: pass the output files of mqlml score")
    frames, batches = [], []
    for i, out in enumerate(outputs):
        out = Path(out)
        report_path = output_paths(out)[1]
        if not out.is_file():
            raise MqlmlError(f"{out}: scored batch not found")
        if not report_path.is_file():
            raise MqlmlError(f"{out}: expected its scoring report {report_path} beside it")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        scored = io.read_table(out)
        need = [C.LEAD_ID, C.PROBABILITY, C.SCORE, C.GRADE, C.IS_MQL, C.TIER]
        missing = [c for c in need if c not in scored.columns]
        if missing:
            raise MqlmlError(
                f"{out}: expected the score columns {', '.join(need)}; missing "
                f"{', '.join(missing)}"
            )
        part = scored[need].copy()
        # A spreadsheet-safe CSV wrote an id such as -123 as '-123: read it back as it was.
        ids = part[C.LEAD_ID].astype("str")
        part[C.LEAD_ID] = io.restore_formulas(ids) if out.suffix.lower() == ".csv" else ids
        for c in (C.PROBABILITY, C.SCORE):
            values = pd.to_numeric(part[c], errors="coerce")
            bad = values.isna()
            if bad.any():
                raise MqlmlError(
                    f"{out}: column {c} expected numbers, got {part.loc[bad, c].iloc[0]!r} "
                    f"in row {int(np.flatnonzero(bad.to_numpy())[0]) + 2}"
                )
            part[c] = values.astype(float)
        part[C.GRADE] = part[C.GRADE].astype("str")
        part[C.TIER] = part[C.TIER].astype("str")
        part[C.IS_MQL] = part[C.IS_MQL].astype(str).str.lower().isin(["true", "1"])
        part[C.AS_OF] = _lead_moments(report, part, report_path)
        part[_BATCH] = i
        frames.append(part)
        batches.append({
            "output": str(out),
            "as_of": report.get("as_of"),
            "scored": int(len(part)),
            "mqls": int(part[C.IS_MQL].sum()),
            "mean_probability": _r(part[C.PROBABILITY].mean()),
            "model": report.get("model"),
        })
    leads = pd.concat(frames, ignore_index=True)
    leads = leads.sort_values([C.AS_OF, _BATCH], kind="stable")
    first = ~leads[C.LEAD_ID].duplicated()
    return ScoredHistory(
        leads=leads[first].reset_index(drop=True), batches=batches,
        repeated=int((~first).sum()), scorings=leads.reset_index(drop=True),
    )


def _r(x, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (None for NaN)."""
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def _level(value: float | None, warn: float, critical: float) -> str:
    if value is None or not np.isfinite(value):
        return "ok"
    return "critical" if value >= critical else "warn" if value >= warn else "ok"


def _rate_rows(df: pd.DataFrame, by: pd.Series, cfg: MonitorConfig) -> list[dict]:
    """Per group: matured leads, promised (mean probability) and realised rate, interval.

    The intervals are family-wise (Bonferroni): with four grades at 95% each, a model
    that keeps every promise would still miss one in about a fifth of the runs; at
    ``1 - 0.05 / 4`` each, the chance that any of them misses stays at most 5%.
    """
    groups = list(df.groupby(by, sort=True, observed=True))
    level = 1 - (1 - cfg.interval_level) / max(len(groups), 1)
    rows = []
    for key, part in groups:
        n, k = len(part), int(part[LABEL].sum())
        lo, hi = wilson_interval(k, n, level)
        promised, realised = float(part[C.PROBABILITY].mean()), k / n
        outside = not (lo <= promised <= hi)
        gap = abs(realised - promised) / promised if promised > 0 else None
        rows.append({
            "group": str(key), "matured": n, "converted": k, "promised": _r(promised),
            "realised": _r(realised), "low": _r(lo), "high": _r(hi),
            "promised_outside_interval": bool(outside),
            "relative_gap": _r(gap),
        })
    return rows


def _band(scores: pd.Series, bands: int) -> pd.Series:
    edges = np.linspace(1, 100, bands + 1).round().astype(int)
    code = np.searchsorted(edges, scores.to_numpy(), side="right") - 1
    code = code.clip(0, bands - 1)
    names = [f"{edges[i]:02d}-{edges[i + 1] - 1:02d}" for i in range(bands)]
    return pd.Series(np.asarray(names, dtype=object)[code], index=scores.index, dtype="str")


def _calibration(matured: pd.DataFrame, bins: int = 10) -> tuple[list[dict], float | None]:
    """Equal-width calibration curve (for the figure) and ECE of the matured leads.

    The ECE is training's own (:func:`mqlml.model.metrics.expected_calibration_error`,
    its bins), so the figure in use reads against the one in the training report.
    """
    if len(matured) == 0:
        return [], None
    p, y = matured[C.PROBABILITY].to_numpy(float), matured[LABEL].to_numpy(float)
    code = np.minimum((p * bins).astype(int), bins - 1)
    curve = []
    for b in range(bins):
        m = code == b
        if not m.any():
            continue
        mp, my = float(p[m].mean()), float(y[m].mean())
        curve.append({"bin": b, "n": int(m.sum()), "mean_probability": _r(mp),
                      "realised": _r(my)})
    return curve, _r(expected_calibration_error(y, p))


def _describe(record: dict | None) -> str:
    record = record or {}
    version = f" version {record['version']}" if record.get("version") else ""
    source = f" ({record['source']})" if record.get("source") else ""
    return f"model {record.get('name', '?')}{version}{source}"


def _week(moments: pd.Series) -> pd.Series:
    """The Monday (UTC date) of each moment's week, as text."""
    days = moments.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    return (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")


def _features_out_of_core(
    crm: CrmData, leads: pd.DataFrame, moments: pd.Series, spec
) -> pd.DataFrame:
    """Features of ``leads`` at ``moments`` from activities read out of core: their summary
    at those moments, one scoring of a lead at a time (a summary holds a lead once)."""
    nth = leads.groupby(C.LEAD_ID, sort=False).cumcount().to_numpy()
    parts = []
    for k in np.unique(nth):
        rows = np.flatnonzero(nth == k)
        sub, at = leads.iloc[rows].reset_index(drop=True), moments.iloc[rows].reset_index(drop=True)
        summary = files_summary(crm.activity_files, sub[C.LEAD_ID], at, spec.windows_days)
        parts.append(build_features(sub, summary, at, spec).set_axis(rows))
    return pd.concat(parts).sort_index()


def _weekly_drift(
    model: TrainedModel, scored: pd.DataFrame, crm: CrmData, cfg: MonitorConfig
) -> list[dict]:
    """Per week of scoring moments: PSI per feature and of the score, unseen categories."""
    ref = model.reference
    spec = model.spec
    leads = crm.leads.set_index(C.LEAD_ID, drop=False)
    known = scored[scored[C.LEAD_ID].isin(leads.index) & scored[C.AS_OF].notna()]
    weeks = []
    for week, part in known.groupby(_week(known[C.AS_OF]), sort=True):
        row: dict = {"week": week, "scored": int(len(part)),
                     "mean_probability": _r(part[C.PROBABILITY].mean())}
        if len(part) < cfg.min_rows:
            row["reason"] = (
                f"{len(part)} scored leads, fewer than monitor.min_rows ({cfg.min_rows})"
            )
            weeks.append(row)
            continue
        batch_leads = leads.loc[part[C.LEAD_ID]].reset_index(drop=True)
        moments = part[C.AS_OF].reset_index(drop=True)
        if crm.activity_files is not None:
            features = _features_out_of_core(crm, batch_leads, moments, spec)
        else:
            acts = crm.activities[crm.activities[C.LEAD_ID].isin(part[C.LEAD_ID])]
            features = build_features(batch_leads, acts, moments, spec)
        unseen = unseen_category_counts(batch_leads, spec)
        row["unseen"] = {c: _r(k / len(part)) for c, k in sorted(unseen.items())}
        if ref is None:
            row["reason"] = "the model bundle has no training reference (retrain to get PSI)"
            weeks.append(row)
            continue
        cols = [c for c in spec.columns if c in ref.columns]
        plain_ref, plain_new = _plain(ref[cols]), _plain(features[cols])
        row["psi"] = {c: _r(psi(plain_ref[c], plain_new[c])) for c in cols}
        row["score_psi"] = _r(psi(ref[REFERENCE_SCORE].astype(float),
                                  part[C.SCORE].astype(float)))
        weeks.append(row)
    return weeks


def _alert(alerts: list, level: str, check: str, subject: str, value, threshold, message: str):
    if level != "ok":
        alerts.append({"level": level, "check": check, "subject": subject, "value": value,
                       "threshold": threshold, "message": message})


def _alerts(result: dict, cfg: MonitorConfig) -> list[dict]:
    """Every check against its levels, worst first."""
    alerts: list[dict] = []
    for week in result["early"]["weeks"]:
        for col, value in week.get("psi", {}).items():
            lvl = _level(value, cfg.psi_warn, cfg.psi_critical)
            threshold = cfg.psi_critical if lvl == "critical" else cfg.psi_warn
            _alert(alerts, lvl, "psi", col, value, threshold,
                   f"week of {week['week']}: {col} moved, PSI {value:.2f} against training")
        value = week.get("score_psi")
        lvl = _level(value, cfg.psi_warn, cfg.psi_critical)
        _alert(alerts, lvl, "psi", "score", value,
               cfg.psi_critical if lvl == "critical" else cfg.psi_warn,
               f"week of {week['week']}: the score distribution moved, PSI {value or 0:.2f}")
        for col, share in week.get("unseen", {}).items():
            lvl = _level(share, cfg.unseen_warn, cfg.unseen_critical)
            _alert(alerts, lvl, "unseen", col, share,
                   cfg.unseen_critical if lvl == "critical" else cfg.unseen_warn,
                   f"week of {week['week']}: {share:.0%} of leads have a {col} the model "
                   "never saw")
    train = result["early"]["training_rate"]
    for batch in result["early"]["batches"]:
        mean = batch["mean_probability"]
        if not train or not mean:
            continue
        ratio = max(mean / train, train / mean)
        lvl = _level(ratio, cfg.base_rate_warn, cfg.base_rate_critical)
        _alert(alerts, lvl, "base_rate", batch["output"], _r(ratio, 3),
               cfg.base_rate_critical if lvl == "critical" else cfg.base_rate_warn,
               f"{batch['output']}: implies a base rate of {mean:.1%} against {train:.1%} "
               "in training")
    # Grades only: tiers are unions of grades and the bands split them further, so
    # alerting on all three would count one miss several times (they are reported).
    for by, rows in result["promised_vs_realised"].items():
        if by != "grade":
            continue
        for row in rows:
            if row["matured"] < cfg.min_matured or not row["promised_outside_interval"]:
                continue
            lvl = _level(row["relative_gap"], cfg.rate_gap_warn, cfg.rate_gap_critical)
            _alert(alerts, lvl, "realised_rate", f"{by} {row['group']}", row["realised"],
                   row["promised"],
                   f"{by} {row['group']}: {row['realised']:.1%} converted (interval "
                   f"{row['low']:.1%}-{row['high']:.1%}) where {row['promised']:.1%} was "
                   f"promised, {row['matured']} matured leads")
    cal = result["calibration"]
    if cal["matured"] >= cfg.min_matured:
        lvl = _level(cal["ece"], cfg.ece_warn, cfg.ece_critical)
        _alert(alerts, lvl, "calibration", "ece", cal["ece"],
               cfg.ece_critical if lvl == "critical" else cfg.ece_warn,
               f"expected calibration error {cal['ece']:.3f} on {cal['matured']} matured leads")
    mql = result["mql"]
    capacity = mql["capacity_per_week"]
    for week in mql["per_week"]:
        if not capacity or not week["complete"]:
            continue
        ratio = max(week["mqls"] / capacity, capacity / max(week["mqls"], 1))
        lvl = _level(ratio, cfg.mql_volume_warn, cfg.mql_volume_critical)
        _alert(alerts, lvl, "mql_volume", week["week"], week["mqls"], capacity,
               f"week of {week['week']}: {week['mqls']} MQLs against a capacity of "
               f"{capacity:g} a week")
    rate = mql["realised"]
    if rate["matured"] >= cfg.min_matured and rate["promised"] and rate["low"] is not None:
        promised = rate["promised"]
        if not rate["low"] <= promised <= rate["high"]:
            gap = abs(rate["rate"] - promised) / promised
            lvl = _level(gap, cfg.rate_gap_warn, cfg.rate_gap_critical)
            _alert(alerts, lvl, "mql_rate", "MQLs", rate["rate"], promised,
                   f"MQLs converted at {rate['rate']:.1%} against {promised:.1%} "
                   f"({mql['promised_source']})")
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    return sorted(alerts, key=lambda a: -order[a["level"]])


def monitor(
    model: TrainedModel,
    scored: ScoredHistory,
    crm: CrmData,
    snapshot_at: pd.Timestamp,
    config: MonitorConfig | None = None,
    *,
    model_record: dict | None = None,
) -> dict:
    """Promised vs realised, early drift and alerts for a model in use.

    Parameters
    ----------
    model : TrainedModel
        The model that scored the batches.
    scored : ScoredHistory
        From :func:`read_scored`.
    crm : CrmData
        The CRM history as it stands now (:func:`mqlml.data.contract.load_crm`).
    snapshot_at : Timestamp
        The end of that history: a lead has matured when ``as_of + horizon <= snapshot_at``.
    config : MonitorConfig, optional
        Alert levels; default :class:`mqlml.config.MonitorConfig`.
    model_record : dict, optional
        Which model this is (``ResolvedModel.to_dict()``); only the batches it scored are
        judged. Default: the model's name only.

    Raises
    ------
    MqlmlError
        When no batch was scored by this model.

    Returns
    -------
    dict
        JSON-safe; the keys are documented in ``docs/monitoring.md``: ``model``,
        ``snapshot_at``, ``target``, ``horizon_days``, ``rows``, ``other_model_batches``
        (batches whose report names another model: left out), ``promised_vs_realised``,
        ``calibration``, ``mql``, ``early``, ``alerts``, ``status``, ``exit_code``.
    """
    cfg = config or MonitorConfig()
    s = model.summary
    record = model_record or {"name": model.config.name}
    # A folder of outputs may hold an old champion's batches: its promises are not ours.
    scored, other = scored.for_model(record)
    if not scored.batches:
        raise MqlmlError(
            f"none of the {len(other)} scored batches was scored by the model in use "
            f"({_describe(record)}); they name {_describe(other[0]['model'])}"
            + (" and others" if len({str(o['model']) for o in other}) > 1 else "")
        )
    leads = scored.leads
    in_history = leads[C.LEAD_ID].isin(crm.leads[C.LEAD_ID])
    known = leads[in_history & leads[C.AS_OF].notna()].reset_index(drop=True)
    crm_leads = crm.leads.set_index(C.LEAD_ID, drop=False).loc[known[C.LEAD_ID]]
    labels = make_labels(
        crm_leads.reset_index(drop=True), crm.outcomes, known[C.AS_OF], s.target,
        int(s.horizon_days), snapshot_at,
    ).frame
    known[LABEL], known[STATUS] = labels[LABEL].to_numpy(), labels[STATUS].to_numpy()
    matured = known[known[STATUS] == ELIGIBLE]
    status_counts = known[STATUS].value_counts()

    promised = {
        "grade": _rate_rows(matured, matured[C.GRADE].astype("str"), cfg),
        "tier": _rate_rows(matured, matured[C.TIER].astype("str"), cfg),
        "score_band": _rate_rows(matured, _band(matured[C.SCORE], cfg.score_bands), cfg),
    }
    curve, ece = _calibration(matured)

    weeks = _week(known[C.AS_OF]) if len(known) else pd.Series([], dtype="str")
    per_week = []
    first, last = (known[C.AS_OF].min(), known[C.AS_OF].max()) if len(known) else (None, None)
    for week, part in known.groupby(weeks, sort=True):
        start = pd.Timestamp(week, tz="UTC")
        end = start + pd.Timedelta(days=7)
        # A week the batches only partly cover would read as a drop in volume.
        complete = first is not None and first.normalize() <= start and end <= last
        per_week.append({"week": week, "scored": int(len(part)),
                         "mqls": int(part[C.IS_MQL].sum()), "complete": bool(complete)})
    mql_matured = matured[matured[C.IS_MQL]]
    k, n = int(mql_matured[LABEL].sum()), len(mql_matured)
    lo, hi = wilson_interval(k, n, cfg.interval_level)
    mt = s.mql_threshold
    if mt.policy == "precision" and mt.target is not None:
        target, source = mt.target, "the precision policy's target"
    else:
        target, source = mt.test.mql_conversion_rate, "the rate measured on the test slice"
    mql = {
        "policy": mt.policy, "cutoff": mt.cutoff, "capacity_per_week": mt.capacity_per_week,
        "expected_per_week": _r(mt.calibration.expected_mqls_per_week, 2),
        "per_week": per_week,
        "realised": {"matured": n, "converted": k, "rate": _r(k / n) if n else None,
                     "low": _r(lo), "high": _r(hi), "promised": _r(target)},
        "promised_source": source,
    }
    result = {
        "model": record,
        "snapshot_at": snapshot_at.isoformat(),
        "target": s.target,
        "horizon_days": int(s.horizon_days),
        "rows": {
            "batches": len(scored.batches),
            "scored": int(len(leads)),
            "repeated_scorings": scored.repeated,
            "not_in_history": int((~in_history).sum()),
            "no_scoring_moment": int((in_history & leads[C.AS_OF].isna()).sum()),
            "matured": int(len(matured)),
            "immature": int(status_counts.get("immature", 0)),
            "converted_before_as_of": int(status_counts.get("converted_before_as_of", 0)),
        },
        "other_model_batches": other,
        "promised_vs_realised": promised,
        "calibration": {"matured": int(len(matured)), "ece": ece, "curve": curve},
        "mql": mql,
        "early": {
            "training_rate": _r(training_base_rate(model)),
            "batches": scored.batches,
            "weeks": _weekly_drift(model, known, crm, cfg),
        },
    }
    result["alerts"] = _alerts(result, cfg)
    worst = result["alerts"][0]["level"] if result["alerts"] else "ok"
    result["status"] = worst
    result["exit_code"] = EXIT_CODES[worst]
    return result
