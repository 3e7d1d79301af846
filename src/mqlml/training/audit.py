"""Training-time audits of the lead attributes: leakage (excluded) and drift (reported).

**Leakage.** Exports are full of fields filled in *after* the outcome: dispositions, lead
quality ratings, lifecycle dates. They make a model look brilliant and useless. A column
is flagged when, on the train slice,

* on its own it ranks the outcome almost perfectly: its single-column ROC AUC reaches
  ``audit.max_single_column_auc``. The column's values (numbers in quantile bins,
  missing as a value of its own) are turned into conversion rates on the earlier half of
  the train slice and scored on the later half, so a column does not look predictive
  merely because a value is rare;
* it is filled mostly for positives: among the rows where it has a value, at least 80%
  converted (and at least twice the overall rate), for at least
  ``audit.min_positive_fill`` of the positives;
* it is a date/time that falls at or after the outcome for most converted leads;
* its fill rate differs strongly between converted leads and the others (filled for 70%
  of converted leads and 15% of the rest, or the mirror image: a lost reason), by the
  ratio ``audit.fill_ratio_exclude`` (excluded) or ``audit.fill_ratio_review`` (review);
* it is filled far less often for the newest leads than for the older ones
  (:func:`recent_fill_findings`): sales have not worked the newest leads yet, and a vendor
  score filled for old leads only is empty when a new lead is scored. This looks at every
  labelled lead's fill in time order, never at a label;
* its name suggests a sales verdict or a value as of the export (``audit.review_name_words``:
  status, stage, rating, tags, ...).

Strong evidence excludes the column; weaker evidence (a name, a moderate difference) lists
it for review at the top of the report and in the training output, and two weaker signs
together exclude it. ``audit.allow_columns`` keeps a column on purpose; either way the
report lists every flagged column with the evidence. No evidence shows a value of a column.

**Drift.** A column whose values in the latest period (the test slice) leave the range
seen earlier, or whose distribution moves (PSI above ``audit.psi_threshold`` between
the first period, the train slice, and the last), is reported with the evidence and kept.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.metrics import roc_auc_score

from mqlml.columns import AS_OF, CREATED_AT, LEAD_ID
from mqlml.config import DEFAULT_PERSONAL_COLUMNS, AuditConfig
from mqlml.errors import ConfigError
from mqlml.features.build import without_personal
from mqlml.features.drift import psi

#: Columns that are never audited (identifiers and times mqlml itself uses).
_NOT_AUDITED = (LEAD_ID, CREATED_AT, AS_OF)
#: Filled rows that must be positives for "filled mostly for positives".
FILLED_PRECISION = 0.8
#: Share of converted leads whose date must be at or after the outcome to flag a date.
AFTER_OUTCOME_SHARE = 0.5
#: Share of latest-period rows outside the earlier range that counts as leaving it.
OUT_OF_RANGE_SHARE = 0.01
#: Fill rates of converted leads and the others must also differ by this much (10 points)
#: to count, so a field filled for 2% of one and 0.5% of the other is not flagged.
MIN_FILL_GAP = 0.1
#: A column filled for fewer of the older leads than this is not judged by its fall.
MIN_OLDER_FILL = 0.1
#: The two strengths of evidence: ``exclude`` leaves a column out, ``review`` lists it.
EXCLUDE, REVIEW = "exclude", "review"
#: The ``action`` of a flagged column: left out, kept for review, kept on purpose.
EXCLUDED, FOR_REVIEW, ALLOWED = "excluded", "review", "allowed"
#: Words of a column name that hold raw personal data: the audits never quote its values.
PERSONAL_NAME_WORDS = ("email", "mail", "name", "phone", "mobile", "address", "title")
#: A text column with more distinct values than this share of its latest rows is an
#: identifier or free text (emails, names): not a feature, so its drift is not reported.
IDENTIFIER_SHARE = 0.5
_N_BINS = 20
_SMOOTHING = 20.0
_MIN_ROWS = 10


class LeakageWarning(UserWarning):
    """Columns were excluded because they look like they leak the outcome."""


@dataclass(frozen=True)
class AuditResult:
    """What the audits found.

    Attributes
    ----------
    leakage : list of dict
        Rows ``column``, ``reason``, ``evidence``, ``action`` (``excluded``, ``review``:
        kept but to be checked, or ``allowed``: kept by ``audit.allow_columns``).
    drift : list of dict
        Rows ``column``, ``psi``, ``out_of_range``, ``evidence``.
    excluded : dict
        Column -> why it is not a feature (for :attr:`FeatureSpec.excluded`).
    """

    leakage: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def review(self) -> list[dict]:
        """The flagged columns kept for the user to check (weaker evidence)."""
        return [r for r in self.leakage if r["action"] == FOR_REVIEW]

    def message(self) -> str:
        """One paragraph naming each excluded or allowed column and its evidence (the
        columns to review are listed by the training output on their own)."""
        rows = [r for r in self.leakage if r["action"] != FOR_REVIEW]
        if not rows:
            return ""
        parts = [f"{r['column']!r} {r['action']}: {r['reason']} ({r['evidence']})" for r in rows]
        return "leakage audit: " + "; ".join(parts)


def _levels(s: pd.Series, ref: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Discrete codes for ``ref`` and ``s``: quantile bins (from ``ref``) or categories."""
    if ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s):
        r = ref.to_numpy(dtype=float)
        finite = r[np.isfinite(r)]
        edges = (
            np.unique(np.quantile(finite, np.linspace(0, 1, _N_BINS + 1)[1:-1]))
            if len(finite)
            else np.empty(0)
        )

        def code(x: pd.Series) -> np.ndarray:
            v = x.to_numpy(dtype=float)
            return np.where(np.isnan(v), -1, np.searchsorted(edges, v, side="right"))

        return code(ref), code(s)
    text_ref = ref.astype("str").where(ref.notna(), "\0missing")
    text = s.astype("str").where(s.notna(), "\0missing")
    cats = pd.Index(text_ref.unique())
    return cats.get_indexer(text_ref), cats.get_indexer(text)


