"""The DLQ and replay end to end: real broker, registry double, CAPI emulator, the real consumer.

A pixel with a wrong token dead-letters its events (reason ``auth``); after the token is fixed,
``dlq replay --reason auth`` delivers exactly those events once, an interrupted replay resumes,
and replaying again delivers nothing new. The DLQ being unwritable pauses the consumer without
committing past the failing record, and it recovers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from consumer import cli
from consumer.app import run_consumer
from consumer.devstack.emulator import EmulatorClient
from consumer.dlq import DeadLetterWriter
from consumer.dlq_view import DlqEntry
from consumer.kafka_logs import SUMMARY_EVENT as KAFKA_SUMMARY_EVENT
from consumer.pipeline import Pipeline
from consumer.replay_plan import Decision, decide
from consumer.source import record_of
from consumer.stats import RunStats
from tests.fixtures.emulator import PIXEL_PLAIN
from tests.integration.dlq_support import (
    GOOD_TOKEN,
    TOKEN_ENV,
    Scenario,
    delivered_ids,
    orders,
    scenario_fixture,  # noqa: F401  # the ``scenario`` fixture
)

pytestmark = pytest.mark.integration


def last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out.strip().splitlines()
    parsed: dict[str, Any] = json.loads(out[-1])
    return parsed


class TestAuthReplay:
    def test_wrong_token_then_replay_delivers_each_event_once(
        self,
        scenario: Scenario,
        emulator_client: EmulatorClient,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Auth failures land in the DLQ; after the fix an interrupted, resumed replay delivers them once."""
        monkeypatch.setenv(TOKEN_ENV, "expired-token")
        scenario.produce([*orders(3), b"\x07not avro"])

        first = scenario.consume(settled=4)

        assert {"auth": 3, "decode.unknown_magic": 1} == dict(first.dead_letter_reasons)
        assert [] == delivered_ids(emulator_client)
        capsys.readouterr()
        assert 0 == cli.main(["dlq", "stats", "--config", str(scenario.config), "--json"])
        stats = json.loads(capsys.readouterr().out)
        assert ({"auth": 3, "decode.unknown_magic": 1}, {PIXEL_PLAIN: 3, "-": 1}) == (
            stats["by_reason"],
            stats["by_pixel"],
        )

        self._show_masks_pii(scenario, capsys)

        monkeypatch.setenv(TOKEN_ENV, GOOD_TOKEN)
        self._interrupted_then_resumed_replay(scenario, monkeypatch, capsys)
        assert 3 == len(scenario.read(scenario.retry))  # no record replayed twice

        second = scenario.consume(settled=3)

        assert {"sent": 3} == dict(second.outcomes)
        assert ["order_ORD-0", "order_ORD-1", "order_ORD-2"] == delivered_ids(emulator_client)

        replay_args = ["dlq", "replay", "--config", str(scenario.config), "--reason", "auth"]
        assert 0 == cli.main([*replay_args, "--json"])
        assert 0 == last_json(capsys)["replayed"]  # the same command finds nothing new
        assert 0 == cli.main([*replay_args, "--json", "--group", f"{scenario.group}-again"])
        assert 3 == last_json(capsys)["replayed"]  # a fresh pass replays them again ...

        third = scenario.consume(settled=3)

        assert {"duplicate": 3} == dict(third.outcomes)  # ... and dedup drops every one
        assert 3 == len(delivered_ids(emulator_client))

    @staticmethod
    def _show_masks_pii(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
        """``dlq show`` decodes payloads with their schema, masking PII unless ``--reveal``."""
        show = ["dlq", "show", "--config", str(scenario.config), "--json", "--limit", "1"]
        assert 0 == cli.main([*show, "--reason", "auth"])
        masked = last_json(capsys)
        assert 0 == cli.main([*show, "--reason", "auth", "--reveal"])
        revealed = last_json(capsys)
        assert 0 == cli.main([*show, "--reason", "decode"])
        undecodable = last_json(capsys)

        assert ("***", "John_Smith@gmail.com", "auth", PIXEL_PLAIN) == (
            masked["payload"]["customer"]["email"],
            revealed["payload"]["customer"]["email"],
            masked["capi.dlq.reason"],
            masked["capi.dlq.pixel_id"],
        )
        assert {"undecodable": "decode.unknown_magic", "bytes": 9} == undecodable["payload"]

    @staticmethod
    def _interrupted_then_resumed_replay(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Ctrl-C while the second auth record is handled; the same command then does the rest."""
        seen: list[str] = []

        def interrupt_on_second(entry: DlqEntry, *_args: object) -> None:
            seen.append(entry.position())
            if len(seen) == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr("consumer.dlq_cli._report_item", interrupt_on_second)
        args = ["dlq", "replay", "--config", str(scenario.config), "--reason", "auth", "--json"]

        assert 130 == cli.main(args)
        assert 1 == len(scenario.read(scenario.retry))  # the first was acknowledged and committed

        monkeypatch.undo()
        monkeypatch.setenv(TOKEN_ENV, GOOD_TOKEN)
        assert 0 == cli.main(args)
        summary = last_json(capsys)
        assert (2, 2, {}) == (summary["replayed"], summary["matched"], summary["skipped"])


class TestReplayGuards:
    def test_loop_guard_and_age_limit_skip_with_reasons(
        self,
        scenario: Scenario,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A record replayed max_replays times and an event past Meta's 7 days are skipped, reported."""
        monkeypatch.setenv(TOKEN_ENV, "expired-token")
        scenario.write_config(max_replays=1)
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
        scenario.produce([*orders(1), *orders(1, order_id="ORD-OLD", occurred_at=old)])
        scenario.consume(settled=2)
        assert 0 == cli.main(["dlq", "replay", "--config", str(scenario.config), "--json"])
        summary = last_json(capsys)
        assert ({"too_old": 1}, 1) == (summary["skipped"], summary["replayed"])

        again = scenario.consume(settled=1)  # still the wrong token: dead-lettered again
        assert {"auth": 1} == dict(again.dead_letter_reasons)
        [retried] = [m for m in scenario.read(scenario.dlq_topic) if m.offset() == 2]
        headers = {key: value.decode() for key, value in retried.headers()}
        assert (scenario.topic, "1", f"{scenario.retry}/0/0") == (
            headers["capi.dlq.source_topic"],
            headers["capi.dlq.replay_count"],
            headers["capi.dlq.via"],
        )

        args = ["dlq", "replay", "--config", str(scenario.config), "--dry-run", "--json"]
        capsys.readouterr()
        assert 0 == cli.main([*args, "--group", f"{scenario.group}-fresh"])
        lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
        decisions = sorted((line["why"], line["replay_count"]) for line in lines[:-1])
        assert [("loop_guard", 1), ("replay", 0), ("too_old", 0)] == decisions
        assert {"loop_guard": 1, "too_old": 1} == lines[-1]["skipped"]


class TestCommandErrors:
    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--source-topic", "nope"], "unknown source topic 'nope'"),
            (["--since", "yesterday"], "bad time filter 'yesterday'"),
        ],
        ids=["unknown-topic", "bad-filter"],
    )
    def test_one_line_errors(
        self,
        scenario: Scenario,
        capsys: pytest.CaptureFixture[str],
        extra: list[str],
        message: str,
    ) -> None:
        """A bad filter or an unknown topic exits 1 with one line naming the problem."""
        capsys.readouterr()
        code = cli.main(["dlq", "stats", "--config", str(scenario.config), *extra])

        err = capsys.readouterr().err.strip().splitlines()
        assert (1, 1, True) == (code, len(err), message in err[0])

    def test_broker_unreachable(
        self, scenario: Scenario, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unreachable broker exits 1 with one line saying so, after one summary of
        librdkafka's lines (not each of them)."""
        scenario.raw["kafka"]["bootstrap_servers"] = "127.0.0.1:1"
        scenario.write_config()

        code = cli.main(["dlq", "show", "--config", str(scenario.config)])

        *logged, last = capsys.readouterr().err.strip().splitlines()
        events = [json.loads(line)["event"] for line in logged]
        assert (1, True) == (code, "broker unreachable" in last)
        assert [KAFKA_SUMMARY_EVENT] == events


class TestDlqUnavailable:
    def test_pauses_commits_nothing_past_and_recovers(
        self, scenario: Scenario, emulator_client: EmulatorClient
    ) -> None:
        """While the DLQ refuses writes the consumer pauses, keeps its partitions, commits nothing past."""
        scenario.produce([*orders(1), b"\x07not avro", *orders(1, order_id="ORD-9")])
        settings = scenario.settings()
        target = {"topic": "not a valid topic!"}  # the broker refuses: "Invalid topic"
        writer = DeadLetterWriter(
            settings.kafka.to_librdkafka("producer"), lambda _source: target["topic"]
        )
        seen: dict[str, Pipeline] = {}

        async def run() -> RunStats:
            def watch(pipeline: Pipeline) -> bool:
                seen["pipeline"] = pipeline
                return pipeline.stats.settled >= 3

            task = asyncio.create_task(
                run_consumer(settings, stop_when=watch, dedup=scenario.dedup, dlq_writer=writer)
            )
            await _until(lambda: "pipeline" in seen and seen["pipeline"].paused, 30)
            await _until(lambda: seen["pipeline"].stats.outcomes["sent"] == 2, 30)
            await asyncio.sleep(1.0)  # several commit intervals while the DLQ is down
            committed = await asyncio.to_thread(scenario.committed)
            assert (1, True) == (committed, seen["pipeline"].paused)
            assert {(scenario.topic, 0), (scenario.retry, 0)} == seen["pipeline"].assigned
            target["topic"] = scenario.dlq_topic  # the operator fixes the DLQ
            return await asyncio.wait_for(task, 60)

        stats = asyncio.run(run())

        assert {"sent": 2, "dead_lettered": 1} == dict(stats.outcomes)
        assert 3 == scenario.committed()
        [letter] = scenario.read(scenario.dlq_topic)
        assert (b"\x07not avro", b"decode.unknown_magic") == (
            letter.value(),
            dict(letter.headers())["capi.dlq.reason"],
        )
        writer.close()


class TestTooLargeForTheDlq:
    def test_written_without_its_value_and_the_partition_moves_on(
        self, scenario: Scenario, emulator_client: EmulatorClient
    ) -> None:
        """A record the DLQ cannot hold must not stall its partition behind endless retries."""
        scenario.raw["kafka"]["topics"][scenario.topic]["max_message_bytes"] = 200_000
        scenario.write_config()
        big = b"\x00" + b"x" * 300_000  # decode.oversize, and over the DLQ producer's limit
        scenario.produce([*orders(1), big, *orders(1, order_id="ORD-9")])
        producer = scenario.settings().kafka.to_librdkafka("producer")
        writer = DeadLetterWriter({**producer, "message.max.bytes": 100_000}, lambda t: t + ".dlq")

        stats = scenario.consume(settled=3, dlq_writer=writer)
        writer.close()

        assert ({"sent": 2, "dead_lettered": 1}, 3) == (dict(stats.outcomes), scenario.committed())
        [letter] = scenario.read(scenario.dlq_topic)
        headers = dict(letter.headers())
        assert (None, b"decode.oversize", b"300001", b"1") == (
            letter.value(),
            headers["capi.dlq.reason"],
            headers["capi.dlq.value_omitted"],
            headers["capi.dlq.source_offset"],
        )
        entry = DlqEntry.of(record_of(letter))
        assert Decision(False, "value_omitted") == decide(entry, None, dt.datetime.now(dt.UTC), 3)

    def test_default_dlq_producer_keeps_a_value_over_librdkafkas_default_limit(
        self, scenario: Scenario
    ) -> None:
        """librdkafka's own default (1,000,000 bytes) is below what the consumer may read."""
        big = b"\x00" + b"x" * 1_048_600  # over the default decode limit (1 MiB) and 1,000,000
        scenario.produce([big])
        writer = DeadLetterWriter(
            scenario.settings().kafka.to_librdkafka("producer"), lambda t: t + ".dlq"
        )

        stats = scenario.consume(settled=1, dlq_writer=writer)
        writer.close()

        [letter] = scenario.read(scenario.dlq_topic)
        assert ({"dead_lettered": 1}, big) == (dict(stats.outcomes), letter.value())


async def _until(condition: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
