"""The report's figures: matplotlib charts of the training summary, as PNG bytes.

Each function takes the part of the summary it draws (``summary["evaluation"]`` or
``summary["drivers"]``) and returns the PNG, so the report can inline it and also
write it next to the HTML for slides.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

_BLUE, _GREY, _ORANGE, _RED = "#2563eb", "#98a2b3", "#f59e0b", "#dc2626"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def import_shap():
    """The ``shap`` module, imported without the warnings its own import raises.

    shap 0.51's ``shap/plots/colors/_colors.py`` calls ``Colormap.set_bad``, ``set_over``
    and ``set_under`` when it is imported, which matplotlib marks for deprecation: three
    ``PendingDeprecationWarning`` lines in every training's output that a user cannot act
    on. Only those are silenced; any other warning of the import still shows.

    Returns
    -------
    module
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=PendingDeprecationWarning, module=r"shap\.plots\.colors\."
        )
        import shap
    return shap


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return buf.getvalue()


def _curves_figure(curves: dict, x: str, y: str, diagonal: str, labels, title: str) -> bytes:
    """Model and baseline curves over a dashed diagonal (the random order)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color=_GREY, lw=1, ls="--", label=diagonal)
    for (name, c), color in zip(curves.items(), (_BLUE, _ORANGE), strict=False):
        ax.plot(c[x], c[y], color=color, label=name)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    return _png(fig)


def roc_figure(ev: dict) -> bytes:
    """ROC curves of the model and the baseline on the test slice."""
    return _curves_figure(
        ev["roc"],
        "fpr",
        "tpr",
        "random",
        ("false positive rate", "true positive rate (share of conversions found)"),
        "ROC curve, test slice",
    )


def gains_figure(ev: dict) -> bytes:
    """Cumulative gains: share of conversions found vs share of leads worked, best first."""
    return _curves_figure(
        ev["gains"],
        "share_of_leads",
        "share_of_conversions",
        "random order",
        ("share of leads worked, highest score first", "share of conversions found"),
        "Gains, test slice",
    )


def _reliability(x: list, yy: list, *, label: str, xlabel: str, title: str) -> bytes:
    """A reliability diagram: realised rate against probability, beside the diagonal."""
    plt = _plt()
    top = max([*x, *yy, 0.05]) * 1.05
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, top], [0, top], color=_GREY, lw=1, ls="--", label="perfect")
    ax.plot(x, yy, marker="o", color=_BLUE, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("realised conversion rate")
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return _png(fig)


def calibration_figure(ev: dict) -> bytes:
    """Reliability diagram: mean probability vs realised rate per decile of probability."""
    rows = ev["calibration"]
    return _reliability(
        [r["mean_probability"] for r in rows], [r["conversion_rate"] for r in rows],
        label="mqlml (test slice)", xlabel="predicted probability",
        title="Calibration on the latest leads",
    )


def score_distribution_figure(ev: dict, cutoff: int | None = None) -> bytes:
    """Histogram of scores on the test slice, converted and not, with the MQL cutoff."""
    plt = _plt()
    h = ev["score_histogram"]
    s = np.arange(1, 100)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar(s, h["not_converted"], width=1.0, color=_GREY, label="did not convert")
    ax.bar(s, h["converted"], width=1.0, bottom=h["not_converted"], color=_BLUE, label="converted")
    if cutoff is not None:
        ax.axvline(cutoff - 0.5, color=_RED, lw=1.5, label=f"MQL cutoff {cutoff}")
    used = np.flatnonzero(np.add(h["converted"], h["not_converted"]))
    if len(used):
        ax.set_xlim(0.5, min(99.5, s[used[-1]] + 2))
    ax.set_xlabel("score")
    ax.set_ylabel("leads")
    ax.set_title("Score distribution, test slice")
    # A fixed place: "best" searches the bars, and under load matplotlib warns it was slow.
    ax.legend(loc="upper right", frameon=False)
    fig.tight_layout()
    return _png(fig)


def drivers_figure(drivers: dict, k: int = 12) -> bytes:
    """Mean absolute score points per business field, coloured by group."""
    plt = _plt()
    rows = drivers["fields"][:k][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(rows) + 1.2))
    colors = [_BLUE if r["group"] == "behaviour" else _ORANGE for r in rows]
    ax.barh([r["label"] for r in rows], [r["mean_abs_points"] for r in rows], color=colors)
    ax.set_xlabel("mean |score points| per lead (test slice)")
    ax.set_title("What moves the score (blue: behaviour, orange: fit)")
    fig.tight_layout()
    return _png(fig)


def _sample_explanation(sample: dict):
    shap = import_shap()

    pts = np.array([[np.nan if v is None else v for v in col] for col in sample["points"]]).T
    vals = np.array(
        [
            [np.nan] * pts.shape[0] if col is None else [np.nan if v is None else v for v in col]
            for col in sample["values"]
        ]
    ).T
    return shap.Explanation(values=pts, data=vals, feature_names=sample["labels"])


def beeswarm_figure(drivers: dict) -> bytes:
    """SHAP beeswarm of the stored sample: each dot a lead, x its points for a field."""
    shap = import_shap()

    plt = _plt()
    exp = _sample_explanation(drivers["sample"])
    fig = plt.figure(figsize=(7.2, 0.42 * exp.shape[1] + 1.6))
    with warnings.catch_warnings():
        # Categorical fields have no numeric value to colour by (all NaN: drawn grey).
        warnings.simplefilter("ignore", RuntimeWarning)
        shap.plots.beeswarm(
            exp,
            max_display=exp.shape[1],
            show=False,
            plot_size=None,
            color_bar_label="field value (count / days; grey: category)",
        )
    plt.gca().set_xlabel("score points (per lead)")
    plt.title("Per-lead effect of each field")
    fig.tight_layout()
    return _png(fig)


def dependence_figure(drivers: dict, field_name: str) -> bytes:
    """SHAP dependence (scatter) plot: a behaviour's value vs its score points."""
    shap = import_shap()

    plt = _plt()
    sample = drivers["sample"]
    j = sample["fields"].index(field_name)
    exp = _sample_explanation(sample)
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    shap.plots.scatter(exp[:, j], ax=ax, show=False, hist=False, color=_BLUE)
    ax.set_xlabel(sample["axis"][j] or sample["labels"][j])
    ax.set_ylabel("score points")
    ax.set_title(sample["labels"][j])
    fig.tight_layout()
    return _png(fig)


