"""The CAPI emulator's rules, table-driven: one valid baseline event, one violation at a time.

Hash values are Meta's official vectors from capi.md §3 (and sha256 of its normalized examples).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest

from consumer.devstack.emulator_errors import GraphError, Violation
from consumer.devstack.emulator_rules import (
    PixelAuth,
    check_auth,
    decode_data,
    validate_body,
    validate_event,
)

NOW = 1_760_000_000
DAY = 86_400
EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # john_smith@gmail.com
PH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"  # 16505551212
FN = "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"  # mary
LN = "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"  # valéry
DB = "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"  # 19970216
COUNTRY = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"  # us
GE = "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"  # f
CT = "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5"  # newyork
ST = "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"  # ca
ZP = "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e"  # 94035
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
FBC = "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
FBP = "fb.1.1596403881668.1116446470"
DELETE = object()  # marks a field to remove in a mutation
TOO_OLD, IN_FUTURE, BAD_USER_DATA, INSUFFICIENT = 2804003, 2804004, 2804001, 2804050


def baseline() -> dict[str, Any]:
    """A valid website Purchase with every kind of customer information parameter."""
    return {
        "event_name": "Purchase",
        "event_time": NOW - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "event_id": "order-1001",
        "user_data": {
            "em": [EM],
            "ph": [PH],
            "fn": FN,
            "client_ip_address": "168.212.226.204",
            "client_user_agent": UA,
            "fbc": FBC,
            "fbp": FBP,
            "external_id": "customer-42",
        },
        "custom_data": {"value": 142.52, "currency": "USD"},
    }


def mutate(changes: dict[str, Any]) -> dict[str, Any]:
    """The baseline with dotted-path ``changes`` applied (``DELETE`` removes a field)."""
    event = copy.deepcopy(baseline())
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = event
        for parent in parents:
            target = target[parent]
        if value is DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return event


def offline(user_data: dict[str, Any]) -> dict[str, Any]:
    """Changes that make a non-web event carrying only ``user_data``."""
    return {"action_source": "system_generated", "user_data": user_data}


REJECTED = [
    pytest.param({"event_name": DELETE}, "event_name", None, id="event_name-missing"),
    pytest.param({"event_name": ""}, "event_name", None, id="event_name-empty"),
    pytest.param({"event_name": "x" * 51}, "event_name", None, id="event_name-51-chars"),
    pytest.param({"event_name": 7}, "event_name", None, id="event_name-not-string"),
    pytest.param({"event_time": DELETE}, "event_time.type", None, id="event_time-missing"),
    pytest.param({"event_time": NOW - 60.0}, "event_time.type", None, id="event_time-float"),
    pytest.param({"event_time": str(NOW)}, "event_time.type", None, id="event_time-string"),
    pytest.param({"event_time": True}, "event_time.type", None, id="event_time-bool"),
    pytest.param(
        {"event_time": NOW - 7 * DAY - 1}, "event_time.too_old", TOO_OLD, id="event_time-7d+1s"
    ),
    pytest.param(
        {"action_source": "physical_store", "event_time": NOW - 62 * DAY - 1},
        "event_time.too_old",
        TOO_OLD,
        id="physical_store-62d+1s",
    ),
    pytest.param(
        {"event_time": NOW * 1000}, "event_time.future", IN_FUTURE, id="event_time-millis"
    ),
    pytest.param({"event_time": NOW + 61}, "event_time.future", IN_FUTURE, id="event_time-61s"),
    pytest.param({"action_source": DELETE}, "action_source", None, id="action_source-missing"),
    pytest.param({"action_source": "web"}, "action_source", None, id="action_source-unknown"),
    pytest.param(
        {"event_source_url": DELETE}, "website.event_source_url", None, id="website-no-url"
    ),
    pytest.param(
        {"event_source_url": "shop.example"}, "website.event_source_url", None, id="url-no-scheme"
    ),
    pytest.param(
        {"user_data.client_user_agent": DELETE},
        "website.client_user_agent",
        None,
        id="website-no-user-agent",
    ),
    pytest.param({"user_data": DELETE}, "user_data.missing", None, id="user_data-missing"),
    pytest.param({"user_data": {}}, "user_data.missing", None, id="user_data-empty"),
    pytest.param({"user_data": [EM]}, "user_data.missing", None, id="user_data-list"),
    pytest.param(
        {"user_data.em": "john_smith@gmail.com"}, "user_data.unhashed", BAD_USER_DATA, id="em-raw"
    ),
    pytest.param(
        {"user_data.em": EM.upper()}, "user_data.unhashed", BAD_USER_DATA, id="em-uppercase-hex"
    ),
    pytest.param(
        {"user_data.em": [EM, "mary@example.com"]},
        "user_data.unhashed",
        BAD_USER_DATA,
        id="em-list-one-raw",
    ),
    pytest.param({"user_data.em": []}, "user_data.unhashed", BAD_USER_DATA, id="em-empty-list"),
    pytest.param({"user_data.ph": PH[:63]}, "user_data.unhashed", BAD_USER_DATA, id="ph-63-hex"),
    pytest.param(
        {"user_data.ph": 16505551212}, "user_data.unhashed", BAD_USER_DATA, id="ph-number"
    ),
    pytest.param({"user_data.country": "us"}, "user_data.unhashed", BAD_USER_DATA, id="country"),
    pytest.param(
        {"user_data.client_ip_address": "999.1.1.1"},
        "user_data.client_ip_address",
        BAD_USER_DATA,
        id="ip-invalid",
    ),
    pytest.param(
        {"user_data.client_ip_address": EM},
        "user_data.client_ip_address",
        BAD_USER_DATA,
        id="ip-hashed",
    ),
    pytest.param(
        {"user_data.client_user_agent": EM},
        "user_data.client_user_agent",
        BAD_USER_DATA,
        id="user_agent-hashed",
    ),
    pytest.param({"user_data.fbc": EM}, "user_data.fbc", BAD_USER_DATA, id="fbc-hashed"),
    pytest.param(
        {"user_data.fbc": "fb.1.notms.IwAR2F4"}, "user_data.fbc", BAD_USER_DATA, id="fbc-shape"
    ),
    pytest.param(
        {"user_data.fbp": "fb.1.1596403881668.abc"}, "user_data.fbp", BAD_USER_DATA, id="fbp-shape"
    ),
    pytest.param({"user_data.fbp": EM}, "user_data.fbp", BAD_USER_DATA, id="fbp-hashed"),
    pytest.param(
        {"user_data.lead_id": 12345678901234},
        "user_data.lead_id",
        BAD_USER_DATA,
        id="lead_id-14-digits",
    ),
    pytest.param(
        {"user_data.lead_id": "12345678901234567890"},
        "user_data.lead_id",
        BAD_USER_DATA,
        id="lead_id-20-digits",
    ),
    pytest.param(
        {"user_data.email": EM}, "user_data.email", BAD_USER_DATA, id="user_data-unknown-key"
    ),
    pytest.param(
        {"user_data.external_id": []},
        "user_data.external_id",
        BAD_USER_DATA,
        id="external_id-empty-list",
    ),
    pytest.param(
        offline({"ge": GE, "ct": CT, "st": ST, "country": COUNTRY}),
        "user_data.insufficient",
        INSUFFICIENT,
        id="insufficient-geo-gender",
    ),
    pytest.param(
        offline({"db": DB, "client_user_agent": UA}),
        "user_data.insufficient",
        INSUFFICIENT,
        id="insufficient-db-ua",
    ),
    pytest.param(
        offline({"fn": FN, "ge": GE}),
        "user_data.insufficient",
        INSUFFICIENT,
        id="insufficient-fn-ge",
    ),
    pytest.param(
        offline({"ln": LN}), "user_data.insufficient", INSUFFICIENT, id="insufficient-ln-alone"
    ),
    pytest.param(
        offline({"client_user_agent": UA}),
        "user_data.insufficient",
        INSUFFICIENT,
        id="insufficient-ua-alone",
    ),
    pytest.param({"custom_data": DELETE}, "custom_data.value", None, id="purchase-no-custom"),
    pytest.param({"custom_data.value": DELETE}, "custom_data.value", None, id="purchase-no-value"),
    pytest.param(
        {"custom_data.value": "142.52"}, "custom_data.value", None, id="purchase-value-string"
    ),
    pytest.param({"custom_data.value": True}, "custom_data.value", None, id="value-bool"),
    pytest.param(
        {"custom_data.currency": DELETE}, "custom_data.currency", None, id="purchase-no-currency"
    ),
    pytest.param(
        {"custom_data.currency": "US"}, "custom_data.currency", None, id="currency-2-letters"
    ),
    pytest.param(
        {"custom_data.currency": "U$D"}, "custom_data.currency", None, id="currency-symbol"
    ),
    pytest.param({"custom_data.currency": "ZZZ"}, "custom_data.currency", None, id="currency-zzz"),
    pytest.param(
        {"custom_data.currency": "HRK"}, "custom_data.currency", None, id="currency-withdrawn"
    ),
    pytest.param({"custom_data.value": -100.0}, "custom_data.purchase", None, id="negative-value"),
    pytest.param(
        {"custom_data.contents": [{"id": "A", "quantity": -5, "item_price": 3.0}]},
        "custom_data.purchase",
        None,
        id="negative-quantity",
    ),
    pytest.param({"custom_data": [1]}, "custom_data.type", None, id="custom_data-list"),
    pytest.param({"data_processing_options": "LDU"}, "dpo.options", None, id="dpo-string-not-list"),
    pytest.param({"data_processing_options": ["XYZ"]}, "dpo.options", None, id="dpo-unknown"),
    pytest.param(
        {"data_processing_options": ["LDU"]}, "dpo.ldu_location", None, id="ldu-no-location"
    ),
    pytest.param(
        {
            "data_processing_options": ["LDU"],
            "data_processing_options_country": 1,
        },
        "dpo.ldu_location",
        None,
        id="ldu-no-state",
    ),
    pytest.param(
        {
            "data_processing_options": ["LDU"],
            "data_processing_options_country": "1",
            "data_processing_options_state": 1000,
        },
        "dpo.country",
        None,
        id="ldu-country-string",
    ),
    pytest.param(
        {
            "data_processing_options": ["LDU"],
            "data_processing_options_country": 1,
            "data_processing_options_state": 999,
        },
        "dpo.state",
        None,
        id="ldu-state-unknown",
    ),
    pytest.param({"opt_out": "true"}, "opt_out", None, id="opt_out-string"),
    pytest.param({"event_id": 1001}, "event_id", None, id="event_id-number"),
    pytest.param({"event_nme": "Purchase"}, "event.unknown_key", None, id="unknown-event-key"),
    pytest.param({"action_source": "app"}, "app.app_data", None, id="app-no-app_data"),
    pytest.param(
        {"action_source": "business_messaging"},
        "business_messaging.channel",
        None,
        id="messaging-no-channel",
    ),
]

ACCEPTED = [
    pytest.param({}, id="baseline"),
    pytest.param({"user_data.em": EM, "user_data.ph": PH}, id="hashes-as-strings"),
    pytest.param({"user_data.fn": [FN, LN]}, id="hash-list-of-two"),
    pytest.param({"event_time": NOW - 7 * DAY}, id="exactly-7-days-old"),
    pytest.param({"event_time": NOW + 60}, id="60s-in-future"),
    pytest.param(
        {"action_source": "physical_store", "event_time": NOW - 30 * DAY}, id="store-30-days-old"
    ),
    pytest.param({"event_name": "x" * 50, "custom_data": DELETE}, id="custom-name-50-chars"),
    pytest.param({"custom_data.value": 10, "custom_data.currency": "usd"}, id="int-value-lower"),
    pytest.param({"user_data.external_id": EM}, id="external_id-hashed"),
    pytest.param({"user_data.external_id": ["a", "b"]}, id="external_id-list"),
    pytest.param({"user_data.client_ip_address": "2001:db8::1"}, id="ipv6"),
    pytest.param({"user_data.fbc": FBC + ".AQICAQMC"}, id="fbc-appendix"),
    pytest.param({"user_data.fbp": FBP + ".AQICAQMC"}, id="fbp-appendix"),
    pytest.param({"user_data.lead_id": 1234567890123456}, id="lead_id-16-digit-int"),
    pytest.param({"user_data.lead_id": "123456789012345"}, id="lead_id-15-digit-string"),
    pytest.param(offline({"em": [EM]}), id="em-alone-offline"),
    pytest.param(offline({"external_id": "crm-7"}), id="external_id-alone"),
    pytest.param(offline({"fn": FN, "ln": LN, "ge": GE}), id="fn-ln-ge-not-a-subset"),
    pytest.param(
        offline({"ct": CT, "st": ST, "zp": ZP, "country": COUNTRY, "client_ip_address": "1.2.3.4"}),
        id="geo-plus-ip",
    ),
    pytest.param({"data_processing_options": []}, id="dpo-empty"),
    pytest.param(
        {
            "data_processing_options": ["LDU"],
            "data_processing_options_country": 1,
            "data_processing_options_state": 1000,
        },
        id="ldu-california",
    ),
    pytest.param(
        {
            "data_processing_options": ["LDU"],
            "data_processing_options_country": 0,
            "data_processing_options_state": 0,
        },
        id="ldu-geolocate",
    ),
    pytest.param({"opt_out": False, "referrer_url": "https://ref.example/"}, id="optional"),
    pytest.param(
        {
            "action_source": "app",
            "app_data": {
                "advertiser_tracking_enabled": False,
                "extinfo": ["a2", "", "", "", "14"] + [""] * 11,
            },
        },
        id="app-extinfo",
    ),
    pytest.param(
        {
            "action_source": "business_messaging",
            "messaging_channel": "whatsapp",
            "user_data.whatsapp_business_account_id": "102012345678901",
            "user_data.ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a",
        },
        id="messaging-whatsapp",
    ),
]


class TestValidateEvent:
    @pytest.mark.parametrize(("changes", "rule", "subcode"), REJECTED)
    def test_rejects_each_violation(
        self, changes: dict[str, Any], rule: str, subcode: int | None
    ) -> None:
        """Each documented violation, alone on a valid event, is caught with its rule and subcode."""
        violation = validate_event(mutate(changes), now=NOW)

        assert violation is not None
        assert (rule, subcode) == (violation.rule, violation.subcode)

    @pytest.mark.parametrize("changes", ACCEPTED)
    def test_accepts_valid_variants(self, changes: dict[str, Any]) -> None:
        """Valid variants of the baseline raise no violation."""
        assert validate_event(mutate(changes), now=NOW) is None

    def test_rejects_non_object_event(self) -> None:
        """An event that is not a JSON object is rejected."""
        violation = validate_event("Purchase", now=NOW)

        assert violation is not None
        expected = "event.type"
        assert expected == violation.rule

    def test_future_tolerance_is_configurable(self) -> None:
        """A wider tolerance accepts an event the default one rejects."""
        event = mutate({"event_time": NOW + 300})

        assert validate_event(event, now=NOW, future_tolerance_s=600) is None
        assert validate_event(event, now=NOW) is not None


def body_with(events: list[Any], **extra: Any) -> dict[str, Any]:
    """A request body around ``events``."""
    return {"data": events, **extra}


class TestValidateBody:
    def test_accepts_full_batch(self) -> None:
        """A batch of exactly 1000 valid events is accepted."""
        assert validate_body(body_with([baseline()] * 1000), now=NOW) is None

    @pytest.mark.parametrize(
        ("body", "rule"),
        [
            pytest.param({}, "request.data", id="data-missing"),
            pytest.param(body_with([]), "request.data", id="data-empty"),
            pytest.param({"data": {"event_name": "x"}}, "request.data", id="data-object"),
            pytest.param(body_with([baseline()] * 1001), "request.too_many_events", id="1001"),
            pytest.param(
                body_with([baseline()], test_event_cod="TEST1"), "request.unknown_key", id="typo"
            ),
            pytest.param(
                body_with([baseline()], test_event_code=1), "request.test_event_code", id="tec-int"
            ),
        ],
    )
    def test_rejects_bad_bodies(self, body: dict[str, Any], rule: str) -> None:
        """Body-level problems answer code 100 without a subcode."""
        error = validate_body(body, now=NOW)

        assert error is not None
        assert (100, None, rule) == (error.code, error.subcode, error.rule)

    def test_one_bad_event_rejects_whole_batch(self) -> None:
        """One stale event sinks the batch; its index is in the user message text only."""
        events = [baseline(), mutate({"event_time": NOW - 8 * DAY}), baseline()]

        error = validate_body(body_with(events, test_event_code="TEST1"), now=NOW)

        assert error is not None
        expected = (100, TOO_OLD, False)
        assert expected == (error.code, error.subcode, error.is_transient)
        assert error.user_msg.startswith("Event at index 1:")
        assert "index" not in json.dumps(error.body("trace")["error"]).replace(error.user_msg, "")


class TestDecodeData:
    def test_sdk_list_of_json_strings(self) -> None:
        """The SDK's array of JSON-encoded events decodes to objects."""
        wire = json.dumps([json.dumps(baseline())])

        assert [baseline()] == decode_data(wire)

    def test_plain_list_is_kept(self) -> None:
        """A JSON array of objects stays as it is."""
        assert [baseline()] == decode_data([baseline()])

    def test_bad_json_raises(self) -> None:
        """A data string that is not JSON raises ValueError."""
        with pytest.raises(ValueError, match="double quotes"):
            decode_data("[{not json")


