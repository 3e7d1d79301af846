"""What the demo prints about thresholds, from a real training summary."""

import pandas as pd
import pytest

from mqlml.synthetic.demo import DEMO_BACKTEST_FOLDS, RULES_EXAMPLE, threshold_lines


def test_the_demo_ships_its_rules_sheet_and_runs_the_backtest():
    assert RULES_EXAMPLE.is_file() and DEMO_BACKTEST_FOLDS >= 2


def test_demo_prints_policies_model_vs_rules_and_the_backtest(funnel_trained):
    model = funnel_trained[0]
    text = "\n".join(threshold_lines(model.summary, 0.99))
    assert "(99% bootstrap intervals" in text
    for policy in ("capacity*", "precision", "recall", "expected_value"):
        assert f"\n  {policy}" in text
    rows = model.summary.baselines_equal_volume
    rules = next(r for r in rows if r["method"] == "current_rules")
    assert f"model vs current rules at equal MQL volume ({rules['mqls']:,} test-slice MQLs" in text
    assert "  current_rules " in text and "  model " in text and "  logistic_baseline " in text
    assert "rolling-origin backtest (2 folds" in text
    assert "  fold 1  test " in text and "  fold 2  test " in text
    assert "learned cutoffs across folds: capacity " in text
    assert not any(line != line.rstrip() for line in text.splitlines())


# The report's figures on a small history may warn about matplotlib's legend placement.
@pytest.mark.filterwarnings("ignore:Creating legend with loc:UserWarning")
def test_the_demo_fresh_batch_rescored_with_the_printed_command_gives_its_mqls(tmp_path):
    import json
    import shlex

    from typer.testing import CliRunner

    from mqlml.cli import app
    from mqlml.synthetic.demo import run_demo
    from mqlml.synthetic.generate import generate_history

    lines: list[str] = []
    result = run_demo(tmp_path / "demo", 3_000, seed=7, echo=lines.append, rules=None)
    command = next(line for line in lines if line.startswith("re-score it: "))
    args = shlex.split(command.removeprefix("re-score it: "))
    assert args[:2] == ["mqlml", "score"] and "--activities" in args and "--as-of" in args
    res = CliRunner().invoke(app, args[1:])
    assert res.exit_code == 0, res.output
    assert "warning: no" not in res.stderr
    report = json.loads((tmp_path / "demo" / "rescored_leads.report.json").read_text())
    assert report["rows"]["mqls"] == result["figures"]["fresh_batch_mqls"]
    assert report["model"]["version"] == "1"
    # the batch's leads are new leads: none shares an id with the training history
    history = generate_history(3_000, 7).leads["lead_id"]
    batch = pd.read_csv(tmp_path / "demo" / "fresh_batch_leads.csv", dtype=str)["lead_id"]
    assert len(batch) and not set(batch) & set(history.astype(str))
