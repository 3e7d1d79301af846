"""Scoring batches: schema checks, rejects with reasons, chunks, atomic outputs, the CLI."""

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlml.cli import _ScoringProgress, app
from mqlml.columns import CREATED_AT, LEAD_ID, SCORE_COLUMNS
from mqlml.data.contract import validate_activities, validate_leads
from mqlml.errors import DataValidationError, MqlmlError
from mqlml.scoring.batch import (
    REJECT_COLUMNS,
    check_batch,
    output_paths,
    required_lead_columns,
    score_checked,
    score_files,
)
from mqlml.scoring.score import score_leads
from mqlml.synthetic.generate import generate_history

NOW = pd.Timestamp("2030-01-01", tz="UTC")


@pytest.fixture(scope="module")
def fresh():
    """A new batch (another history) as the CSV text a CRM export would give."""
    h = generate_history(300, seed=21)
    leads = h.leads.copy()
    leads["employees"] = np.random.default_rng(1).integers(1, 5_000, len(leads)).astype(str)
    text = {"nan": "", "None": "", "NaT": ""}
    return leads.astype(str).replace(text), h.activities.astype(str).replace(text), h.snapshot_at


def _write(tmp_path, leads, activities=None, name="leads.csv"):
    path = tmp_path / name
    if name.endswith(".csv"):
        leads.to_csv(path, index=False)
    else:
        leads.to_parquet(path, index=False)
    acts = None
    if activities is not None:
        acts = tmp_path / "activities.csv"
        activities.to_csv(acts, index=False)
    return path, acts


def _run(model, tmp_path, leads, activities=None, as_of=None, **kw):
    path, acts = _write(tmp_path, leads, activities)
    return score_files(model, path, tmp_path / "scored.csv", acts, as_of, now=NOW, **kw)


def _read(path):
    return pd.read_csv(path, dtype={"lead_id": str}, keep_default_na=False, na_values=[""])


def test_required_columns_are_the_ones_the_model_reads(scoring_model):
    model = scoring_model[0]
    assert set(required_lead_columns(model)) == {
        "lead_id",
        "created_at",
        "email",  # email_domain_type
        "job_title",  # seniority, department
        "company_size",
        "industry",
        "country",
        "lead_source",
        "employees",
    }


def test_clean_batch_scores_every_row_like_the_plain_path(scoring_model, fresh, tmp_path):
    model = scoring_model[0]
    leads, acts, snapshot = fresh
    run = _run(model, tmp_path, leads, acts, as_of=snapshot)
    scored = _read(run.output)
    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert scored[LEAD_ID].tolist() == leads[LEAD_ID].tolist()  # input order
    rejects = _read(run.rejects_path)
    assert list(rejects.columns) == list(REJECT_COLUMNS) and len(rejects) == 0
    plain = score_leads(
        model, validate_leads(leads), validate_activities(acts), as_of=snapshot
    ).set_index(LEAD_ID)
    cols = ["score", "grade", "is_mql"]
    pd.testing.assert_frame_equal(scored.set_index(LEAD_ID)[cols], plain.loc[scored[LEAD_ID]][cols])
    np.testing.assert_allclose(
        scored["probability"], plain.loc[scored[LEAD_ID], "probability"], rtol=1e-6
    )
    report = json.loads(run.report_path.read_text())
    assert report["rows"] == {
        "input": 300,
        "scored": 300,
        "rejected": 0,
        "mqls": int(scored["is_mql"].sum()),
    }
    assert run.summary.startswith("scored 300 of 300 leads, 0 rejected, ")


@pytest.mark.parametrize("fmt", ["semicolon.csv", "bom-semicolon.csv", "tsv", "xlsx"])
def test_every_export_format_scores_like_a_comma_csv(scoring_model, fresh, tmp_path, fmt):
    """The one reader: a ;-separated (Excel in many locales), BOM-prefixed, tab-separated
    or Excel leads file, with ;-separated activities, scores exactly as plain CSV does."""
    leads, acts, snapshot = fresh
    (tmp_path / "plain").mkdir()
    plain = _run(scoring_model[0], tmp_path / "plain", leads, acts, as_of=snapshot)
    suffix = ".xlsx" if fmt == "xlsx" else (".tsv" if fmt == "tsv" else ".csv")
    path = tmp_path / f"leads{suffix}"
    if fmt == "xlsx":
        leads.to_excel(path, index=False)
    else:
        text = leads.to_csv(index=False, sep="\t" if fmt == "tsv" else ";")
        path.write_bytes(("\ufeff" if fmt.startswith("bom") else "").encode() + text.encode())
    act_path = tmp_path / "activities.csv"
    acts.to_csv(act_path, index=False, sep=";")
    run = score_files(scoring_model[0], path, tmp_path / "scored.csv", act_path, snapshot)
    pd.testing.assert_frame_equal(_read(run.output), _read(plain.output))
    assert run.result.report["rows"] == plain.result.report["rows"]


