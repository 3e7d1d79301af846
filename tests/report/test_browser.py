"""A real browser opens the report: headless Chromium, no network, no console errors."""

import shutil
from contextlib import contextmanager

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

#: A champion_vs_challenger summary key (see mqlml.workflow.retrain).
CHALLENGER = {
    "champion": {"name": "lead-scoring", "version": "1", "source": "models:/lead-scoring@champion",
                 "chosen_by": "the 'champion' alias"},
    "champion_data_up_to": "2024-12-26", "leads_the_champion_may_have_seen": 0,
    "leads": 800, "converted": 53, "period": ["2025-01-19", "2025-02-19"],
    "selection": {"compare_leads": 800, "compare_days": None},
    "metrics": [{"metric": m, "champion": 0.2128, "challenger": 0.2008}
                for m in ("roc_auc", "pr_auc", "log_loss", "brier")],
    "gate": {"metric": "log_loss", "min_roc_auc": 0.6, "min_improvement": 0.005, "passes": True,
             "reason": "holdout log_loss 0.2008 is as good as or better than the champion's "
                       "0.2128 (rule: <= 0.2078, registry.min_improvement 0.005)"},
    "grades": {"cutoffs": "learned anew", "champion_cutoffs": {"A": 32, "B": 9, "C": 3},
               "challenger_cutoffs": {"A": 29, "B": 8, "C": 3}, "leads_changing_grade": 202},
}


def test_chromium_renders_the_report_without_errors_or_network(trained, tmp_path):
    path = tmp_path / "report.html"
    # As mqlml retrain writes it: the champion-vs-challenger section is rendered too.
    summary = {**trained[0].summary.to_dict(), "champion_vs_challenger": CHALLENGER}
    write_report(build_report(summary), path)
    with opened_in_chromium(path, tmp_path) as page:
        for sid in ("summary", "quality", "thresholds", "drivers", "criteria", "data",
                    "challenger"):
            assert page.locator(f"#{sid}").is_visible(), sid
        assert "ROC AUC" in page.locator("#headline").inner_text()
        # every image decoded (a broken image has naturalWidth 0)
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) >= 9 and min(widths) > 100
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        for width in (1200, 800):
            page.set_viewport_size({"width": width, "height": 900})
            assert _too_wide(page) == [], width
        _check_what_if(page, trained[0].summary.to_dict())
    assert shot.stat().st_size > 10_000


@contextmanager
def opened_in_chromium(path, tmp_path):
    """The page at ``path`` in headless Chromium at 1200x900; on leaving, checks that it
    logged no console or page error and fetched nothing from the network."""
    # Chromium comes from Debian (`make test` installs it); playwright only drives it.
    from playwright.sync_api import sync_playwright

    console_errors, page_errors, requests = [], [], []
    with sync_playwright() as p:
        # A fresh profile in tmp_path, Debian's Chromium: Playwright downloads nothing.
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 900},
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        yield page
        context.close()
    assert console_errors == [] and page_errors == []
    external = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert external == [], external


# Elements whose box reaches past the viewport (tables scroll inside their wrapper instead).
TOO_WIDE = """() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.tablewrap') && !el.classList.contains('tablewrap')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1) out.push(el.tagName + '#' + el.id + '.' + el.className);
  }
  if (document.documentElement.scrollWidth > w) out.push('page scrolls sideways');
  return out;
}"""


def _too_wide(page) -> list[str]:
    return page.evaluate(TOO_WIDE)


def _check_what_if(page, summary):
    # Moving the MQL line shows that cutoff's row of the threshold table.
    table = {int(r["cutoff"]): r for r in summary["threshold_table"]}
    cutoff = sorted(table)[len(table) // 3]
    slider = page.locator("#whatif-cutoff")
    slider.evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", cutoff
    )
    assert page.locator("#wi-cutoff").inner_text() == str(cutoff)
    shown = float(page.locator("#wi-mqls").inner_text().replace(",", ""))
    assert shown == round(table[cutoff]["mqls_per_week"])
