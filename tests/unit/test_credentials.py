"""Secret-shaped keys and URLs with credentials: found, refused with a useful line, masked."""

from __future__ import annotations

import pytest

from consumer.credentials import (
    find_secrets,
    has_credentials,
    is_secret_key,
    mask_secrets,
    mask_url_credentials,
)

SECRET_KEYS = [
    "access_token",
    "app_secret",
    "sasl_password",
    "sasl.password",
    "ssl_key_password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "basic_auth_password",
    "basic.auth.user.info",
    "redis_password",
    "private_key",
    "api_key",
    "accessToken",
    "CAPI_KAFKA__SASL_PASSWORD",
]
PLAIN_KEYS = [
    "access_token_file",
    "app_secret_file",
    "ssl.key.location",
    "ssl.certificate.pem",
    "sasl.oauthbearer.token.endpoint.url",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "sasl_username",
    "basic_auth_user",
    "security_protocol",
    "test_event_code",
    "max_string_bytes",
    "redis_url",
    "CAPI_PIXELS__1__ACCESS_TOKEN_FILE",
]


class TestKeys:
    @pytest.mark.parametrize("key", SECRET_KEYS)
    def test_secret_keys(self, key: str) -> None:
        """Keys that name a password, secret, token or private key are secret-shaped."""
        assert True is is_secret_key(key)

    @pytest.mark.parametrize("key", PLAIN_KEYS)
    def test_plain_keys(self, key: str) -> None:
        """Keys naming where a secret lives (files, endpoints) or plain settings are not."""
        assert False is is_secret_key(key)


class TestUrls:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("redis://:pw@redis:6379/0", "redis://***@redis:6379/0"),
            ("http://user:pw@registry:8081", "http://***@registry:8081"),
            ("rediss://default:p%40ss@r:6380", "rediss://***@r:6380"),
            ("a http://u:p@h1/x, https://h2/y", "a http://***@h1/x, https://h2/y"),
            ("https://graph.facebook.com", "https://graph.facebook.com"),
            ("kafka:9092", "kafka:9092"),
        ],
    )
    def test_userinfo_is_masked(self, text: str, expected: str) -> None:
        """The user:password@ part of every URL becomes ***; other text is untouched."""
        assert (expected, expected != text) == (mask_url_credentials(text), has_credentials(text))


class TestFindAndMask:
    def test_findings_name_the_field_and_the_env_variable(self) -> None:
        """Each finding's one-line refusal names the field and where the value belongs."""
        config = {
            "kafka": {"client": {"sasl.password": "pw"}, "sasl_password": None},
            "pixels": {"1": {"access_token": "t", "access_token_file": "/s/t"}},
            "dedup": {"redis_url": "redis://:pw@r/0"},
        }

        lines = [finding.refusal() for finding in find_secrets(config)]

        assert [
            "kafka.client.sasl.password: secrets are not allowed in the config file; set "
            "CAPI_KAFKA__CLIENT__SASL_PASSWORD in the environment (from a Kubernetes Secret)",
            "pixels.1.access_token: secrets are not allowed in the config file; set "
            "CAPI_PIXELS__1__ACCESS_TOKEN in the environment (from a Kubernetes Secret), or "
            "mount it as a file and set pixels.1.access_token_file",
            "dedup.redis_url: the URL carries credentials (user:password@); keep the URL in the "
            "file without them and set the whole URL in the environment as "
            "CAPI_DEDUP__REDIS_URL (from a Kubernetes Secret), or use the field's own password "
            "setting",
        ] == lines
        assert all("pw" not in line.split(";")[0] for line in lines)

    def test_user_chosen_names_are_not_keys(self) -> None:
        """A topic, tenant or mapping status may be called anything; values are still checked."""
        config = {
            "kafka": {"topics": {"password-resets": {"event_type": "order"}}},
            "tenants": {"secret-shop": "1"},
            "mapping": {"order": {"statuses": {"TOKEN": "Purchase"}}},
            "meta": {"base_url": "https://u:p@graph"},
        }

        assert ["meta.base_url"] == [finding.path for finding in find_secrets(config)]

    def test_mask_covers_keys_and_urls_at_any_depth(self) -> None:
        """mask_secrets hides secret-shaped values and URL userinfo, leaves the rest."""
        data = {
            "kafka": {"client": {"ssl_key_password": "k", "security_protocol": "SSL"}},
            "schema_registry": {"url": "http://u:p@sr", "basic_auth_password": None},
            "list": ["redis://:p@r"],
        }

        assert {
            "kafka": {"client": {"ssl_key_password": "***", "security_protocol": "SSL"}},
            "schema_registry": {"url": "http://***@sr", "basic_auth_password": None},
            "list": ["redis://***@r"],
        } == mask_secrets(data)
