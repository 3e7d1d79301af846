"""The report's figures module: how it imports shap."""

import subprocess
import sys


def test_importing_shap_for_the_report_prints_no_warning():
    # Issue 14, item 6: every training printed shap's three PendingDeprecationWarnings
    # (set_bad, set_over, set_under at import). A fresh interpreter: shap imports once.
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from mqlml.report.figures import import_shap\n"
        "shap = import_shap()\n"
        "assert shap.Explanation is not None\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "Warning" not in out.stderr, out.stderr
    assert out.stderr == ""