def test_output_paths_sit_beside_the_output(tmp_path):
    assert output_paths(tmp_path / "scored.csv") == (
        tmp_path / "scored.rejects.csv",
        tmp_path / "scored.report.json",
    )
    assert output_paths("x/s.parquet")[0].name == "s.rejects.parquet"


def test_missing_required_columns_are_listed_in_one_error(scoring_model, fresh):
    leads = fresh[0].drop(columns=["created_at", "email", "employees"])
    with pytest.raises(DataValidationError) as err:
        check_batch(leads, None, scoring_model[0], now=NOW, source="new.csv")
    assert len(err.value.problems) == 1
    msg = err.value.problems[0]
    assert "new.csv: missing required columns 'created_at', 'employees', 'email'" in msg


def test_missing_columns_of_both_tables_come_together(scoring_model, fresh):
    leads, acts, _ = fresh
    with pytest.raises(DataValidationError) as err:
        check_batch(
            leads.drop(columns=["industry"]),
            acts.drop(columns=["activity_type"]),
            scoring_model[0],
            now=NOW,
        )
    text = str(err.value)
    assert "missing required column 'industry'" in text
    assert "missing required column 'activity_type'" in text


def test_extra_columns_are_ignored_and_listed(scoring_model, fresh, tmp_path):
    leads = fresh[0].assign(crm_owner="ana", notes="call back")
    run = _run(scoring_model[0], tmp_path, leads, as_of=fresh[2])
    report = json.loads(run.report_path.read_text())
    assert report["ignored_columns"] == ["crm_owner", "notes"]
    assert any("'crm_owner', 'notes'" in n for n in run.result.notes)
    assert len(_read(run.output)) == len(leads)


@pytest.mark.parametrize(
    ("value", "shown"), [("1,200", "'1,200'"), ("n/a", "'n/a'"), ("12 people", "'12 people'")]
)
def test_lossy_numeric_text_is_an_error_naming_column_and_rows(scoring_model, fresh, value, shown):
    leads = fresh[0].copy()
    leads.loc[[4, 9], "employees"] = value
    with pytest.raises(DataValidationError, match="column 'employees': not a number") as err:
        check_batch(leads, None, scoring_model[0], now=NOW, source="new.csv")
    assert f"rows 5, 10 (values {shown}, {shown})" in str(err.value)


def test_numbers_in_a_date_column_are_an_error(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads[CREATED_AT] = np.arange(len(leads), dtype="int64") + 1_700_000_000
    path, _ = _write(tmp_path, leads, name="leads.parquet")
    with pytest.raises(DataValidationError, match="column 'created_at': numbers, not dates"):
        score_files(scoring_model[0], path, tmp_path / "o.csv", now=NOW)
    assert list(tmp_path.iterdir()) == [path]


def test_duplicate_lead_ids_are_an_error(scoring_model, fresh):
    leads = fresh[0].copy()
    leads.loc[7, LEAD_ID] = leads.loc[2, LEAD_ID]
    with pytest.raises(
        DataValidationError, match=r"duplicated lead_id \(1 distinct id\) in 2 rows: rows 3, 8"
    ):
        check_batch(leads, None, scoring_model[0], now=NOW)


def _bad_activity(acts, leads, column, value):
    acts = acts.copy()
    first = acts.index[acts[LEAD_ID] == leads.loc[5, LEAD_ID]][0]
    acts.loc[first, column] = value
    return acts, first


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (LEAD_ID, "", "lead_id is empty"),
        (CREATED_AT, "2025-13-45", "created_at is not a date/time: '2025-13-45'"),
        (CREATED_AT, "yesterday", "created_at is not a date/time: 'yesterday'"),
        (CREATED_AT, "", "created_at is empty"),
        (CREATED_AT, "2031-06-01", "created_at is after the scoring time: '2031-06-01' vs as_of"),
        ("employees", "inf", "employees is not a finite number: 'inf'"),
        ("employees", "NaN", "employees is not a finite number: 'NaN'"),
    ],
)
def test_row_problems_go_to_the_rejects_file_with_the_reason(
    scoring_model, fresh, tmp_path, column, value, reason
):
    leads = fresh[0].copy()
    leads.loc[5, column] = value
    run = _run(scoring_model[0], tmp_path, leads)  # as_of: NOW (2030-01-01)
    rejects = _read(run.rejects_path)
    assert len(rejects) == 1
    assert rejects.loc[0, "row"] == 6 and rejects.loc[0, "column"] == column
    assert reason in rejects.loc[0, "reason"]
    scored = _read(run.output)
    assert len(scored) == len(leads) - 1
    assert fresh[0].loc[5, LEAD_ID] not in set(scored[LEAD_ID])
    assert json.loads(run.report_path.read_text())["rejected_by_column"] == {column: 1}


