"""``capi-consumer preview``: records in, exact events, validation and EMQ out; nothing sent."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.cli import main
from consumer.schemas import load_reader_schemas
from consumer.settings import Settings
from tests.fixtures.factories import PIXEL, make_lead, make_order

READER = load_reader_schemas(Path("schemas"))["order"]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _json_line(record: dict[str, Any]) -> str:
    buffer = io.StringIO()
    fastavro.json_writer(buffer, READER, [record])
    return buffer.getvalue().strip()


def _frame(record: dict[str, Any], schema_id: int = 1) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, READER, record)
    return buffer.getvalue()


def _order(**overrides: Any) -> dict[str, Any]:
    return make_order(**{"occurred_at": NOW - dt.timedelta(hours=1), **overrides})


def _reports(out: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    reports, index = [], 0
    while index < len(out.rstrip()):
        report, index = decoder.raw_decode(out, index)
        reports.append(report)
        index += 1
    return reports


def test_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each line yields a report; bad lines are named on stderr and make the exit status 1."""
    source = tmp_path / "orders.jsonl"
    lines = [
        _json_line(_order()),
        "{not json",
        _json_line(_order(status="CANCELLED")),
        '{"order_id": "x"}',
        _json_line(_order(occurred_at=NOW - dt.timedelta(days=8))),
    ]
    source.write_text("\n".join(lines) + "\n")

    code = main(["preview", "--type", "order", str(source)])

    captured = capsys.readouterr()
    reports = _reports(captured.out)
    assert 1 == code
    assert [(1, "valid"), (3, "filtered"), (5, "dead_lettered")] == [
        (r["record"], r["outcome"]) for r in reports
    ]
    assert "Purchase" == reports[0]["event"]["event_name"]
    assert ["invalid.event_too_old"] == [v["reason"] for v in reports[2]["violations"]]
    assert False is reports[0]["emq_estimate"]["weak"]
    assert "line 2: not valid JSON" in captured.err
    assert "line 4: missing required field(s): status, occurred_at, currency, total" in captured.err


def test_binary_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Confluent frames back to back are previewed with our schema as the writer schema."""
    source = tmp_path / "orders.bin"
    source.write_bytes(_frame(_order()) + _frame(_order(order_id="ORD-2")) + b"\x07junk")

    code = main(["preview", "--type", "order", "--binary", str(source)])

    captured = capsys.readouterr()
    assert 1 == code
    assert ["order_ORD-1", "order_ORD-2"] == [
        r["event"]["event_id"] for r in _reports(captured.out)
    ]
    assert "frame 3: byte" in captured.err


def test_event_is_the_exact_body(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The printed event is byte for byte the JSON the sender would post."""
    source = tmp_path / "orders.jsonl"
    source.write_text(_json_line(_order()) + "\n")

    main(["preview", "--type", "order", str(source)])

    out = capsys.readouterr().out
    assert 1 == out.count('"event": {"event_name":"Purchase","event_time":')


def test_preview_needs_no_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without any token in the environment the example config still loads for preview."""
    from consumer.preview import PREVIEW_TOKEN_PLACEHOLDER
    from consumer.settings import load_settings

    for name in [n for n in __import__("os").environ if n.startswith("CAPI_")]:
        monkeypatch.delenv(name)

    settings: Settings = load_settings(
        Path("config/example.yaml"), token_placeholder=PREVIEW_TOKEN_PLACEHOLDER
    )

    token = settings.pixels[PIXEL].access_token
    assert token is not None
    assert PREVIEW_TOKEN_PLACEHOLDER == token.get_secret_value()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that does not exist is a one-line usage error, not a traceback."""
    code = main(["preview", "--type", "lead", str(tmp_path / "nope.jsonl")])

    assert (2, "nope.jsonl: no such file") == (code, capsys.readouterr().err.strip()[-24:])


def test_crm_lead(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A CRM lead previews as a system_generated event with event_source crm and its EMQ."""
    reader = load_reader_schemas(Path("schemas"))["lead"]
    buffer = io.StringIO()
    lead = make_lead(occurred_at=NOW - dt.timedelta(hours=1), meta_lead_id="123456789012345")
    fastavro.json_writer(buffer, reader, [lead])
    source = tmp_path / "leads.jsonl"
    source.write_text(buffer.getvalue())

    code = main(["preview", "--type", "lead", str(source)])

    report = json.loads(capsys.readouterr().out)
    assert (0, "valid", "system_generated", "crm") == (
        code,
        report["outcome"],
        report["event"]["action_source"],
        report["event"]["custom_data"]["event_source"],
    )
    assert ["em", "lead_id"] == report["emq_estimate"]["present"]


def test_new_reasons_and_test_traffic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """preview shows refunds and test records filtered (with the test_traffic policy that
    applied), a bad currency and a bad event_id dead-lettered, an out-of-range date dropped."""
    source = tmp_path / "orders.bin"
    frames = [
        _order(total=Decimal("-100.00")),
        _order(is_test=True),
        _order(currency="DOLLARS"),
        _order(event_id="order-1\n"),
    ]
    late = _order()
    late["customer"] = {**late["customer"], "date_of_birth": dt.date(9999, 12, 31)}
    payload = _frame(late)  # then the date's days become 2^31-1, past what Python holds
    days = fastavro_int(dt.date(9999, 12, 31).toordinal() - dt.date(1970, 1, 1).toordinal())
    payload = payload.replace(days, fastavro_int(2**31 - 1), 1)
    source.write_bytes(b"".join(_frame(record) for record in frames) + payload)

    code = main(["preview", "--type", "order", "--binary", str(source)])

    reports = _reports(capsys.readouterr().out)
    assert 0 == code
    assert [
        ("filtered", "refund", None),
        ("filtered", "test_traffic", "drop"),
        ("dead_lettered", "invalid.currency", None),
        ("dead_lettered", "invalid.id_control_character", None),
        ("valid", None, None),
    ] == [(r["outcome"], r["reason"], r.get("test_traffic")) for r in reports]
    assert {"field": "customer.date_of_birth", "reason": "out_of_range"} in reports[4][
        "dropped_user_data"
    ]


def fastavro_int(value: int) -> bytes:
    """Avro's zig-zag varint encoding of ``value``."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "long", value)
    return buffer.getvalue()


def test_json_out_of_range_dates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON input: an optional date out of range is a dropped value, a required one is named."""
    good = json.loads(_json_line(_order()))
    ((branch, customer),) = good["customer"].items()  # Avro JSON names the union branch
    late = {**good, "customer": {branch: {**customer, "date_of_birth": {"int": 2**31 - 1}}}}
    source = tmp_path / "orders.jsonl"
    source.write_text(json.dumps(late) + "\n" + json.dumps({**good, "occurred_at": 2**62}) + "\n")

    code = main(["preview", "--type", "order", str(source)])

    captured = capsys.readouterr()
    (report,) = _reports(captured.out)
    assert 1 == code
    assert {"field": "customer.date_of_birth", "reason": "out_of_range"} in report[
        "dropped_user_data"
    ]
    assert "line 2: decode.out_of_range: occurred_at" in captured.err
