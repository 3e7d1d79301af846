"""Does the report name the generator's true drivers?

Trains on a generated history and compares the report's field ranking (mean |score
points| on the test slice, ``summary.drivers.fields``) with the generator's own
truth on the same test leads: the true SQL log-odds is additive per business field
(``history.drivers``), so a field's exact SHAP value is its term minus the term's mean,
ranked by mean absolute value (``mqlml.synthetic.generate.true_driver_importance``).

It runs the default generator and one with some fields' terms scaled up
(``driver_scale``), where the truth's top 3 are clearly ahead of the rest, and prints for
each: the report's top 5, the truth's top 6 with their ranks in the report, and whether
the truth's top 3 are among the report's top 5.

Run: ``.venv/bin/python benchmarks/drivers_truth.py [--leads 50000] [--seeds 0 1 2 3 4 5]
[--scale seniority=2.5 industry=2.5 pricing_page_view=2.5]``
"""

from __future__ import annotations

import argparse
import time

from mqlml.config import load_config
from mqlml.data.contract import validate_crm
from mqlml.synthetic.generate import generate_history, true_driver_importance
from mqlml.workflow import fit_history

#: The scaled generator of tests/test_insights.py (one fit field, one categorical fit
#: field, one behaviour).
DEFAULT_SCALE = ("seniority=2.5", "industry=2.5", "pricing_page_view=2.5")


def parse_scale(items: list[str]) -> dict[str, float]:
    """``["seniority=2.5", ...]`` -> ``{"seniority": 2.5, ...}``."""
    scale = {}
    for item in items:
        field, sep, factor = item.partition("=")
        if not sep:
            raise SystemExit(f"--scale items must be field=factor, got {item!r}")
        try:
            scale[field] = float(factor)
        except ValueError:
            raise SystemExit(f"--scale {field} needs a number, got {factor!r}") from None
    return scale


def run(leads: int, seed: int, scale: dict[str, float] | None) -> bool:
    t0 = time.perf_counter()
    history = generate_history(leads, seed, driver_scale=scale)
    cfg = load_config(None, {"tracking": {"enabled": False}})
    crm = validate_crm(history.leads, history.activities, history.outcomes, cfg.data)
    model, artifacts = fit_history(crm, cfg)
    test_ids = artifacts["slices"].query("slice == 'test'")["lead_id"].to_numpy()
    rows = model.summary.drivers.fields
    rank = {r["field"]: i + 1 for i, r in enumerate(rows)}
    truth = true_driver_importance(history, test_ids)
    name = "default" if not scale else "scaled " + " ".join(f"{k}={v:g}" for k, v in scale.items())
    print(
        f"{name}: {leads:,} leads, seed {seed}, {time.perf_counter() - t0:.0f}s; "
        f"report's top 5: {[r['field'] for r in rows[:5]]}"
    )
    print("  truth (mean |exact SHAP|, log-odds, test slice) -> rank in report:")
    for f, v in truth.head(6).items():
        print(f"    {f:<20} {v:.3f}  report rank {rank.get(f, '-')}")
    top3 = list(truth.index[:3])
    ok = all(rank.get(f, 99) <= 5 for f in top3)
    margin = truth.iloc[2] / truth.iloc[3]
    print(f"  truth's top 3 {top3} in report's top 5: {ok} (truth 3rd / 4th = {margin:.2f})")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=50_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--scale", nargs="*", default=list(DEFAULT_SCALE), metavar="FIELD=FACTOR",
        help="driver_scale of the scaled run (default: %(default)s); none: skip it",
    )
    ap.add_argument("--no-default", action="store_true", help="skip the default generator")
    args = ap.parse_args()
    scale = parse_scale(args.scale)
    passed = {"default": [], "scaled": []}
    for seed in args.seeds:
        if not args.no_default:
            passed["default"].append(run(args.leads, seed, None))
        if scale:
            passed["scaled"].append(run(args.leads, seed, scale))
    for name, oks in passed.items():
        if oks:
            print(f"{name}: {sum(oks)} of {len(oks)} seeds pass")


if __name__ == "__main__":
    main()
