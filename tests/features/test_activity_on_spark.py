"""The activity summary built by Spark SQL (local mode) equals the embedded engine's."""

import numpy as np
import pandas as pd

from conftest import make_activities, make_leads, needs_java
from mqlml.columns import ACTIVITY_TYPE, AS_OF, CREATED_AT, LEAD_ID, OCCURRED_AT
from mqlml.features import spark as spark_features
from mqlml.features.activity import activity_features, duckdb_summary, features_from_table

pytestmark = needs_java
WINDOWS = (7, 30, 90)


def _sample():
    leads = make_leads(60, seed=3)
    acts = make_activities(leads, per_lead=6, seed=3)
    as_of = leads[CREATED_AT] + pd.Timedelta(days=20)
    # Events exactly at as-of, on a window's edge and a microsecond inside it, and a type
    # with quotes and a backtick: where a dialect's comparisons or quoting would differ.
    lead, moment = leads[LEAD_ID].iloc[0], as_of.iloc[0]
    edges = pd.DataFrame(
        {
            LEAD_ID: lead,
            OCCURRED_AT: [moment, moment - pd.Timedelta(days=7),
                          moment - pd.Timedelta(days=30) + pd.Timedelta(microseconds=1)],
            ACTIVITY_TYPE: ["demo_request", "it's `odd`", "page_view"],
        }
    )
    acts = pd.concat([acts[[LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]], edges], ignore_index=True)
    acts[OCCURRED_AT] = acts[OCCURRED_AT].dt.as_unit("us")
    return pd.DataFrame({LEAD_ID: leads[LEAD_ID], AS_OF: as_of.dt.as_unit("us")}), acts


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(**{AS_OF: pd.to_datetime(frame[AS_OF], utc=True).dt.as_unit("us")})
    key = [LEAD_ID, ACTIVITY_TYPE]
    out = frame.sort_values(key, na_position="first").reset_index(drop=True)
    return out.astype({c: float for c in out.columns if c not in (*key, AS_OF)})


def test_spark_and_duckdb_build_the_same_summary_and_features(spark):
    leads, acts = _sample()
    sdf = spark_features.activity_summary(
        spark.createDataFrame(leads), spark.createDataFrame(acts), WINDOWS
    )
    on_spark = _sorted(sdf.toPandas())
    embedded = _sorted(duckdb_summary(leads, acts, WINDOWS).to_pandas())
    assert len(on_spark) > len(leads)  # per-type rows as well as one row per lead
    pd.testing.assert_frame_equal(on_spark, embedded, check_dtype=False, check_exact=True)

    own = ("email_open", "page_view", "pricing_page_view")
    from_spark = features_from_table(on_spark, leads[LEAD_ID], leads[AS_OF], own, WINDOWS)
    as_of_us = leads[AS_OF].astype("int64").to_numpy()
    for engine in ("duckdb", "numpy"):
        direct = activity_features(leads, acts, as_of_us, own, WINDOWS, engine=engine)
        assert from_spark.keys() == direct.keys()
        for col in direct:
            np.testing.assert_array_equal(from_spark[col], direct[col], err_msg=col)
    assert from_spark["n_other_7d"][0] >= 1  # the odd type, on the edge of the week, counts
