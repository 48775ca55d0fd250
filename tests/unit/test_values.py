"""Every value Meta receives is right: fbc, money, currency, ids, client IPs, test traffic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.cli import main
from consumer.core.avro_guard import DecodeLimits
from consumer.core.currencies import CURRENCIES
from consumer.core.custom_data import money
from consumer.core.decoding import decode_payload, guarded_reader
from consumer.core.logical import DROPPED_KEY
from consumer.core.mapping import Filtered, map_record
from consumer.core.models import CapiEvent
from consumer.core.templates import render_plain
from consumer.core.test_traffic import describe_policy
from consumer.core.validation import validate_event
from consumer.devstack.framing import encode_raw
from consumer.errors import ConfigError, DecodeError, MappingError, RecordError, ValidationError
from consumer.schemas import load_reader_schemas
from consumer.settings import Settings, config_warnings, load_settings
from tests.fixtures.factories import NOW, PIXEL, TEST_PIXEL, make_lead, make_order, make_settings

CLICKED = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
CLICK_MS = int(CLICKED.timestamp() * 1000)
OLD_COOKIE = f"fb.1.{CLICK_MS - 86_400_000}.OldClick"
NEWER_COOKIE = f"fb.1.{CLICK_MS + 60_000}.OtherClick"


def _sent(record: dict[str, Any], kind: str = "order", **settings: Any) -> CapiEvent:
    """The mapped and validated event, as it would be batched."""
    event = map_record(kind, record, make_settings(**settings))  # type: ignore[arg-type]
    assert isinstance(event, CapiEvent)
    validate_event(event, NOW.timestamp(), future_skew_s=300)
    return event


def _refusal(record: dict[str, Any], kind: str = "order", **settings: Any) -> str:
    """The reason ``record`` is not sent: a dead-letter reason or a filtered one."""
    try:
        outcome = map_record(kind, record, make_settings(**settings))  # type: ignore[arg-type]
        if isinstance(outcome, Filtered):
            return f"filtered:{outcome.reason}"
        validate_event(outcome, NOW.timestamp(), future_skew_s=300)
    except RecordError as exc:
        return exc.reason
    return "sent"


def _browser(**fields: Any) -> dict[str, Any]:
    return {**make_order()["browser"], **fields}


class TestFbc:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"fbc": OLD_COOKIE}, OLD_COOKIE),
            (
                {"fbc": OLD_COOKIE, "fbclid": "NewClick", "fbclid_seen_at": CLICKED},
                f"fb.1.{CLICK_MS}.NewClick",
            ),
            (
                {"fbc": OLD_COOKIE, "fbclid": "NewClick"},
                f"fb.1.{int(make_order()['occurred_at'].timestamp() * 1000)}.NewClick",
            ),
            ({"fbc": OLD_COOKIE, "fbclid": "OldClick", "fbclid_seen_at": CLICKED}, OLD_COOKIE),
            (
                {"fbc": NEWER_COOKIE, "fbclid": "NewClick", "fbclid_seen_at": CLICKED},
                NEWER_COOKIE,
            ),
            ({"fbclid": "NewClick", "fbclid_seen_at": CLICKED}, f"fb.1.{CLICK_MS}.NewClick"),
            (
                {"fbc": "not-a-cookie", "fbclid": "NewClick", "fbclid_seen_at": CLICKED},
                f"fb.1.{CLICK_MS}.NewClick",
            ),
            (
                {"fbc": f"{OLD_COOKIE}.AQ", "fbclid": "OldClick", "fbclid_seen_at": CLICKED},
                f"{OLD_COOKIE}.AQ",
            ),
        ],
        ids=[
            "cookie-only",
            "newer-click-wins",
            "click-without-time-wins",
            "same-click-keeps-cookie",
            "newer-cookie-kept",
            "click-only",
            "malformed-cookie-replaced",
            "same-click-with-appendix",
        ],
    )
    def test_newest_click_wins(self, fields: dict[str, Any], expected: str) -> None:
        """capi.md §3.1: a different, newer fbclid replaces the cookie; the same click keeps it."""
        event = _sent(make_order(browser=_browser(**fields)))

        assert expected == event.payload["user_data"]["fbc"]


class TestMoney:
    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({"total": Decimal("1E+40")}, "invalid.amount_out_of_range"),
            ({"total": Decimal("10000000000000000.00")}, "invalid.amount_out_of_range"),
            ({"total": Decimal("NaN")}, "invalid.amount_out_of_range"),
            ({"total": Decimal("Infinity")}, "invalid.amount_out_of_range"),
            ({"total": Decimal("0.001")}, "invalid.amount_out_of_range"),
            ({"predicted_ltv": Decimal("-1E+30")}, "invalid.amount_out_of_range"),
            ({"total": Decimal("-100.00")}, "filtered:refund"),
            ({"total": Decimal("0.00")}, "sent"),
            ({"total": Decimal("9999999999999999.99")}, "sent"),
            (
                {"line_items": [{"sku": "A", "quantity": -5, "unit_price": Decimal("3.00")}]},
                "invalid.quantity",
            ),
            (
                {"line_items": [{"sku": "A", "quantity": 0, "unit_price": Decimal("3.00")}]},
                "invalid.quantity",
            ),
            (
                {"line_items": [{"sku": "A", "quantity": 1, "unit_price": Decimal("-3.00")}]},
                "invalid.item_price",
            ),
            (
                {"line_items": [{"sku": "A", "quantity": 1, "unit_price": Decimal("1E+99")}]},
                "invalid.amount_out_of_range",
            ),
        ],
        ids=[
            "1e40",
            "17-integer-digits",
            "nan",
            "infinity",
            "three-decimals",
            "ltv",
            "refund",
            "zero",
            "largest",
            "negative-quantity",
            "zero-quantity",
            "negative-price",
            "huge-price",
        ],
    )
    def test_purchase_amounts(self, overrides: dict[str, Any], expected: str) -> None:
        """Amounts that do not fit decimal(18,2) or are not finite, negative totals and
        non-positive quantities never reach Meta as a Purchase."""
        assert expected == _refusal(make_order(**overrides))

    def test_refund_dead_lettered_when_configured(self) -> None:
        """``refunds: dead_letter`` turns a negative total into invalid.negative_value."""
        mapping = {"order": {"refunds": "dead_letter"}}

        assert "invalid.negative_value" == _refusal(
            make_order(total=Decimal("-100.00")), mapping=mapping
        )

    def test_non_finite_custom_property(self) -> None:
        """A configured extra property holding a non-finite double is refused, not sent as null."""
        mapping = {"order": {"custom_properties": {"score": "score"}}}

        assert "invalid.amount_out_of_range" == _refusal(
            make_order(score=float("inf")), mapping=mapping
        )

    @settings(max_examples=500, deadline=None)
    @given(
        st.one_of(
            st.decimals(allow_nan=True, allow_infinity=True),
            st.decimals(places=2, min_value=-(10**16), max_value=10**16),
            st.builds(
                lambda n, e: Decimal(n).scaleb(e),
                st.integers(min_value=-(10**40), max_value=10**40),
                st.integers(min_value=-30, max_value=30),
            ),
        )
    )
    def test_money_is_its_first_formulation(self, value: Decimal) -> None:
        """money gives what it gave with float(value) (not float(text)): same number or refusal."""
        try:
            expected: object = _old_money(value)
        except ValidationError as exc:
            with pytest.raises(ValidationError) as info:
                money(value)
            assert exc.reason == info.value.reason
            return
        actual = money(value)
        if isinstance(expected, orjson.Fragment):
            assert isinstance(actual, orjson.Fragment)
            assert orjson.dumps(expected) == orjson.dumps(actual)
        else:
            assert type(expected) is type(actual)
            assert repr(expected) == repr(actual)  # the sign of a zero too

    @settings(max_examples=300, deadline=None)
    @given(
        total=st.decimals(allow_nan=True, allow_infinity=True),
        price=st.decimals(allow_nan=True, allow_infinity=True),
        quantity=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    )
    def test_no_bad_number_is_sent(self, total: Decimal, price: Decimal, quantity: int) -> None:
        """Whatever the amounts, a sent event's numbers are finite, fit decimal(18,2), and a
        Purchase's are >= 0 with positive quantities."""
        record = make_order(
            total=total, line_items=[{"sku": "A", "quantity": quantity, "unit_price": price}]
        )
        try:
            event = map_record("order", record, make_settings())
            if isinstance(event, Filtered):
                assert ("refund", True) == (event.reason, total < 0)
                return
            validate_event(event, NOW.timestamp(), future_skew_s=300)
        except RecordError:
            return
        custom = orjson.loads(event.body)["custom_data"]
        numbers = [custom["value"], custom["contents"][0]["item_price"]]
        assert all(isinstance(n, float) and 0 <= n < 1e16 for n in numbers)
        assert Decimal(str(custom["value"])) == total
        assert custom["contents"][0]["quantity"] == quantity > 0