def test_an_empty_numeric_cell_is_a_missing_value_not_a_reject(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[5, "employees"] = ""
    run = _run(scoring_model[0], tmp_path, leads)
    assert len(_read(run.rejects_path)) == 0 and len(_read(run.output)) == len(leads)


def test_a_row_with_several_problems_is_one_reject_naming_each(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[0, [CREATED_AT, "employees"]] = ["soon", "-inf"]
    run = _run(scoring_model[0], tmp_path, leads)
    (row,) = _read(run.rejects_path).itertuples()
    assert row.column == "created_at; employees"
    assert "created_at is not a date/time: 'soon'" in row.reason
    assert "employees is not a finite number: '-inf'" in row.reason


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("occurred_at", "last tuesday", "occurred_at is not a date/time: 'last tuesday'"),
        ("occurred_at", "", "occurred_at is empty"),
        ("activity_type", "", "activity_type is empty"),
    ],
)
def test_a_lead_with_an_unusable_activity_is_rejected(
    scoring_model, fresh, tmp_path, column, value, reason
):
    leads, acts, snapshot = fresh
    acts, act_pos = _bad_activity(acts, leads, column, value)
    run = _run(scoring_model[0], tmp_path, leads, acts, as_of=snapshot)
    (row,) = _read(run.rejects_path).itertuples()
    assert row.lead_id == leads.loc[5, LEAD_ID] and row.row == 6
    assert f"first: row {act_pos + 1}, {reason}" in row.reason
    assert len(_read(run.output)) == len(leads) - 1


def test_unseen_categories_are_scored_as_unknown_and_counted(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[:9, "industry"] = "Space Mining"
    leads.loc[:2, "country"] = "Atlantis"
    run = _run(scoring_model[0], tmp_path, leads, as_of=fresh[2])
    report = json.loads(run.report_path.read_text())
    assert report["unseen_categories"] == {"industry": 10, "country": 3}
    assert len(_read(run.output)) == len(leads)
    assert any(
        "industry (10 leads: 'Space Mining' 10), country (3 leads: 'Atlantis' 3)" in n
        for n in run.result.notes
    )
    assert report["unseen_category_values"] == {
        "industry": {"Space Mining": 10}, "country": {"Atlantis": 3}
    }
    # scored exactly as if the value were missing
    blank = leads.copy()
    blank.loc[:9, "industry"] = ""
    blank.loc[:2, "country"] = ""
    (tmp_path / "b").mkdir()
    other = _run(scoring_model[0], tmp_path / "b", blank, as_of=fresh[2])
    pd.testing.assert_frame_equal(_read(run.output), _read(other.output))


def test_activities_of_other_leads_are_ignored_and_counted(scoring_model, fresh, tmp_path):
    leads, acts, snapshot = fresh
    stray = acts.head(3).assign(lead_id="NOT-IN-BATCH")
    run = _run(scoring_model[0], tmp_path, leads, pd.concat([acts, stray]), as_of=snapshot)
    assert any("3 rows of leads not in the batch ignored" in n for n in run.result.notes)


def test_as_of_column_values_are_checked_per_row(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads["as_of"] = "2026-01-01T00:00:00Z"
    leads.loc[3, "as_of"] = "someday"
    run = _run(scoring_model[0], tmp_path, leads)
    (row,) = _read(run.rejects_path).itertuples()
    assert row.row == 4 and row.column == "as_of"
    assert "ignored_columns" in json.loads(run.report_path.read_text())


def test_a_bad_as_of_argument_is_an_error(scoring_model, fresh):
    with pytest.raises(DataValidationError, match="as_of: expected a date or time"):
        check_batch(fresh[0], None, scoring_model[0], as_of="whenever")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        (
            "lead_id,created_at,email,job_title,company_size,industry,country,lead_source,"
            "employees\n",
            "the table has no rows",
        ),
    ],
)
def test_an_empty_file_is_an_error(scoring_model, tmp_path, text, message):
    path = tmp_path / "leads.csv"
    path.write_text(text)
    with pytest.raises(MqlmlError, match=message):
        score_files(scoring_model[0], path, tmp_path / "o.csv", now=NOW)


