"""Count the records a Kinesis stream or Kafka topic holds (reads them all; for checks, not monitoring).

python scripts/count_stream.py kinesis orders-events
python scripts/count_stream.py kafka orders-events --bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse

from pipelines.stream_tools import count_kafka_records, count_kinesis_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("kinesis", "kafka"))
    parser.add_argument("name", help="stream or topic")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    args = parser.parse_args()
    if args.kind == "kinesis":
        print(count_kinesis_records(args.name))
    else:
        print(count_kafka_records(args.bootstrap, args.name))


if __name__ == "__main__":
    main()