class TestCurrency:
    @pytest.mark.parametrize(
        ("kind", "record", "expected"),
        [
            ("order", make_order(currency="ZZZ"), "invalid.currency"),
            ("order", make_order(currency="DOLLARS"), "invalid.currency"),
            ("order", make_order(currency="XXX"), "invalid.currency"),
            ("order", make_order(currency="HRK"), "invalid.currency"),
            ("order", make_order(currency="eur"), "sent"),
            ("lead", make_lead(currency="ZZZ", value=Decimal("5.00")), "invalid.currency"),
            ("lead", make_lead(currency="USD", value=Decimal("5.00")), "sent"),
        ],
        ids=["zzz", "dollars", "xxx", "historic-hrk", "lowercase-eur", "lead-zzz", "lead-usd"],
    )
    def test_iso_4217(self, kind: str, record: dict[str, Any], expected: str) -> None:
        """Only active ISO 4217 currency codes pass, on every event type."""
        assert expected == _refusal(record, kind)

    def test_list_is_current(self) -> None:
        """The list has today's codes and not withdrawn ones."""
        assert {"USD", "EUR", "JPY", "XOF", "ZWG"} <= CURRENCIES
        assert not {"HRK", "DEM", "VEF", "XTS", "XXX", "XAU"} & CURRENCIES


