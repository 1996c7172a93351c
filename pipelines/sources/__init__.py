"""Streaming sources as PySpark Python data sources (Spark 4.0+): Kinesis and Kafka."""
