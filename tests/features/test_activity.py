import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqlml.columns import ACTIVITY_TYPE, AS_OF, LEAD_ID, OCCURRED_AT
from mqlml.errors import MqlmlError
from mqlml.features.activity import (
    DAY_US,
    DUCKDB,
    SPARK,
    activity_features,
    duckdb_summary,
    features_from_table,
    summary_sql,
)

T0 = pd.Timestamp("2025-03-01", tz="UTC")
TYPES = ("demo_request", "email_open", "page_view", "pricing_page_view", "webinar")


def reference(leads, acts, as_of, own_types, windows):
    """The activity features the slow, obvious way: one lead, one event at a time."""
    windows = sorted(set(windows))
    cols = {}
    for lead, moment in zip(leads[LEAD_ID], as_of, strict=True):
        ages = []  # (age in microseconds, column type) of the events strictly before as-of
        for who, when, kind in acts[[LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]].itertuples(
            index=False
        ):
            age = (moment - when) // pd.Timedelta(microseconds=1)
            if who == lead and age > 0:
                ages.append((age, kind if kind in own_types else "other"))
        row = {}
        for t in (*own_types, "other"):
            mine = [a for a, k in ages if k == t]
            for w in windows:
                row[f"n_{t}_{w}d"] = float(sum(a <= w * DAY_US for a in mine))
            row[f"days_since_last_{t}"] = min(mine) / DAY_US if mine else np.nan
        every = [a for a, _ in ages]
        for w in windows:
            row[f"n_all_{w}d"] = float(sum(a <= w * DAY_US for a in every))
        w_max = windows[-1]
        days = {a // DAY_US for a in every if a <= w_max * DAY_US}
        row[f"active_days_{w_max}d"] = float(len(days))
        row["trend_7d"] = float(
            sum(a <= 7 * DAY_US for a in every) - sum(7 * DAY_US < a <= 14 * DAY_US for a in every)
        )
        row["days_since_last_activity"] = min(every) / DAY_US if every else np.nan
        row["days_since_first_activity"] = max(every) / DAY_US if every else np.nan
        for k, v in row.items():
            cols.setdefault(k, []).append(v)
    return {k: np.array(v) for k, v in cols.items()}


@st.composite
def histories(draw):
    n = draw(st.integers(1, 6))
    leads = pd.DataFrame({LEAD_ID: [f"L{i}" for i in range(n)]})
    # As-of in whole hours, events on a grid of 6 hours: many land exactly on an as-of or
    # on a window's edge (7, 14, 30 days back), where a strict or loose comparison shows.
    as_of = pd.Series(
        [T0 + pd.Timedelta(hours=h) for h in draw(st.lists(st.integers(0, 24 * 40), min_size=n,
                                                            max_size=n))]
    )
    m = draw(st.integers(0, 25))
    events = st.tuples(
        st.sampled_from([*leads[LEAD_ID], "stranger"]),
        st.integers(-30, 4 * 60),
        st.sampled_from(TYPES),
    )
    rows = draw(st.lists(events, min_size=m, max_size=m))
    acts = pd.DataFrame(
        {
            LEAD_ID: pd.Series([r[0] for r in rows], dtype="str"),
            OCCURRED_AT: pd.Series(
                [T0 + pd.Timedelta(hours=6 * r[1]) for r in rows], dtype="datetime64[us, UTC]"
            ),
            ACTIVITY_TYPE: pd.Series([r[2] for r in rows], dtype="str"),
        }
    )
    own = tuple(draw(st.lists(st.sampled_from(TYPES), unique=True, max_size=3)))
    windows = tuple(draw(st.lists(st.sampled_from([1, 7, 14, 30]), min_size=1, max_size=3)))
    return leads, acts, as_of, own, windows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from(["duckdb", "numpy"]))
def test_engines_equal_the_obvious_reference(history, engine):
    leads, acts, as_of, own, windows = history
    as_of_us = as_of.dt.as_unit("us").astype("int64").to_numpy()
    got = activity_features(leads, acts, as_of_us, own, windows, engine=engine)
    want = reference(leads, acts, as_of, own, windows)
    assert set(got) == set(want)
    for col, values in want.items():
        np.testing.assert_array_equal(got[col], values, err_msg=col)


