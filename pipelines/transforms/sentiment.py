"""Comment sentiment as a pandas UDF: adds the contract's ``sentiment_label`` and ``sentiment_score``.

One UDF call scores a whole Arrow batch: identical comments in a batch are scored once, the
scorer's expensive parts are built once per Python worker (see :mod:`pipelines.sentiment`), and
labels come from :func:`pipelines.sentiment.label_for`. The scorer is passed in as a value; the
job builds it from settings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from pipelines.sentiment import SentimentScorer, SentimentScoringError, VaderScorer, label_for
from pipelines.workers import freeze_setup

SENTIMENT_STRUCT = StructType([StructField("score", DoubleType()), StructField("label", StringType())])
_TMP_COL = "__sentiment"


def score_batch(texts: pd.Series, scorer: SentimentScorer) -> pd.DataFrame:
    """Score and label one batch of comments, each distinct comment once; nulls stay null."""
    # factorize gives every distinct non-null text a code (null -> -1) without a Python loop.
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    scores = scorer.score(list(uniques))
    if len(scores) != len(uniques):
        name = type(scorer).__name__
        raise SentimentScoringError(f"{name} returned {len(scores)} scores for {len(uniques)} comments")
    # One extra slot at the end is what code -1 (a null comment) picks.
    score_table = np.array([np.nan if s is None else s for s in scores] + [np.nan], dtype="float64")
    label_table = np.array([label_for(s) for s in scores] + [None], dtype=object)
    return pd.DataFrame({"score": score_table[codes], "label": label_table[codes]})


def sentiment_column(text: Column | str, scorer: SentimentScorer | None = None) -> Column:
    """A struct<score double, label string> column scoring ``text`` with ``scorer`` (VADER by default)."""
    chosen = scorer if scorer is not None else VaderScorer()

    def score(texts: pd.Series) -> pd.DataFrame:
        scored = score_batch(texts, chosen)
        # The first batch loaded the scorer's lexicon: keep it out of the per-task collections.
        freeze_setup("sentiment")
        return scored

    return F.pandas_udf(score, SENTIMENT_STRUCT)(text)  # type: ignore[call-overload]


def with_sentiment(
    text_col: str = "comment",
    label_col: str = "sentiment_label",
    score_col: str = "sentiment_score",
    scorer: SentimentScorer | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """``df.transform`` step adding ``label_col`` (Good/Bad/Neutral/null) and ``score_col`` from ``text_col``.

    ``scorer`` must be picklable (the scorers of :mod:`pipelines.sentiment` are); default VADER.
    Rows without a comment, or with an empty or blank one, get nulls in both columns.
    """

    def transform(df: DataFrame) -> DataFrame:
        if text_col not in df.columns:
            raise ValueError(f"with_sentiment: no column {text_col!r} in {df.columns}")
        # The struct is materialised in one projection and then split, so the UDF runs once per row.
        scored = df.select("*", sentiment_column(F.col(text_col).cast("string"), scorer).alias(_TMP_COL))
        return scored.withColumns({label_col: F.col(f"{_TMP_COL}.label"), score_col: F.col(f"{_TMP_COL}.score")}).drop(
            _TMP_COL
        )

    return transform