def single_column_auc(s: pd.Series, y: np.ndarray) -> float:
    """ROC AUC of one column on its own (0.5 = useless, 1 = perfect), out of sample.

    Conversion rates per value (numbers in up to 20 quantile bins; missing is a value)
    are learned on the first half of the rows and scored on the second half, so pass
    rows in time order. Direction does not matter: ``max(auc, 1 - auc)``.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    half = n // 2
    a, b = slice(0, half), slice(half, None)
    if half < _MIN_ROWS or len(np.unique(y[b])) < 2 or len(np.unique(y[a])) < 2:
        return float("nan")
    s = s.reset_index(drop=True)
    code_a, code_b = _levels(s.iloc[b], s.iloc[a])
    prior = y[a].mean()
    keys, inv = np.unique(code_a, return_inverse=True)
    sums = np.bincount(inv, weights=y[a])
    counts = np.bincount(inv)
    rate = dict(zip(keys, (sums + _SMOOTHING * prior) / (counts + _SMOOTHING), strict=True))
    p = np.array([rate.get(k, prior) for k in code_b])
    if np.ptp(p) == 0:
        return 0.5
    auc = float(roc_auc_score(y[b], p))
    return max(auc, 1 - auc)


def _fill_evidence(s: pd.Series, y: np.ndarray) -> tuple[float, float, int]:
    filled = s.notna().to_numpy()
    k = int(filled.sum())
    if k == 0 or y.sum() == 0:
        return 0.0, 0.0, k
    precision = float(y[filled].mean())
    pos_fill = float(filled[y == 1].mean())
    return precision, pos_fill, k


#: One piece of evidence against a column: ``(reason, evidence, strength)``.
Finding = tuple[str, str, str]


def leakage_audit(
    leads: pd.DataFrame,
    y: np.ndarray,
    config: AuditConfig,
    outcome_at: pd.Series | None = None,
    findings: Mapping[str, list[Finding]] | None = None,
) -> list[dict]:
    """Columns of the train slice that look like they leak the outcome.

    Parameters
    ----------
    leads : DataFrame
        The train slice's leads, in time order.
    y : ndarray
        Their 0/1 labels.
    config : AuditConfig
        Thresholds and ``allow_columns``.
    outcome_at : Series, optional
        When each lead reached the target (NaT when not), aligned with ``leads``; needed
        for the "date after the outcome" check.
    findings : mapping, optional
        Column -> evidence found outside the train slice (:func:`recent_fill_findings`),
        weighed with this slice's own.

    Returns
    -------
    list of dict
        One row per flagged column: ``column``, ``reason``, ``evidence``, ``action``
        (``excluded`` on strong evidence or two weaker signs, else ``review``;
        ``allowed`` when named in ``audit.allow_columns``).
    """
    y = np.asarray(y, dtype=float)
    base = float(y.mean()) if len(y) else 0.0
    findings = findings or {}
    rows = []
    for c in leads.columns:
        if c in _NOT_AUDITED:
            continue
        reasons = _leak_reasons(leads[c].reset_index(drop=True), y, base, config, outcome_at)
        if not ptypes.is_datetime64_any_dtype(leads[c]):  # dates are never features
            reasons += name_findings(str(c), config)
        reasons += list(findings.get(str(c), []))
        if reasons:
            strong = any(level == EXCLUDE for _, _, level in reasons) or len(reasons) >= 2
            action = EXCLUDED if strong else FOR_REVIEW
            rows.append(
                {
                    "column": str(c),
                    "reason": "; ".join(r for r, _, _ in reasons),
                    "evidence": "; ".join(e for _, e, _ in reasons),
                    "action": ALLOWED if c in config.allow_columns else action,
                }
            )
    return rows


def _name_tokens(name: str) -> list[str]:
    """Lower-case words of a column name: ``LeadScore``, ``lead_score``, ``Lead Score``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t]


