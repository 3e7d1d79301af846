"""Benchmark: score 1M leads from Parquet to scored Parquet, with exact reasons.

Usage::

    .venv/bin/python benchmarks/score.py [--n-leads 1000000] [--history 50000] [--trees 300]

What it does:

1. **Model.** ``generate_history(--history)`` is labelled and split by time like
   training does (:func:`mqlml.training.pipeline.label_history`,
   :func:`mqlml.labels.split.time_split`);
   LightGBM is fit on the train slice with ``num_leaves=31`` and exactly ``--trees``
   trees (no early stopping), calibrated on the calibration slice, grades learned there;
   holdout AUC is measured on the test slice. The feature spec, and for comparison the
   model of the size early stopping picks, come from the shipped recipe
   (:func:`mqlml.training.recipe.fit_recipe`) on the same slices.
2. **Scoring batch.** ``--n-leads`` feature rows are drawn with replacement from the
   featurised history leads (as-of = created + observation days), then perturbed so the
   batch is not a handful of rows repeated: every non-missing duration (``days_since_*``)
   is multiplied by ``exp(N(0, 0.15))``, every count is moved by -1/0/+1 with
   probability 0.3 (never below 0), and 5% of each categorical is replaced by the value
   of another random lead. Written as Parquet (categoricals as text), like an export.
3. **Scoring** runs in a fresh process so its peak memory (``ru_maxrss``) is its own:
   read Parquet -> feature matrix -> ``predict`` -> calibrate -> score and grade ->
   reasons (:func:`mqlml.explain.fastshap.field_contributions_fast`, then
   :func:`mqlml.explain.contributions.field_points` and
   :func:`mqlml.explain.contributions.top_reasons`) -> write
   the scored Parquet atomically. Seconds per stage are printed.
4. **Plain path**: ``predict`` + ``pred_contrib`` on the same model and matrix, timed on
   a ``--plain-rows`` subset and extrapolated linearly to the batch (said so in the
   output); the fast reasons are timed on the same subset too, and their score points
   are compared with the plain path's.

The machine may be shared: key timings are repeated (``--repeat``) and all are printed.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mqlml.columns import GRADE, LEAD_ID, PROBABILITY, SCORE
from mqlml.data.files import read_table, write_table
from mqlml.explain.contributions import field_matrix, field_points, top_reasons
from mqlml.explain.fastshap import field_contributions_fast
from mqlml.features.build import FeatureSpec, build_features, to_matrix
from mqlml.model.calibrate import ProbabilityCalibrator, probability_to_score
from mqlml.model.thresholds import GradeThresholds
from mqlml.model.trees import lightgbm_params, predict_raw

N_REASONS = 3


def _now() -> float:
    return time.perf_counter()


def _peak_rss_gb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _field_index(spec: FeatureSpec) -> tuple[np.ndarray, list[str]]:
    m, fields = field_matrix(spec)
    return m.argmax(axis=1), fields


# --- preparation: model and scoring batch -----------------------------------------------


def prepare(args, work: Path) -> dict:
    from mqlml.config import load_config
    from mqlml.data.contract import validate_crm
    from mqlml.labels.labelled import label_history
    from mqlml.labels.split import time_split
    from mqlml.synthetic.generate import generate_history
    from mqlml.training.recipe import fit_recipe

    t0 = _now()
    cfg = load_config(None, {"tracking": {"enabled": False}})
    history = generate_history(args.history, seed=args.seed)
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    lab = label_history(crm, cfg)
    split = time_split(lab.leads, lab.y, cfg.split_fractions)
    # The shipped recipe (audit, feature spec, early-stopped model, calibration) on the
    # same slices: its spec is the batch's, its model the comparison to the fixed one.
    recipe = fit_recipe(lab, cfg, fit_rows=split.train, calibration_rows=split.calibration)
    spec = recipe.spec
    acts = lab.activities
    features = build_features(lab.leads, acts, lab.as_of, spec)
    X = to_matrix(features, spec)
    y = lab.y
    t1 = _now()
    print(
        f"history: {args.history:,} leads generated, {len(y):,} labelled, "
        f"{len(spec.columns)} features in {len(set(spec.fields.values()))} fields "
        f"({t1 - t0:.1f} s)"
    )

    model_cfg = cfg.model.model_copy(update={"num_leaves": 31})
    cats = [i for i, c in enumerate(spec.columns) if c in spec.categorical]
    params = {**lightgbm_params(model_cfg), "num_threads": args.threads}
    data = lgb.Dataset(
        X[split.train], y[split.train], feature_name=list(spec.columns), categorical_feature=cats
    )
    booster = lgb.train(params, data, num_boost_round=args.trees)
    raw = predict_raw(booster, X)
    calibrator = ProbabilityCalibrator().fit(raw[split.calibration], y[split.calibration])
    grades = GradeThresholds(cfg.thresholds.grade_shares).fit(
        probability_to_score(calibrator.predict(raw[split.calibration]))
    )
    # AUC of the raw log-odds: it ranks leads before calibration ties any of them.
    auc = roc_auc_score(y[split.test], raw[split.test])
    fit = recipe.model.fit
    auc_es = roc_auc_score(y[split.test], recipe.model.predict_raw(X[split.test]))
    t2 = _now()
    print(
        f"model: {booster.num_trees()} trees x 31 leaves, holdout AUC {auc:.4f}; "
        f"the shipped recipe's early-stopped model {fit.best_iteration} trees x "
        f"{recipe.model.num_leaves} leaves, holdout AUC {auc_es:.4f} "
        f"({t2 - t1:.1f} s)"
    )
    booster.save_model(str(work / "model.txt"))
    fit.booster.save_model(str(work / "model_es.txt"))
    with open(work / "post.pkl", "wb") as fh:
        pickle.dump({"calibrator": calibrator, "grades": grades, "spec": spec.to_dict()}, fh)

    batch = perturbed_batch(features, spec, args.n_leads, np.random.default_rng(args.seed))
    write_table(batch, work / "leads_features.parquet")
    t3 = _now()
    size = (work / "leads_features.parquet").stat().st_size / 1e6
    print(f"batch: {len(batch):,} feature rows written to Parquet, {size:.0f} MB ({t3 - t2:.1f} s)")
    return {"auc": auc, "auc_es": auc_es, "trees_es": fit.best_iteration}


def perturbed_batch(
    features: pd.DataFrame, spec: FeatureSpec, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """``n`` rows resampled from ``features`` and perturbed (see the module notes)."""
    rows = rng.integers(0, len(features), n)
    out = {LEAD_ID: [f"B{i:07d}" for i in range(n)]}
    for c in spec.columns:
        s = features[c]
        if c in spec.categorical:
            v = s.astype(object).to_numpy()[rows]
            swap = rng.random(n) < 0.05
            v[swap] = s.astype(object).to_numpy()[rng.integers(0, len(features), swap.sum())]
            out[c] = pd.array(v, dtype="str")
            continue
        v = s.to_numpy(dtype=float)[rows]
        ok = ~np.isnan(v)
        if c.startswith("days_since"):
            v[ok] *= np.exp(rng.normal(0, 0.15, ok.sum()))
        elif np.all(v[ok] == np.round(v[ok])):
            step = rng.choice([-1.0, 1.0], n) * (rng.random(n) < 0.3)
            v = np.where(ok, np.maximum(v + step, 0.0), v)
        out[c] = v
    return pd.DataFrame(out)


# --- scoring (in its own process) -----------------------------------------------------


class _Clock:
    """Wall and CPU seconds (all threads of this process) per stage."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._t = (_now(), time.process_time())

    def lap(self, stage: str) -> None:
        wall, cpu = _now(), time.process_time()
        self.wall[stage] = wall - self._t[0]
        self.cpu[stage] = cpu - self._t[1]
        self._t = (_now(), time.process_time())


