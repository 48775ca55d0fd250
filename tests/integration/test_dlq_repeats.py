"""Each dead letter counted once: a consumer that crashed after writing its dead letters but
before committing their source offsets writes them again on restart. ``dlq stats`` counts the
source positions once and names the repeats; ``dlq replay`` replays each position once, also
across an interrupted and resumed replay (the real commands, in subprocesses)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from consumer.cli import main as cli_main
from consumer.devstack.emulator import EmulatorClient
from tests.integration.cli_support import cli, cli_popen
from tests.integration.dlq_support import (
    GOOD_TOKEN,
    TOKEN_ENV,
    Scenario,
    delivered_ids,
    orders,
    scenario_fixture,  # noqa: F401  # the ``scenario`` fixture
)

pytestmark = pytest.mark.integration


def _crash_before_commit(scenario: Scenario) -> None:
    """Put the group's committed offset back to 0: the state a crash leaves when the dead letters
    were acknowledged and the commit of their offsets never happened."""
    consumer = Consumer({"bootstrap.servers": scenario.bootstrap, "group.id": scenario.group})
    consumer.commit(offsets=[TopicPartition(scenario.topic, 0, 0)], asynchronous=False)
    consumer.close()


def _json(*args: str) -> dict[str, Any]:
    result = cli(*args)
    assert 0 == result.returncode, result.stderr[-2000:]
    last = result.stdout.strip() if args[1] == "stats" else result.stdout.splitlines()[-1]
    parsed: dict[str, Any] = json.loads(last)  # stats: one indented object; replay: last line
    return parsed


def test_repeats_counted_and_replayed_once(
    scenario: Scenario, emulator_client: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 bad records dead-lettered twice: stats says 5 and 5 repeats; replay sends each once."""
    monkeypatch.setenv(TOKEN_ENV, "expired-token")
    scenario.produce([*orders(3), b"\x07not avro", b"\x07nor this"])
    scenario.consume(settled=5)
    _crash_before_commit(scenario)
    scenario.consume(settled=5)  # the restarted consumer dead-letters all five again
    config = ("--config", str(scenario.config))
    assert 10 == len(scenario.read(scenario.dlq_topic))

    stats = _json("dlq", "stats", *config, "--json")

    assert (5, 10, 5, 5, 0) == (
        stats["total"],
        stats["dlq_records"],
        stats["repeats"],
        stats["repeats_restart"],
        stats["repeats_replay"],
    )
    assert {"auth": 3, "decode.unknown_magic": 2} == stats["by_reason"]
    shown = cli("dlq", "show", *config, "--json").stdout.splitlines()
    repeats = [json.loads(line)["repeat_of"] for line in shown]
    assert (5, 5) == (repeats.count(None), len({r for r in repeats if r is not None}))

    monkeypatch.setenv(TOKEN_ENV, GOOD_TOKEN)
    first = _json("dlq", "replay", *config, "--json", "--limit", "2")
    resumed = _json("dlq", "replay", *config, "--json")  # the same group goes on after them

    assert (2, 3, {"repeat": 5}) == (first["replayed"], resumed["replayed"], resumed["skipped"])
    replays = scenario.read(scenario.retry)
    sources = sorted(dict(m.headers())["capi.dlq.source_offset"] for m in replays)
    assert [b"0", b"1", b"2", b"3", b"4"] == sources  # every source position exactly once

    scenario.consume(settled=5)

    assert ["order_ORD-0", "order_ORD-1", "order_ORD-2"] == delivered_ids(emulator_client)
    again = _json("dlq", "stats", *config, "--json")
    assert (5, 12, 5, 2) == (
        again["total"],
        again["dlq_records"],
        again["repeats_restart"],
        again["repeats_replay"],
    )
    text = cli("dlq", "stats", *config).stdout
    assert "dead letters: 5 source record(s), each counted once" in text
    assert "DLQ records: 12 (5 repeat(s) written again after a restart, 2 failed again" in text


def test_replay_killed_between_produce_and_commit(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay killed after its records were acknowledged but before it committed: the next run
    finds them in the retry topic under its group and replays none of them again."""
    scenario.produce([b"\x07not avro", b"\x07nor this"])
    scenario.consume(settled=2)
    _crash_before_commit(scenario)
    scenario.consume(settled=2)
    replay = ["dlq", "replay", "--config", str(scenario.config), "--json"]

    def killed(*_args: object) -> None:
        raise SystemExit(137)  # as SIGKILL would: nothing after the flush runs

    with monkeypatch.context() as patched, pytest.raises(SystemExit):
        patched.setattr("consumer.dlq_reader.DlqReader.commit", killed)
        cli_main(replay)
    assert 2 == len(scenario.read(scenario.retry))

    resumed = _json(*replay)

    assert (0, {"repeat": 4}) == (resumed["replayed"], resumed["skipped"])
    assert 2 == len(scenario.read(scenario.retry))


def test_replay_into_a_closed_pipe_keeps_its_progress(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dlq replay ... | head`` that loses its reader stops quietly, and what it replayed is
    committed: the next run replays only the rest."""
    scenario.produce([b"\x07not avro", b"\x07nor this"])
    scenario.consume(settled=2)
    _crash_before_commit(scenario)
    scenario.consume(settled=2)  # offsets 2 and 3 repeat 0 and 1: "skip" lines are printed
    replay = ("dlq", "replay", "--config", str(scenario.config))
    process = cli_popen(*replay)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()

    err = process.stderr.read().decode()
    process.stderr.close()
    status = process.wait(60)
    resumed = _json(*replay, "--json")

    assert (141, False) == (status, "Traceback" in err or "BrokenPipe" in err), err
    assert (0, {"repeat": 2}) == (resumed["replayed"], resumed["skipped"])
    assert 2 == len(scenario.read(scenario.retry))
