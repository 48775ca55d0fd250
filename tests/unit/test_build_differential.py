"""Differential: the compiled core and the pure sources agree on decode, map and validate.

The pure modules are loaded beside the compiled ones in this process (``pure_core``); hypothesis
draws damaged payloads and schema-shaped records, and both builds must give the same values, the
same reasons and the same bytes. On the pure build (CONSUMER_CORE_PURE=1) both sides are pure.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consumer.core
from consumer.build_info import PureCoreFinder, pure_requested
from consumer.core import decoding, mapping, validation
from consumer.errors import RecordError
from tests.fixtures.factories import NOW
from tests.unit.test_decode_fuzz import GOOD, ORDER, Local, mutate
from tests.unit.test_mapping_fuzz import LEADS, NEAR_LEADS, NEAR_ORDERS, ORDERS, SETTINGS

_PREFIX = "consumer.core."


def pure_core(*names: str) -> dict[str, ModuleType]:
    """Fresh pure-Python copies of ``consumer.core.<name>`` (and what they import from the core),
    leaving the modules everyone else imported (compiled, normally) in place."""
    saved = {name: module for name, module in sys.modules.items() if name.startswith(_PREFIX)}
    for name in saved:
        del sys.modules[name]
    finder = PureCoreFinder()
    sys.meta_path.insert(0, finder)
    try:
        return {name: importlib.import_module(_PREFIX + name) for name in names}
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if name.startswith(_PREFIX)]:
            del sys.modules[name]
            if name not in saved:
                delattr(consumer.core, name.removeprefix(_PREFIX))
        sys.modules.update(saved)
        for name, module in saved.items():
            setattr(consumer.core, name.removeprefix(_PREFIX), module)


PURE = pure_core("decoding", "mapping", "validation")
DIFF = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_two_builds_are_different_code() -> None:
    """The comparison means something: one side compiled (unless the pure build runs), one pure."""
    assert PURE["mapping"].__file__ is not None
    assert PURE["mapping"].__file__.endswith("mapping.py")
    assert mapping.__file__ is not None
    assert mapping.__file__.endswith("mapping.py") == pure_requested()


def _decode(module: ModuleType, payload: bytes) -> Any:
    try:
        return module.decode_value(
            payload,
            framing="auto",
            writers=Local(),
            raw_writer=ORDER,
            reader=ORDER,
            limits=module.DecodeLimits(),
        )
    except RecordError as exc:
        return exc.reason


@DIFF
@given(data=st.data())
def test_decode_agrees(data: st.DataObject) -> None:
    """Damaged and intact payloads: the same record or the same DecodeError reason."""
    payload = mutate(data.draw(st.sampled_from(GOOD)), data)

    assert _decode(decoding, payload) == _decode(PURE["decoding"], payload)


def _map_and_validate(modules: tuple[ModuleType, ModuleType], kind: str, record: Any) -> Any:
    mapper, validator = modules
    try:
        mapped = mapper.map_record(kind, record, SETTINGS)
    except RecordError as exc:
        return ("error", exc.reason, exc.message)
    if not hasattr(mapped, "body"):
        return ("filtered", mapped.reason)
    found = validator.violations(mapped, NOW.timestamp(), SETTINGS.mapping.future_skew_s)
    return (
        "event",
        mapped.pixel_id,
        mapped.event_name,
        mapped.event_id,
        mapped.body,
        mapped.dropped,
        [(exc.reason, exc.message) for exc in found],
    )


RECORDS = st.one_of(
    ORDERS.map(lambda r: ("order", r)),
    LEADS.map(lambda r: ("lead", r)),
    NEAR_ORDERS.map(lambda r: ("order", r)),
    NEAR_LEADS.map(lambda r: ("lead", r)),
)


@DIFF
@given(RECORDS)
def test_map_and_validate_agree(kind_record: tuple[str, dict[str, Any]]) -> None:
    """Any record: the same event bytes, drops and violations, or the same filter or error."""
    kind, record = kind_record

    assert _map_and_validate((mapping, validation), kind, record) == _map_and_validate(
        (PURE["mapping"], PURE["validation"]), kind, record
    )
