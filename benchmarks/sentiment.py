"""Benchmark: comment sentiment as a pandas UDF vs a row-at-a-time Python UDF vs plain VADER.

All three score the same generated comments on the same number of cores. Usage::

    python benchmarks/sentiment.py                       # 100,000 comments, 2 cores, 3 runs each
    python benchmarks/sentiment.py --rows 200000 --repeat 5 --arrow-batch 1000,10000 --json out.json

"plain VADER" is the ceiling: ``polarity_scores`` in a loop in as many processes as Spark has
cores, no Spark at all. The Spark variants produce the same two columns (score and label) and are
forced with the ``noop`` sink, so nothing is written and nothing is skipped. Variants run in
interleaved rounds after a warm-up round, and the best time of each is reported.

Two data sets: unique comments (every row different, the pandas UDF's worst case), and the
comments of the project's event simulator, which repeat as short real comments do ("Great,
thanks!"); without the simulator, a few hundred distinct comments drawn at random stand in for
them. The pandas UDF scores each distinct comment of an Arrow batch once, a row UDF cannot.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.sentiment import DEFAULT_MAX_CHARS, VaderScorer, label_for, vader_analyzer, vader_score

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_OPENERS = [
    "The",
    "My",
    "This",
    "Our",
    "Honestly the",
    "Overall the",
    "Sadly the",
    "Wow, the",
    "Hmm, the",
    "Finally the",
]
_SUBJECTS = [
    "delivery",
    "package",
    "jacket",
    "headphones",
    "courier",
    "refund",
    "box",
    "shoes",
    "sofa",
    "support agent",
    "checkout",
    "coffee maker",
    "phone case",
    "dress",
    "tent",
    "blender",
    "order",
    "invoice",
    "parcel",
    "mattress",
]
_VERDICTS = [
    "arrived early and works great",
    "was late and the box was crushed",
    "is fine, nothing special",
    "broke after two days",
    "fits perfectly, love it",
    "was not what I ordered",
    "is okay I guess",
    "exceeded my expectations",
    "smells weird and feels cheap",
    "came quickly, very happy",
    "is absolutely terrible",
    "was damaged but support was helpful",
    "looks exactly like the photos",
    "is not bad at all",
    "took forever to arrive",
    "is good value for money",
    "was missing a part",
    "is amazing!!",
    "made me really disappointed",
    "arrived on the day promised",
]
_TAILS = [
    "",
    "",
    "Would buy again.",
    "Never again.",
    "Thanks!",
    "Please call me.",
    "5 stars.",
    "1 star.",
    "Will return it.",
    "Kids love it :)",
    "Not sure yet.",
    "Great service, terrible packaging.",
]


def make_comments(rows: int, distinct: int | None, seed: int = 7) -> list[str]:
    """``rows`` short comments (5-25 words); all unique, or drawn from ``distinct`` different ones."""
    rng = random.Random(seed)

    def one(n: int) -> str:
        parts = [rng.choice(_OPENERS), rng.choice(_SUBJECTS), rng.choice(_VERDICTS) + ".", rng.choice(_TAILS)]
        # An order number keeps comments unique without changing their sentiment.
        return " ".join(p for p in parts if p) + f" (order {n})"

    if distinct is None:
        return [one(n) for n in range(rows)]
    pool = [one(n) for n in range(distinct)]
    return [rng.choice(pool) for _ in range(rows)]


def simulated_comments(rows: int, seed: int = 7) -> list[str] | None:
    """Comments as the project's event simulator writes them (None if it is not installed).

    Most are one or two sentences from small pools, so they repeat a lot; one in ten is long.
    """
    try:
        from pipelines.simulator.comments import MOODS, make_comment
    except ImportError:
        return None
    rng = random.Random(seed)
    return [
        make_comment(rng, rng.choice(MOODS), long=rng.random() < 0.1, about="return" if rng.random() < 0.2 else "order")
        for _ in range(rows)
    ]


@dataclass
class Result:
    dataset: str
    variant: str
    rows: int
    seconds: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.rows / self.best


Action = Callable[[], object]


def _score_chunk(texts: Sequence[str]) -> list[tuple[float | None, str | None]]:
    out: list[tuple[float | None, str | None]] = []
    for text in texts:
        score = vader_score(text, DEFAULT_MAX_CHARS)
        out.append((score, label_for(score)))
    return out


def _warm_worker() -> None:
    vader_analyzer()


def plain_vader_actions(comments: list[str], pool: Any, processes: int) -> list[tuple[str, Action]]:
    """VADER in a loop: in this process, and in a warmed pool of ``processes`` (chunks of 5,000)."""
    chunks = [comments[i : i + 5000] for i in range(0, len(comments), 5000)]
    return [
        ("plain VADER, 1 process", lambda: _score_chunk(comments)),
        (f"plain VADER, {processes} processes", lambda: pool.map(_score_chunk, chunks)),
    ]


def spark_actions(
    spark: SparkSession, comments: list[str], partitions: int, arrow_batches: Sequence[int]
) -> tuple[list[tuple[str, Action]], DataFrame]:
    """The pandas UDF (per Arrow batch size), the classic row UDF and the Arrow-optimised row UDF."""
    from pyspark.sql import functions as F  # noqa: N812 - the usual PySpark alias

    from pipelines.transforms.sentiment import SENTIMENT_STRUCT, with_sentiment

    frame = pd.DataFrame({"id": range(len(comments)), "comment": comments})
    df = spark.createDataFrame(frame, "id long, comment string").repartition(partitions).cache()
    df.count()

    def row_score(text: str | None) -> tuple[float | None, str | None]:
        score = vader_score(text, DEFAULT_MAX_CHARS)
        return score, label_for(score)

    def run(scored: DataFrame, arrow_batch: int | None = None) -> Action:
        def action() -> None:
            if arrow_batch is not None:
                spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(arrow_batch))
            scored.write.format("noop").mode("overwrite").save()

        return action

    pandas_udf = df.transform(with_sentiment(scorer=VaderScorer()))
    actions: list[tuple[str, Action]] = [
        (f"pandas UDF (Arrow batch {size:,})", run(pandas_udf, size)) for size in arrow_batches
    ]
    for name, use_arrow in (("row UDF (pickled rows)", False), ("row UDF (useArrow=True)", True)):
        row_udf = F.udf(row_score, SENTIMENT_STRUCT, useArrow=use_arrow)
        scored = df.select("*", row_udf("comment").alias("s")).select("*", "s.*").drop("s")
        actions.append((name, run(scored, arrow_batches[0] if use_arrow else None)))
    return actions, df


def run_rounds(actions: list[tuple[str, str, Action]], rows: int, repeat: int) -> list[Result]:
    """One untimed warm-up round, then ``repeat`` rounds running every variant in turn.

    Interleaving keeps a change in the machine's load (other processes) from favouring the
    variants that happened to run while it was quiet.
    """
    times: dict[tuple[str, str], list[float]] = {(d, n): [] for d, n, _ in actions}
    for round_number in range(repeat + 1):
        for dataset, name, action in actions:
            start = time.perf_counter()
            action()
            if round_number:
                times[(dataset, name)].append(time.perf_counter() - start)
        print(f"  round {round_number} of {repeat} done", file=sys.stderr, flush=True)
    return [Result(dataset, name, rows, seconds) for (dataset, name), seconds in times.items()]


def check_same_as_plain(spark: SparkSession, comments: list[str], sample: int = 3000) -> int:
    """How many of ``sample`` comments the pandas UDF scores or labels differently from plain VADER."""
    from pipelines.transforms.sentiment import with_sentiment

    subset = comments[:sample]
    frame = pd.DataFrame({"id": range(len(subset)), "comment": subset})
    got = spark.createDataFrame(frame, "id long, comment string").transform(with_sentiment()).orderBy("id").collect()
    expected = _score_chunk(subset)
    return sum(
        1
        for (score, label), row in zip(expected, got, strict=True)
        if score != row["sentiment_score"] or label != row["sentiment_label"]
    )


def report(results: list[Result]) -> str:
    """A markdown table of the runs, and each pandas UDF variant against the two targets."""
    lines = ["| data | variant | rows | best s | median s | comments/s |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r.dataset} | {r.variant} | {r.rows:,} | {r.best:.2f} | {r.median:.2f} | {r.rate:,.0f} |")
    lines.append("")
    for dataset in dict.fromkeys(r.dataset for r in results):
        rows = [r for r in results if r.dataset == dataset]
        row_udf = next(r for r in rows if r.variant == "row UDF (pickled rows)")
        plain = next(r for r in rows if r.variant.startswith("plain VADER") and "1 process" not in r.variant)
        for pandas_udf in (r for r in rows if r.variant.startswith("pandas UDF")):
            lines.append(
                f"- {dataset}, {pandas_udf.variant}: {row_udf.best / pandas_udf.best:.2f}x the row UDF's speed "
                f"(median {row_udf.median / pandas_udf.median:.2f}x; target >= 1.4), "
                f"{pandas_udf.best / plain.best:.2f}x plain VADER's time "
                f"(median {pandas_udf.median / plain.median:.2f}x; target <= 1.5)."
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N] and plain VADER processes")
    parser.add_argument("--partitions", type=int, default=None, help="default: 2 per core")
    parser.add_argument(
        "--distinct", type=int, default=300, help="distinct comments of the repeated data set without the simulator"
    )
    parser.add_argument("--arrow-batch", default="10000", help="comma-separated Arrow batch sizes to try")
    parser.add_argument("--only-unique", action="store_true", help="skip the data set of repeated comments")
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    arrow_batches = [int(size) for size in args.arrow_batch.split(",")]
    partitions = args.partitions or 2 * args.cores

    from pipelines.session import get_spark
    from pipelines.settings import SparkSettings

    datasets = {"unique": make_comments(args.rows, None)}
    if not args.only_unique:
        simulated = simulated_comments(args.rows)
        if simulated is not None:
            datasets["simulator"] = simulated
        else:
            datasets[f"{args.distinct} distinct"] = make_comments(args.rows, args.distinct)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.rows:,} comments", file=sys.stderr)

    spark = get_spark(
        "sentiment-benchmark", SparkSettings(master=f"local[{args.cores}]", shuffle_partitions=partitions)
    )
    context = multiprocessing.get_context("spawn")
    cached: list[DataFrame] = []
    try:
        with context.Pool(args.cores, initializer=_warm_worker) as pool:
            mismatches = check_same_as_plain(spark, datasets["unique"])
            actions: list[tuple[str, str, Action]] = []
            for dataset, comments in datasets.items():
                vader_analyzer()
                actions += [(dataset, n, a) for n, a in plain_vader_actions(comments, pool, args.cores)]
                spark_list, df = spark_actions(spark, comments, partitions, arrow_batches)
                actions += [(dataset, n, a) for n, a in spark_list]
                cached.append(df)
            results = run_rounds(actions, args.rows, args.repeat)
    finally:
        for df in cached:
            df.unpersist()
        spark.stop()

    import pyspark

    print(
        f"\nSpark {pyspark.__version__}, local[{args.cores}], {partitions} partitions, "
        f"best of {args.repeat} interleaved rounds\n"
    )
    print(report(results))
    print(f"- pandas UDF vs plain VADER on 3,000 comments: {mismatches} differing score or label.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                [{**asdict(r), "best": r.best, "median": r.median, "rate": r.rate} for r in results], handle, indent=2
            )
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