def promised_realised_figure(rows: list[dict], by: str = "grade") -> bytes:
    """Promised (mean probability) against realised rate with its interval, per group."""
    plt = _plt()
    names = [r["group"] for r in rows]
    x = np.arange(len(rows))
    realised = np.array([r["realised"] for r in rows], dtype=float)
    low = np.array([r["low"] for r in rows], dtype=float)
    high = np.array([r["high"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.bar(x - 0.18, [r["promised"] for r in rows], width=0.36, color=_GREY, label="promised")
    ax.bar(x + 0.18, realised, width=0.36, color=_BLUE, label="realised")
    ax.errorbar(x + 0.18, realised, yerr=[realised - low, high - realised], fmt="none",
                ecolor="#1f2937", capsize=3, lw=1)
    ax.set_xticks(x, names)
    ax.set_xlabel(by)
    ax.set_ylabel("conversion rate of the matured leads")
    ax.set_title(f"Promised vs realised per {by}")
    ax.legend(loc="upper right", frameon=False)
    fig.tight_layout()
    return _png(fig)


def monitor_calibration_figure(curve: list[dict]) -> bytes:
    """Reliability diagram of the matured scored leads (equal-width probability bins)."""
    return _reliability(
        [r["mean_probability"] for r in curve], [r["realised"] for r in curve],
        label="scored leads, matured", xlabel="promised probability",
        title="Calibration in use",
    )


def weekly_psi_figure(weeks: list[dict], top: int = 5) -> bytes:
    """PSI by week of the score and of the features that moved most."""
    plt = _plt()
    rated = [w for w in weeks if "psi" in w]
    if not rated:
        raise ValueError("no week has enough scored leads for a PSI")
    worst: dict[str, float] = {}
    for w in rated:
        for col, value in w["psi"].items():
            worst[col] = max(worst.get(col, 0.0), value or 0.0)
    shown = sorted(worst, key=lambda c: -worst[c])[:top]
    labels = [w["week"] for w in rated]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(labels, [w.get("score_psi") or 0.0 for w in rated], color="#1f2937", marker="o",
            lw=2, label="score")
    for col in shown:
        ax.plot(labels, [w["psi"].get(col) or 0.0 for w in rated], marker=".", label=col)
    ax.axhline(0.2, color=_ORANGE, ls="--", lw=1)
    ax.set_ylabel("PSI against training")
    ax.set_xlabel("week of the scoring moment")
    ax.set_title("Who arrives: PSI by week")
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()
    return _png(fig)