class TestIdentifiers:
    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({"event_id": "x" * 10_240}, "invalid.id_too_long"),
            ({"event_id": "order-1\n"}, "invalid.id_control_character"),
            ({"event_id": "\x1b[31morder-1"}, "invalid.id_control_character"),
            ({"order_id": "ORD\x00-1"}, "invalid.id_control_character"),
            ({"order_id": "ORD-\x85"}, "invalid.id_control_character"),
            ({"event_id": "x" * 256}, "sent"),
            ({"event_id": " spaced id "}, "sent"),
            ({"event_id": "commande-é-1"}, "sent"),
        ],
        ids=["10kb", "newline", "ansi", "nul-order-id", "c1", "at-cap", "spaces", "unicode"],
    )
    def test_ids(self, overrides: dict[str, Any], expected: str) -> None:
        """Ids with control characters or over the cap are dead-lettered, never cleaned."""
        assert expected == _refusal(make_order(**overrides))

    def test_cap_is_configurable(self) -> None:
        """mapping.max_id_length sets the cap."""
        assert "invalid.id_too_long" == _refusal(
            make_order(event_id="x" * 11), mapping={"max_id_length": 10}
        )

    @settings(max_examples=300, deadline=None)
    @given(event_id=st.text(min_size=1), order_id=st.text(min_size=1))
    def test_nothing_sent_differs_from_the_record(self, event_id: str, order_id: str) -> None:
        """A sent event carries the record's event_id and order_id byte for byte."""
        try:
            event = _sent(make_order(event_id=event_id, order_id=order_id))
        except ValidationError as exc:
            assert exc.reason.startswith("invalid.id_")
            return
        body = orjson.loads(event.body)
        assert (event_id, order_id) == (body["event_id"], body["custom_data"]["order_id"])
        assert event_id == event.event_id


class TestClientIp:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("203.0.113.9:443", "203.0.113.9"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("203.0.113.9", "203.0.113.9"),
            (" 203.0.113.9:8080 ", "203.0.113.9"),
        ],
    )
    def test_port_stripped(self, raw: str, expected: str) -> None:
        """Load balancers' host:port forms keep the address."""
        event = _sent(make_order(browser=_browser(client_ip=raw)))

        assert expected == event.payload["user_data"]["client_ip_address"]

    @pytest.mark.parametrize("raw", ["203.0.113.9:", "203.0.113.9:99999x", "[2001:db8::1]:", "[]"])
    def test_still_invalid(self, raw: str) -> None:
        """What is not an address with a port is still dropped."""
        event = _sent(make_order(browser=_browser(client_ip=raw)))

        assert ("client_ip_address", "not_an_ip_address") in event.dropped