def _phrase_in(words: list[str], tokens: list[str]) -> bool:
    """The phrase's words occur in the name in order (a word may take a plural s)."""
    at = 0
    for w in words:
        while at < len(tokens) and tokens[at] not in (w, w + "s"):
            at += 1
        if at == len(tokens):
            return False
        at += 1
    return True


def name_findings(column: str, config: AuditConfig) -> list[Finding]:
    """Review-strength evidence when the column's name suggests a sales verdict.

    A phrase of ``audit.review_name_words`` matches when its words occur in the name in
    order, as whole words (``Lead Status``, ``leadScore``, ``Tags``; not ``storage``).
    """
    tokens = _name_tokens(column)
    hits = [p for p in config.review_name_words if _phrase_in(_name_tokens(p), tokens)]
    if not hits:
        return []
    return [
        (
            "its name suggests a sales verdict or a value as of the export",
            f"the name contains {hits[0]!r} (audit.review_name_words)",
            REVIEW,
        )
    ]


def columns_to_review(leakage: list[dict], excluded_columns: dict) -> list[dict]:
    """The audit rows kept for review whose column the model reads.

    A column kept for review but left out for another reason (identifier-like, every
    value rare, ...) is not read by the model, so there is nothing to review.
    """
    return [
        r for r in leakage or []
        if r.get("action") == FOR_REVIEW and r.get("column") not in (excluded_columns or {})
    ]


