"""Spark: ``mlflow.pyfunc.spark_udf`` on the registered champion scores a Spark DataFrame
in local mode exactly as the batch CLI scores the same leads."""

import pytest
from pyspark.sql.functions import col, struct
from pyspark.sql.types import StringType, StructField, StructType

from conftest import needs_java
from mlflow_helpers import (
    assert_same_scores,
    batch,
    batch_rows,
    champion_store,
    score_with_cli,
)
from mqlml.columns import (
    ACTIVITIES,
    ACTIVITY_SUMMARY,
    ACTIVITY_TYPE,
    LEAD_ID,
    OCCURRED_AT,
    SCORE_COLUMNS,
)
from mqlml.serving.tracking import CHAMPION

NAME = "sparked"
pytestmark = needs_java


@pytest.fixture(scope="module")
def champion(trained, tmp_path_factory):
    return champion_store(trained, tmp_path_factory.mktemp("spark-store"), NAME)[0]


def test_spark_udf_scores_equal_the_batch_cli(spark, champion, trained, tmp_path, monkeypatch):
    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion)
    mlflow.set_tracking_uri(champion)
    leads, acts = batch(trained[2])
    rows = batch_rows(leads, acts)
    schema = StructType([StructField(c, StringType(), True) for c in rows.columns])
    records = [tuple(None if v is None or v != v else str(v) for v in r) for r in rows.to_numpy()]
    frame = spark.createDataFrame(records, schema).repartition(2)

    udf = mlflow.pyfunc.spark_udf(spark, f"models:/{NAME}@{CHAMPION}", env_manager="local")
    scored = frame.select(
        col(LEAD_ID).alias("input_id"), udf(struct(*[col(c) for c in rows.columns])).alias("s")
    ).select("input_id", "s.*")
    out = scored.toPandas()

    assert scored.rdd.getNumPartitions() == 2
    assert (out["input_id"] == out[LEAD_ID]).all()  # each row's scores are its own
    assert list(out.columns[1:]) == list(SCORE_COLUMNS)
    cli = score_with_cli(f"models:/{NAME}@{CHAMPION}", leads, acts, tmp_path)
    assert_same_scores(out.drop(columns="input_id"), cli)


def test_features_on_spark_then_the_udf_score_as_the_batch_cli(
    spark, champion, trained, tmp_path, monkeypatch
):
    """The documented recipe (docs/spark.md): activity summary on Spark, then the pyfunc."""
    import mlflow.pyfunc

    from mqlml.features.spark import with_activity_summary

    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion)
    mlflow.set_tracking_uri(champion)
    model, _, crm, _ = trained
    leads, acts = batch(crm)
    rows = batch_rows(leads, acts).drop(columns=[ACTIVITIES])
    schema = StructType([StructField(c, StringType(), True) for c in rows.columns])
    records = [tuple(None if v is None or v != v else str(v) for v in r) for r in rows.to_numpy()]
    lead_frame = spark.createDataFrame(records, schema)
    act_frame = spark.createDataFrame(acts[[LEAD_ID, OCCURRED_AT, ACTIVITY_TYPE]])
    frame = with_activity_summary(lead_frame, act_frame, model.spec.windows_days)
    assert ACTIVITY_SUMMARY in frame.columns and ACTIVITIES not in frame.columns

    udf = mlflow.pyfunc.spark_udf(spark, f"models:/{NAME}@{CHAMPION}", env_manager="local")
    out = frame.select(udf(struct(*[col(c) for c in frame.columns])).alias("s")).select("s.*")
    cli = score_with_cli(f"models:/{NAME}@{CHAMPION}", leads, acts, tmp_path)
    assert_same_scores(out.toPandas(), cli)
