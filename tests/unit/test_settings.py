"""Settings: YAML plus environment, secrets refused in files, errors naming the field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.errors import ConfigError
from consumer.settings import load_settings, masked

PIXEL = "1000000000000001"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repo's example config is valid once the pixels' tokens are in the environment."""
    for pixel in ("1000000000000001", "1000000000000002", "1000000000000003"):
        monkeypatch.setenv(f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN", "t")

    settings = load_settings(Path("config/example.yaml"))

    assert "TEST4242" == settings.pixels["1000000000000002"].test_event_code


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CAPI_SECTION__KEY beats the file."""
    monkeypatch.setenv(f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN", "t")
    monkeypatch.setenv("CAPI_KAFKA__GROUP_ID", "from-env")
    path = _write(tmp_path, f'kafka: {{group_id: from-file}}\npixels: {{"{PIXEL}": {{}}}}\n')

    assert "from-env" == load_settings(path).kafka.group_id


def test_secret_in_file_refused(tmp_path: Path) -> None:
    """A token written in the YAML file is refused, naming where it is."""
    path = _write(tmp_path, f'pixels: {{"{PIXEL}": {{access_token: oops}}}}\n')

    with pytest.raises(ConfigError, match=f"pixels.{PIXEL}.access_token: secrets are not allowed"):
        load_settings(path)


def test_token_from_mounted_file(tmp_path: Path) -> None:
    """access_token_file reads the token from a mounted secret file."""
    (tmp_path / "token").write_text("file-token\n")
    path = _write(tmp_path, f'pixels: {{"{PIXEL}": {{access_token_file: {tmp_path / "token"}}}}}\n')

    token = load_settings(path).pixels[PIXEL].access_token

    assert "file-token" == (token.get_secret_value() if token else None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "batch: {max_events: 5000}\n",
            "batch.max_events: Input should be less than or equal to 1000",
        ),
        ("kafka: {nope: 1}\n", "kafka.nope: Extra inputs are not permitted"),
        (f'pixels: {{"{PIXEL}": {{}}}}\n', f"pixels.{PIXEL}: Value error, no access token"),
        ('tenants: {shop: "404"}\n', "tenant 'shop' maps to pixel '404', which has no entry"),
        ("- a list\n", "the top level must be a mapping"),
    ],
    ids=[
        "range",
        "unknown-key",
        "no-token",
        "unknown-tenant-pixel",
        "not-mapping",
    ],
)
def test_errors_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    """Invalid settings raise ConfigError whose message names the field and the problem."""
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))

    assert message in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "mapping: {order: {action_sources: {APP: app}}}\n",
        "mapping: {lead: {action_sources: {OTHER: business_messaging}}}\n",
    ],
    ids=["app", "business-messaging"],
)
def test_app_and_messaging_action_sources_accepted(tmp_path: Path, text: str) -> None:
    """app and business_messaging are configurable: records with the context carry what Meta needs."""
    settings = load_settings(_write(tmp_path, text))

    assert {"app", "business_messaging"} & {
        *settings.mapping.order.action_sources.values(),
        *settings.mapping.lead.action_sources.values(),
    }


def test_masked_hides_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The printable settings never contain a secret."""
    monkeypatch.setenv(f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN", "very-secret-token")
    monkeypatch.setenv(f"CAPI_PIXELS__{PIXEL}__APP_SECRET", "very-secret-app")

    printed = str(masked(load_settings(_write(tmp_path, f'pixels: {{"{PIXEL}": {{}}}}\n'))))

    assert ("very-secret" in printed, "***" in printed) == (False, True)


def test_librdkafka_roles() -> None:
    """Passthrough keys become dotted librdkafka keys, per client role."""
    from consumer.settings import KafkaSettings

    kafka = KafkaSettings(
        client={"security_protocol": "SSL"}, consumer={"session_timeout_ms": 6000}
    )

    assert ("SSL", 6000, None) == (
        kafka.to_librdkafka("consumer")["security.protocol"],
        kafka.to_librdkafka("consumer")["session.timeout.ms"],
        kafka.to_librdkafka("producer").get("session.timeout.ms"),
    )