def recent_fill_findings(leads: pd.DataFrame, config: AuditConfig) -> dict[str, list[Finding]]:
    """Columns filled far less often for the newest leads than for the older ones.

    Fields sales fill in after contact are empty for the leads nobody has worked yet, and
    a vendor's score filled for old leads only is empty for every lead scored from now
    on. The newest ``audit.recent_share`` of the leads is compared with the rest; only
    fill (not the values, not the labels) is read, so looking at the newest leads cannot
    make a reported figure optimistic.

    Parameters
    ----------
    leads : DataFrame
        Every labelled lead (ordered here by ``created_at``).
    config : AuditConfig

    Returns
    -------
    dict
        Column -> one finding: ``exclude`` when the newest leads' fill rate is at most
        ``audit.recent_fill_exclude`` times the older leads', ``review`` at most
        ``audit.recent_fill_review`` times.
    """
    n = len(leads)
    k = int(round(n * config.recent_share))
    if not config.enabled or k < _MIN_ROWS or n - k < _MIN_ROWS:
        return {}
    if CREATED_AT in leads:
        leads = leads.iloc[np.argsort(leads[CREATED_AT].to_numpy(), kind="stable")]
    start = leads[CREATED_AT].iloc[n - k] if CREATED_AT in leads else None
    since = f", created from {start:%Y-%m-%d}" if start is not None and pd.notna(start) else ""
    out = {}
    for c in leads.columns:
        if c in _NOT_AUDITED:
            continue
        filled = leads[c].notna().to_numpy()
        older, newest = float(filled[: n - k].mean()), float(filled[n - k :].mean())
        if older < MIN_OLDER_FILL or older - newest < MIN_FILL_GAP:
            continue
        ratio = newest / older
        if ratio > config.recent_fill_review:
            continue
        level = EXCLUDE if ratio <= config.recent_fill_exclude else REVIEW
        out[str(c)] = [
            (
                "filled far less often for the newest leads",
                f"filled for {older:.0%} of the older leads but {newest:.0%} of the newest "
                f"{config.recent_share:.0%}{since} (limit: {config.recent_fill_exclude:g} "
                f"times to exclude, {config.recent_fill_review:g} to review)",
                level,
            )
        ]
    return out


def _fill_by_outcome(s: pd.Series, y: np.ndarray, config: AuditConfig) -> list[Finding]:
    """Evidence when the column is filled far more often for one outcome than the other."""
    filled = s.notna().to_numpy()
    pos, neg = y == 1, y == 0
    if pos.sum() < _MIN_ROWS or neg.sum() < _MIN_ROWS:
        return []
    fp, fn = float(filled[pos].mean()), float(filled[neg].mean())
    hi, lo = max(fp, fn), min(fp, fn)
    if hi - lo < MIN_FILL_GAP:
        return []
    ratio = hi / lo if lo > 0 else float("inf")
    if ratio < config.fill_ratio_review:
        return []
    level = EXCLUDE if ratio >= config.fill_ratio_exclude else REVIEW
    times = f"{ratio:.1f} times" if np.isfinite(ratio) else "only one of them"
    return [
        (
            "filled far more often for one outcome",
            f"filled for {fp:.0%} of converted leads and {fn:.0%} of the others ({times}; "
            f"limit {config.fill_ratio_exclude:g} to exclude, {config.fill_ratio_review:g} "
            "to review) on the train slice",
            level,
        )
    ]


def _leak_reasons(
    s: pd.Series, y: np.ndarray, base: float, config: AuditConfig, outcome_at
) -> list[Finding]:
    """Why one column looks like it leaks the outcome: ``(reason, evidence, strength)``."""
    reasons: list[Finding] = []
    if ptypes.is_datetime64_any_dtype(s):
        if outcome_at is not None:
            out = pd.to_datetime(outcome_at.reset_index(drop=True), utc=True)
            both = (y == 1) & s.notna().to_numpy() & out.notna().to_numpy()
            if both.sum() >= 5:
                after = float((s[both] >= out[both]).mean())
                if after >= AFTER_OUTCOME_SHARE:
                    reasons.append(
                        (
                            "a date at or after the outcome",
                            f"at or after the outcome for {after:.0%} of "
                            f"{int(both.sum())} converted leads",
                            EXCLUDE,
                        )
                    )
    elif s.notna().sum() >= _MIN_ROWS and s.nunique(dropna=True) >= 1:
        auc = single_column_auc(s, y)
        if auc == auc and auc >= config.max_single_column_auc:
            reasons.append(
                (
                    "predicts the outcome almost perfectly on its own",
                    f"single-column ROC AUC {auc:.3f} on the train slice "
                    f"(limit {config.max_single_column_auc:g})",
                    EXCLUDE,
                )
            )
    precision, pos_fill, k = _fill_evidence(s, y)
    if (
        k >= _MIN_ROWS
        and k < len(s)
        and precision >= FILLED_PRECISION
        and precision >= 2 * base
        and pos_fill >= config.min_positive_fill
    ):
        reasons.append(
            (
                "filled mostly for converted leads",
                f"filled in {k:,} rows of which {precision:.0%} converted (overall "
                f"{base:.1%}); filled for {pos_fill:.0%} of converted leads",
                EXCLUDE,
            )
        )
    if not ptypes.is_datetime64_any_dtype(s):
        reasons += _fill_by_outcome(s, y, config)
    return reasons


