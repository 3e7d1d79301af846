"""What changed since the previous scoring, and the state store behind it."""

import sqlite3

import pandas as pd
import pytest
from crm_frames import MONDAY, moments, score_and_record, scored_frame

from mqlml.columns import (
    BECAME_MQL,
    GRADE,
    GRADE_CHANGED,
    LEAD_ID,
    PREVIOUS_GRADE,
    PREVIOUS_SCORE,
    SCORE,
    SCORE_CHANGE,
    SCORE_TREND,
)
from mqlml.errors import MqlmlError
from mqlml.scoring.changes import STATE_COLUMNS, ScoreState, changed_rows, compare


def test_first_scoring_flags_every_mql_as_new_and_no_grade_change(tmp_path):
    frame = scored_frame([10, 45, 55, 80])
    changes = score_and_record(ScoreState(tmp_path / "state.sqlite"), frame)
    assert changes[BECAME_MQL].tolist() == [False, False, True, True]
    assert not changes[GRADE_CHANGED].any()
    assert changes[SCORE_TREND].tolist() == ["new"] * 4
    assert changes[SCORE_CHANGE].isna().all() and changes[PREVIOUS_SCORE].isna().all()
    assert changed_rows(changes).all()


def test_scoring_the_same_batch_twice_flags_nothing_the_second_time(tmp_path):
    state = ScoreState(tmp_path / "state.sqlite")
    frame = scored_frame([10, 45, 55, 80])
    score_and_record(state, frame)
    again = score_and_record(state, frame)
    assert not again[BECAME_MQL].any()
    assert not again[GRADE_CHANGED].any()
    assert again[SCORE_TREND].tolist() == ["same"] * 4
    assert again[SCORE_CHANGE].tolist() == [0, 0, 0, 0]
    assert not changed_rows(again).any()


def test_changes_are_measured_against_each_leads_previous_scoring(tmp_path):
    state = ScoreState(tmp_path / "state.sqlite")
    score_and_record(state, scored_frame([10, 45, 55, 80], ids=["a", "b", "c", "d"]))
    # b crosses the MQL line (B -> A), c falls below it (B stays B), d stays, e is new.
    week2 = scored_frame([12, 62, 48, 80, 70], ids=["a", "b", "c", "d", "e"])
    changes = score_and_record(state, week2, MONDAY + pd.Timedelta(days=7))
    assert changes[LEAD_ID].tolist() == ["a", "b", "c", "d", "e"]  # batch order kept
    assert changes[BECAME_MQL].tolist() == [False, True, False, False, True]
    assert changes[GRADE_CHANGED].tolist() == [False, True, False, False, False]
    assert changes[SCORE_TREND].tolist() == ["up", "up", "down", "same", "new"]
    assert changes[SCORE_CHANGE].tolist()[:4] == [2, 17, -7, 0]
    assert changes[PREVIOUS_GRADE].tolist()[:4] == ["D", "B", "B", "A"]
    assert changed_rows(changes).tolist() == [True, True, True, False, True]


def test_state_store_keeps_lead_ids_and_scores_only(tmp_path):
    path = tmp_path / "state.sqlite"
    frame = scored_frame([30, 70])
    frame["email"] = ["ann@example.com", "bob@example.com"]  # personal data in the batch
    score_and_record(ScoreState(path), frame)
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(scores)")]
        rows = conn.execute("SELECT * FROM scores ORDER BY lead_id").fetchall()
    assert tuple(columns) == STATE_COLUMNS
    assert rows[0] == ("L000", 30, "C", 0, "nurture", "2026-05-04T08:00:00+00:00", "demo/1")
    raw = path.read_bytes()
    assert b"example.com" not in raw and b"pricing page" not in raw


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path):
    state = ScoreState(tmp_path / "state.sqlite")
    score_and_record(state, scored_frame([10, 45]))
    week2 = scored_frame([90, 95])
    week2[GRADE] = pd.Series(["A", None], dtype="str")  # NOT NULL fails on the 2nd row
    changes = compare(week2, moments(week2), state.previous(week2[LEAD_ID]))
    with pytest.raises(MqlmlError, match="could not write the state store"):
        state.record(changes, "demo/2")
    kept = state.previous(week2[LEAD_ID])
    assert kept[SCORE].tolist() == [10, 45]  # the first row was rolled back too


def test_a_file_that_is_not_a_state_store_is_named(tmp_path):
    path = tmp_path / "mqlml-state.sqlite"
    path.write_text("lead_id,score\nL1,40\n" * 200)
    with pytest.raises(MqlmlError, match="mqlml-state.sqlite: expected mqlml's state store"):
        ScoreState(path).previous(pd.Series(["L1"]))