def test_chunks_give_the_same_scores_and_report_progress(scoring_model, fresh):
    model = scoring_model[0]
    leads, acts, snapshot = fresh
    checked = check_batch(leads, acts, model, snapshot)
    seen = []
    chunked = score_checked(model, checked, chunk_rows=70, progress=lambda d, t: seen.append(d))
    whole = score_checked(model, checked)
    pd.testing.assert_frame_equal(chunked.scored, whole.scored)
    assert seen == [0, 70, 140, 210, 280, 300]
    with pytest.raises(MqlmlError, match="chunk_rows must be a positive integer, got 0"):
        score_checked(model, checked, chunk_rows=0)


def test_an_interrupted_write_leaves_no_partial_output(scoring_model, fresh, tmp_path, monkeypatch):
    leads = fresh[0]
    _run(scoring_model[0], tmp_path, leads, as_of=fresh[2])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = pd.DataFrame.to_csv
    calls = []

    def dies_mid_way(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the scored leads, after the rejects were written
            real(self.head(10), path, *args, **kwargs)
            raise KeyboardInterrupt
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", dies_mid_way)
    changed = leads.copy()
    changed.loc[0, "employees"] = "inf"  # this run would write a reject
    with pytest.raises(KeyboardInterrupt):
        _run(scoring_model[0], tmp_path, changed, as_of=fresh[2])
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "leads.csv"}
    assert after == {k: v for k, v in before.items() if k != "leads.csv"}  # old run intact
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_parquet_batches_with_typed_columns(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads[CREATED_AT] = pd.to_datetime(leads[CREATED_AT], utc=True)
    leads["employees"] = leads["employees"].astype(float)
    leads.loc[1, "employees"] = np.inf
    leads.loc[2, "employees"] = np.nan  # missing: scored
    path, _ = _write(tmp_path, leads, name="leads.parquet")
    run = score_files(scoring_model[0], path, tmp_path / "s.parquet", as_of=fresh[2])
    assert pd.read_parquet(run.rejects_path)["row"].tolist() == [2]
    assert len(pd.read_parquet(run.output)) == len(leads) - 1


# --- the command line -----------------------------------------------------------------


def test_cli_prints_counts_rejects_and_summary(scoring_model, fresh, tmp_path):
    leads, acts, snapshot = fresh
    leads = leads.copy()
    leads.loc[3, CREATED_AT] = "2025-02-30"
    path, acts_path = _write(tmp_path, leads, acts)
    out = tmp_path / "scored.csv"
    res = CliRunner().invoke(
        app,
        ["score", "--model", str(scoring_model[1]), "--leads", str(path), "--activities",
         str(acts_path), "--out", str(out), "--as-of", str(snapshot), "--chunk-rows", "100"],
    )
    assert res.exit_code == 0, res.output
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("scored 299 of 300 leads, 1 rejected, ")
    assert " MQLs, " in last and "drift warning" in last and last.endswith(f"s -> {out}")
    assert "scored.rejects.csv" in res.output and "scored.report.json" in res.output
    assert "\r" not in res.output and "\x1b[" not in res.output  # no bar in logs
    assert len(_read(out)) + len(_read(tmp_path / "scored.rejects.csv")) == 300


def test_cli_error_for_a_bad_batch_writes_nothing(scoring_model, fresh, tmp_path):
    path, _ = _write(tmp_path, fresh[0].drop(columns=[LEAD_ID]))
    res = CliRunner().invoke(
        app,
        ["score", "--model", str(scoring_model[1]), "--leads", str(path), "--out",
         str(tmp_path / "o.csv")],
    )
    assert res.exit_code == 2 and "missing required column 'lead_id'" in res.output
    assert "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


def test_progress_bar_only_on_a_terminal_for_long_batches():
    from rich.console import Console

    def shown(terminal, total):
        buf = StringIO()
        with _ScoringProgress() as progress:
            progress._console = Console(file=buf, force_terminal=terminal, width=80)
            for done in range(0, total + 1, 25_000):
                progress(done, total)
        return buf.getvalue()

    assert "scoring leads" in shown(True, 100_000)
    assert shown(False, 100_000) == ""
    assert shown(True, 5_000) == ""


def test_unseen_counts_read_off_the_features_match_the_feature_module(scoring_model, fresh):
    from mqlml.features.build import build_features, unseen_category_counts
    from mqlml.scoring.batch import _unseen_categories

    model = scoring_model[0]
    leads = fresh[0].copy()
    leads.loc[:4, "industry"] = "Space Mining"
    leads.loc[2:3, "lead_source"] = "carrier pigeon"
    leads.loc[6, "industry"] = ""
    checked = check_batch(leads, None, model, fresh[2])
    features = build_features(checked.leads, checked.activities, checked.as_of, model.spec)
    expected = unseen_category_counts(checked.leads, model.spec)
    assert expected == {"industry": 5, "lead_source": 2}
    assert _unseen_categories(checked.leads, features, model.spec) == expected


def test_the_training_column_mapping_applies_to_batches(scoring_model, fresh):
    from dataclasses import replace

    model = scoring_model[0]
    data = model.config.data.model_copy(update={"column_mapping": {"leads": {"Lead ID": LEAD_ID}}})
    mapped = replace(model, config=model.config.model_copy(update={"data": data}))
    leads = fresh[0].rename(columns={LEAD_ID: "Lead ID"})
    checked = check_batch(leads, None, mapped, fresh[2])
    assert checked.leads[LEAD_ID].tolist() == fresh[0][LEAD_ID].tolist()
    with pytest.raises(DataValidationError, match="renames 'Lead ID', but the file has no such"):
        check_batch(fresh[0], None, mapped, fresh[2])


def test_dates_outside_the_supported_years_are_rejects(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    created = pd.to_datetime(leads[CREATED_AT], utc=True).dt.tz_localize(None)
    created = created.to_numpy().astype("datetime64[us]")
    created[[2, 4]] = np.array(["-0001-01-01", "9999-12-31"], dtype="datetime64[us]")
    leads[CREATED_AT] = pd.Series(created).dt.tz_localize("UTC")
    path, _ = _write(tmp_path, leads, name="leads.parquet")
    run = score_files(scoring_model[0], path, tmp_path / "s.csv", as_of=fresh[2])
    rejects = _read(run.rejects_path)
    assert rejects["row"].tolist() == [3, 5]
    assert rejects["reason"].tolist() == [
        "created_at is outside the years 1900-2199: '-1-01-01'",
        "created_at is outside the years 1900-2199: '9999-12-31'",
    ]


# --- what the batch lacks, said in words (issue 19, item 4) ---------------------------------


@pytest.mark.parametrize(
    ("with_activities", "as_of", "expected"),
    [
        (False, "snapshot", ["no activities given: every behaviour feature is zero/missing"]),
        (True, None, ["no scoring moment given (no --as-of, no as_of column): every lead is "
                      "scored as of now, 2030-01-01T00:00:00+00:00"]),
        (False, None, ["no activities given", "no scoring moment given"]),
        (True, "snapshot", []),
    ],
)
def test_batch_without_activities_or_moment_is_warned_and_recorded(
    scoring_model, fresh, tmp_path, with_activities, as_of, expected
):
    leads, acts, snapshot = fresh
    moment = snapshot if as_of == "snapshot" else None
    run = _run(scoring_model[0], tmp_path, leads, acts if with_activities else None, moment)
    report = json.loads(run.report_path.read_text())
    # Drift and the base rate the scores imply (all low without activities) are warned
    # elsewhere; these are the warnings about what the batch lacks.
    said = [w for w in report["warnings"] if "PSI" not in w and "looks unlike" not in w]
    assert len(said) == len(expected)
    for warning, start in zip(said, expected, strict=True):
        assert warning.startswith(start)
    assert run.result.warnings == tuple(report["warnings"])
    recorded = pd.Timestamp(snapshot if moment is not None else NOW)
    recorded = recorded.tz_localize("UTC") if recorded.tzinfo is None else recorded
    assert report["as_of"] == recorded.isoformat()
    assert report["as_of_source"] == ("given" if moment is not None else "now")


def test_cli_says_the_missing_activities_and_moment_and_records_the_model(
    scoring_model, fresh, tmp_path
):
    leads, _, _ = fresh
    path, _ = _write(tmp_path, leads)
    res = CliRunner().invoke(app, ["score", "--model", str(scoring_model[1]), "--leads",
                                   str(path), "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert "warning: no activities given: every behaviour feature is zero/missing, so " \
           "scores reflect fit only" in res.stderr
    assert "warning: no scoring moment given" in res.stderr
    report = json.loads((tmp_path / "s.report.json").read_text())
    assert report["model"]["version"] == scoring_model[1].name
    assert report["model"]["source"] == str(scoring_model[1])
    assert report["as_of"] is not None


# --- crash-clean, spreadsheet-safe outputs (issue 17 items 4, 5, 7) -----------------------


def test_kill_9_before_the_renames_keeps_the_old_run_and_the_next_run_cleans_up(
    scoring_model, fresh, tmp_path
):
    import os
    import signal
    import subprocess
    import sys

    from mqlml.data.files import PAUSE_ENV, STAGING_PREFIX
    from mqlml.scoring.batch import complete_run

    leads, _, snapshot = fresh
    first = _run(scoring_model[0], tmp_path, leads, as_of=snapshot)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert complete_run(first.output)
    code = (
        "import sys; from mqlml.model.bundle import load_bundle; "
        "from mqlml.scoring.batch import score_files; "
        "score_files(load_bundle(sys.argv[1]), sys.argv[2], sys.argv[3], as_of=sys.argv[4])"
    )
    env = {**os.environ, PAUSE_ENV: "60", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(scoring_model[1]), str(tmp_path / "leads.csv"),
         str(first.output), str(snapshot)],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        for line in proc.stderr:  # the writer says when its files are staged
            if line.startswith(PAUSE_ENV):
                break
        staged = [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]
        assert len(staged) == 1 and len(list(staged[0].iterdir())) == 3
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # The old run is whole and still complete; its staging litter is there until ...
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert complete_run(first.output)
    # ... the next run in that folder, which removes what the dead run left.
    _run(scoring_model[0], tmp_path, leads, as_of=snapshot)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_a_crash_between_renames_leaves_no_report_so_the_run_reads_incomplete(
    scoring_model, fresh, tmp_path, monkeypatch
):
    import os

    from mqlml.scoring.batch import complete_run

    leads, _, snapshot = fresh
    run = _run(scoring_model[0], tmp_path, leads, as_of=snapshot)
    report = json.loads(run.report_path.read_text())
    assert set(report["files"]) == {"output", "rejects"}
    assert report["files"]["output"]["bytes"] == run.output.stat().st_size
    real, calls = os.replace, []

    def dies_after_one(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the rejects are new, the output not yet
            raise KeyboardInterrupt
        return real(src, dst)

    changed = leads.copy()
    changed.loc[0, "employees"] = "inf"
    monkeypatch.setattr(os, "replace", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        _run(scoring_model[0], tmp_path, changed, as_of=snapshot)
    monkeypatch.undo()
    assert not run.report_path.exists()  # the "done" file goes first
    assert not complete_run(run.output)
    run = _run(scoring_model[0], tmp_path, changed, as_of=snapshot)
    assert complete_run(run.output)
    run.output.write_text(run.output.read_text() + "x")  # a file edited afterwards
    assert not complete_run(run.output)


def test_an_unwritable_output_folder_fails_before_reading_or_scoring(
    scoring_model, fresh, tmp_path, monkeypatch
):
    import mqlml.scoring.batch as batch_module

    path, _ = _write(tmp_path, fresh[0])
    (tmp_path / "taken").write_text("a file, not a folder")
    out = tmp_path / "taken" / "scored.csv"

    def must_not_run(*args, **kwargs):
        raise AssertionError("read or scored before the output folder was checked")

    monkeypatch.setattr(batch_module, "_read_batch", must_not_run)
    with pytest.raises(MqlmlError, match="taken: (not a folder|cannot write output files)"):
        score_files(scoring_model[0], path, out, as_of=fresh[2])
    monkeypatch.setattr(batch_module, "score_files", must_not_run)
    res = CliRunner().invoke(app, ["score", "--model", "no/such/model", "--leads", str(path),
                                   "--out", str(out)])
    # Said before the model is even looked up.
    assert res.exit_code == 2 and "taken" in res.output and "no/such/model" not in res.output


def test_csv_cells_that_spreadsheets_would_run_are_neutralised(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[0, LEAD_ID] = '=HYPERLINK("http://x","click")'
    leads.loc[1, LEAD_ID] = "-42"
    leads.loc[2, LEAD_ID] = "@SUM(A1)"
    leads.loc[3, CREATED_AT] = "not a date"
    leads.loc[3, LEAD_ID] = "+1"  # a reject: its lead_id is neutralised there too
    run = _run(scoring_model[0], tmp_path, leads, as_of=fresh[2])
    scored, rejects = _read(run.output), _read(run.rejects_path)
    ids = scored[LEAD_ID].tolist()
    assert ids[:3] == ["'=HYPERLINK(\"http://x\",\"click\")", "'-42", "'@SUM(A1)"]
    assert rejects[LEAD_ID].tolist() == ["'+1"]
    # Numbers stay numbers: no quote in a numeric column, and a text cell holds no formula.
    assert scored["score"].dtype.kind == "i" and scored["probability"].dtype.kind == "f"
    for frame in (scored, rejects):
        text = frame.select_dtypes(exclude="number").astype(str)
        assert not text.apply(lambda c: c.str.match(r"[=+\-@\t\r]")).any().any()
    raw = score_files(scoring_model[0], tmp_path / "leads.csv", tmp_path / "raw.csv",
                      as_of=fresh[2], safe_csv=False)
    assert _read(raw.output)[LEAD_ID].tolist()[:3] == [leads.loc[i, LEAD_ID] for i in range(3)]
    parquet = score_files(scoring_model[0], tmp_path / "leads.csv", tmp_path / "s.parquet",
                          as_of=fresh[2])
    assert pd.read_parquet(parquet.output)[LEAD_ID].tolist()[0] == leads.loc[0, LEAD_ID]


def test_cli_raw_csv_flag_turns_the_guard_off(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[0, LEAD_ID] = "=1+2"
    path, _ = _write(tmp_path, leads)
    base = ["score", "--model", str(scoring_model[1]), "--leads", str(path), "--as-of",
            str(fresh[2])]
    assert CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a.csv")]).exit_code == 0
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b.csv"), "--raw-csv"])
    assert res.exit_code == 0, res.output
    assert _read(tmp_path / "a.csv")[LEAD_ID].iloc[0] == "'=1+2"
    assert _read(tmp_path / "b.csv")[LEAD_ID].iloc[0] == "=1+2"


def test_a_number_that_overflows_to_infinity_is_rejected_not_scored(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[4, "employees"] = "1e400"
    leads.loc[5, "employees"] = "-1e400"
    run = _run(scoring_model[0], tmp_path, leads, as_of=fresh[2])
    rejects = _read(run.rejects_path)
    assert rejects["row"].tolist() == [5, 6]
    assert rejects["reason"].str.contains("employees is not a finite number").all()
    assert not _read(run.output)[LEAD_ID].isin(leads.loc[[4, 5], LEAD_ID]).any()


def test_explain_skips_other_bad_rows_like_score_and_names_its_own(scoring_model, fresh, tmp_path):
    leads = fresh[0].copy()
    leads.loc[0, CREATED_AT] = "not a date"
    leads.loc[1, "employees"] = "inf"
    path, _ = _write(tmp_path, leads)
    base = ["explain", "--model", str(scoring_model[1]), "--leads", str(path), "--as-of",
            str(fresh[2])]
    res = CliRunner().invoke(app, [*base, "--lead-id", leads.loc[7, LEAD_ID]])
    assert res.exit_code == 0, res.output
    assert f"lead {leads.loc[7, LEAD_ID]}: score " in res.output
    res = CliRunner().invoke(app, [*base, "--lead-id", leads.loc[1, LEAD_ID]])
    assert res.exit_code == 2 and "(row 2) cannot be explained" in res.output
    assert "employees is not a finite number" in res.output