def _is_personal(column: str) -> bool:
    """Whether a column's name says it holds raw personal data (``Email``, ``Last Name``)."""
    tokens = _name_tokens(column)
    return any(w in tokens for w in PERSONAL_NAME_WORDS)


def drift_audit(
    first: pd.DataFrame, earlier: pd.DataFrame, latest: pd.DataFrame, config: AuditConfig
) -> list[dict]:
    """Columns whose latest values leave the earlier range or whose distribution moves.

    Parameters
    ----------
    first : DataFrame
        The first period (PSI reference).
    earlier : DataFrame
        Everything before the latest period (the range reference).
    latest : DataFrame
        The latest period.
    config : AuditConfig
        ``psi_threshold``.

    Returns
    -------
    list of dict
        One row per drifting column: ``column``, ``psi``, ``out_of_range`` (share of the
        latest rows outside the earlier range, or with a category never seen earlier),
        ``evidence``; largest PSI first. Text columns with a value nearly per row
        (identifiers, emails, names) are skipped, and the new values of a column whose
        name says it holds personal data are counted, never quoted.
    """
    rows = []
    for c in latest.columns:
        if c in _NOT_AUDITED or c not in first or c not in earlier:
            continue
        s_late = latest[c]
        if ptypes.is_datetime64_any_dtype(s_late) or s_late.notna().sum() == 0:
            continue
        value = psi(first[c], s_late)
        late = s_late.dropna()
        if ptypes.is_numeric_dtype(s_late) and not ptypes.is_bool_dtype(s_late):
            ref = earlier[c].dropna().astype(float)
            if ref.empty:
                continue
            lo, hi = float(ref.min()), float(ref.max())
            outside = (late.astype(float) < lo) | (late.astype(float) > hi)
            share = float(outside.mean()) if len(late) else 0.0
            where = (
                f"latest values {float(late.min()):g} to {float(late.max()):g}, "
                f"earlier {lo:g} to {hi:g}"
            )
        else:
            if late.nunique() > IDENTIFIER_SHARE * len(late):
                continue  # an identifier or free text: never a feature, its PSI means nothing
            seen = set(earlier[c].dropna().astype(str))
            unseen = ~late.astype(str).isin(seen)
            share = float(unseen.mean()) if len(late) else 0.0
            new = sorted(set(late[unseen].astype(str)))[:3]
            if new and _is_personal(str(c)):
                n_new = int(late[unseen].nunique())
                where = f"{n_new:,} categories never seen earlier (not shown: personal data)"
            else:
                where = f"categories never seen earlier: {new}" if new else "no new categories"
        drifting = value > config.psi_threshold or share >= OUT_OF_RANGE_SHARE
        if drifting:
            rows.append(
                {
                    "column": str(c),
                    "psi": float(value),
                    "out_of_range": share,
                    "evidence": f"PSI {value:.2f} first vs last period; "
                    f"{share:.0%} of the latest rows outside the earlier range ({where})",
                }
            )
    return sorted(rows, key=lambda r: -r["psi"])


def audit_leakage(
    leads: pd.DataFrame,
    y: np.ndarray,
    config: AuditConfig,
    outcome_at: pd.Series | None = None,
    findings: Mapping[str, list[Finding]] | None = None,
) -> AuditResult:
    """The leakage audit of one training slice: which columns to exclude, and why.

    Parameters
    ----------
    leads : DataFrame
        The training slice's leads, in time order.
    y : ndarray
        Their labels.
    config : AuditConfig
    outcome_at : Series, optional
        Outcome time per lead, aligned with ``leads``.
    findings : mapping, optional
        Evidence found outside these rows (:func:`recent_fill_findings`).

    Returns
    -------
    AuditResult
        ``leakage`` and ``excluded`` (``drift`` empty: see :func:`drift_report`). Nothing
        is warned: the caller decides (a backtest fold re-audits without repeating it).

    Raises
    ------
    ConfigError
        When ``audit.allow_columns`` names a column the data does not have.
    """
    unknown = [c for c in config.allow_columns if c not in leads.columns]
    if unknown:
        raise ConfigError(
            f"audit.allow_columns names {unknown}, which are not columns of the leads; "
            f"columns: {[c for c in leads.columns if c not in _NOT_AUDITED]}"
        )
    if not config.enabled:
        return AuditResult()
    leakage = leakage_audit(leads, y, config, outcome_at, findings)
    excluded = {
        r["column"]: f"leakage audit: {r['reason']} ({r['evidence']})"
        for r in leakage
        if r["action"] == EXCLUDED
    }
    return AuditResult(leakage=leakage, excluded=excluded)


