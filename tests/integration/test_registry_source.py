"""RegistrySchemaSource against the registry double over HTTP: auth, outage, unknown ids."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from consumer.devstack.registry import EmbeddedRegistry
from consumer.errors import ConfigError, InfrastructureError
from consumer.schemas import RegistrySchemaSource, load_schema_file
from consumer.settings import SchemaRegistrySettings

pytestmark = pytest.mark.integration

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "lead_event.avsc"
AUTH = ("svc", "s3cret")


def register(url: str) -> int:
    """Register the lead schema as the producers would; its id."""
    client = SchemaRegistryClient({"url": url, "basic.auth.user.info": ":".join(AUTH)})
    try:
        schema_id: int = client.register_schema(
            "leads-value", Schema(SCHEMA_FILE.read_text(), "AVRO")
        )
    finally:
        client.__exit__()
    return schema_id


@pytest.fixture(name="registry")
def _registry(embedded_registry_factory: Callable[..., EmbeddedRegistry]) -> EmbeddedRegistry:
    """A registry double that requires basic auth."""
    return embedded_registry_factory(basic_auth=AUTH)


@pytest.fixture(name="source_for")
def _source_for() -> Iterator[Callable[..., RegistrySchemaSource]]:
    """Build RegistrySchemaSources from settings; all are closed at teardown."""
    made: list[RegistrySchemaSource] = []

    def make(**settings: Any) -> RegistrySchemaSource:
        source = RegistrySchemaSource(SchemaRegistrySettings(**settings))
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


class TestRegistrySchemaSource:
    def test_basic_auth_fetch_and_cache(
        self, registry: EmbeddedRegistry, source_for: Callable[..., RegistrySchemaSource]
    ) -> None:
        """With the configured credentials the writer schema is fetched, parsed and cached."""
        schema_id = register(registry.url)
        source = source_for(url=registry.url, basic_auth_user=AUTH[0], basic_auth_password=AUTH[1])
        source.fetch([schema_id])

        assert load_schema_file(SCHEMA_FILE) == source.cached(schema_id)

    def test_wrong_password_is_infrastructure_not_the_record(
        self, registry: EmbeddedRegistry, source_for: Callable[..., RegistrySchemaSource]
    ) -> None:
        """A 401 from the registry pauses (InfrastructureError); records are not dead-lettered."""
        schema_id = register(registry.url)
        source = source_for(url=registry.url, basic_auth_user=AUTH[0], basic_auth_password="nope")

        with pytest.raises(InfrastructureError):
            source.fetch([schema_id])

    def test_unreachable_registry_is_infrastructure(
        self, registry: EmbeddedRegistry, source_for: Callable[..., RegistrySchemaSource]
    ) -> None:
        """A stopped registry raises InfrastructureError, and cached schemas stay served."""
        schema_id = register(registry.url)
        source = source_for(url=registry.url, basic_auth_user=AUTH[0], basic_auth_password=AUTH[1])
        source.fetch([schema_id])
        registry.stop()

        with pytest.raises(InfrastructureError) as raised:
            source.fetch([schema_id + 1])
        assert load_schema_file(SCHEMA_FILE) == source.cached(schema_id)
        # in words, not an exception class name
        assert str(raised.value).endswith(": cannot connect (refused, or the host is unknown)")

    def test_unknown_id_is_left_uncached(
        self, registry: EmbeddedRegistry, source_for: Callable[..., RegistrySchemaSource]
    ) -> None:
        """An id the registry does not have is no error here; decoding reports it per record."""
        source = source_for(url=registry.url, basic_auth_user=AUTH[0], basic_auth_password=AUTH[1])
        source.fetch([999])

        assert None is source.cached(999)

    def test_url_required_only_for_confluent_topics(self) -> None:
        """Without a URL the source refuses to start when a topic is Confluent-framed."""
        with pytest.raises(ConfigError):
            RegistrySchemaSource(SchemaRegistrySettings(), required=True)
        optional = RegistrySchemaSource(SchemaRegistrySettings(), required=False)
        optional.fetch([1])

        assert None is optional.cached(1)
