"""The activity summary on Spark: the same SQL as the embedded engine, run by Spark SQL.

PySpark is imported by the caller's session, never by mqlml: it is not a dependency of the
package. The query is :func:`mqlml.features.activity.summary_sql` in the Spark dialect, so a
summary built here equals the one DuckDB builds from the same rows (a test holds them
equal), and ``mqlml train --activity-features`` or the pyfunc (``activity_summary`` input)
reads it in place of the raw activities.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mqlml.columns import ACTIVITY_SUMMARY, ACTIVITY_TYPE, AS_OF, LEAD_ID, OCCURRED_AT
from mqlml.config import FeatureConfig
from mqlml.features.activity import SPARK, summary_sql

#: The default windows, those of ``features.windows_days``.
DEFAULT_WINDOWS = tuple(FeatureConfig().windows_days)


def activity_summary(leads, activities, windows: Sequence[int] = DEFAULT_WINDOWS):
    """The activity summary of ``leads`` at their ``as_of``, as a Spark DataFrame.

    Parameters
    ----------
    leads : pyspark.sql.DataFrame
        ``lead_id`` (unique) and ``as_of`` (timestamp, or ISO 8601 text); other columns
        are ignored.
    activities : pyspark.sql.DataFrame
        ``lead_id``, ``occurred_at`` (timestamp or ISO 8601 text) and ``activity_type``.
    windows : sequence of int
        Look-back windows in days: those of the model's ``features.windows_days``.

    Returns
    -------
    pyspark.sql.DataFrame
        ``lead_id``, ``as_of``, ``activity_type`` and the measures of
        :func:`mqlml.features.activity.measures`: one row per lead and activity type it did
        strictly before its as-of, and one per lead (``activity_type`` null) for all of
        them. Write it with ``.write.parquet(path)`` for ``mqlml train
        --activity-features path``.
    """
    from pyspark.sql import functions as F

    spark = leads.sparkSession
    tag = uuid.uuid4().hex[:12]
    lead_view, act_view = f"mqlml_leads_{tag}", f"mqlml_activities_{tag}"
    # Times given as ISO text (as pyfunc rows carry them) are read as timestamps.
    leads.select(LEAD_ID, F.col(AS_OF).cast("timestamp").alias(AS_OF)).createOrReplaceTempView(
        lead_view
    )
    activities.select(
        LEAD_ID, F.col(OCCURRED_AT).cast("timestamp").alias(OCCURRED_AT), ACTIVITY_TYPE
    ).createOrReplaceTempView(act_view)
    # Temp views live as long as the session; the returned plan keeps reading them.
    return spark.sql(summary_sql(windows, SPARK, leads=lead_view, activities=act_view))


def with_activity_summary(leads, activities, windows: Sequence[int] = DEFAULT_WINDOWS):
    """``leads`` with an ``activity_summary`` column: the pyfunc input, features on Spark.

    The pyfunc (``mlflow.pyfunc.spark_udf``) then scores each lead from its summary rows
    instead of its raw activities, with the same scores (a test holds them equal): the
    heavy part, the events, never leaves Spark's executors as rows.

    Parameters
    ----------
    leads : pyspark.sql.DataFrame
        The lead rows the pyfunc takes (``lead_id``, ``created_at``, attributes) with
        ``as_of`` (timestamp): the scoring moment the summary is built at.
    activities : pyspark.sql.DataFrame
        ``lead_id``, ``occurred_at`` (timestamp) and ``activity_type``.
    windows : sequence of int
        The model's ``features.windows_days``.

    Returns
    -------
    pyspark.sql.DataFrame
        ``leads`` plus ``activity_summary``: JSON text of the lead's summary rows.
    """
    from pyspark.sql import functions as F

    summary = activity_summary(leads, activities, windows)
    rows = [c for c in summary.columns if c not in (LEAD_ID, AS_OF)]
    per_lead = summary.groupBy(LEAD_ID).agg(
        F.to_json(F.collect_list(F.struct(*[F.col(f"`{c}`") for c in rows]))).alias(
            ACTIVITY_SUMMARY
        )
    )
    return leads.join(per_lead, on=LEAD_ID, how="left")