def drift_report(leads: pd.DataFrame, split, config: AuditConfig) -> list[dict]:
    """The drift audit over a time split: train slice vs the test slice (report only)."""
    if not config.enabled:
        return []
    earlier = leads.iloc[np.concatenate([split.train, split.calibration])]
    return drift_audit(leads.iloc[split.train], earlier, leads.iloc[split.test], config)


def warn_leakage(result: AuditResult) -> None:
    """Warn :class:`LeakageWarning` naming every excluded column (nothing when none is)."""
    if result.excluded:
        warnings.warn(
            result.message()
            + ". Allow a column with audit.allow_columns if it is known before the outcome.",
            LeakageWarning,
            stacklevel=3,
        )


def audit_training(
    leads: pd.DataFrame,
    y: np.ndarray,
    split,
    config: AuditConfig,
    outcome_at: pd.Series | None = None,
    time_ordered: bool = True,
    personal: tuple[str, ...] = DEFAULT_PERSONAL_COLUMNS,
) -> AuditResult:
    """Both audits for one training run: leakage on the train slice, drift over periods.

    Personal columns are audited through what is derived from them (the email domain
    type), never as they are (:func:`mqlml.features.build.without_personal`).

    Parameters
    ----------
    leads : DataFrame
        All labelled leads (positions as in ``split``).
    y : ndarray
        Their labels.
    split : TimeSplit
        The train / calibration / test positions.
    config : AuditConfig
    outcome_at : Series, optional
        Outcome time per lead, aligned with ``leads``.
    time_ordered : bool
        False for a random split: no drift audit (periods mean nothing).
    personal : tuple of str
        The personal columns (``data.personal_columns``).

    Raises
    ------
    ConfigError
        When ``audit.allow_columns`` names a column the data does not have.

    Warns
    -----
    LeakageWarning
        Naming every excluded column and its evidence.
    """
    out_train = outcome_at.iloc[split.train] if outcome_at is not None else None
    plain = without_personal(leads, personal)
    findings = recent_fill_findings(plain, config) if time_ordered else None
    result = audit_leakage(plain.iloc[split.train], y[split.train], config, out_train, findings)
    if time_ordered:
        audited = without_personal(leads, personal, derive=True)
        result = replace(result, drift=drift_report(audited, split, config))
    warn_leakage(result)
    return result


def monotone_for_drifting(
    train: pd.DataFrame,
    calibration: pd.DataFrame,
    y_train: np.ndarray,
    spec,
    config: AuditConfig,
) -> dict[str, int]:
    """Monotone directions for numeric features that drift before the test slice.

    Drift is judged between the train slice and the calibration slice only, and each
    direction is the sign of the feature's rank correlation with the outcome on the train
    slice: nothing here looks at the test slice.

    Parameters
    ----------
    train, calibration : DataFrame
        Feature rows of the train and calibration slices (time order).
    y_train : ndarray
        Labels of the train rows.
    spec : FeatureSpec
    config : AuditConfig

    Returns
    -------
    dict
        Feature column -> +1 or -1.
    """
    numeric = [c for c in spec.numeric_attributes if c in train.columns]
    train, cal = train[numeric], calibration[numeric]
    rows = drift_audit(train, train, cal, config)
    y_train = pd.Series(np.asarray(y_train, dtype=float), index=train.index)
    out = {}
    for r in rows:
        c = r["column"]
        rho = train[c].corr(y_train, method="spearman")
        if rho == rho and rho != 0:
            out[c] = 1 if rho > 0 else -1
    return out