def proof(secret: str, token: str) -> str:
    """The reference appsecret_proof, computed here with the stdlib."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


PIXELS = {"111": PixelAuth("tok-a"), "222": PixelAuth("tok-b", app_secret="s3cret")}


class TestCheckAuth:
    @pytest.mark.parametrize(
        ("pixel_id", "token", "given_proof", "expected"),
        [
            pytest.param("999", "tok-a", None, (100, 33, "GraphMethodException"), id="unknown"),
            pytest.param("111", None, None, (190, None, "OAuthException"), id="no-token"),
            pytest.param("111", "tok-b", None, (190, None, "OAuthException"), id="wrong-token"),
            pytest.param("222", "tok-b", None, (100, None, "GraphMethodException"), id="no-proof"),
            pytest.param(
                "222", "tok-b", proof("other", "tok-b"), (100, None, "GraphMethodException"),
                id="wrong-proof",
            ),
        ],
    )  # fmt: skip
    def test_rejections(
        self,
        pixel_id: str,
        token: str | None,
        given_proof: str | None,
        expected: tuple[int, int | None, str],
    ) -> None:
        """Unknown pixels, bad tokens and bad proofs answer Graph's codes, never transient."""
        error = check_auth(pixel_id, PIXELS.get(pixel_id), token, given_proof)

        assert error is not None
        assert (*expected, False) == (
            error.code,
            error.subcode,
            error.error_type,
            error.is_transient,
        )

    @pytest.mark.parametrize(
        ("pixel_id", "token", "given_proof"),
        [
            pytest.param("111", "tok-a", None, id="no-secret"),
            pytest.param("222", "tok-b", proof("s3cret", "tok-b"), id="right-proof"),
        ],
    )
    def test_accepts(self, pixel_id: str, token: str, given_proof: str | None) -> None:
        """The right token, with the right proof where the app requires one, passes."""
        assert check_auth(pixel_id, PIXELS[pixel_id], token, given_proof) is None


class TestErrorShape:
    def test_graph_error_body(self) -> None:
        """A violation becomes Meta's error object with every documented key."""
        error = Violation("event_time.too_old", "too old", 2804003, "Event Timestamp Too Old")

        body = error.to_error(4).body("trace-1")

        expected = {
            "error": {
                "message": "(#100) Invalid parameter: too old",
                "type": "OAuthException",
                "code": 100,
                "error_subcode": 2804003,
                "error_user_title": "Event Timestamp Too Old",
                "error_user_msg": "Event at index 4: too old.",
                "is_transient": False,
                "fbtrace_id": "trace-1",
            }
        }
        assert expected == body

    def test_no_subcode_key_without_subcode(self) -> None:
        """A plain code-100 error carries no error_subcode key at all."""
        body = GraphError(code=100, message="bad").body("t")

        assert "error_subcode" not in body["error"]  # type: ignore[operator]
