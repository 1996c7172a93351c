"""Comment sentiment three ways on the same comments and cores: pandas UDF, row-at-a-time UDF, plain VADER.

Plain VADER is the ceiling: ``polarity_scores`` in a loop in as many processes as Spark has
cores, no Spark. The two UDFs produce the same columns and are forced with the ``noop`` sink.
Each variant runs once untimed (warm-up: Python workers, the lexicon), then ``repeat`` rounds
interleaved, so a change in the machine's load does not favour one variant; the best round counts.

Two data sets: unique comments (the simulator's comments, each made unique by an order number:
the pandas UDF's worst case, nothing to deduplicate) and the simulator's comments as they are
(short comments repeat; the pandas UDF scores each distinct comment of a batch once).
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.bench.machine import Stopwatch
from pipelines.sentiment import DEFAULT_MAX_CHARS, VaderScorer, label_for, vader_analyzer, vader_score

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Action = Callable[[], object]


def simulator_comments(rows: int, unique: bool, seed: int = 7) -> list[str]:
    """``rows`` comments as the event simulator writes them; ``unique`` appends an order number to each."""
    from pipelines.simulator.comments import MOODS, make_comment

    rng = random.Random(seed)
    comments = [
        make_comment(rng, rng.choice(MOODS), long=rng.random() < 0.1, about="return" if rng.random() < 0.2 else "order")
        for _ in range(rows)
    ]
    # An order number makes a comment unique without changing its sentiment.
    return [f"{text} (order {n})" for n, text in enumerate(comments)] if unique else comments


def _score_chunk(texts: Sequence[str]) -> int:
    labels = 0
    for text in texts:
        labels += label_for(vader_score(text, DEFAULT_MAX_CHARS)) is not None
    return labels


def _warm_worker() -> None:
    vader_analyzer()


def _row_score(text: str | None) -> tuple[float | None, str | None]:
    score = vader_score(text, DEFAULT_MAX_CHARS)
    return score, label_for(score)


def _spark_actions(spark: SparkSession, comments: list[str], partitions: int) -> tuple[dict[str, Action], Any]:
    from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

    from pipelines.transforms.sentiment import SENTIMENT_STRUCT, with_sentiment

    frame = spark.createDataFrame(
        pd.DataFrame({"id": range(len(comments)), "comment": comments}), "id long, comment string"
    )
    frame = frame.repartition(partitions).cache()
    frame.count()
    row_udf = F.udf(_row_score, SENTIMENT_STRUCT)
    variants = {
        "pandas UDF": frame.transform(with_sentiment(scorer=VaderScorer())),
        "row UDF": frame.select("*", row_udf("comment").alias("s")).select("*", "s.*").drop("s"),
    }

    def run(scored: Any) -> Action:
        return lambda: scored.write.format("noop").mode("overwrite").save()

    return {name: run(scored) for name, scored in variants.items()}, frame


def run_sentiment(spark: SparkSession, rows: int, cores: int, repeat: int = 2) -> dict[str, Any]:
    """Time the three variants on both data sets; seconds, comments/s and the two ratios the targets name."""
    partitions = 2 * cores
    datasets = {"unique": simulator_comments(rows, unique=True), "simulator": simulator_comments(rows, unique=False)}
    context = multiprocessing.get_context("spawn")
    results: dict[str, Any] = {}
    with context.Pool(cores, initializer=_warm_worker) as pool, Stopwatch() as watch:
        for dataset, comments in datasets.items():
            chunks = [comments[i : i + 5000] for i in range(0, len(comments), 5000)]
            actions, frame = _spark_actions(spark, comments, partitions)
            actions["plain VADER"] = lambda chunks=chunks: pool.map(_score_chunk, chunks)  # type: ignore[misc]
            times: dict[str, list[float]] = {name: [] for name in actions}
            for round_number in range(repeat + 1):
                for name, action in actions.items():
                    started = time.perf_counter()
                    action()
                    if round_number:
                        times[name].append(time.perf_counter() - started)
            frame.unpersist()
            best = {name: min(seconds) for name, seconds in times.items()}
            results[dataset] = {
                "rows": rows,
                "seconds": {name: round(value, 3) for name, value in best.items()},
                "comments_per_second": {name: round(rows / value) for name, value in best.items()},
                "pandas_vs_row_speedup": round(best["row UDF"] / best["pandas UDF"], 2),
                "pandas_vs_plain_time": round(best["pandas UDF"] / best["plain VADER"], 2),
            }
            figures = results[dataset]
            print(
                f"  sentiment, {dataset} comments: pandas UDF {figures['pandas_vs_row_speedup']}x the row UDF's "
                f"speed, {figures['pandas_vs_plain_time']}x plain VADER's time",
                flush=True,
            )
    results.update(cores=cores, partitions=partitions, repeat=repeat, load_start=watch.load_start)
    results["load_end"] = watch.load_end
    return results
