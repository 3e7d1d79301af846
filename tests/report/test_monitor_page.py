"""The monitor page: its content, and a real browser opening it (as the report's test)."""

from __future__ import annotations

import json

import pytest
from test_browser import CHROMIUM, FLAGS, _too_wide

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
    from playwright.sync_api import sync_playwright

    path = write_monitor(shifted, tmp_path)["html"]
    console_errors, page_errors, requests = [], [], []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 900},
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        for sid in ("status", "promised", "mql", "early"):
            assert page.locator(f"#{sid}").is_visible(), sid
        assert "CRITICAL" in page.locator("#headline").inner_text()
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) == 3 and min(widths) > 100
        for width in (1200, 800):
            page.set_viewport_size({"width": width, "height": 900})
            assert _too_wide(page) == [], width
        context.close()
    assert console_errors == [] and page_errors == []
    external = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert external == [], external
