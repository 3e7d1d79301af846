"""The monitor page: its content, and a real browser opening it (as the report's test)."""

from __future__ import annotations

import json

import pytest
from test_browser import _too_wide, opened_in_chromium

from monitor_worlds import MONITOR
from mqlml.report.monitor import build_monitor_page, write_monitor
from mqlml.scoring.monitor import monitor, read_scored


@pytest.fixture(scope="module")
def shifted(monitor_worlds):
    w = monitor_worlds.shifted
    return monitor(monitor_worlds.model, read_scored(w.outputs), w.crm, w.snapshot_at, MONITOR)


def test_page_shows_status_alerts_and_the_grade_table(shifted):
    html, figures = build_monitor_page(shifted)
    assert "CRITICAL" in html and "exit status 4" in html
    assert "lead_source" in html
    assert set(figures) == {"promised_vs_realised", "calibration_in_use", "psi_by_week"}
    grade_b = next(r for r in shifted["promised_vs_realised"]["grade"] if r["group"] == "B")
    assert f"{grade_b['realised']:.1%}" in html and f"{grade_b['promised']:.1%}" in html


def test_written_json_is_the_result(shifted, tmp_path):
    written = write_monitor(shifted, tmp_path / "m")
    assert json.loads(written["json"].read_text()) == shifted
    assert written["html"].read_text().startswith("<!doctype html>")


def test_chromium_renders_the_monitor_page_without_errors_or_network(shifted, tmp_path):
    path = write_monitor(shifted, tmp_path)["html"]
    with opened_in_chromium(path, tmp_path) as page:
        for sid in ("status", "promised", "mql", "early"):
            assert page.locator(f"#{sid}").is_visible(), sid
        assert "CRITICAL" in page.locator("#headline").inner_text()
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) == 3 and min(widths) > 100
        for width in (1200, 800):
            page.set_viewport_size({"width": width, "height": 900})
            assert _too_wide(page) == [], width
