"""The one validator: problems, and one code path for a row and for a million rows."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqlml.columns import CREATED_AT, LEAD_ID
from mqlml.data.validate import (
    Problem,
    among,
    as_text,
    check_datetimes,
    check_ids,
    check_numbers,
    clean_text,
    map_columns,
    map_distinct,
    missing_columns,
    rows_problem,
    text_of_codes,
    to_utc,
)

# Cells as exports hold them: missing, padded text, odd whitespace and control
# characters, non-ASCII, numbers spelled every way, dates in several formats.
_SAMPLES = [
    "", " ", "  a ", "A", "Café ", "\u00a0x\u00a0", "\x1cy\x1f", "\tRetail\n", "1", " 7 ",
    "1.5", "007", "1,200", "1e3", "-0", "inf", "NaN", "12345678901234567", "٣",
    "2024-03-05", "2024-03-05 10:00", "2024-03-05T10:00:00+02:00", "2024-03-05T10:00Z",
    "03/05/2024", "03/05/2024 10:00 AM", "5.3.2024", "now", "Today", "soon", "2025-13-45",
]
cells = st.one_of(
    st.none(),
    st.just(np.nan),
    st.sampled_from(_SAMPLES),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8),
)
columns = st.lists(cells, min_size=1, max_size=20)
dtypes = st.sampled_from(["str", object])
_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _series(values, dtype) -> pd.Series:
    return pd.Series(values, dtype=dtype, name="c")


def _row_by_row(fn, s: pd.Series) -> pd.Series:
    return pd.concat([fn(s.iloc[[i]]) for i in range(len(s))])


@_SETTINGS
@given(columns, dtypes)
def test_cleaning_a_column_equals_cleaning_each_row(values, dtype):
    s = _series(values, dtype)
    pd.testing.assert_series_equal(clean_text(s), _row_by_row(clean_text, s), check_exact=True)


@_SETTINGS
@given(columns, dtypes)
def test_parsing_dates_of_a_column_equals_parsing_each_row(values, dtype):
    # Unless a slash date fixes the day/month order of the column (tested below): then
    # the column's order applies to rows that alone would be ambiguous.
    from hypothesis import assume

    from mqlml.data.validate import slash_date_order

    text = [v.strip() for v in values if isinstance(v, str)]
    order = slash_date_order(text)
    assume(order is None or order.basis != "values")
    s = _series(values, dtype)
    whole = check_datetimes(
        s, source="t", column=CREATED_AT, required=True, years=True, dayfirst=False
    )
    rows = [
        check_datetimes(
            s.iloc[[i]], source="t", column=CREATED_AT, required=True, years=True, dayfirst=False
        )
        for i in range(len(s))
    ]
    pd.testing.assert_series_equal(whole.parsed, pd.concat([r.parsed for r in rows]))
    utc = functools.partial(to_utc, dayfirst=False)
    pd.testing.assert_series_equal(utc(s), _row_by_row(utc, s))
    assert whole.naive == sum(r.naive for r in rows)
    assert _reasons_by_row(whole.problems) == _reasons_by_row(
        [p for i, r in enumerate(rows) for p in _shifted(r.problems, i)]
    )


@_SETTINGS
@given(columns, dtypes)
def test_numbers_of_a_column_equal_the_numbers_of_each_row(values, dtype):
    s = _series(values, dtype)
    whole, problems = check_numbers(s, source="t", column="employees")
    rows = [check_numbers(s.iloc[[i]], source="t", column="employees") for i in range(len(s))]
    pd.testing.assert_series_equal(whole, pd.concat([r[0] for r in rows]), check_exact=True)
    lossy = {r for p in problems if not p.per_row for r in p.rows}
    assert lossy == {i + 1 for i, r in enumerate(rows) if any(not p.per_row for p in r[1])}


@_SETTINGS
@given(columns, dtypes)
def test_map_distinct_equals_the_function_on_each_value(values, dtype):
    s = _series(values, dtype)
    got = map_distinct(s, lambda v: f"<{v}>", dtype=object, missing="-")
    want = [("-" if pd.isna(v) else f"<{v}>") for v in s.tolist()]
    assert got.tolist() == want


def _shifted(problems, offset):
    """Problems of a one-row slice, renumbered as the row ``offset`` of the whole."""
    return [
        Problem(p.source, p.column, p.what, p.expected, tuple(r + offset for r in p.rows),
                p.values, p.reason, p.show_value)
        for p in problems
    ]


def _reasons_by_row(problems) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for p in problems:
        if p.per_row:
            for row, reason in zip(p.rows, p.reasons(), strict=True):
                out.setdefault(row, []).append(reason)
    return {k: sorted(v) for k, v in out.items()}


# --- problems ----------------------------------------------------------------------------


def test_a_row_problem_reads_as_a_message_and_as_reject_reasons():
    raw = pd.Series(["2024-01-01", "soon", "x" * 50, "later"])
    problem = rows_problem(
        raw.isin(["soon", "x" * 50, "later"]), raw, source="leads.csv", column=CREATED_AT,
        what="not a date/time", expected="a date", reason="is not a date/time",
    )
    assert problem.per_row and problem.rows == (2, 3, 4)
    assert problem.message == (
        "leads.csv, column 'created_at': not a date/time in 3 rows: rows 2, 3, 4 "
        f"(values 'soon', '{'x' * 37}...', 'later'); expected a date"
    )
    assert problem.reasons()[0] == "created_at is not a date/time: 'soon'"


def test_a_problem_of_the_table_has_no_reject_reason():
    problem = Problem("leads.csv", None, "the table has no rows", "at least one lead")
    assert not problem.per_row
    assert problem.message == "leads.csv: the table has no rows; expected at least one lead"
    with pytest.raises(ValueError, match="no reject reason"):
        problem.reasons()


def test_empty_ids_are_row_problems_and_repeated_ids_the_tables():
    ids, problems = check_ids(pd.Series(["a", " ", "b", "b "]), source="t", unique="once")
    assert ids.tolist()[0] == "a" and pd.isna(ids.iloc[1]) and ids.iloc[3] == "b"
    empty, dup = problems
    assert empty.per_row and empty.reasons() == ["lead_id is empty"]
    assert not dup.per_row and dup.rows == (3, 4)
    assert dup.message.startswith("t, column 'lead_id': duplicated lead_id (1 distinct id)")


def test_numbers_in_a_date_column_are_a_problem_of_the_table():
    column = check_datetimes(pd.Series([1, 2]), source="t", column=CREATED_AT, required=True)
    (problem,) = column.problems
    assert not problem.per_row and "numbers, not dates/times in 2 rows" in problem.message


def test_mapping_and_missing_columns():
    frame = pd.DataFrame({"Lead ID": ["1"], "Created": ["2024-01-01"]})
    mapped, problems = map_columns(frame, source="t", table="leads",
                                   mapping={"Lead ID": LEAD_ID, "Nope": "x"})
    assert list(mapped.columns) == [LEAD_ID, "Created"]
    assert "renames 'Nope', but the file has no such column" in problems[0].message
    missing = missing_columns(mapped, source="t", table="leads")
    assert "missing required column 'created_at'" in missing.message
    assert "e.g. {'Created': 'created_at'}" in missing.message


# --- issue 19, item 7a: slash dates take one day/month order per column ----------------


@pytest.mark.parametrize(
    ("values", "dayfirst", "expected"),
    [
        (["05/01/2026", "21/12/2025"], None, ["2026-01-05", "2025-12-21"]),
        (["05/01/2026", "12/21/2025"], None, ["2026-05-01", "2025-12-21"]),
        (["05/01/2026", "03/02/2026"], True, ["2026-01-05", "2026-02-03"]),
        (["05/01/2026", "03/02/2026"], False, ["2026-05-01", "2026-03-02"]),
        (["21/12/2025", "13/01/2026", "12/31/2025"], None, ["2025-12-21", "2026-01-13", None]),
    ],
)
def test_slash_dates_take_one_order_per_column(values, dayfirst, expected):
    from mqlml.data.validate import check_datetimes

    out = check_datetimes(
        pd.Series(values, dtype="str"), source="leads", column="created_at", required=False,
        dayfirst=dayfirst,
    )
    want = pd.Series(pd.to_datetime(expected, utc=True)).astype(out.parsed.dtype)
    pd.testing.assert_series_equal(out.parsed, want, check_names=False)
    assert out.bad.tolist() == [e is None for e in expected]


def test_a_column_of_only_ambiguous_slash_dates_warns_naming_column_and_example():
    from mqlml.data.validate import check_datetimes

    with pytest.warns(UserWarning, match=r"created_at use a slash date such as 05/01/2026.*"
                      r"data\.dayfirst"):
        out = check_datetimes(
            pd.Series(["05/01/2026", "03/02/2026"], dtype="str"), source="leads",
            column="created_at", required=True,
        )
    assert out.parsed.iloc[0] == pd.Timestamp("2026-05-01", tz="UTC")


def test_data_dayfirst_setting_reaches_the_crm_checks():
    from conftest import make_leads
    from mqlml.config import DataConfig
    from mqlml.data.contract import validate_crm

    leads = make_leads(4)
    leads["created_at"] = ["05/01/2026", "03/02/2026", "04/02/2026", "06/02/2026"]
    crm = validate_crm(leads, None, None, config=DataConfig(dayfirst=True))
    assert crm.leads["created_at"].min() == pd.Timestamp("2026-01-05", tz="UTC")


@pytest.mark.parametrize(
    ("values", "ids"),
    [
        (pd.Series(["a", None, "b", "c", "a"], dtype="str"),
         pd.Series(["a", "c", None], dtype="str")),
        (pd.Series(["a", "b"], dtype=object), ["b", None]),
        (pd.Series([1, "a", None], dtype=object), [1, "x"]),  # mixed: pandas' own lookup
        (pd.Series([], dtype="str"), ["a"]),
    ],
)
def test_among_is_isin_and_a_missing_value_never_is(values, ids):
    want = values.isin(set(pd.Series(ids).dropna())).to_numpy(dtype=bool) & values.notna()
    assert among(values, ids).tolist() == want.tolist()


def test_text_of_codes_is_the_values_at_the_codes():
    got = pd.Series(text_of_codes(np.array([1, -1, 0, 2, 1]), ["x", "y", None]))
    want = pd.Series(["y", None, "x", None, "y"], dtype="str")
    assert got.equals(want)
    sentences = np.array(["b", None, "a", "b"], dtype=object)
    assert pd.Series(as_text(sentences)).equals(pd.Series(sentences, dtype="str"))
