from __future__ import annotations

import pytest
from support.throttling_proxy import ThrottlingProxy

from pipelines.aws.clients import AwsEndpoint, client
from pipelines.local_services import MotoServer
from pipelines.producers import DestinationMissingError, OutRecord, ProducerError
from pipelines.producers.kinesis import MAX_BATCH_BYTES, KinesisProducer, batches
from pipelines.provision import ensure_kinesis_stream
from pipelines.stream_tools import read_kinesis


def _records(count: int, prefix: str = "ord") -> list[OutRecord]:
    return [OutRecord(f"{prefix}-{i % 37}", f'{{"n":{i}}}'.encode()) for i in range(count)]


def test_batches_hold_at_most_500_records_and_5_mib() -> None:
    small = list(batches(_records(1201)))
    assert [len(batch) for batch in small] == [500, 500, 201]
    big = [OutRecord("k", b"x" * 1_000_000) for _ in range(12)]
    sizes = [sum(len(r.data) + 1 for r in batch) for batch in batches(big)]
    assert all(size <= MAX_BATCH_BYTES for size in sizes)
    assert sum(len(batch) for batch in batches(big)) == 12
    assert [len(batch) for batch in batches(_records(10), max_records=4)] == [4, 4, 2]


def test_a_record_over_one_mib_is_an_error_not_dropped() -> None:
    with pytest.raises(ProducerError, match="at most 1048576"):
        list(batches([OutRecord("k", b"x" * (1024 * 1024))]))


def test_a_missing_stream_is_a_clear_error(moto_server: MotoServer, unique_name: str) -> None:
    with pytest.raises(DestinationMissingError, match="orders-pipeline setup"):
        KinesisProducer(unique_name)


def test_records_arrive_with_the_order_id_as_partition_key(moto_server: MotoServer, unique_name: str) -> None:
    ensure_kinesis_stream(unique_name, 2)
    records = _records(1234)
    producer = KinesisProducer(unique_name, batch_size=300)
    producer.send(records)
    producer.close()
    assert sorted(read_kinesis(unique_name)) == sorted((r.key, r.data) for r in records)


def test_partially_failed_records_are_retried_until_every_one_arrives_once(
    moto_server: MotoServer, unique_name: str
) -> None:
    ensure_kinesis_stream(unique_name, 2)
    sleeps: list[float] = []
    records = _records(700)
    with ThrottlingProxy(moto_server.endpoint_url, throttle_period=0, partial_put_calls=3) as proxy:
        kinesis = client("kinesis", AwsEndpoint(region="us-east-1", endpoint_url=proxy.endpoint_url))
        producer = KinesisProducer(unique_name, kinesis=kinesis, sleep=sleeps.append)
        producer.send(records)
    # 500 -> 250 refused -> 125 -> 62 (retries of the first batch), then the second batch of 200 whole.
    assert proxy.put_records_calls == [500, 250, 125, 62, 200]
    assert producer.retried_records == 250 + 125 + 62
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[2]
    assert sorted(read_kinesis(unique_name)) == sorted((r.key, r.data) for r in records)


def test_gives_up_with_a_clear_error_after_a_bounded_number_of_attempts(
    moto_server: MotoServer, unique_name: str
) -> None:
    ensure_kinesis_stream(unique_name, 1)
    with ThrottlingProxy(moto_server.endpoint_url, throttle_period=0, partial_put_calls=1000) as proxy:
        kinesis = client("kinesis", AwsEndpoint(region="us-east-1", endpoint_url=proxy.endpoint_url))
        producer = KinesisProducer(unique_name, kinesis=kinesis, max_attempts=4, sleep=lambda _: None)
        with pytest.raises(ProducerError, match=r"gave up on 1 records .* after 4 attempts .*ProvisionedThroughput"):
            producer.send(_records(16))
    assert proxy.put_records_calls == [16, 8, 4, 2]
