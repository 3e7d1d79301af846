"""What the demo prints about thresholds, from a real training summary."""

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
