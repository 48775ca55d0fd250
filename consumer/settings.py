"""The one typed settings model: a YAML file plus ``CAPI_``-prefixed environment overrides.

Precedence, highest first: environment (``CAPI_KAFKA__GROUP_ID=x``; nested keys joined by
``__``), then the YAML file, then the defaults below. Secrets (access tokens, app secrets,
passwords, any secret-shaped key, URLs with credentials: :mod:`consumer.credentials`) are refused in
the YAML file: they come from the environment (``CAPI_PIXELS__<pixel_id>__ACCESS_TOKEN``) or from
mounted files (``access_token_file``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from consumer.core.graph_versions import RECOMMENDED_VERSION
from consumer.credentials import find_secrets, mask_secrets
from consumer.errors import ConfigError

__all__ = [
    "BatchSettings",
    "DatasetQualitySettings",
    "DedupSettings",
    "DeliverySettings",
    "DlqSettings",
    "EventType",
    "Framing",
    "KafkaSettings",
    "LeadMapping",
    "MappingSettings",
    "MetaSettings",
    "ObservabilitySettings",
    "OrderMapping",
    "PixelSettings",
    "SchemaRegistrySettings",
    "SeparateDataset",
    "Settings",
    "TestTraffic",
    "TopicSettings",
    "config_warnings",
    "load_settings",
    "masked",
]

EventType = Literal["order", "lead"]
Framing = Literal["confluent", "single_object", "raw", "auto"]
ActionSource = Literal[
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
]

MAX_EVENTS_PER_REQUEST = 1000  # Meta's documented cap per request (capi.md §5)
_REPO_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Frozen):
    """One source topic: what it carries and how its values are framed."""

    event_type: EventType
    framing: Framing = "confluent"
    writer_schema: Path | None = None  # framing=raw (and auto's fallback): producers' .avsc
    dlq_topic: str | None = None  # default: "<topic>.dlq"
    # Decode limits: a record over any of them is dead-lettered (decode.oversize, ...).
    max_message_bytes: int = Field(1_048_576, ge=16)
    max_items: int = Field(10_000, ge=1)  # array and map items in one record, all arrays together
    max_string_bytes: int = Field(65_536, ge=1)  # one string or bytes field

    @model_validator(mode="after")
    def _raw_needs_writer(self) -> TopicSettings:
        if self.framing == "raw" and self.writer_schema is None:
            raise ValueError("framing raw needs writer_schema (the producers' .avsc file)")
        return self


class KafkaSettings(_Frozen):
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "capi-consumer"
    topics: dict[str, TopicSettings] = Field(
        default_factory=lambda: {
            "orders": TopicSettings(event_type="order"),
            "leads": TopicSettings(event_type="lead"),
        }
    )
    retry_topic: str = "capi.retry"
    poll_batch_size: int = Field(500, ge=1, le=100_000)
    poll_timeout_s: float = Field(0.2, gt=0)
    commit_interval_s: float = Field(2.0, gt=0)
    sasl_password: SecretStr | None = None
    # librdkafka passthrough; snake_case keys become dotted (security_protocol -> security.protocol).
    client: dict[str, str | int | float | bool] = Field(default_factory=dict)  # every client
    consumer: dict[str, str | int | float | bool] = Field(default_factory=dict)  # consumer only
    producer: dict[str, str | int | float | bool] = Field(
        default_factory=dict
    )  # DLQ/replay producers

    def to_librdkafka(
        self, role: Literal["consumer", "producer", "admin"] = "admin"
    ) -> dict[str, str | int | float | bool]:
        """The librdkafka config for one client role: bootstrap, passthrough keys, the SASL secret."""
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "log.connection.close": False,  # idle connections closed by brokers are not news
        }
        extra = {"consumer": self.consumer, "producer": self.producer, "admin": {}}[role]
        conf.update(
            {key.replace("_", "."): value for key, value in {**self.client, **extra}.items()}
        )
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        return conf

    def dlq_topic_for(self, topic: str) -> str:
        settings = self.topics.get(topic)
        explicit = settings.dlq_topic if settings else None
        return explicit or f"{topic}.dlq"


class SchemaRegistrySettings(_Frozen):
    url: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    schemas_dir: Path = _REPO_SCHEMAS
    extra_schema_files: tuple[Path, ...] = ()  # more writer schemas for single-object framing
    # Records waiting for an uncached schema while the registry is down; at this many, pause.
    max_awaiting_records: int = Field(5_000, ge=1)


class SeparateDataset(_Frozen):
    """``test_traffic: {pixel: <id>}``: test records go to this separate (test) dataset."""

    pixel: str = Field(min_length=1)


# What happens to records flagged ``is_test`` (docs/event-id.md): ``drop`` (outcome filtered,
# reason test_traffic), a separate test dataset, or ``send_with_code`` (the production pixel with
# its test_event_code: Meta still uses such events for targeting and measurement, capi.md §1.4).
TestTraffic = Literal["drop", "send_with_code"] | SeparateDataset


class PixelSettings(_Frozen):
    """One Meta pixel (dataset): its own token, optional app secret, API version and test code."""

    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    app_secret: SecretStr | None = None
    app_secret_file: Path | None = None
    # Checked against Meta's schedule at startup (consumer/core/graph_versions.py).
    api_version: str = Field(RECOMMENDED_VERSION, pattern=r"^v\d+\.\d+$")
    test_event_code: str | None = None
    test_traffic: TestTraffic = "drop"
    # Read-only token for Meta's Dataset Quality API (ads_read), if it differs from the global
    # dataset_quality.access_token; never the CAPI token's job (docs/configuration.md).
    dataset_quality_token: SecretStr | None = None
    dataset_quality_token_file: Path | None = None

    @model_validator(mode="after")
    def _read_secret_files(self) -> PixelSettings:
        secrets = ("access_token", "app_secret", "dataset_quality_token")
        for field in secrets:
            if getattr(self, field) is not None and getattr(self, f"{field}_file") is not None:
                # The file is watched for rotations (consumer/pixel_credentials.py): one source.
                raise ValueError(f"{field} is set (environment) and so is {field}_file: keep one")
        updates = _secrets_from_files(self, secrets)
        if self.access_token is None and "access_token" not in updates:
            raise ValueError(
                "no access token: set CAPI_PIXELS__<pixel_id>__ACCESS_TOKEN or access_token_file"
            )
        return self.model_copy(update=updates) if updates else self


def _secrets_from_files(model: BaseModel, fields: tuple[str, ...]) -> dict[str, SecretStr]:
    """``<field>`` read from ``<field>_file`` for each unset field whose file is given."""
    updates: dict[str, SecretStr] = {}
    for field in fields:
        path: Path | None = getattr(model, f"{field}_file")
        if getattr(model, field) is None and path is not None:
            try:
                updates[field] = SecretStr(path.read_text().strip())
            except OSError as exc:
                raise ValueError(f"cannot read {field}_file {path}: {exc.strerror}") from exc
    return updates


class MetaSettings(_Frozen):
    base_url: str = "https://graph.facebook.com"
    request_timeout_s: float = Field(10.0, gt=0)
    partner_agent: str | None = None
    user_agent: str = "capi-consumer"
    # How often a pixel's access_token_file / app_secret_file are checked for a rotated secret.
    secret_file_check_s: float = Field(5.0, gt=0)


# custom_data keys our mapping owns (capi.md §4); a configured extra property may not reuse one.
STANDARD_CUSTOM_DATA = frozenset(
    {"value", "currency", "contents", "content_ids", "content_type", "num_items", "order_id"}
    | {"predicted_ltv", "delivery_category", "event_source", "lead_event_source", "net_revenue"}
)


def _custom_properties_ok(value: dict[str, str]) -> dict[str, str]:
    clashes = sorted(set(value) & STANDARD_CUSTOM_DATA)
    if clashes:
        raise ValueError(f"custom_properties may not redefine standard custom_data keys {clashes}")
    return value


class OrderMapping(_Frozen):
    """How an order record becomes a CAPI event."""

    event_id_template: str = "order_{order_id}"
    # status -> CAPI event name; null = not a conversion (outcome "filtered").
    statuses: dict[str, str | None] = Field(
        default_factory=lambda: {
            "PLACED": None,
            "PAID": "Purchase",
            "FULFILLED": None,
            "CANCELLED": None,
            "REFUNDED": None,
            "UNKNOWN": None,
        }
    )
    # channel -> action_source. A record with an ``app`` context is sent as "app" and one with a
    # ``messaging`` context as "business_messaging" whatever its channel; without one, an "app"
    # or "business_messaging" event lacks what Meta requires and is dead-lettered (invalid.*),
    # so APP maps to "other" by default.
    action_sources: dict[str, ActionSource] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]  # literals are checked at runtime
            "WEB": "website",
            "APP": "other",
            "IN_STORE": "physical_store",
            "PHONE": "phone_call",
            "OTHER": "other",
        }
    )
    # Extra custom_data properties: custom_data key -> dotted record field (e.g. "customer.city").
    custom_properties: dict[str, str] = Field(default_factory=dict)
    # A Purchase whose total is negative (a refund): filter it (reason "refund") or dead-letter
    # it (invalid.negative_value). Meta has no negative Purchase; it is never sent.
    refunds: Literal["filter", "dead_letter"] = "filter"
    _custom_ok = field_validator("custom_properties")(_custom_properties_ok)


class LeadMapping(_Frozen):
    """How a lead record becomes a CAPI event."""

    event_id_template: str = "lead_{lead_id}_{stage}"
    stages: dict[str, str | None] = Field(
        default_factory=lambda: {
            "NEW": "Lead",
            "CONTACTED": None,
            "QUALIFIED": "QualifiedLead",
            "CONVERTED": "ConvertedLead",
            "DISQUALIFIED": None,
            "UNKNOWN": None,
        }
    )
    action_sources: dict[str, ActionSource] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]  # literals are checked at runtime
            "WEB_FORM": "website",
            "META_LEAD_AD": "system_generated",
            "PHONE": "phone_call",
            "CRM": "system_generated",
            "OTHER": "other",
        }
    )
    # CRM name sent as custom_data.lead_event_source when the record has no crm_name.
    default_crm_name: str = "CRM"
    custom_properties: dict[str, str] = Field(default_factory=dict)
    _custom_ok = field_validator("custom_properties")(_custom_properties_ok)


class MappingSettings(_Frozen):
    order: OrderMapping = Field(default_factory=OrderMapping)
    lead: LeadMapping = Field(default_factory=LeadMapping)
    # The form external_id is hashed in; it must equal what the browser pixel sends (docs/event-id.md).
    external_id_form: Literal["trimmed", "lowercase"] = "trimmed"
    # ISO alpha-2 country assumed for national phone numbers, states and postal codes when the
    # record's customer has no country (a single-country shop). Never sent as user_data.country.
    default_country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    # How far in the future event_time may be (clock skew) before the event is invalid.
    future_skew_s: int = Field(60, ge=0)  # Meta documents no tolerance: keep it small (capi.md §2)
    # Longest event_id, order_id or content id sent; a longer one is dead-lettered
    # (invalid.id_too_long), never cut: it must equal the pixel's byte for byte.
    max_id_length: int = Field(256, ge=1)


class BatchSettings(_Frozen):
    max_events: int = Field(500, ge=1, le=MAX_EVENTS_PER_REQUEST)
    max_bytes: int = Field(2_000_000, ge=10_000)  # Meta documents no byte cap; stay well under MBs
    linger_s: float = Field(0.25, ge=0)


class DeliverySettings(_Frozen):
    # Requests in flight: all pixels together, and one pixel's cap. Each pixel starts at
    # initial_concurrent_per_pixel and adapts between 1 and its cap (consumer/core/limits.py).
    max_concurrent_requests: int = Field(64, ge=1)
    max_concurrent_per_pixel: int = Field(32, ge=1)
    initial_concurrent_per_pixel: int = Field(4, ge=1)
    # Events polled and not settled yet (~3.5 KB of RSS each: record, event body, claim). At
    # Meta's latency (p50 0.3 s, p99 1.5 s) one pixel keeps 13-22k events waiting for answers at
    # ~40k events/s; 30k holds that and its tail while the stalled peak stays near 226 MB
    # (docs/benchmarks.md). Records settled behind a slow one are bounded
    # apart (max_uncommitted_records): counting them here bound that pace (latency ratio 0.71).
    max_in_flight_events: int = Field(30_000, ge=1)
    max_in_flight_bytes: int = Field(64_000_000, ge=1)
    # Records past the committed position, settled or not: one slow request holds the position
    # while the records after it settle (they cost a few ints each, not an event). Bounds what a
    # restart reads again (the dedup window drops what was sent) and that bookkeeping (~100 B).
    max_uncommitted_records: int = Field(200_000, ge=1)
    low_water_ratio: float = Field(0.5, gt=0, lt=1)
    # Over the budget the loop first stops polling for up to this long: librdkafka keeps its
    # prefetched records, ready the moment there is room again. Pausing the partitions drops
    # them, and each refetch left the pipeline empty for about a second. Only a longer wait
    # (Meta stalled) pauses the partitions, which frees the prefetch; polling resumes then, so
    # group membership holds. Rebalances wait at most this long. 0 pauses at once.
    pause_hold_s: float = Field(2.0, ge=0, le=60)
    retry_base_s: float = Field(0.2, gt=0)
    retry_cap_s: float = Field(30.0, gt=0)
    retry_deadline_s: float = Field(300.0, gt=0)
    auth_cooldown_s: float = Field(60.0, ge=0)
    # A pixel whose Graph API version Meta refuses is held (its batches wait, nothing is
    # dead-lettered); one probe request per hold tells when the version is accepted again.
    version_hold_s: float = Field(300.0, gt=0)
    drain_timeout_s: float = Field(20.0, gt=0)


class DedupSettings(_Frozen):
    """The dedup window (DESIGN.md §4): ``embedded`` for one replica, ``redis`` for several."""

    backend: Literal["embedded", "redis", "memory"] = "embedded"
    window_s: int = Field(48 * 3600, ge=1)
    pending_ttl_s: int = Field(900, ge=1)
    path: Path = Path(".state/dedup")  # embedded: the snapshot and log directory
    # embedded: the keys the table holds before it doubles (past 75% of its slots, a pause of
    # ~0.06 µs per key it holds). The default, 2**18 slots (7 MB), is ~1 event/s over two days.
    expected_keys: int = Field(196_608, ge=1)
    redis_url: str | None = None
    redis_password: SecretStr | None = None  # env only: CAPI_DEDUP__REDIS_PASSWORD
    redis_prefix: str = "capi:dd:"  # one namespace per consumer group sharing a Redis

    @model_validator(mode="after")
    def _redis_needs_url(self) -> DedupSettings:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("backend redis needs redis_url")
        return self


class DlqSettings(_Frozen):
    """Dead-letter topics and the ``dlq replay`` command (topic names: ``kafka.topics.*.dlq_topic``)."""

    max_replays: int = Field(3, ge=1)  # loop guard: records replayed this often are skipped
    create_topics: bool = True  # create missing DLQ and retry topics when the consumer starts
    topic_partitions: int = Field(1, ge=1)  # for topics created on start
    replay_group_id: str = "capi-consumer-dlq-replay"  # replay progress is committed here


class DatasetQualitySettings(_Frozen):
    """Polling Meta's Dataset Quality API for its Event Match Quality (separate from delivery).

    Only pixels with a token are polled: ``pixels.<id>.dataset_quality_token`` or this global
    ``access_token`` (env ``CAPI_DATASET_QUALITY__ACCESS_TOKEN`` or ``access_token_file``).
    """

    enabled: bool = True
    interval_s: float = Field(3600.0, gt=0)  # a quality figure, not a delivery signal: hourly
    timeout_s: float = Field(10.0, gt=0)
    max_backoff_s: float = Field(3600.0, gt=0)  # failures back off up to this between polls
    access_token: SecretStr | None = None
    access_token_file: Path | None = None

    @model_validator(mode="after")
    def _read_token_file(self) -> DatasetQualitySettings:
        updates = _secrets_from_files(self, ("access_token",))
        return self.model_copy(update=updates) if updates else self


class ObservabilitySettings(_Frozen):
    """The health/metrics server, the probe rules and logging."""

    host: str = "127.0.0.1"  # 0.0.0.0 in a container, so the kubelet and Prometheus reach it
    port: int = Field(9400, ge=0, le=65535)  # 0 = no health/metrics server
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # librdkafka statistics (consumer lag, broker states): how often they are emitted.
    kafka_statistics_interval_s: float = Field(5.0, ge=0.1)
    # /livez fails when the loop has not beaten for this long (keep it above drain_timeout_s).
    liveness_timeout_s: float = Field(120.0, gt=0)
    # /readyz fails when the loop has not beaten for this long.
    stuck_after_s: float = Field(30.0, gt=0)
    # /readyz fails when no Kafka broker (coordinator included) has answered for this long; keep
    # it above heartbeat.interval.ms and fetch.wait.max.ms (a live broker answers those).
    broker_silent_after_s: float = Field(15.0, gt=0)
    # Zero partitions this long while the subscribed topics have some: /readyz fails and the
    # consumer re-subscribes to get a fresh assignment (idle spares stay ready).
    no_partitions_after_s: float = Field(60.0, gt=0)
    # A CAPI request outstanding this long logs capi.request_stalled.
    request_stall_after_s: float = Field(15.0, gt=0)
    # Warning lines per distinct fault per minute; further ones are counted (``suppressed``).
    warnings_per_minute: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _silence_outlasts_statistics(self) -> ObservabilitySettings:
        # Broker silence is measured at each statistics tick: a bound within two ticks would
        # call a healthy broker silent between them.
        if self.broker_silent_after_s <= 2 * self.kafka_statistics_interval_s:
            raise ValueError(
                "broker_silent_after_s must be more than twice kafka_statistics_interval_s"
            )
        return self


class Settings(BaseSettings):
    """Everything capi-consumer reads at startup. Frozen once loaded."""

    model_config = SettingsConfigDict(
        env_prefix="CAPI_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    schema_registry: SchemaRegistrySettings = Field(default_factory=SchemaRegistrySettings)
    meta: MetaSettings = Field(default_factory=MetaSettings)
    pixels: dict[str, PixelSettings] = Field(default_factory=dict)
    tenants: dict[str, str] = Field(default_factory=dict)  # tenant key -> pixel id
    mapping: MappingSettings = Field(default_factory=MappingSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    dlq: DlqSettings = Field(default_factory=DlqSettings)
    dataset_quality: DatasetQualitySettings = Field(default_factory=DatasetQualitySettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init values).
        return env_settings, init_settings

    @field_validator("tenants")
    @classmethod
    def _tenants_nonempty(cls, value: dict[str, str]) -> dict[str, str]:
        for tenant, pixel in value.items():
            if not pixel:
                raise ValueError(f"tenant {tenant!r} maps to an empty pixel id")
        return value

    @model_validator(mode="after")
    def _tenants_known(self) -> Settings:
        for tenant, pixel in self.tenants.items():
            if pixel not in self.pixels:
                raise ValueError(f"tenant {tenant!r} maps to pixel {pixel!r}, which has no entry")
        return self

    @model_validator(mode="after")
    def _test_datasets_known(self) -> Settings:
        for pixel_id, pixel in self.pixels.items():
            target = pixel.test_traffic
            if isinstance(target, SeparateDataset) and target.pixel not in self.pixels:
                raise ValueError(
                    f"pixels.{pixel_id}.test_traffic: test dataset {target.pixel!r} has no "
                    "pixels entry (it needs its own access token)"
                )
        return self


def load_settings(path: Path | None, *, token_placeholder: str | None = None) -> Settings:
    """Read ``path`` (YAML) and the environment into a validated Settings, or raise ConfigError.

    The error message names each failing field by its dotted path. ``token_placeholder`` (used by
    ``preview``, which never sends) stands in for the access token of every pixel that has none
    in the file; a token from the environment still wins.
    """
    raw = _read_yaml(path) if path is not None else {}
    findings = list(find_secrets(raw))
    if findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise ConfigError(findings[0].refusal() + more)
    if token_placeholder is not None:
        for pixel in (raw.get("pixels") or {}).values():
            if isinstance(pixel, dict) and pixel.get("access_token_file") is None:
                pixel["access_token"] = token_placeholder
    try:
        return Settings(**raw)
    except PydanticValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:  # an empty file is a mount or copy gone wrong, not "all defaults"
        raise ConfigError(f"{path}: the file is empty (write {{}} for all defaults)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The problem and its line/column, one line, without PyYAML's snippet of the file (the
    offending line could hold a secret)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    parts = [
        f"{text} (line {mark.line + 1}, column {mark.column + 1})"
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark))
        if text and mark is not None
    ]
    return ": ".join(parts) or type(exc).__name__


def _describe(exc: PydanticValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def config_warnings(settings: Settings) -> list[str]:
    """Legal settings an operator should think twice about (``check-config`` prints them)."""
    return [
        f"pixels.{pixel_id}.test_traffic: send_with_code sends test records to the production "
        "pixel; Meta still uses events with a test_event_code for targeting and measurement "
        "(docs/event-id.md): prefer drop or a separate test dataset"
        for pixel_id, pixel in settings.pixels.items()
        if pixel.test_traffic == "send_with_code"
    ]


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data: every secret-shaped key's value and every URL's
    credentials replaced by ``'***'``, whether they came from the file or the environment."""
    data: dict[str, Any] = mask_secrets(settings.model_dump(mode="json"))
    return data
