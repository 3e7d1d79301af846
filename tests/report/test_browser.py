"""A real browser opens the report: headless Chromium, no network, no console errors."""

import shutil

from mqlml.report.html import build_report, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_chromium_renders_the_report_without_errors_or_network(trained, tmp_path):
    # Chromium comes from Debian (`make test` installs it); playwright only drives it.
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    write_report(build_report(trained[0].summary), path)
    console_errors, page_errors, requests = [], [], []
    with sync_playwright() as p:
        # A fresh profile in tmp_path, Debian's Chromium: Playwright downloads nothing.
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 900},
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        for sid in ("summary", "quality", "thresholds", "drivers", "criteria", "data"):
            assert page.locator(f"#{sid}").is_visible(), sid
        assert "ROC AUC" in page.locator("#headline").inner_text()
        # every image decoded (a broken image has naturalWidth 0)
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) >= 9 and min(widths) > 100
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        context.close()
    assert shot.stat().st_size > 10_000
    assert console_errors == [] and page_errors == []
    external = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert external == [], external
