"""``dlq stats|show`` against the embedded broker, run as a user runs them: bad filters, missing
topics, an unreachable broker, a closed pipe; each one stderr line (librdkafka's own lines at most
one summary more), a non-zero exit, no traceback; keys masked like payloads."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Producer

from tests.integration.cli_support import assert_one_line_failure, cli, cli_popen
from tests.integration.dlq_support import Scenario, scenario_fixture  # noqa: F401  # the fixture

EMAIL = "jane.doe@mail.example"
EXIT_BROKEN_PIPE = 141

pytestmark = pytest.mark.integration


def _dead_letter(scenario: Scenario, keys: list[bytes]) -> None:
    """One undecodable record per key on the source topic, dead-lettered by the consumer."""
    producer = Producer({"bootstrap.servers": scenario.bootstrap})
    for key in keys:
        producer.produce(scenario.topic, key=key, value=b"\x07not avro", partition=0)
    assert 0 == producer.flush(10)
    scenario.consume(settled=len(keys))


class TestFilters:
    def test_unknown_reason(self, scenario: Scenario) -> None:
        """``--reason nosuch`` is refused (it would match nothing), naming the reason."""
        _dead_letter(scenario, [b"k"])

        result = cli("dlq", "stats", "--config", str(scenario.config), "--reason", "nosuch")

        assert_one_line_failure(result, 1, "unknown reason 'nosuch'")

    def test_inverted_time_range(self, scenario: Scenario) -> None:
        """A range that ends before it starts is refused."""
        args = ("--since", "1h", "--until", "2h")

        result = cli("dlq", "show", "--config", str(scenario.config), *args)

        assert_one_line_failure(result, 1, "empty time range")

    def test_missing_dlq_topic(self, scenario: Scenario) -> None:
        """The DLQ topic not existing (the consumer never ran) is an error naming it."""
        result = cli("dlq", "stats", "--config", str(scenario.config))

        assert_one_line_failure(result, 1, f"DLQ topic '{scenario.dlq_topic}' does not exist")

    def test_unreachable_broker(self, scenario: Scenario) -> None:
        """librdkafka's many connection lines become one summary before the one-line error."""
        scenario.raw["kafka"]["bootstrap_servers"] = "127.0.0.1:1"
        scenario.write_config()

        result = cli("dlq", "stats", "--config", str(scenario.config))

        assert_one_line_failure(result, 1, "Kafka broker unreachable at 127.0.0.1:1", lines=2)
        assert "librdkafka.summary" in result.stderr.splitlines()[0]


class TestShow:
    def test_key_masked_like_the_payload(self, scenario: Scenario) -> None:
        """A customer email used as the Kafka key is masked unless ``--reveal``."""
        _dead_letter(scenario, [EMAIL.encode()])
        show = ("dlq", "show", "--config", str(scenario.config), "--json")

        masked, revealed = cli(*show), cli(*show, "--reveal")

        assert (0, "***", False) == (
            masked.returncode,
            json.loads(masked.stdout)["key"],
            EMAIL in masked.stdout + masked.stderr,
        )
        assert EMAIL == json.loads(revealed.stdout)["key"]

    def test_into_a_closed_pipe(self, scenario: Scenario) -> None:
        """``dlq show ... | head`` stops quietly when head stops reading."""
        _dead_letter(scenario, [f"k{n}".encode() for n in range(300)])
        process = cli_popen("dlq", "show", "--config", str(scenario.config), "--limit", "300")
        assert process.stdout is not None and process.stderr is not None

        head = process.stdout.read(100)
        process.stdout.close()
        err = process.stderr.read().decode()
        process.stderr.close()
        status = process.wait(60)

        assert (True, EXIT_BROKEN_PIPE) == (head.startswith(b"{"), status)
        assert ("", False) == (err, "BrokenPipe" in err), err