def test_an_event_exactly_at_as_of_is_not_counted_one_a_microsecond_before_is():
    leads = pd.DataFrame({LEAD_ID: ["a"]})
    as_of_us = np.array([T0.value // 1000])
    for engine in ("duckdb", "numpy"):
        at = pd.DataFrame({LEAD_ID: ["a"], OCCURRED_AT: [T0], ACTIVITY_TYPE: ["page_view"]})
        f = activity_features(leads, at, as_of_us, ("page_view",), (7,), engine=engine)
        assert f["n_page_view_7d"][0] == 0 and np.isnan(f["days_since_last_activity"][0])
        just = at.assign(**{OCCURRED_AT: [T0 - pd.Timedelta(microseconds=1)]})
        f = activity_features(leads, just, as_of_us, ("page_view",), (7,), engine=engine)
        assert f["n_page_view_7d"][0] == 1 and f["days_since_last_activity"][0] == 1 / DAY_US


def test_the_dialects_differ_only_in_the_adapter():
    duck, spark = summary_sql((7, 30), DUCKDB), summary_sql((7, 30), SPARK)
    assert "epoch_us(" in duck and "unix_micros(" in spark
    assert spark == (
        duck.replace("epoch_us(", "unix_micros(").replace('"', "`")
    )


def _table(tmp_path):
    leads = pd.DataFrame(
        {LEAD_ID: ["a", "b", "c"], AS_OF: pd.to_datetime(["2025-03-10"] * 3, utc=True)}
    )
    acts = pd.DataFrame(
        {
            LEAD_ID: ["a", "a", "b"],
            OCCURRED_AT: pd.to_datetime(["2025-03-09", "2025-03-01", "2025-02-01"], utc=True),
            ACTIVITY_TYPE: ["page_view", "demo_request", "page_view"],
        }
    )
    table = duckdb_summary(leads, acts, (7, 30)).to_pandas()
    return leads, acts, table


def test_a_summary_table_gives_the_features_built_from_the_activities(tmp_path):
    leads, acts, table = _table(tmp_path)
    lead_ids, as_of = leads[LEAD_ID].iloc[::-1].reset_index(drop=True), leads[AS_OF]
    got = features_from_table(table.sample(frac=1, random_state=0), lead_ids, as_of,
                              ("page_view",), (7, 30))
    want = activity_features(lead_ids.to_frame(), acts, as_of.dt.as_unit("us").astype("int64")
                             .to_numpy(), ("page_view",), (7, 30))
    assert got.keys() == want.keys()
    for col in want:
        np.testing.assert_array_equal(got[col], want[col], err_msg=col)
    assert got["n_other_30d"].tolist() == [0, 0, 1]  # c, b, a: a's demo request is pooled


def test_a_summary_table_of_other_moments_or_without_some_leads_is_refused(tmp_path):
    leads, _, table = _table(tmp_path)
    later = leads[AS_OF].where(leads[LEAD_ID] != "b", leads[AS_OF] + pd.Timedelta(days=1))
    with pytest.raises(MqlmlError, match=r"acts\.parquet: column 'as_of', row \d+ \(lead 'b'\)"):
        features_from_table(table, leads[LEAD_ID], later, (), (7, 30), source="acts.parquet")
    with pytest.raises(MqlmlError, match=r"acts\.parquet: column 'lead_id': 1 of 4 leads are not"):
        features_from_table(table, pd.Series(["a", "b", "c", "zz"]),
                            pd.concat([leads[AS_OF], leads[AS_OF].iloc[:1]]), (), (7, 30),
                            source="acts.parquet")
    with pytest.raises(MqlmlError, match=r"missing columns \['n_90d'"):
        features_from_table(table, leads[LEAD_ID], leads[AS_OF], (), (7, 90))


def test_duckdb_reads_parquet_files_by_glob_out_of_core(tmp_path):
    leads, acts, table = _table(tmp_path)
    acts.iloc[:2].to_parquet(tmp_path / "acts-1.parquet")
    acts.iloc[2:].to_parquet(tmp_path / "acts-2.parquet")
    got = duckdb_summary(leads, str(tmp_path / "acts-*.parquet"), (7, 30),
                         memory_limit="200MB", temp_directory=tmp_path / "spill").to_pandas()
    key = [LEAD_ID, ACTIVITY_TYPE]
    pd.testing.assert_frame_equal(
        got.sort_values(key, na_position="first").reset_index(drop=True),
        table.sort_values(key, na_position="first").reset_index(drop=True),
    )
