"""Ahead-of-time decoders of the shipped schemas: checked in as generated, used, and equal to the
run-time decoders (same values, same reasons) on intact and damaged payloads."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.avro_aot import shipped_decoder
from consumer.core.avro_decoder import compile_decoder
from consumer.core.decoding import DecodeLimits
from consumer.errors import DecodeError
from consumer.schemas import parse_schema_text
from tests.unit.test_decode_fuzz import GOOD, LEAD, ORDER, mutate

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_decoders", ROOT / "scripts/generate_decoders.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_module_equals_a_fresh_generation() -> None:
    """Edit a schema, run scripts/generate_decoders.py: the module must follow the schemas."""
    generator = _generator()

    assert generator.module_source(generator.shipped_schemas()) == generator.TARGET.read_text()


@pytest.mark.parametrize("schema", [ORDER, LEAD], ids=["order", "lead"])
def test_every_shipped_schema_has_a_compiled_decoder(schema: Any) -> None:
    """Both schemas in schemas/ are decoded ahead of time, not by exec'd source."""
    assert shipped_decoder(schema) is not None


def test_another_schema_keeps_the_run_time_path() -> None:
    """A writer schema that differs (here: a logical type dropped) gets no shipped decoder."""
    text = (ROOT / "schemas/order_event.avsc").read_text()
    changed = parse_schema_text(text.replace('"logicalType": "date"', '"x": "date"', 1))

    assert None is shipped_decoder(changed)


def _outcome(decoder: Any, payload: bytes) -> Any:
    try:
        return decoder(payload, DecodeLimits())
    except DecodeError as exc:
        return exc.reason
    except (UnicodeDecodeError, ValueError, OverflowError) as exc:  # decode_payload's to map
        return type(exc).__name__


_SHIPPED = shipped_decoder(ORDER)
_RUNTIME = compile_decoder(ORDER)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shipped_and_run_time_decoders_agree(data: st.DataObject) -> None:
    """Mutated orders (single-object framing stripped): the same value or the same reason."""
    payload = mutate(data.draw(st.sampled_from(GOOD))[10:], data)

    assert _outcome(_RUNTIME, payload) == _outcome(_SHIPPED, payload)
