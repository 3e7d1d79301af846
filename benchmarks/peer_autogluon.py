"""Fit AutoGluon on one training table and write its probabilities for one test table.

    python benchmarks/peer_autogluon.py --train T.parquet --test S.parquet --label L \
        --out P.parquet --workdir DIR [--time-limit 300] [--presets medium_quality]

Run by ``benchmarks/real_bank_marketing.py`` as a subprocess, with the interpreter that
can import ``autogluon.tabular`` (``make bench-peers`` puts it in ``.venv-peers``: AutoGluon
1.6 pins pandas < 2.4, numpy < 2.4 and scikit-learn < 1.8, below mqlml's lock). So this
file imports neither mqlml nor anything AutoGluon does not bring. The label column holds
0/1 (1: converted); the output has one column, ``probability``, the predicted probability
of 1, one row per test row in the test table's order.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True, help="AutoGluon's model folder")
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--presets", default="medium_quality")
    args = parser.parse_args(argv)

    from autogluon.tabular import TabularPredictor  # imported late: it takes seconds

    train = pd.read_parquet(args.train)
    test = pd.read_parquet(args.test)
    labels = set(train[args.label].unique())
    if labels != {0, 1}:
        raise SystemExit(f"{args.train}: column {args.label!r} must hold 0 and 1, got {labels}")
    started = time.perf_counter()
    predictor = TabularPredictor(
        label=args.label, problem_type="binary", eval_metric="roc_auc",
        path=str(args.workdir), verbosity=1,
    ).fit(train, time_limit=args.time_limit, presets=args.presets)
    fit_seconds = time.perf_counter() - started
    # One column per class label, ordered as predictor.class_labels; 1 is "converted".
    proba = predictor.predict_proba(test.drop(columns=[args.label], errors="ignore"))
    out = pd.DataFrame({"probability": proba[1].to_numpy(dtype=float)})
    if len(out) != len(test):
        raise SystemExit(f"AutoGluon returned {len(out)} probabilities for {len(test)} rows")
    tmp = args.out.with_name(args.out.name + ".tmp")
    out.to_parquet(tmp, index=False)
    os.replace(tmp, args.out)
    # The caller reads this line from stdout: what ran, for the benchmark's JSON.
    print(json.dumps({
        "fit_seconds": fit_seconds,
        "best_model": str(predictor.model_best),
        "models": [str(m) for m in predictor.model_names()],
    }))


if __name__ == "__main__":
    main()
