"""``capi-consumer preview`` shows Meta's 2024-2026 parameters, and why a broken one would fail."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.cli import main
from consumer.schemas import load_reader_schemas
from tests.fixtures.factories import make_lead, make_order
from tests.fixtures.params import app, messaging, passback

READERS = load_reader_schemas(Path("schemas"))
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
AT = NOW - dt.timedelta(minutes=10)


def _preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The reports preview prints for ``records`` written as Avro JSON lines."""
    buffer = io.StringIO()
    fastavro.json_writer(buffer, READERS[kind], records)
    source = tmp_path / f"{kind}.jsonl"
    source.write_text(buffer.getvalue())
    main(["preview", "--type", kind, str(source)])
    out = capsys.readouterr().out
    decoder, reports, index = json.JSONDecoder(), [], 0
    while index < len(out.rstrip()):
        report, index = decoder.raw_decode(out, index)
        reports.append(report)
        index += 1
    return reports


def test_orders_show_each_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """net_revenue, app_data and an AppendAttribution appear in the previewed events."""
    records = [
        make_order(order_id="A", occurred_at=AT, net_revenue=Decimal("12.50")),
        make_order(order_id="B", occurred_at=AT, channel="APP", app=app()),
        make_order(order_id="C", occurred_at=AT, attribution=passback(NOW - dt.timedelta(hours=5))),
    ]

    net, in_app, passed_back = _preview(tmp_path, capsys, "order", records)

    assert ["valid"] * 3 == [r["outcome"] for r in (net, in_app, passed_back)]
    assert 12.5 == net["event"]["custom_data"]["net_revenue"]
    assert ("app", 16) == (
        in_app["event"]["action_source"],
        len(in_app["event"]["app_data"]["extinfo"]),
    )
    assert ("AppendAttribution", "order_C") == (
        passed_back["event"]["event_name"],
        passed_back["event"]["original_event_data"]["event_id"],
    )


def test_lead_shows_the_chat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A WhatsApp lead previews as business_messaging with its channel and click id."""
    (report,) = _preview(
        tmp_path, capsys, "lead", [make_lead(occurred_at=AT, messaging=messaging())]
    )

    assert ("valid", "whatsapp") == (report["outcome"], report["event"]["messaging_channel"])


def test_broken_contexts_name_their_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each broken context previews as dead-lettered with the reason the pipeline would give."""
    records = [
        make_order(order_id="D", occurred_at=AT, app=app(advertiser_tracking_enabled=None)),
        make_order(
            order_id="E",
            occurred_at=AT,
            attribution=passback(NOW - dt.timedelta(hours=3), attribution_share=3.0),
        ),
    ]

    reports = _preview(tmp_path, capsys, "order", records)

    assert ["invalid.app_data", "invalid.attribution_data"] == [r["reason"] for r in reports]
