"""``preview --binary --registry``: writer schemas come from a real registry, by schema id."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from consumer.cli import main
from tests.fixtures.factories import make_order

pytestmark = pytest.mark.integration


def _older_writer_schema() -> dict[str, Any]:
    """Our order schema as an older producer had it: without the is_test field."""
    schema = json.loads(Path("schemas/order_event.avsc").read_text())
    schema["fields"] = [field for field in schema["fields"] if field["name"] != "is_test"]
    return schema


def test_registry_writer_schema(
    registry_url: str,
    unique_name: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A frame written with an older registered schema resolves against ours and previews."""
    writer = _older_writer_schema()
    with SchemaRegistryClient({"url": registry_url}) as client:
        schema_id = client.register_schema(
            unique_name("orders-value"), Schema(json.dumps(writer), "AVRO")
        )
    record = make_order(occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    del record["is_test"]
    frame = io.BytesIO()
    frame.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(frame, fastavro.parse_schema(writer), record)
    source = tmp_path / "orders.bin"
    source.write_bytes(frame.getvalue())

    code = main(["preview", "--type", "order", "--binary", "--registry", registry_url, str(source)])

    report = json.loads(capsys.readouterr().out)
    assert (0, "valid", "order_ORD-1") == (code, report["outcome"], report["event"]["event_id"])
