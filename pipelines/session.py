"""The one Spark session factory of the project.

Locally it builds a small session that works on a laptop (the running interpreter for Python
workers, UI off, few shuffle partitions, UTC). Under spark-submit on EMR or Glue it only names
the application and leaves every cluster setting alone. Either way it registers the project's
Python data sources (the Kinesis and Kafka streaming readers).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipelines.settings import SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17

# Data sources register themselves here (module path, class name) so the factory need not
# import optional client libraries until a session is built.
DATA_SOURCES: tuple[tuple[str, str], ...] = (
    ("pipelines.sources.kafka", "KafkaDataSource"),
    ("pipelines.sources.kinesis", "KinesisDataSource"),
)


class JavaNotFoundError(RuntimeError):
    """Java 17 or newer, which Spark 4 runs on, is not installed or not on PATH/JAVA_HOME."""


def _java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("java")


def java_major_version(java: str) -> int | None:
    """The major version ``java -version`` reports (8 for "1.8.0_392", 17 for "17.0.15")."""
    result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> None:
    """Raise :class:`JavaNotFoundError` with what to do when Java 17+ is missing."""
    java = _java_binary()
    if java is None:
        raise JavaNotFoundError(
            "Spark needs Java 17 or newer and none was found (no JAVA_HOME, no 'java' on PATH). "
            "Install one, e.g. 'apt-get install openjdk-17-jre-headless' or 'brew install openjdk@17', "
            "then set JAVA_HOME."
        )
    major = java_major_version(java)
    if major is None or major < MIN_JAVA:
        raise JavaNotFoundError(
            f"Spark 4 needs Java {MIN_JAVA} or newer; {java} is version {major or 'unknown'}. "
            "Point JAVA_HOME at a Java 17+ installation."
        )


def launched_by_spark_submit() -> bool:
    """True under spark-submit, EMR steps and Glue, where the JVM starts first and owns the settings."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(app_name: str, settings: SparkSettings | None = None) -> SparkSession:
    """Return the session for ``app_name``: local and small unless a cluster launched us."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        # getOrCreate would re-apply this builder's options to the running session; a job started
        # inside another (the demo, a notebook, a test) must not reconfigure it underneath.
        register_data_sources(active)
        return active
    settings = settings or SparkSettings()
    builder = SparkSession.builder.appName(app_name)
    if not launched_by_spark_submit() and settings.master:
        check_java()
        # Python workers must run the interpreter that has this project installed.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        # Stay on loopback: a local run has no business on the machine's other interfaces.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(settings.master)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
            .config("spark.default.parallelism", str(settings.shuffle_partitions))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.python.worker.reuse", "true")
            .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
            .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
        if settings.driver_memory:
            builder = builder.config("spark.driver.memory", settings.driver_memory)
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not launched_by_spark_submit() and settings.master:
        spark.sparkContext.setLogLevel("WARN")
        # Every micro-batch the stream persists logs a multi-kilobyte WARN from LogicalRDD: the
        # source's columns get new ids when Spark optimises the plan, which changes nothing here.
        jvm = spark.sparkContext._jvm
        if jvm is not None:
            level = jvm.org.apache.logging.log4j.Level.ERROR
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
                "org.apache.spark.sql.execution.LogicalRDD", level
            )
    register_data_sources(spark)
    return spark


def register_data_sources(spark: SparkSession, loaders: tuple[tuple[str, str], ...] | None = None) -> None:
    """Register the project's Python data sources on ``spark`` (a no-op for those already there)."""
    import importlib

    for module_name, class_name in DATA_SOURCES if loaders is None else loaders:
        source: Callable[..., object] = getattr(importlib.import_module(module_name), class_name)
        spark.dataSource.register(source)  # type: ignore[arg-type]
