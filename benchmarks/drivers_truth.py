"""Does the report name the generator's true drivers?

Trains on a generated history and compares the report's field ranking (mean |score
points| on the test slice, ``summary["drivers"]``) with the truth of the generator
(docs/synthetic.md), measured two ways on the same test leads:

* population importance: the generator's log-odds is additive per business field, so its
  exact SHAP value for a field is the field's term minus the term's mean; ranked by mean
  absolute value (interaction terms are split half and half between their two fields);
* per-lead effect size, as docs/synthetic.md lists them: demo request (+2.2), free trial
  request (+1.6), pricing page views (+1.0 · size multiplier · log1p(n)).

Run: ``.venv/bin/python benchmarks/drivers_truth.py [--leads 20000] [--seed 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from mqlml import generate as G
from mqlml.config import load_config
from mqlml.data import validate_crm
from mqlml.features import email_domain_type, parse_job_title
from mqlml.pipeline import run_training

EFFECT_SIZE_TOP3 = ("demo_request", "free_trial_request", "pricing_page_view")


def true_field_importance(history: G.SyntheticHistory, lead_ids: np.ndarray) -> pd.Series:
    """Mean |exact SHAP| per business field of the generator's SQL log-odds."""
    leads = history.leads.set_index("lead_id").loc[lead_ids]
    as_of = history.truth.set_index("lead_id").loc[lead_ids, "as_of"]
    acts = history.activities[history.activities["lead_id"].isin(lead_ids)]
    acts = acts[acts["occurred_at"] < acts["lead_id"].map(as_of)]
    counts = (
        acts.groupby(["lead_id", "activity_type"])
        .size()
        .unstack(fill_value=0)
        .reindex(lead_ids, fill_value=0)
    )

    def n(t):
        return counts[t].to_numpy() if t in counts else np.zeros(len(lead_ids))

    last = acts.groupby("lead_id")["occurred_at"].max().reindex(lead_ids)
    days = ((as_of - last) / pd.Timedelta(days=1)).to_numpy()
    job = parse_job_title(leads["job_title"])
    size = leads["company_size"].fillna("missing").to_numpy()
    t: dict[str, np.ndarray] = {
        "email_domain_type": email_domain_type(leads["email"]).map(G.SQL_EMAIL).to_numpy(float),
        "seniority": job["seniority"].map(G.SQL_SENIORITY).to_numpy(float),
        "department": job["department"].map(G.SQL_DEPARTMENT).to_numpy(float),
        "company_size": np.array([G.SQL_COMPANY_SIZE[s] for s in size]),
        "industry": leads["industry"].map(G.SQL_INDUSTRY).to_numpy(float),
        "country": leads["country"].map(G.SQL_COUNTRY).to_numpy(float),
        "lead_source": leads["lead_source"].map(G.SQL_LEAD_SOURCE).to_numpy(float),
    }
    senior = job["seniority"].isin(["c_level", "vp", "director"])
    dm = G.SQL_MARKETING_DECISION_MAKER * ((job["department"] == "marketing") & senior)
    t["seniority"] = t["seniority"] + dm.to_numpy() / 2
    t["department"] = t["department"] + dm.to_numpy() / 2
    for a, beta in G.SQL_LOG1P_COUNT.items():
        t[a] = beta * np.log1p(n(a))
    mult = np.array([G.SQL_PRICING_SIZE_MULTIPLIER[s] for s in size])
    inter = (mult - 1) * G.SQL_LOG1P_COUNT["pricing_page_view"] * np.log1p(n("pricing_page_view"))
    t["pricing_page_view"] = t["pricing_page_view"] + inter / 2
    t["company_size"] = t["company_size"] + inter / 2
    t["demo_request"] = t["demo_request"] + G.SQL_ANY_DEMO_REQUEST * (n("demo_request") > 0)
    t["free_trial_request"] = t["free_trial_request"] + G.SQL_ANY_FREE_TRIAL_REQUEST * (
        n("free_trial_request") > 0
    )
    t["page_view"] = t["page_view"] + G.SQL_MANY_PAGE_VIEWS * (
        n("page_view") >= G.SQL_MANY_PAGE_VIEWS_THRESHOLD
    )
    t["recency"] = np.where(
        np.isnan(days),
        G.SQL_NO_ACTIVITY,
        G.SQL_RECENCY * np.exp(-np.nan_to_num(days) / G.SQL_RECENCY_SCALE_DAYS),
    )
    imp = {k: float(np.mean(np.abs(v - np.mean(v)))) for k, v in t.items()}
    return pd.Series(imp).sort_values(ascending=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    history = G.generate_history(args.leads, args.seed)
    cfg = load_config(None, {"tracking": {"enabled": False}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    model, artifacts = run_training(crm, cfg)
    test_ids = artifacts["slices"].query("slice == 'test'")["lead_id"].to_numpy()
    rows = model.summary["drivers"]["fields"]
    rank = {r["field"]: i + 1 for i, r in enumerate(rows)}
    truth = true_field_importance(history, test_ids)
    print(
        f"{args.leads:,} leads, seed {args.seed}, {time.perf_counter() - t0:.0f}s; "
        f"report's top 5: {[r['field'] for r in rows[:5]]}"
    )
    print("truth, population importance (mean |exact SHAP|, log-odds) -> rank in report:")
    for f, v in truth.head(6).items():
        print(f"  {f:<20} {v:.3f}  report rank {rank.get(f, '-')}")
    print("truth, per-lead effect size (docs/synthetic.md) -> rank in report:")
    for f in EFFECT_SIZE_TOP3:
        print(f"  {f:<20} report rank {rank.get(f, '-')}")
    top3 = list(truth.index[:3])
    print(
        f"population top 3 in report's top 5: {all(rank.get(f, 99) <= 5 for f in top3)}; "
        f"effect-size top 3 in report's top 5: "
        f"{all(rank.get(f, 99) <= 5 for f in EFFECT_SIZE_TOP3)}"
    )


if __name__ == "__main__":
    main()
