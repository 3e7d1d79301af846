"""Flat mode, the data side: an export mapped to typed tables for training, and to the
leads table a scoring batch checks, by the same rules."""

import numpy as np
import pandas as pd
import pytest

from mqlml.columns import AS_OF, CREATED_AT, LEAD_ID
from mqlml.config import load_config
from mqlml.data.flat import FlatExport, blank_placeholders, flat_batch, flat_export
from mqlml.errors import ConfigError, DataValidationError, MqlmlError


def _export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Id": [" C3", "C1", "C2", "C4"],
            "Created": ["2024-01-03", "2024-01-01T10:00:00+02:00", "2024-01-02", "2024-01-04"],
            "Views": ["3", "0", "12", "5"],
            "Role": ["Manager", "select", "Engineer", "Select "],
            "Last visit": ["2024-02-01", None, "2024-02-03", "2024-02-04"],
            "Converted": ["Yes", "no", "YES ", None],
        }
    )


def _config(**flat):
    base = {"target_column": "Converted", "positive_values": ["yes"], "id_column": "Id",
            "time_column": "Created", "missing_values": ["Select"]}
    return load_config(None, {"flat": {**base, **flat}, "tracking": {"enabled": False}})


def test_flat_export_is_typed_leads_in_file_order_with_the_outcome():
    export = flat_export(_export(), _config(), source="export.csv")
    assert isinstance(export, FlatExport) and export.crm is None and export.time_ordered
    assert export.leads[LEAD_ID].tolist() == ["C3", "C1", "C2", "C4"]
    assert export.target.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert export.leads[CREATED_AT].iloc[1] == pd.Timestamp("2024-01-01T08:00", tz="UTC")
    assert export.leads["Views"].dtype == "int64"  # lossless numbers become numbers
    assert export.leads["Role"].isna().tolist() == [False, True, False, True]
    assert str(export.leads["Last visit"].dtype) == "datetime64[us, UTC]"
    assert {"Converted", "Created"}.isdisjoint(export.leads.columns)
    assert export.notes[0].startswith("Converted: 2 of 4 rows converted")
    assert any("1 rows with an empty Converted" in n for n in export.notes)


def test_the_scoring_batch_is_mapped_by_the_same_rules_but_not_typed():
    batch = flat_batch(_export().drop(columns=["Converted"]), _config().flat, source="b.csv")
    assert batch[LEAD_ID].tolist() == [" C3", "C1", "C2", "C4"]  # checked by the batch
    assert batch["Views"].tolist() == ["3", "0", "12", "5"]
    assert batch["Role"].isna().tolist() == [False, True, False, True]
    assert batch[AS_OF].equals(batch[CREATED_AT])
    training = flat_export(_export(), _config()).leads
    assert batch[CREATED_AT].tolist() == training[CREATED_AT].tolist()


def test_without_a_time_column_rows_keep_their_order_evenly_spaced():
    export = flat_export(_export(), _config(time_column=None, id_column=None))
    assert not export.time_ordered
    assert export.leads[LEAD_ID].tolist() == ["1", "2", "3", "4"]
    assert export.leads[CREATED_AT].is_monotonic_increasing
    assert any("identified by their row number" in n for n in export.notes)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"Created": ["2024-01-03", "", "2024-01-02", "2024-01-04"]}, DataValidationError,
         r"'Created' \(flat.time_column\): empty in 1 rows"),
        ({"Created": ["2024-01-03", "now", "2024-01-02", "2024-01-04"]}, DataValidationError,
         "not a date/time in 1 rows"),
        # A month name has no year: it is not read as the year 1 (issue 14, item 6).
        ({"Created": ["Jan", "Feb", "Mar", "Apr"]}, DataValidationError,
         r"'Created' \(flat.time_column\): not a date/time in 4 rows \(rows \[1, 2, 3, 4\], "
         r"values \['Jan', 'Feb', 'Mar', 'Apr'\]\)"),
        ({"Created": ["2024-01-03", "2024-01-01", "Feb", "2024-01-04"]}, DataValidationError,
         r"not a date/time in 1 rows \(rows \[3\], values \['Feb'\]\)"),
        ({"lead_id": ["a", "b", "c", "d"]}, ConfigError, "'lead_id' is reserved"),
        ({"Converted": ["no", "no", "no", "no"]}, DataValidationError, "no row has one of"),
    ],
)
def test_bad_exports_name_the_column(change, error, message):
    with pytest.raises(error, match=message):
        flat_export(_export().assign(**change), _config(), source="export.csv")


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"time_column": "Id"}, "flat.time_column and flat.id_column both name the column 'Id'"),
        ({"id_column": "Converted"},
         "flat.target_column and flat.id_column both name the column 'Converted'"),
        ({"exclude_columns": ["Id"]}, "flat.id_column 'Id' is also listed in flat.exclude"),
    ],
)
def test_one_column_in_two_roles_is_a_config_error(roles, message):
    # Issue 14, item 6: the same column as id and time ended in a KeyError traceback.
    with pytest.raises(ConfigError, match=message):
        flat_export(_export(), _config(**roles), source="export.csv")


def test_a_model_not_trained_in_flat_mode_has_no_flat_batch():
    with pytest.raises(MqlmlError, match="not trained in flat mode"):
        flat_batch(_export(), None)


def test_placeholders_are_blank_in_any_case_and_padding():
    frame = pd.DataFrame({"a": ["Select", " select ", "x", None], "n": [1, 2, 3, 4]})
    out = blank_placeholders(frame, ["SELECT"])
    assert out["a"].isna().tolist() == [True, True, False, True]
    assert out["n"].tolist() == [1, 2, 3, 4]
    assert np.array_equal(blank_placeholders(frame, [])["a"].isna(), frame["a"].isna())