def score_batch(work: Path, args) -> dict:
    with open(work / "post.pkl", "rb") as fh:
        post = pickle.load(fh)
    spec = FeatureSpec.from_dict(post["spec"])
    booster = lgb.Booster(model_file=str(work / "model.txt"))
    clock = _Clock()
    frame = read_table(work / "leads_features.parquet")
    clock.lap("read parquet")
    feats = frame[list(spec.columns)].copy()
    for c in spec.categorical_columns:
        feats[c] = pd.Categorical(feats[c], categories=list(spec.categorical[c]))
    X = to_matrix(feats, spec)
    del feats
    clock.lap("features")
    raw = booster.predict(X, raw_score=True, num_threads=args.threads)
    clock.lap("predict")
    probability = post["calibrator"].predict(raw)
    score = probability_to_score(probability)
    grade = post["grades"].predict(score)
    clock.lap("calibrate+grade")
    f2f, fields = _field_index(spec)
    contrib, base = field_contributions_fast(
        booster, X, f2f, len(fields), n_threads=args.threads
    )
    clock.lap("reasons: fast TreeSHAP")
    points, _ = field_points(pd.DataFrame(contrib, columns=fields), base, post["calibrator"])
    labels, pts = top_reasons(points, N_REASONS)
    del contrib, points
    clock.lap("reasons: points+top3")
    out = pd.DataFrame(
        {LEAD_ID: frame[LEAD_ID].to_numpy(), PROBABILITY: probability, SCORE: score, GRADE: grade}
    )
    for i in range(N_REASONS):
        # The top fields by |points| with their points (the product's sentences are
        # built from these; the benchmark keeps to the field names).
        out[f"reason_{i + 1}_field"] = pd.array(labels[:, i], dtype="str")
        out[f"reason_{i + 1}_points"] = np.round(pts[:, i], 1)
    write_table(out, work / "scored.parquet")
    clock.lap("write parquet")
    return {
        "times": clock.wall, "cpu": clock.cpu, "rows": len(out), "peak_rss_gb": _peak_rss_gb()
    }


