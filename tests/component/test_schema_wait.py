"""Records waiting for the registry: cached schemas keep flowing, nothing is dropped or reordered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from consumer.core.models import SourceRecord
from consumer.core.processing import Processor
from consumer.errors import InfrastructureError
from consumer.schema_wait import SchemaWait
from tests.fixtures.factories import make_settings

SCHEMA: dict[str, Any] = {"type": "record", "name": "R", "fields": []}


class Registry:
    """A registry stand-in: knows ids 1-9; raises InfrastructureError while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.cache: dict[int, dict[str, Any]] = {1: SCHEMA}
        self.calls = 0

    async def fetch(self, ids: Sequence[int]) -> None:
        self.calls += 1
        if self.down:
            raise InfrastructureError("schema registry unreachable: cannot connect")
        self.cache.update({i: SCHEMA for i in ids if i < 10})


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(schema_id: int, offset: int, partition: int = 0, topic: str = "orders") -> SourceRecord:
    """A Confluent-framed record on ``topic`` with ``schema_id``."""
    value = b"\x00" + schema_id.to_bytes(4, "big") + b"payload"
    return SourceRecord(topic, partition, offset, None, value)


async def outage_then_recovery(
    parts: tuple[SchemaWait, Registry, Clock], records: list[SourceRecord]
) -> list[SourceRecord]:
    """Admit ``records`` with the registry down, bring it back, and retry after the backoff."""
    wait, registry, clock = parts
    registry.down = True
    await wait.admit(records)
    registry.down = False
    clock.now += 60
    return await wait.retry_if_due()


@pytest.fixture(name="parts")
def _parts() -> tuple[SchemaWait, Registry, Clock]:
    """A SchemaWait of capacity 3 over a fake registry and clock."""
    registry, clock = Registry(), Clock()
    processor = Processor(make_settings(), {}, registry.cache.get, clock)
    return SchemaWait(processor, registry.fetch, capacity=3, clock=clock), registry, clock


class TestSchemaWait:
    async def test_registry_up_admits_everything(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """With the registry up, uncached ids are fetched and every record is admitted in order."""
        wait, _registry, _clock = parts
        records = [record(1, 0), record(2, 1), record(3, 2)]

        assert records == await wait.admit(records)

    async def test_cached_ids_flow_while_the_registry_is_down(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """During an outage only records with uncached ids wait; the others are admitted."""
        wait, registry, _clock = parts
        registry.down = True
        records = [record(1, 0), record(2, 1), record(1, 2), record(3, 3)]

        admitted = await wait.admit(records)

        assert ([records[0], records[2]], 2) == (admitted, wait.waiting)

    async def test_full_at_capacity(self, parts: tuple[SchemaWait, Registry, Clock]) -> None:
        """Three waiting records (the capacity) ask the pipeline to pause."""
        wait, registry, _clock = parts
        registry.down = True
        await wait.admit([record(2, 0), record(2, 1)])
        before = wait.full
        await wait.admit([record(3, 2)])

        assert (False, True) == (before, wait.full)

    async def test_no_registry_call_per_batch_during_an_outage(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """While records wait, new batches wait behind them without calling the registry."""
        wait, registry, _clock = parts
        registry.down = True
        await wait.admit([record(2, 0)])
        await wait.admit([record(3, 1)])

        assert 1 == registry.calls

    async def test_released_in_order_once_the_registry_answers(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """After the backoff delay and with the registry back, every waiter is released in order."""
        waiting = [record(2, 0), record(3, 1), record(2, 2)]
        released = await outage_then_recovery(parts, waiting)

        assert (waiting, 0) == (released, parts[0].waiting)

    async def test_nothing_released_while_still_down(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """A retry that fails again keeps every record waiting."""
        wait, registry, clock = parts
        registry.down = True
        await wait.admit([record(2, 0)])
        clock.now += 60

        assert ([], 1) == (await wait.retry_if_due(), wait.waiting)

    async def test_unknown_id_is_released_to_be_dead_lettered(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """An id the registry does not have is released (processing dead-letters it) once it answers."""
        waiting = [record(42, 0)]

        assert waiting == await outage_then_recovery(parts, waiting)

    async def test_revoked_partitions_forget_their_waiters(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """Revoking a partition drops its waiting records; the next owner re-reads them."""
        wait, registry, _clock = parts
        registry.down = True
        revoked, kept = record(2, 0, partition=0), record(2, 0, partition=1)
        await wait.admit([revoked, kept])

        assert ([revoked], 1) == (wait.forget([("orders", 0)]), wait.waiting)

    async def test_single_object_topics_never_wait(
        self, parts: tuple[SchemaWait, Registry, Clock]
    ) -> None:
        """Records of a topic that needs no registry are admitted during an outage."""
        wait, registry, _clock = parts
        registry.down = True
        settings = make_settings(
            kafka={"topics": {"so": {"event_type": "order", "framing": "single_object"}}}
        )
        wait = SchemaWait(
            Processor(settings, {}, registry.cache.get, Clock()), registry.fetch, 3, Clock()
        )
        records = [record(2, 0, topic="so")]

        assert records == await wait.admit(records)
