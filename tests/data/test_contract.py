"""The data contract: validation, typing, messages, loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import (
    ACTIVITY_TYPE,
    COMPANY_SIZE,
    COUNTRY,
    CREATED_AT,
    DEAL_VALUE,
    DETAIL,
    LEAD_ID,
    LOST_AT,
    OCCURRED_AT,
    SQL_AT,
    WON_AT,
)
from mqlml.config import DataConfig
from mqlml.data.contract import (
    ACTIVITY_COLUMNS,
    DATETIME_DTYPE,
    OUTCOME_COLUMNS,
    CrmData,
    load_crm,
    snapshot_time,
    validate_activities,
    validate_crm,
    validate_leads,
    validate_outcomes,
)
from mqlml.errors import ConfigError, DataValidationError, MqlmlError

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def make_leads(**overrides) -> pd.DataFrame:
    data = {
        LEAD_ID: ["L1", "L2", "L3", "L4"],
        CREATED_AT: ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
        COMPANY_SIZE: ["10", "250", "", "5000"],
        COUNTRY: ["US", "DE", "FR", ""],
    }
    data.update(overrides)
    return pd.DataFrame(data, dtype="str")


def make_activities(**overrides) -> pd.DataFrame:
    data = {
        LEAD_ID: ["L1", "L1", "L2"],
        OCCURRED_AT: ["2024-01-05", "2024-01-02", "2024-01-03"],
        ACTIVITY_TYPE: ["email_open", "Web Visit", "form_submit"],
        DETAIL: ["campaign a", "", "/pricing"],
    }
    data.update(overrides)
    return pd.DataFrame(data, dtype="str")


def make_outcomes(**overrides) -> pd.DataFrame:
    data = {
        LEAD_ID: ["L1", "L2"],
        SQL_AT: ["2024-02-01", "2024-02-02"],
        WON_AT: ["2024-03-01", ""],
        LOST_AT: ["", "2024-04-01"],
        DEAL_VALUE: ["1200.50", ""],
    }
    data.update(overrides)
    return pd.DataFrame(data, dtype="str")


def problems_of(exc_info: pytest.ExceptionInfo[DataValidationError]) -> list[str]:
    return exc_info.value.problems


# --- valid tables -----------------------------------------------------------------------


def test_valid_tables_round_trip():
    crm = validate_crm(make_leads(), make_activities(), make_outcomes())
    assert isinstance(crm, CrmData)

    leads = crm.leads
    assert list(leads[LEAD_ID]) == ["L1", "L2", "L3", "L4"]
    assert str(leads[LEAD_ID].dtype) == "str"
    assert str(leads[CREATED_AT].dtype) == DATETIME_DTYPE
    assert leads[CREATED_AT].iloc[0] == ts("2024-01-01")
    # numeric-looking text becomes numbers; recognised text attributes stay text
    assert pd.api.types.is_numeric_dtype(leads[COMPANY_SIZE])
    assert leads[COMPANY_SIZE].tolist()[:2] == [10.0, 250.0]
    assert np.isnan(leads[COMPANY_SIZE].iloc[2])
    assert not pd.api.types.is_numeric_dtype(leads[COUNTRY])
    assert pd.isna(leads[COUNTRY].iloc[3])  # empty string -> missing

    acts = crm.activities
    assert tuple(acts.columns) == ACTIVITY_COLUMNS
    assert list(acts[OCCURRED_AT]) == [ts("2024-01-02"), ts("2024-01-05"), ts("2024-01-03")]
    assert list(acts[ACTIVITY_TYPE]) == ["web_visit", "email_open", "form_submit"]
    assert pd.isna(acts[DETAIL].iloc[0])
    assert list(acts.index) == [0, 1, 2]

    outs = crm.outcomes
    assert tuple(outs.columns) == OUTCOME_COLUMNS
    assert outs[WON_AT].iloc[0] == ts("2024-03-01")
    assert pd.isna(outs[WON_AT].iloc[1])
    assert outs[LOST_AT].iloc[1] == ts("2024-04-01")
    assert outs[DEAL_VALUE].dtype == "float64"
    assert outs[DEAL_VALUE].iloc[0] == 1200.5
    for col in (SQL_AT, WON_AT, LOST_AT):
        assert str(outs[col].dtype) == DATETIME_DTYPE


def test_inputs_are_not_modified():
    leads, acts, outs = make_leads(), make_activities(), make_outcomes()
    copies = [leads.copy(), acts.copy(), outs.copy()]
    validate_crm(leads, acts, outs)
    for before, after in zip(copies, (leads, acts, outs), strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_leads_sorted_by_created_then_id():
    leads = make_leads(
        **{
            LEAD_ID: ["b", "a", "c", "d"],
            CREATED_AT: ["2024-01-02", "2024-01-02", "2024-01-01", "2024-01-03"],
        }
    )
    out = validate_leads(leads)
    assert list(out[LEAD_ID]) == ["c", "a", "b", "d"]
    assert list(out.index) == [0, 1, 2, 3]


def test_lossless_numeric_rule_keeps_identifiers_as_text():
    leads = make_leads(
        zip_code=["00123", "45678", "", "99999"],
        employees=["12", "7", "3", "40"],
        ratio=["0.5", "1e3", "-2", ""],
        revenue=["1,000", "2000", "", "3000"],
        account_no=["12345678901234567890", "1", "2", "3"],
        empty=["", "", " ", ""],
    )
    out = validate_leads(leads)
    assert out["zip_code"].tolist()[:2] == ["00123", "45678"]
    assert out["employees"].dtype == "int64"
    assert out["ratio"].dtype == "float64"
    assert out["ratio"].tolist()[:3] == [0.5, 1000.0, -2.0]
    assert not pd.api.types.is_numeric_dtype(out["revenue"])
    assert not pd.api.types.is_numeric_dtype(out["account_no"])
    assert out["empty"].isna().all()


def test_mapping_renames_columns():
    leads = make_leads().rename(columns={LEAD_ID: "Lead ID", CREATED_AT: "Created Date"})
    outs = make_outcomes().rename(columns={SQL_AT: "SQL Date"})
    config = DataConfig(
        column_mapping={
            "leads": {"Lead ID": LEAD_ID, "Created Date": CREATED_AT},
            "outcomes": {"SQL Date": SQL_AT},
        }
    )
    crm = validate_crm(leads, make_activities(), outs, config)
    assert list(crm.leads.columns[:2]) == [LEAD_ID, CREATED_AT]
    assert crm.outcomes[SQL_AT].iloc[0] == ts("2024-02-01")
    single = validate_leads(leads, mapping={"Lead ID": LEAD_ID, "Created Date": CREATED_AT})
    assert len(single) == 4


def test_mixed_date_formats_and_time_zones_normalise_to_utc():
    leads = make_leads(
        **{
            CREATED_AT: [
                "2024-03-05 10:00:00",
                "2024-03-05T10:00:00Z",
                "2024-03-05",
                "2024-03-05T10:00:00+02:00",
            ]
        }
    )
    crm = validate_crm(leads, None, None)
    by_id = crm.leads.set_index(LEAD_ID)[CREATED_AT]
    assert by_id["L1"] == ts("2024-03-05 10:00:00")
    assert by_id["L2"] == ts("2024-03-05 10:00:00")
    assert by_id["L3"] == ts("2024-03-05 00:00:00")
    assert by_id["L4"] == ts("2024-03-05 08:00:00")
    assert str(crm.leads[CREATED_AT].dtype) == DATETIME_DTYPE
    naive = [n for n in crm.notes if "taken as UTC" in n]
    assert len(naive) == 1
    assert "leads created_at (2 values)" in naive[0]


def test_parquet_style_datetime_columns_are_converted():
    leads = pd.DataFrame(
        {
            LEAD_ID: [1, 2],
            CREATED_AT: pd.to_datetime(["2024-01-01 12:00", "2024-01-02"], format="mixed"),
        }
    )
    acts = pd.DataFrame(
        {
            LEAD_ID: [1, 2],
            OCCURRED_AT: pd.to_datetime(["2024-01-03 12:00", "2024-01-04 00:00"]).tz_localize(
                "Europe/Berlin"
            ),
            ACTIVITY_TYPE: ["a", "b"],
        }
    )
    crm = validate_crm(leads, acts, None)
    assert crm.leads[CREATED_AT].iloc[0] == ts("2024-01-01 12:00")
    assert crm.activities[OCCURRED_AT].iloc[0] == ts("2024-01-03 11:00")
    assert str(crm.activities[OCCURRED_AT].dtype) == DATETIME_DTYPE
    assert any("leads created_at (2 values)" in n for n in crm.notes)


# --- lead ids ------------------------------------------------------------------------------


def test_lead_id_int_and_str_join():
    leads = pd.DataFrame({LEAD_ID: [123, 7], CREATED_AT: ["2024-01-01", "2024-01-01"]})
    acts = make_activities(**{LEAD_ID: [" 123", "123", "7"]})
    outs = pd.DataFrame({LEAD_ID: [123.0], SQL_AT: ["2024-02-01"], WON_AT: [None]})
    crm = validate_crm(leads, acts, outs)
    assert set(crm.leads[LEAD_ID]) == {"123", "7"}
    assert set(crm.activities[LEAD_ID]) == {"123", "7"}
    assert crm.outcomes[LEAD_ID].tolist() == ["123"]
    assert str(crm.outcomes[LEAD_ID].dtype) == "str"


def test_leading_zeros_in_ids_are_kept():
    out = validate_leads(make_leads(**{LEAD_ID: ["007", "7", "0070", "70"]}))
    assert set(out[LEAD_ID]) == {"007", "7", "0070", "70"}


# --- outcomes rules that are not errors ------------------------------------------------------


def test_won_without_sql_is_filled_and_noted():
    outs = make_outcomes(**{SQL_AT: ["", "2024-02-02"], WON_AT: ["2024-03-01", ""]})
    crm = validate_crm(make_leads(), make_activities(), outs)
    row = crm.outcomes.set_index(LEAD_ID).loc["L1"]
    assert row[SQL_AT] == ts("2024-03-01")
    assert row[WON_AT] == ts("2024-03-01")
    assert any("1 lead won without an sql_at" in n for n in crm.notes)


def test_optional_outcome_columns_absent():
    outs = pd.DataFrame({LEAD_ID: ["L1"], SQL_AT: ["2024-02-01"], WON_AT: [""]})
    out = validate_outcomes(outs)
    assert tuple(out.columns) == OUTCOME_COLUMNS
    assert pd.isna(out[LOST_AT].iloc[0])
    assert np.isnan(out[DEAL_VALUE].iloc[0])
    assert str(out[LOST_AT].dtype) == DATETIME_DTYPE


def test_activities_absent_gives_empty_frame_and_note():
    crm = validate_crm(make_leads(), None, make_outcomes())
    assert tuple(crm.activities.columns) == ACTIVITY_COLUMNS
    assert len(crm.activities) == 0
    assert str(crm.activities[OCCURRED_AT].dtype) == DATETIME_DTYPE
    assert any("no activities table" in n for n in crm.notes)


def test_activity_detail_absent_and_types_normalised():
    acts = make_activities().drop(columns=[DETAIL])
    acts[ACTIVITY_TYPE] = [" Email  Open ", "WEB visit", "form_submit"]
    out = validate_activities(acts)
    assert tuple(out.columns) == ACTIVITY_COLUMNS
    assert out[DETAIL].isna().all()
    assert set(out[ACTIVITY_TYPE]) == {"email_open", "web_visit", "form_submit"}


def test_notes_count_leads_without_activities_and_extra_columns():
    acts = make_activities(extra=["x", "y", "z"])
    crm = validate_crm(make_leads(), acts, make_outcomes())
    assert any("2 of 4 leads have no activities" in n for n in crm.notes)
    assert any("ignored columns" in n and "'extra'" in n for n in crm.notes)
    assert "extra" not in crm.activities.columns


# --- problems -----------------------------------------------------------------------------

BAD_INPUTS = [
    pytest.param(
        "leads",
        {CREATED_AT: ["2024-01-01", "2024-13-01", "2024-01-03", "yesterday"]},
        [
            "leads.csv, column 'created_at'",
            "not a date/time in 2 rows",
            "rows 2, 4 (values '2024-13-01', 'yesterday')",
            "expected a date/time",
        ],
        id="unparseable-created_at",
    ),
    pytest.param(
        "leads",
        {CREATED_AT: ["2024-01-01", "", "now", "2024-01-04"]},
        ["column 'created_at'", "empty in 1 row", "row 2 (value", "row 3 (value 'now')"],
        id="empty-and-relative-created_at",
    ),
    pytest.param(
        "leads",
        {LEAD_ID: ["L1", "L2", "L1", "L2"]},
        [
            "leads.csv, column 'lead_id'",
            "duplicated lead_id (2 distinct ids) in 4 rows",
            "rows 1, 2, 3, 4 (values 'L1', 'L2', 'L1', 'L2')",
            "expected each lead_id exactly once",
        ],
        id="duplicate-lead-ids",
    ),
    pytest.param(
        "leads",
        {LEAD_ID: ["L1", " ", "", "L4"]},
        ["column 'lead_id'", "empty lead_id in 2 rows", "rows 2, 3", "expected a non-empty"],
        id="empty-lead-ids",
    ),
    pytest.param(
        "activities",
        {OCCURRED_AT: ["2024-01-05", "05.13.2024x", ""]},
        [
            "activities.csv, column 'occurred_at'",
            "not a date/time in 1 row: row 2 (value '05.13.2024x')",
            "empty in 1 row: row 3",
        ],
        id="bad-occurred_at",
    ),
    pytest.param(
        "activities",
        {ACTIVITY_TYPE: ["email_open", "  ", "web"]},
        ["activities.csv, column 'activity_type'", "empty in 1 row: row 2", "expected an activity"],
        id="empty-activity_type",
    ),
    pytest.param(
        "activities",
        {LEAD_ID: ["L1", "X9", "X8"]},
        [
            "activities.csv, column 'lead_id'",
            "lead_id not in leads.csv (2 distinct ids) in 2 rows",
            "rows 2, 3 (values 'X9', 'X8')",
            "expected every lead_id to appear in leads.csv",
        ],
        id="activity-for-unknown-lead",
    ),
    pytest.param(
        "outcomes",
        {LEAD_ID: ["L1", "L1"]},
        ["outcomes.csv, column 'lead_id'", "duplicated lead_id", "rows 1, 2", "at most one"],
        id="duplicate-outcomes",
    ),
    pytest.param(
        "outcomes",
        {LEAD_ID: ["L1", "nobody"]},
        ["outcomes.csv, column 'lead_id'", "not in leads.csv", "row 2 (value 'nobody')"],
        id="outcome-for-unknown-lead",
    ),
    pytest.param(
        "outcomes",
        {SQL_AT: ["2023-12-01", "2024-02-02"]},
        [
            "outcomes.csv, column 'sql_at'",
            "sql_at before the lead's created_at in 1 row",
            "row 1 (value '2023-12-01' vs created_at '2024-01-01')",
            "expected sql_at at or after the lead's created_at",
        ],
        id="sql-before-created",
    ),
    pytest.param(
        "outcomes",
        {WON_AT: ["2024-01-15", ""]},
        [
            "outcomes.csv, column 'won_at'",
            "won_at before sql_at in 1 row",
            "row 1 (value '2024-01-15' vs sql_at '2024-02-01')",
            "expected won_at at or after sql_at",
        ],
        id="won-before-sql",
    ),
    pytest.param(
        "outcomes",
        {SQL_AT: ["", "2024-02-02"], WON_AT: ["2023-06-01", ""]},
        ["column 'won_at'", "won_at before the lead's created_at", "row 1"],
        id="won-without-sql-before-created",
    ),
    pytest.param(
        "outcomes",
        {DEAL_VALUE: ["$1,200", "abc"]},
        [
            "outcomes.csv, column 'deal_value'",
            "not a number in 2 rows: rows 1, 2 (values '$1,200', 'abc')",
            "expected a number >= 0",
        ],
        id="deal-value-not-numeric",
    ),
    pytest.param(
        "outcomes",
        {DEAL_VALUE: ["-5", ""]},
        ["column 'deal_value'", "negative in 1 row: row 1 (value '-5')", "expected a number >= 0"],
        id="deal-value-negative",
    ),
    pytest.param(
        "outcomes",
        {LOST_AT: ["31/31/2024", ""]},
        ["column 'lost_at'", "not a date/time", "'31/31/2024'", "or an empty cell"],
        id="bad-lost_at",
    ),
]

MAKERS = {"leads": make_leads, "activities": make_activities, "outcomes": make_outcomes}
SOURCES = {t: f"{t}.csv" for t in MAKERS}


@pytest.mark.parametrize(("table", "overrides", "fragments"), BAD_INPUTS)
def test_bad_input_is_reported(table, overrides, fragments):
    frames = {t: make() for t, make in MAKERS.items()}
    frames[table] = MAKERS[table](**overrides)
    with pytest.raises(DataValidationError) as exc_info:
        validate_crm(frames["leads"], frames["activities"], frames["outcomes"], sources=SOURCES)
    message = str(exc_info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_example_rows_are_capped_and_totals_given():
    n = 12
    leads = pd.DataFrame({LEAD_ID: [f"L{i}" for i in range(n)], CREATED_AT: ["bad"] * n})
    with pytest.raises(DataValidationError) as exc_info:
        validate_leads(leads, source="leads.csv")
    (problem,) = problems_of(exc_info)
    assert "not a date/time in 12 rows: rows 1, 2, 3, 4, 5, ... (values" in problem


def test_missing_columns_are_listed_with_found_columns_and_hint():
    leads = pd.DataFrame({"Lead Id": ["1"], "company": ["x"]})
    with pytest.raises(DataValidationError) as exc_info:
        validate_leads(leads, source="crm/leads.csv")
    (problem,) = problems_of(exc_info)
    assert "crm/leads.csv" in problem
    assert "missing required columns 'lead_id', 'created_at'" in problem
    assert "columns found: 'Lead Id', 'company'" in problem
    assert "data.column_mapping.leads" in problem
    assert "{'Lead Id': 'lead_id'}" in problem


def test_empty_leads_table_is_a_problem():
    with pytest.raises(DataValidationError, match="no rows"):
        validate_leads(pd.DataFrame({LEAD_ID: [], CREATED_AT: []}))


def test_mapping_problems():
    leads = make_leads().rename(columns={LEAD_ID: "Lead ID"})
    config = DataConfig(
        column_mapping={"leads": {"Lead ID": LEAD_ID, COUNTRY: LEAD_ID, "Nope": CREATED_AT}}
    )
    with pytest.raises(DataValidationError) as exc_info:
        validate_crm(leads, make_activities(), make_outcomes(), config, SOURCES)
    message = str(exc_info.value)
    assert "leads.csv: data.column_mapping.leads renames 'Nope'" in message
    assert "no such column" in message
    assert "would create the column 'lead_id' more than once (from 'Lead ID', 'country')" in (
        message
    )


def test_mapping_onto_an_existing_column_is_a_problem():
    leads = make_leads(other_id=["a", "b", "c", "d"])
    with pytest.raises(DataValidationError, match="'lead_id' more than once"):
        validate_leads(leads, mapping={"other_id": LEAD_ID})


def test_numbers_in_a_date_column_are_a_problem():
    leads = pd.DataFrame({LEAD_ID: ["a", "b"], CREATED_AT: [1700000000, 1700000001]})
    with pytest.raises(DataValidationError, match="numbers, not dates/times in 2 rows"):
        validate_leads(leads)


def test_all_problems_in_all_tables_in_one_error():
    leads = make_leads(**{LEAD_ID: ["L1", "L1", "L3", "L4"], CREATED_AT: ["x"] * 4})
    acts = make_activities(**{ACTIVITY_TYPE: ["", "a", "b"], LEAD_ID: ["L1", "L1", "Z"]})
    outs = make_outcomes(**{DEAL_VALUE: ["-1", "ten"]})
    with pytest.raises(DataValidationError) as exc_info:
        validate_crm(leads, acts, outs, sources=SOURCES)
    problems = problems_of(exc_info)
    expected = [
        "leads.csv, column 'lead_id': duplicated",
        "leads.csv, column 'created_at': not a date/time in 4 rows",
        "activities.csv, column 'activity_type': empty",
        "activities.csv, column 'lead_id': lead_id not in leads.csv",
        "outcomes.csv, column 'lead_id': lead_id not in leads.csv",  # L2 is gone from leads
        "outcomes.csv, column 'deal_value': not a number",
        "outcomes.csv, column 'deal_value': negative",
    ]
    assert len(problems) == len(expected)
    for problem, fragment in zip(sorted(problems), sorted(expected), strict=True):
        assert problem.startswith(fragment)
    # grouped by table, in table order
    assert [p.split(",")[0] for p in problems] == ["leads.csv"] * 2 + ["activities.csv"] * 2 + [
        "outcomes.csv"
    ] * 3
    assert str(exc_info.value).startswith("7 problems in the input data:")


def test_missing_columns_in_one_table_do_not_hide_other_problems():
    acts = make_activities().drop(columns=[OCCURRED_AT])
    outs = make_outcomes(**{DEAL_VALUE: ["x", ""]})
    with pytest.raises(DataValidationError) as exc_info:
        validate_crm(make_leads(), acts, outs, sources=SOURCES)
    problems = problems_of(exc_info)
    assert len(problems) == 2
    assert "activities.csv: missing required column 'occurred_at'" in problems[0]
    assert "deal_value" in problems[1]


@pytest.mark.parametrize(
    ("validate", "frame"),
    [
        (validate_leads, make_leads(**{CREATED_AT: ["x", "", "", ""]})),
        (validate_activities, make_activities(**{OCCURRED_AT: ["x", "", ""]})),
        (validate_outcomes, make_outcomes(**{WON_AT: ["x", ""]})),
    ],
)
def test_single_table_validators_raise(validate, frame):
    with pytest.raises(DataValidationError):
        validate(frame)


# --- snapshot ------------------------------------------------------------------------------


def test_snapshot_time_is_latest_timestamp_or_configured():
    crm = validate_crm(make_leads(), make_activities(), make_outcomes())
    assert snapshot_time(crm, DataConfig()) == ts("2024-04-01")
    configured = snapshot_time(crm, DataConfig(snapshot_at="2024-06-30T12:00:00+02:00"))
    assert configured == ts("2024-06-30 10:00")
    assert str(configured.tz) == UTC
    with pytest.raises(ConfigError, match="snapshot_at"):
        snapshot_time(crm, DataConfig(snapshot_at="soon"))


# --- loading -------------------------------------------------------------------------------


def write_all(directory, fmt: str, tables=("leads", "activities", "outcomes")):
    directory.mkdir(parents=True, exist_ok=True)
    frames = {"leads": make_leads(), "activities": make_activities(), "outcomes": make_outcomes()}
    for name in tables:
        path = directory / f"{name}.{fmt}"
        if fmt == "csv":
            frames[name].to_csv(path, index=False)
        else:
            frames[name].to_parquet(path, index=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_load_crm_from_directory(tmp_path, fmt):
    write_all(tmp_path, fmt)
    crm = load_crm(tmp_path, DataConfig())
    if fmt == "parquet":  # Parquet activities are read out of core, by kind, not size
        files = crm.activity_files
        assert len(crm.activities) == 0 and files is not None
        n_acts = int(files.run(f"SELECT count(*) AS n FROM {files.relation()}")["n"].iloc[0])
    else:
        assert crm.activity_files is None
        n_acts = len(crm.activities)
    assert len(crm.leads) == 4 and n_acts == 3 and len(crm.outcomes) == 2
    assert str(crm.leads[CREATED_AT].dtype) == DATETIME_DTYPE
    assert crm.outcomes[DEAL_VALUE].iloc[0] == 1200.5


@pytest.mark.parametrize("fmt", ["semicolon.csv", "bom-semicolon.csv", "tsv", "xlsx"])
def test_load_crm_reads_every_export_format_alike(tmp_path, fmt):
    """A ;-separated, BOM-prefixed, tab-separated or Excel leads file loads for training
    exactly as a plain CSV does (one reader for every table)."""
    write_all(tmp_path / "plain", "csv")
    write_all(tmp_path / "other", "csv", tables=("activities", "outcomes"))
    leads = make_leads()
    suffix = ".xlsx" if fmt == "xlsx" else (".tsv" if fmt == "tsv" else ".csv")
    path = tmp_path / "other" / f"leads{suffix}"
    if fmt == "xlsx":
        leads.to_excel(path, index=False)
    else:
        sep = "\t" if fmt == "tsv" else ";"
        text = leads.to_csv(index=False, sep=sep)
        path.write_bytes(("\ufeff" if fmt.startswith("bom") else "").encode() + text.encode())
    plain = load_crm(tmp_path / "plain", DataConfig())
    other = load_crm(tmp_path / "other", DataConfig())
    pd.testing.assert_frame_equal(other.leads, plain.leads)
    pd.testing.assert_frame_equal(other.activities, plain.activities)


def test_load_crm_messages_name_the_file(tmp_path):
    write_all(tmp_path, "csv")
    bad = make_outcomes(**{DEAL_VALUE: ["lots", ""]})
    bad.to_csv(tmp_path / "outcomes.csv", index=False)
    with pytest.raises(DataValidationError) as exc_info:
        load_crm(tmp_path, DataConfig())
    assert f"{tmp_path / 'outcomes.csv'}, column 'deal_value'" in str(exc_info.value)


def test_load_crm_without_activities(tmp_path):
    write_all(tmp_path, "csv", tables=("leads", "outcomes"))
    crm = load_crm(tmp_path, DataConfig())
    assert len(crm.activities) == 0
    assert tuple(crm.activities.columns) == ACTIVITY_COLUMNS
    assert any("no activities table" in n for n in crm.notes)


def test_load_crm_requires_leads_and_outcomes(tmp_path):
    write_all(tmp_path, "csv", tables=("activities",))
    with pytest.raises(MqlmlError) as exc_info:
        load_crm(tmp_path, DataConfig())
    message = str(exc_info.value)
    assert "no leads table" in message and "no outcomes table" in message
    # scoring needs no outcomes
    write_all(tmp_path, "csv", tables=("leads",))
    crm = load_crm(tmp_path, DataConfig(), require_outcomes=False)
    assert len(crm.outcomes) == 0
    assert tuple(crm.outcomes.columns) == OUTCOME_COLUMNS


def test_config_paths_override_the_directory(tmp_path):
    write_all(tmp_path / "dir", "csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    leads = make_leads(**{LEAD_ID: ["L1", "L2", "L3", "L9"]})
    leads.to_parquet(elsewhere / "my_leads.parquet", index=False)
    crm = load_crm(tmp_path / "dir", DataConfig(leads=elsewhere / "my_leads.parquet"))
    assert "L9" in set(crm.leads[LEAD_ID])
    # paths from config alone, no directory
    config = DataConfig(
        leads=elsewhere / "my_leads.parquet", outcomes=tmp_path / "dir" / "outcomes.csv"
    )
    crm = load_crm(None, config)
    assert len(crm.activities) == 0


def test_load_crm_missing_configured_file(tmp_path):
    with pytest.raises(MqlmlError, match="file not found"):
        load_crm(None, DataConfig(leads=tmp_path / "x.csv", outcomes=tmp_path / "y.csv"))


def test_load_crm_missing_directory(tmp_path):
    with pytest.raises(MqlmlError, match="data directory not found"):
        load_crm(tmp_path / "nope", DataConfig())


def test_slash_dates_are_read_month_first_and_noted():
    leads = make_leads(**{CREATED_AT: ["03/05/2024", "5 March 2024", "2024-03-05", "Mar 5 2024"]})
    with pytest.warns(UserWarning, match="every one could be either; set data.dayfirst"):
        crm = validate_crm(leads, None, None)
    assert (crm.leads[CREATED_AT] == ts("2024-03-05")).all()
    assert any("1 value of created_at use a slash date" in n for n in crm.notes)


def test_unusual_cells_become_problem_lines_not_tracebacks():
    leads = pd.DataFrame(
        {
            LEAD_ID: ["a", "b", "c", "d"],
            CREATED_AT: pd.Series(
                ["2024-03-05T25:00:00", [1, 2], "0000-00-00", "2024-01-01T00:00:00+99:00"],
                dtype=object,
            ),
        }
    )
    with pytest.raises(DataValidationError, match="not a date/time in 4 rows"):
        validate_leads(leads)
    outs = pd.DataFrame(
        {
            LEAD_ID: ["a", "b"],
            SQL_AT: ["2024-01-01"] * 2,
            WON_AT: [None] * 2,
            DEAL_VALUE: [np.inf, 3.0],
        }
    )
    with pytest.raises(DataValidationError, match="not a number in 1 row: row 1"):
        validate_outcomes(outs)


def test_all_activity_types_empty():
    with pytest.raises(DataValidationError, match="empty in 3 rows"):
        validate_activities(make_activities(**{ACTIVITY_TYPE: ["", " ", ""]}))


def test_empty_activities_table_is_allowed_and_noted():
    crm = validate_crm(make_leads(), make_activities().iloc[:0], make_outcomes())
    assert len(crm.activities) == 0
    assert "activities: the table has no rows" in crm.notes
