"""``preview`` decodes through the consumer's own step: the topic's limits, the pipeline's reasons."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest
import yaml

from consumer.cli import main
from consumer.core.models import Failure, SourceRecord
from consumer.core.processing import Processor
from consumer.preview import PREVIEW_TOKEN_PLACEHOLDER
from consumer.schemas import load_reader_schemas
from consumer.settings import load_settings
from tests.fixtures.factories import make_order

READERS = load_reader_schemas(Path("schemas"))
EXAMPLE = Path("config/example.yaml")


def _order(**overrides: Any) -> dict[str, Any]:
    occurred = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    return make_order(**{"occurred_at": occurred, **overrides})


def _json_line(record: dict[str, Any]) -> str:
    buffer = io.StringIO()
    fastavro.json_writer(buffer, READERS["order"], [record])
    return buffer.getvalue().strip()


def _frame(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, 1))
    fastavro.schemaless_writer(buffer, READERS["order"], record)
    return buffer.getvalue()


def _config(tmp_path: Path, **orders_topic: Any) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["kafka"]["topics"]["orders"].update(orders_topic)
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _preview(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert 0 == main(["preview", "--type", "order", *args])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_the_topics_own_limits_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], binary: bool
) -> None:
    """A 100-byte order_id passes the default limits and is dead-lettered under a 64-byte one,
    with the reason and message the consumer's Processor gives the same bytes."""
    record = _order(order_id="x" * 100)
    source = tmp_path / "in"
    if binary:
        source.write_bytes(_frame(record))
    else:
        source.write_text(_json_line(record))
    flags = ["--binary"] if binary else []
    tight = _config(tmp_path, max_string_bytes=64)

    default = _preview(capsys, *flags, "--config", str(_config(tmp_path)), str(source))
    limited = _preview(capsys, *flags, "--config", str(tight), str(source))

    settings = load_settings(tight, token_placeholder=PREVIEW_TOKEN_PLACEHOLDER)
    processor = Processor(settings, READERS, lambda _id: READERS["order"], lambda: 0.0)
    failure = processor.process(SourceRecord("orders", 0, 0, None, _frame(record)))
    assert isinstance(failure, Failure)
    assert ("valid", "dead_lettered") == (default["outcome"], limited["outcome"])
    assert (failure.reason, failure.message) == (limited["reason"], limited["message"])
    assert "decode.string_too_long" == limited["reason"]


def test_too_many_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The topic's max_items applies as in the pipeline."""
    item = _order()["line_items"][0]
    source = tmp_path / "in.jsonl"
    source.write_text(_json_line(_order(line_items=[item] * 5)))

    report = _preview(capsys, "--config", str(_config(tmp_path, max_items=3)), str(source))

    assert ("dead_lettered", "decode.too_many_items") == (report["outcome"], report["reason"])