# --- plain path and agreement on a subset ------------------------------------------------


def compare(work: Path, args, model_file: str) -> dict:
    with open(work / "post.pkl", "rb") as fh:
        post = pickle.load(fh)
    spec = FeatureSpec.from_dict(post["spec"])
    booster = lgb.Booster(model_file=str(work / model_file))
    frame = pd.read_parquet(work / "leads_features.parquet").head(args.plain_rows)
    feats = frame[list(spec.columns)].copy()
    for c in spec.categorical_columns:
        feats[c] = pd.Categorical(feats[c], categories=list(spec.categorical[c]))
    X = to_matrix(feats, spec)
    f2f, fields = _field_index(spec)
    m, _ = field_matrix(spec)
    res: dict = {"trees": booster.num_trees()}
    for key in ("plain", "predict", "fast"):
        res[key], res[key + "_cpu"] = [], []

    def timed(key, run):
        t, c = _now(), time.process_time()
        value = run()
        res[key].append(_now() - t)
        res[key + "_cpu"].append(time.process_time() - c)
        return value

    for _ in range(args.repeat):
        timed("predict", lambda: booster.predict(X, raw_score=True, num_threads=args.threads))
        plain = timed(
            "plain", lambda: booster.predict(X, pred_contrib=True, num_threads=args.threads)
        )
        fast, base = timed(
            "fast",
            lambda: field_contributions_fast(
                booster, X, f2f, len(fields), n_threads=args.threads
            ),
        )
    per_field = plain[:, :-1] @ m
    cal = post["calibrator"]
    p_plain, _ = field_points(pd.DataFrame(per_field, columns=fields), plain[0, -1], cal)
    p_fast, _ = field_points(pd.DataFrame(fast, columns=fields), base, cal)
    res["max_abs_logodds"] = float(np.abs(per_field - fast).max())
    res["max_abs_points"] = float(np.abs(p_plain.to_numpy() - p_fast.to_numpy()).max())
    lab_plain, _ = top_reasons(p_plain, N_REASONS)
    lab_fast, _ = top_reasons(p_fast, N_REASONS)
    res["same_top3"] = float((lab_plain == lab_fast).all(axis=1).mean())
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-leads", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=50_000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--plain-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="reuse/keep files here (default: temporary)")
    parser.add_argument("--stage", choices=("all", "score"), default="all", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stage == "score":
        print(json.dumps(score_batch(args.work, args)))
        return 0
    with tempfile.TemporaryDirectory(prefix="mqlml-score-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.work is None or not (work / "model.txt").exists():
            prepare(args, work)
        else:
            print(f"reusing the model and batch in {work}")
        runs = run_scoring(work, args)
        for model_file, label in (("model.txt", "fixed"), ("model_es.txt", "early-stopped")):
            res = report_plain(work, args, model_file, label)
            if model_file == "model.txt":
                fixed = res
        n_sub, n_all = args.plain_rows, args.n_leads
        for unit, sfx in (("wall", ""), ("CPU", "_cpu")):
            plain_all = (min(fixed["plain" + sfx]) + min(fixed["predict" + sfx])) * n_all / n_sub
            fast_all = min(r["predict"] + r["reasons: fast TreeSHAP"] for r in runs[unit])
            print(
                f"ratio on the {n_all:,}-lead batch, fixed model, {unit} seconds: plain "
                f"predict+pred_contrib {plain_all:,.0f} s (extrapolated from {n_sub:,} rows) / "
                f"fast predict+reasons {fast_all:.1f} s (measured, best run) = "
                f"{plain_all / fast_all:.1f}x"
            )
    return 0


def run_scoring(work: Path, args) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"wall": [], "CPU": []}
    for attempt in range(args.repeat):
        cmd = [sys.executable, __file__, "--stage", "score", "--work", str(work),
               "--threads", str(args.threads)]
        t = _now()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = _now() - t
        res = json.loads(done.stdout.strip().splitlines()[-1])
        total = sum(res["times"].values())
        cpu = sum(res["cpu"].values())
        print(f"\nscoring run {attempt + 1}: {res['rows']:,} leads, Parquet -> scored Parquet")
        for stage, sec in res["times"].items():
            print(f"    {stage:26s} {sec:7.2f} s wall  {res['cpu'][stage]:7.2f} s CPU")
        print(
            f"    {'total (stages)':26s} {total:7.2f} s wall  {cpu:7.2f} s CPU   "
            f"{res['rows'] / total:,.0f} leads/s   "
            f"process wall {wall:.1f} s (incl. Python start, imports)   "
            f"peak RSS {res['peak_rss_gb']:.2f} GB"
        )
        runs["wall"].append(res["times"])
        runs["CPU"].append(res["cpu"])
    return runs


def report_plain(work: Path, args, model_file: str, label: str) -> dict:
    res = compare(work, args, model_file)
    n_sub, n_all = args.plain_rows, args.n_leads
    plain = min(res["plain"]) + min(res["predict"])
    fast = min(res["fast"]) + min(res["predict"])
    print(
        f"\n{label} model ({res['trees']} trees), {n_sub:,}-row subset, {args.threads} threads "
        f"(runs: {args.repeat}, all times shown):"
    )
    for key, name in (("predict", "predict"), ("plain", "pred_contrib (plain)"),
                      ("fast", "fast field TreeSHAP")):
        wall = "  ".join(f"{s:6.2f}" for s in res[key])
        cpu = "  ".join(f"{s:6.2f}" for s in res[key + "_cpu"])
        print(f"    {name:22s}{wall} s wall   ({cpu} s CPU)")
    print(
        f"    reasons speed-up in CPU seconds "
        f"{min(res['plain_cpu']) / min(res['fast_cpu']):.1f}x"
    )
    print(
        f"    reasons speed-up {min(res['plain']) / min(res['fast']):.1f}x; "
        f"predict+reasons speed-up {plain / fast:.1f}x "
        f"(plain {n_sub / plain:,.0f} leads/s -> extrapolated {plain * n_all / n_sub:,.0f} s "
        f"for {n_all:,} leads, linear in rows; best of runs)"
    )
    print(
        f"    agreement: max |log-odds diff| {res['max_abs_logodds']:.2e}, "
        f"max |score-point diff| {res['max_abs_points']:.2e}, "
        f"same top-3 reasons {res['same_top3']:.2%}"
    )
    return res


if __name__ == "__main__":
    sys.exit(main())
