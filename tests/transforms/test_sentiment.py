"""The sentiment transform on Spark: the contract's labels and scores, as plain VADER gives them."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipelines.aws.clients import AwsEndpoint
from pipelines.local_services import MotoServer
from pipelines.sentiment import BedrockScorer, SentimentScoringError, VaderScorer, label_for
from pipelines.transforms.sentiment import score_batch, with_sentiment

pytestmark = pytest.mark.spark

INPUT = StructType([StructField("id", LongType()), StructField("comment", StringType())])
OUTPUT = StructType(
    [*INPUT.fields, StructField("sentiment_label", StringType()), StructField("sentiment_score", DoubleType())]
)
# Found by search: VADER's compound for these is exactly 0.05 and -0.05.
AT_GOOD_BOUNDARY = "not nurture not adorner grimiest"
AT_BAD_BOUNDARY = "but kind of slightly kind of screwworms"
PLAIN = SentimentIntensityAnalyzer()


def plain_vader(comment: str | None) -> tuple[str | None, float | None]:
    if comment is None or not comment.strip():
        return None, None
    score = PLAIN.polarity_scores(comment)["compound"]
    return label_for(score), score


def expected_rows(rows: list[tuple[int, str | None]]) -> list[tuple[int, str | None, str | None, float | None]]:
    return [(i, text, *plain_vader(text)) for i, text in rows]


@dataclass
class RecordingScorer:
    """VADER that remembers what it was asked to score (in this process only)."""

    asked: list[str | None] = field(default_factory=list)
    drop_last: bool = False

    def score(self, texts: Sequence[str | None]) -> list[float | None]:
        self.asked.extend(texts)
        scores = VaderScorer().score(texts)
        return scores[:-1] if self.drop_last else scores


def test_each_distinct_comment_of_a_batch_is_scored_once_and_rows_keep_their_order() -> None:
    texts = pd.Series(["great", None, "awful", "great", "", "awful", None, "great"], dtype=object)
    scorer = RecordingScorer()
    result = score_batch(texts, scorer)
    assert sorted(scorer.asked, key=str) == ["", "awful", "great"]
    expected = [plain_vader(text) for text in texts]
    got = [(None if pd.isna(s) else s, label) for s, label in zip(result["score"], result["label"], strict=True)]
    assert got == [(score, label) for label, score in expected]


def test_a_scorer_that_returns_too_few_scores_is_a_clear_error() -> None:
    with pytest.raises(SentimentScoringError, match="returned 1 scores for 2 comments"):
        score_batch(pd.Series(["good", "bad"], dtype=object), RecordingScorer(drop_last=True))


def test_new_order_and_return_comments_get_vader_labels_and_scores(spark: SparkSession, contract_dir: Path) -> None:
    rows = [
        (n, json.loads((contract_dir / "examples" / f"{name}.json").read_text(encoding="utf-8"))["comment"])
        for n, name in enumerate(("new_order", "return_order"))
    ]
    result = spark.createDataFrame(rows, INPUT).transform(with_sentiment())
    expected = spark.createDataFrame(expected_rows(rows), OUTPUT)
    assert_df_equality(result, expected, ignore_row_order=True)
    assert sorted(r.sentiment_label for r in result.collect()) == ["Bad", "Good"]


def test_comments_at_exactly_plus_and_minus_0_05_are_good_and_bad(spark: SparkSession) -> None:
    rows = [(1, AT_GOOD_BOUNDARY), (2, AT_BAD_BOUNDARY)]
    result = spark.createDataFrame(rows, INPUT).transform(with_sentiment())
    expected = spark.createDataFrame([(1, AT_GOOD_BOUNDARY, "Good", 0.05), (2, AT_BAD_BOUNDARY, "Bad", -0.05)], OUTPUT)
    assert_df_equality(result, expected, ignore_row_order=True)


def test_missing_empty_and_blank_comments_get_null_sentiment_and_are_kept(spark: SparkSession) -> None:
    rows = [(1, None), (2, ""), (3, "   "), (4, "The package arrived on Tuesday.")]
    result = spark.createDataFrame(rows, INPUT).transform(with_sentiment())
    expected = spark.createDataFrame(
        [(1, None, None, None), (2, "", None, None), (3, "   ", None, None), (4, rows[3][1], "Neutral", 0.0)], OUTPUT
    )
    assert_df_equality(result, expected, ignore_row_order=True)


def test_pandas_udf_matches_plain_vader_on_many_comments_with_repeats_and_nulls(spark: SparkSession) -> None:
    words = ["great", "terrible", "box", "not", "late", "love", "okay", "very", "broken", "fast", "!", "but", "meh"]
    rows: list[tuple[int, str | None]] = []
    for n in range(600):
        if n % 17 == 0:
            rows.append((n, None))
        elif n % 5 == 0:
            rows.append((n, "Repeated: great but late"))  # the same text in many rows of a batch
        else:
            rows.append((n, " ".join(words[(n * k) % len(words)] for k in range(1, 2 + n % 9))))
    result = spark.createDataFrame(rows, INPUT).repartition(3).transform(with_sentiment())
    expected = spark.createDataFrame(expected_rows(rows), OUTPUT)
    assert_df_equality(result, expected, ignore_row_order=True)


def test_custom_column_names_and_other_columns_are_kept(spark: SparkSession) -> None:
    schema = StructType([StructField("note", StringType()), StructField("amount", DoubleType())])
    df = spark.createDataFrame([("Awful, never again", 10.0)], schema)
    result = df.transform(with_sentiment(text_col="note", label_col="mood", score_col="mood_score"))
    assert result.columns == ["note", "amount", "mood", "mood_score"]
    label, score = plain_vader("Awful, never again")
    assert result.collect()[0].asDict() == {
        "note": "Awful, never again",
        "amount": 10.0,
        "mood": label,
        "mood_score": score,
    }


def test_long_comments_are_capped_by_the_scorer(spark: SparkSession) -> None:
    praise = "The jacket is great. " * 5
    text = praise + "Horrible, awful, the worst. " * 30
    df = spark.createDataFrame([(1, text)], INPUT)
    capped = df.transform(with_sentiment(scorer=VaderScorer(max_chars=len(praise)))).collect()[0]
    whole = df.transform(with_sentiment(scorer=VaderScorer(max_chars=10_000))).collect()[0]
    assert (capped.sentiment_label, capped.sentiment_score) == plain_vader(praise)
    assert (whole.sentiment_label, whole.sentiment_score) == plain_vader(text)


def test_a_missing_text_column_is_a_clear_error(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "fine")], INPUT)
    with pytest.raises(ValueError, match="no column 'review'"):
        df.transform(with_sentiment(text_col="review"))


def test_the_scoring_udf_runs_once_per_row(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "fine")], INPUT).transform(with_sentiment())
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert plan.count("ArrowEvalPython") == 1


def test_the_analyzer_is_built_once_per_python_worker(spark: SparkSession) -> None:
    @F.pandas_udf("string")  # type: ignore[call-overload]
    def analyzer_identity(texts: pd.Series) -> pd.Series:
        from pipelines.sentiment import vader_analyzer

        return pd.Series([f"{os.getpid()}:{id(vader_analyzer())}"] * len(texts))

    df = spark.createDataFrame([(n, "ok") for n in range(20)], INPUT).repartition(4)
    df.transform(with_sentiment()).collect()
    seen = {row[0] for row in df.select(analyzer_identity("comment")).collect()}
    seen |= {row[0] for row in df.select(analyzer_identity("comment")).collect()}
    pids = {entry.split(":")[0] for entry in seen}
    assert len(seen) == len(pids), f"an analyzer was built more than once in a worker: {sorted(seen)}"


def test_a_failing_scorer_stops_the_query_with_its_reason(spark: SparkSession, moto_server: MotoServer) -> None:
    # moto's InvokeModel answers with an empty object, which the Bedrock scorer must not take as scores.
    scorer = BedrockScorer(AwsEndpoint.from_environment())
    df = spark.createDataFrame([(1, "Great shoes")], INPUT).transform(with_sentiment(scorer=scorer))
    with pytest.raises(Exception, match="BedrockAnswerError"):
        df.collect()