class TestTestTraffic:
    def test_default_drops(self) -> None:
        """A test record on a pixel without a policy is filtered, reason test_traffic."""
        assert "filtered:test_traffic" == _refusal(make_order(is_test=True))

    def test_separate_dataset(self) -> None:
        """test_traffic: {pixel: id} sends to the test dataset with its test_event_code."""
        pixels = {
            PIXEL: {"access_token": "t1", "test_traffic": {"pixel": TEST_PIXEL}},
            TEST_PIXEL: {"access_token": "t2", "test_event_code": "TEST9"},
        }

        event = _sent(make_order(is_test=True), pixels=pixels)

        assert (TEST_PIXEL, "TEST9") == event.batch_key

    def test_send_with_code(self) -> None:
        """send_with_code (explicit) keeps the production pixel and its test code."""
        event = _sent(make_order(pixel_id=TEST_PIXEL, is_test=True))

        assert (TEST_PIXEL, "TEST4242") == event.batch_key

    def test_send_with_code_needs_a_code(self) -> None:
        """send_with_code on a pixel without test_event_code is a mapping error."""
        pixels = {PIXEL: {"access_token": "t1", "test_traffic": "send_with_code"}}

        with pytest.raises(MappingError) as info:
            map_record("order", make_order(is_test=True), make_settings(pixels=pixels))

        assert "mapping.no_test_event_code" == info.value.reason

    def test_production_records_unaffected(self) -> None:
        """Records not flagged is_test go to their pixel without a code."""
        assert (PIXEL, None) == _sent(make_order()).batch_key

    def test_unknown_test_dataset_is_a_config_error(self, tmp_path: Any) -> None:
        """A test dataset without its own pixels entry fails at startup."""
        path = tmp_path / "c.yaml"
        path.write_text(f'pixels:\n  "{PIXEL}": {{test_traffic: {{pixel: "42"}}}}\n')

        with pytest.raises(ConfigError, match="test dataset '42' has no pixels entry"):
            load_settings(path, token_placeholder="x")

    def test_check_config_warns_about_send_with_code(self) -> None:
        """Only send_with_code draws a warning, naming the pixel."""
        warnings = config_warnings(make_settings())

        assert 1 == len(warnings)
        assert f"pixels.{TEST_PIXEL}.test_traffic" in warnings[0]

    def test_check_config_prints_the_warning(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check-config exits 0 and warns on stderr for a send_with_code pixel."""
        path = tmp_path / "c.yaml"
        path.write_text(
            f'pixels:\n  "{PIXEL}": {{test_event_code: T1, test_traffic: send_with_code}}\n'
        )
        monkeypatch.setenv(f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN", "token")

        code = main(["check-config", str(path)])

        assert 0 == code
        assert f"capi-consumer: warning: pixels.{PIXEL}.test_traffic: send_with_code" in (
            capsys.readouterr().err
        )

    @pytest.mark.parametrize(
        ("policy", "expected"),
        [
            ("drop", "drop"),
            ("send_with_code", "send_with_code"),
            ({"pixel": PIXEL}, f"pixel:{PIXEL}"),
        ],
    )
    def test_described(self, policy: Any, expected: str) -> None:
        """preview names the policy that applies."""
        settings = Settings(
            pixels={
                PIXEL: {"access_token": "t"},
                TEST_PIXEL: {"access_token": "t", "test_traffic": policy},
            }
        )

        assert expected == describe_policy(TEST_PIXEL, settings)


def _plain_order_schema() -> Any:
    """Our order schema with dates and timestamps as plain ints: it can write any day count."""
    schema = orjson.loads(Path("schemas/order_event.avsc").read_bytes())

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("logicalType") in ("date", "timestamp-millis"):
                del node["logicalType"]
            for child in node.values():
                strip(child)
        elif isinstance(node, list):
            for child in node:
                strip(child)

    strip(schema)
    return fastavro.parse_schema(schema)


READER = load_reader_schemas(Path("schemas"))["order"]
READS = {
    "generated": lambda payload: decode_payload(payload, READER, READER),
    "guard+fastavro": lambda payload: guarded_reader(READER, READER)(payload, DecodeLimits()),
}


def _payload(date_of_birth: int | None, occurred_at: int) -> bytes:
    order = make_order()
    order["occurred_at"] = occurred_at
    order["customer"] = {**order["customer"], "date_of_birth": date_of_birth}
    return encode_raw(order, _plain_order_schema())


class TestOutOfRangeLogicalValues:
    @pytest.mark.parametrize("path", sorted(READS))
    def test_optional_field_dropped(self, path: str) -> None:
        """date_of_birth = 2^31-1 days is dropped with a reason; the event still goes."""
        record = READS[path](_payload(2**31 - 1, int(NOW.timestamp() * 1000)))

        event = _sent(record)

        assert None is record["customer"]["date_of_birth"]
        assert ("customer.date_of_birth", "out_of_range") in event.dropped
        assert "db" not in event.payload["user_data"]

    @pytest.mark.parametrize("path", sorted(READS))
    @pytest.mark.parametrize("millis", [2**62, -(2**62)])
    def test_required_field_named(self, path: str, millis: int) -> None:
        """occurred_at = ±2^62 ms is decode.out_of_range naming the field, not its value."""
        with pytest.raises(DecodeError) as info:
            READS[path](_payload(None, millis))

        assert "decode.out_of_range" == info.value.reason
        assert "occurred_at" in info.value.message
        assert str(millis) not in info.value.message

    @pytest.mark.parametrize("path", sorted(READS))
    def test_in_range_untouched(self, path: str) -> None:
        """Ordinary dates decode as before, with nothing reported."""
        record = READS[path](_payload(0, int(NOW.timestamp() * 1000)))

        assert (dt.date(1970, 1, 1), False) == (
            record["customer"]["date_of_birth"],
            DROPPED_KEY in record,
        )


class TestPhones:
    @pytest.mark.parametrize(
        ("raw", "country", "expected"),
        [
            ("555-0132", "US", "invalid_for_region"),
            ("+1 555 0132", None, "invalid_for_region"),
            ("+1 000 000 0000 0000 00", None, "not_a_phone_number"),
            ("12", "US", "too_few_digits"),
        ],
    )
    def test_never_matching_numbers_dropped(
        self, raw: str, country: str | None, expected: str
    ) -> None:
        """A number no number type of its region accepts is dropped with its reason, not hashed."""
        customer = {**make_order()["customer"], "phone": raw, "country": country}

        event = _sent(make_order(customer=customer))

        assert "ph" not in event.payload["user_data"]
        assert ("ph", expected) in event.dropped

    @pytest.mark.parametrize(
        ("raw", "country"),
        [
            ("(650)555-1212", "US"),
            ("020 7946 0958", "GB"),
            ("06 12 34 56 78", "FR"),
            ("+49 30 901820", None),
        ],
    )
    def test_valid_numbers_kept(self, raw: str, country: str | None) -> None:
        """Real numbers still go, hashed."""
        customer = {**make_order()["customer"], "phone": raw, "country": country}

        assert "ph" in _sent(make_order(customer=customer)).payload["user_data"]


@settings(max_examples=500, deadline=None)
@given(
    template=st.text(alphabet="ab_{}:!.[]0rs ", max_size=12),
    value=st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none()),
)
def test_fast_template_agrees_with_format_map(template: str, value: object) -> None:
    """The joined-strings fast path renders exactly what str.format_map does, or defers."""
    record = {"a": value, "b": "x"}
    fast = render_plain(template, record)

    if fast is not None:
        assert template.format_map(record) == fast


def _old_money(value: Decimal) -> object:
    """custom_data.money as first written (float(value) on the fast path): the reference."""
    text = str(value)
    if len(text) <= 15 and text[-3:-2] == ".":
        return float(value)
    exponent = value.as_tuple().exponent
    if (
        type(exponent) is not int
        or value.adjusted() >= 16
        or (exponent < -2 and value != value.quantize(Decimal("0.01")))
    ):
        raise ValidationError("invalid.amount_out_of_range", "out of range")
    if len(value.as_tuple().digits) <= 15:
        return float(value)
    return orjson.Fragment(format(value.normalize(), "f").encode())
