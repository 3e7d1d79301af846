"""Activities read out of core (Parquet files, a folder, a glob) behave as the same events
read into memory: same checks and messages, same model, same scores."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mqlml
from conftest import make_activities, make_leads
from mqlml.columns import ACTIVITY_TYPE, LEAD_ID, OCCURRED_AT
from mqlml.config import load_config
from mqlml.data.activity_files import ActivityFiles, is_out_of_core
from mqlml.data.contract import validate_crm
from mqlml.errors import DataValidationError, MqlmlError
from mqlml.features.activity import activity_features, features_from_table, files_summary
from mqlml.scoring.batch import check_batch

SMALL = load_config(None, {"gate": {"min_train_positives": 30, "min_test_positives": 10}})


def split_parquet(acts: pd.DataFrame, folder: Path, n: int = 3) -> list[Path]:
    """``acts`` shuffled into ``n`` Parquet files ``part<i>.parquet`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shuffled = acts.sample(frac=1.0, random_state=0).reset_index(drop=True)
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(shuffled)), n)):
        paths.append(folder / f"part{i}.parquet")
        shuffled.iloc[rows].to_parquet(paths[-1], index=False)
    return paths


@pytest.fixture(scope="module")
def two_ways(tmp_path_factory):
    """One history trained twice: activities from one CSV (in memory) and from three
    Parquet files by glob (out of core). Types spelt two ways test normalisation."""
    from mqlml.synthetic.generate import generate_history

    tmp = tmp_path_factory.mktemp("ooc")
    h = generate_history(1200, seed=5)
    acts = h.activities[[LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]].copy()
    spelt = acts[ACTIVITY_TYPE].eq("email_open") & (np.arange(len(acts)) % 2 == 0)
    acts.loc[spelt, ACTIVITY_TYPE] = " Email  Open"
    csv = tmp / "activities.csv"
    acts.to_csv(csv, index=False)
    split_parquet(acts, tmp / "acts")
    glob = str(tmp / "acts" / "*.parquet")
    mem = mqlml.train(leads=h.leads, activities=csv, outcomes=h.outcomes, config=SMALL)
    ooc = mqlml.train(leads=h.leads, activities=glob, outcomes=h.outcomes, config=SMALL)
    return h, csv, glob, mem, ooc


def test_out_of_core_is_decided_by_the_kind_of_input(tmp_path):
    (tmp_path / "folder").mkdir()
    assert is_out_of_core(tmp_path / "a.parquet") and is_out_of_core("acts/*.csv")
    assert is_out_of_core(tmp_path / "folder")
    assert not is_out_of_core(tmp_path / "a.csv") and not is_out_of_core("a.xlsx")


def test_training_and_scoring_from_parquet_files_equal_one_csv_in_memory(two_ways):
    h, csv, glob, mem, ooc = two_ways
    assert mem.model_.spec == ooc.model_.spec
    assert "email_open" in ooc.model_.spec.activity_types
    assert mem.summary_.metrics_test == ooc.summary_.metrics_test
    batch = h.leads.tail(300)
    moment = pd.Timestamp("2026-01-01", tz="UTC")
    pd.testing.assert_frame_equal(
        mem.score(batch, csv, as_of=moment), ooc.score(batch, glob, as_of=moment)
    )


def test_score_files_from_a_folder_of_parquet_equal_the_csv(two_ways, tmp_path):
    from mqlml.scoring.batch import score_files

    h, csv, glob, mem, _ = two_ways
    leads = tmp_path / "leads.csv"
    h.leads.tail(200).to_csv(leads, index=False)
    folder = Path(glob).parent
    runs = [
        score_files(mem.model_, leads, tmp_path / f"{name}.csv", acts, "2026-01-01")
        for name, acts in (("mem", csv), ("ooc", folder))
    ]
    assert (tmp_path / "mem.csv").read_bytes() == (tmp_path / "ooc.csv").read_bytes()
    notes = [n.replace(str(csv), str(folder)) for n in runs[0].result.notes]
    assert notes == list(runs[1].result.notes) and "not in the batch ignored" in notes[-1]
    assert runs[1].result.report["rows"]["scored"] == 200


def _bad_files(tmp_path, defect):
    """Leads, and three Parquet files of their activities with ``defect`` in the second."""
    leads = make_leads(60)
    acts = make_activities(leads).drop(columns="detail")
    acts[OCCURRED_AT] = acts[OCCURRED_AT].dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # text times
    paths = split_parquet(acts, tmp_path / "acts")
    bad = pd.read_parquet(paths[1])
    if defect == "missing column":
        bad = bad.drop(columns=ACTIVITY_TYPE)
    elif defect == "unparseable time":
        bad.loc[[2, 7], OCCURRED_AT] = ["soon", "2025-13-45"]
    elif defect == "null lead id":
        bad.loc[[4], LEAD_ID] = None
    elif defect == "unknown lead":
        bad.loc[[0, 5], LEAD_ID] = ["X1", "X2"]
    bad.to_parquet(paths[1], index=False)
    return leads, paths


@pytest.mark.parametrize(
    "defect", ["missing column", "unparseable time", "null lead id", "unknown lead"]
)
def test_a_bad_parquet_file_gives_the_in_memory_message(tmp_path, defect):
    leads, paths = _bad_files(tmp_path, defect)
    with pytest.raises(DataValidationError) as in_memory:
        validate_crm(leads, pd.read_parquet(paths[1]), None,
                     sources={"activities": str(paths[1])})
    with pytest.raises(DataValidationError) as out_of_core:
        validate_crm(leads, ActivityFiles(str(tmp_path / "acts" / "*.parquet")), None)
    # The files without the defect add nothing: the message is the in-memory one, naming
    # the second file, the column, the rows and what was expected.
    assert out_of_core.value.problems == in_memory.value.problems
    message = out_of_core.value.problems[0]
    assert message.startswith(str(paths[1]))
    if defect == "missing column":
        assert "missing required column 'activity_type'" in message
    else:
        assert " row" in message and "; expected" in message


def test_a_problem_counts_every_row_though_only_the_first_are_fetched(tmp_path):
    leads = make_leads(40)
    acts = make_activities(leads, per_lead=5).drop(columns="detail")
    acts[ACTIVITY_TYPE] = acts[ACTIVITY_TYPE].astype(object)
    acts.loc[acts.index[::10], ACTIVITY_TYPE] = "  "  # 20 rows, every tenth
    path = tmp_path / "acts.parquet"
    acts.to_parquet(path, index=False)
    with pytest.raises(DataValidationError) as in_memory:
        validate_crm(leads, acts, None, sources={"activities": str(path)})
    with pytest.raises(DataValidationError) as out_of_core:
        validate_crm(leads, ActivityFiles(path), None)
    assert out_of_core.value.problems == in_memory.value.problems
    assert "empty in 20 rows: rows 1, 11, 21, 31, 41, ..." in out_of_core.value.problems[0]


def test_scoring_rejects_and_ignores_rows_as_in_memory(two_ways, tmp_path):
    h, _, _, mem, _ = two_ways
    leads = h.leads.tail(50).reset_index(drop=True)
    acts = h.activities[h.activities[LEAD_ID].isin(leads[LEAD_ID])][
        [LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]
    ].reset_index(drop=True)
    acts[OCCURRED_AT] = acts[OCCURRED_AT].dt.strftime("%Y-%m-%d %H:%M:%S")
    acts.loc[3, OCCURRED_AT] = "never"  # its lead is rejected, naming this row
    acts.loc[5, OCCURRED_AT] = "2301-01-01"  # outside the years: rejected too
    acts.loc[8, LEAD_ID] = "not-in-batch"  # ignored and counted
    acts.loc[9, LEAD_ID] = None  # ignored and counted
    path = tmp_path / "acts.parquet"
    acts.to_parquet(path, index=False)
    moment = pd.Timestamp("2026-01-01", tz="UTC")
    a = check_batch(leads, acts, mem.model_, moment, activities_source=str(path))
    b = check_batch(leads, ActivityFiles(path), mem.model_, moment, activities_source=str(path))
    assert len(a.rejects) >= 1 and "row 4, occurred_at is not a date/time" in " ".join(
        a.rejects["reason"])
    pd.testing.assert_frame_equal(a.rejects, b.rejects)
    assert a.notes == b.notes and any("without a lead_id ignored" in n for n in b.notes)
    pd.testing.assert_frame_equal(a.leads, b.leads)


def test_a_tiny_duckdb_memory_limit_is_honoured_and_still_finishes(tmp_path):
    rng = np.random.default_rng(0)
    n, e = 12_000, 300_000
    ids = np.array([f"L{i:06d}" for i in range(n)], dtype=object)
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    acts = pd.DataFrame({
        LEAD_ID: ids[rng.integers(0, n, e)],
        OCCURRED_AT: t0 + pd.to_timedelta(rng.uniform(0, 200, e), unit="D"),
        ACTIVITY_TYPE: rng.choice(["page_view", "email_open", "demo_request"], e),
    })
    acts.to_parquet(tmp_path / "a.parquet", index=False)
    lead_ids = pd.Series(ids, dtype="str")
    as_of = pd.Series(t0 + pd.to_timedelta(rng.uniform(20, 220, n), unit="D"))
    windows, own = (7, 30, 90), ("page_view", "email_open")
    want = activity_features(lead_ids.to_frame(LEAD_ID), acts,
                             as_of.dt.as_unit("us").astype("int64").to_numpy(), own, windows,
                             engine="numpy")

    tiny = ActivityFiles(tmp_path / "a.parquet", memory_limit="32MB",
                         temp_directory=tmp_path / "spill", threads=1)
    assert tiny.schema_problems() == []
    setting = tiny.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert setting.endswith("MiB") and float(setting.split()[0]) < 32
    summary = files_summary(tiny, lead_ids, as_of, windows)
    got = features_from_table(summary.table, lead_ids, as_of, own, windows)
    for column, values in want.items():
        np.testing.assert_allclose(got[column], values, err_msg=column)

    # Below what even one thread needs: a clear error naming the setting, not a crash.
    starved = ActivityFiles(tmp_path / "a.parquet", memory_limit="1MB", threads=2)
    starved.schema_problems()
    with pytest.raises(MqlmlError, match=r"data\.memory_limit \(.*\) allows"):
        files_summary(starved, lead_ids, as_of, windows)


def test_a_folder_or_glob_without_parquet_files_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MqlmlError, match="no Parquet files found"):
        ActivityFiles(tmp_path / "empty")
    (tmp_path / "x.csv").write_text("lead_id\n1\n")
    with pytest.raises(MqlmlError, match="is not a Parquet file"):
        ActivityFiles(str(tmp_path / "*"))


def test_ids_and_types_with_surrounding_whitespace_match_as_in_memory(tmp_path):
    """Stripping is Python's (tabs, no-break spaces), not only ASCII spaces."""
    leads = make_leads(30)
    acts = make_activities(leads).drop(columns="detail")
    acts[LEAD_ID] = acts[LEAD_ID].astype(object)
    acts[ACTIVITY_TYPE] = acts[ACTIVITY_TYPE].astype(object)
    acts.loc[::3, LEAD_ID] = "\t" + acts.loc[::3, LEAD_ID] + "\u00a0"
    acts.loc[::2, ACTIVITY_TYPE] = "\u3000Page  View "
    acts.to_parquet(tmp_path / "a.parquet", index=False)
    as_of = leads["created_at"] + pd.Timedelta(days=15)
    mem = validate_crm(leads, acts, None)
    files = ActivityFiles(tmp_path / "a.parquet")
    validate_crm(leads, files, None)  # no problem: every id is a lead once stripped
    windows, own = (7, 30), ("page_view", "email_open")
    want = activity_features(leads[[LEAD_ID]], mem.activities,
                             as_of.dt.as_unit("us").astype("int64").to_numpy(), own, windows)
    summary = files_summary(files, leads[LEAD_ID], as_of, windows)
    got = summary.features(leads[LEAD_ID], as_of, own, windows)
    assert want["n_page_view_30d"].sum() > 0
    for column, values in want.items():
        np.testing.assert_allclose(got[column], values, err_msg=column)


def test_a_summary_read_by_lead_position_equals_the_one_looked_up_by_lead_id(tmp_path):
    """files_summary keys its rows by lead position: the features of exactly its leads at
    their moments skip the lookup by lead_id; other leads or moments take the lookup."""
    leads = make_leads(40)
    acts = make_activities(leads).drop(columns="detail")
    acts.loc[::4, ACTIVITY_TYPE] = "Email  Open"  # merged with email_open: keys kept
    acts.to_parquet(tmp_path / "a.parquet", index=False)
    as_of = leads["created_at"] + pd.Timedelta(days=15)
    files = ActivityFiles(tmp_path / "a.parquet")
    validate_crm(leads, files, None)
    windows, own = (7, 30), ("page_view", "email_open")
    summary = files_summary(files, leads[LEAD_ID], as_of, windows)
    assert summary.positions(leads[LEAD_ID], as_of) is not None
    got = summary.features(leads[LEAD_ID], as_of, own, windows)
    want = features_from_table(summary.table, leads[LEAD_ID], as_of, own, windows)
    assert got.keys() == want.keys()
    for column, values in want.items():
        np.testing.assert_array_equal(got[column], values, err_msg=column)
    # Some of the leads, in another order: looked up by lead_id, the same values.
    some = np.arange(len(leads))[::-3]
    ids, moments = leads[LEAD_ID].iloc[some], as_of.iloc[some]
    assert summary.positions(ids, moments) is None
    part = summary.features(ids, moments, own, windows)
    for column, values in want.items():
        np.testing.assert_array_equal(part[column], values[some], err_msg=column)
    # The same leads at other moments: not this summary's rows.
    assert summary.positions(leads[LEAD_ID], as_of + pd.Timedelta(days=1)) is None
