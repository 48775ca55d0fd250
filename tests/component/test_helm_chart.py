"""The Helm chart: lint, render with several values files, validate against Kubernetes schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from prometheus_client import generate_latest

from consumer.health import READINESS_REASONS
from consumer.kafka_stats import KafkaStatus
from consumer.metrics import Metrics
from consumer.settings import load_settings
from consumer.stats import RunStats

CHART = Path(__file__).resolve().parents[2] / "helm" / "capi-consumer"
VALUES_FILES = sorted((CHART / "ci").glob("*.yaml"))
KUBE_VERSION = "1.30.0"
# Custom resources: no Kubernetes schema exists for them; their fields are asserted below instead.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
TOKEN = "chart-test-token-do-not-use"  # in ci/default-values.yaml


def values_of(path: Path | None) -> dict[str, Any]:
    """The values in ``path`` (none: the chart's defaults)."""
    return {} if path is None else yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every manifest the chart renders for ``values``."""
    chart = helm_python.Chart.load(CHART)
    rendered = chart.render(values, name="capi", namespace="conversions")
    return [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The manifests of one kind."""
    return [m for m in manifests if m["kind"] == kind]


def containers(manifests: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every Deployment and Job."""
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "Job"}:
            pod = manifest["spec"]["template"]["spec"]
            for container in pod["containers"]:
                yield pod, container


@pytest.fixture(
    name="manifests", params=[None, *VALUES_FILES], ids=lambda p: p.stem if p else "defaults"
)
def fixture_manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The chart rendered with one values file."""
    return render(values_of(request.param))


def test_lint_is_clean() -> None:
    """helm lint reports no warning or error, with the defaults and with each values file."""
    for path in [None, *VALUES_FILES]:
        report = helm_python.lint(CHART, values_of(path), strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]

        assert ([], []) == (problems, report["errors"])


def test_every_manifest_is_valid_kubernetes(manifests: list[dict[str, Any]]) -> None:
    """Built-in kinds validate against the bundled (offline) strict schemas."""
    checked = []
    for manifest in manifests:
        if manifest["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
            checked.append(manifest["kind"])

    assert {"ConfigMap", "Deployment", "Service"} <= set(checked)


def test_containers_are_non_root_read_only_without_escalation(
    manifests: list[dict[str, Any]],
) -> None:
    """Every container runs as non-root, read-only, no privilege escalation, no capabilities."""
    for pod, container in containers(manifests):
        security = container["securityContext"]

        assert (True, 10001) == (
            pod["securityContext"]["runAsNonRoot"],
            pod["securityContext"]["runAsUser"],
        )
        assert (False, True, ["ALL"]) == (
            security["allowPrivilegeEscalation"],
            security["readOnlyRootFilesystem"],
            security["capabilities"]["drop"],
        )
        assert False is pod["automountServiceAccountToken"]


def test_probes_use_the_health_endpoints(manifests: list[dict[str, Any]]) -> None:
    """Liveness and startup probe /livez, readiness probes /readyz, on the metrics port."""
    (deployment,) = of_kind(manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }

    assert {
        "livenessProbe": ("/livez", "metrics"),
        "readinessProbe": ("/readyz", "metrics"),
        "startupProbe": ("/livez", "metrics"),
    } == probes
    assert ["metrics"] == [port["name"] for port in container["ports"]]


@pytest.mark.parametrize(
    ("path", "grace"), [(None, 30), (CHART / "ci" / "production-values.yaml", 55)]
)
def test_grace_period_covers_the_drain_deadline(path: Path | None, grace: int) -> None:
    """terminationGracePeriodSeconds is delivery.drain_timeout_s plus the extra seconds."""
    (deployment,) = of_kind(render(values_of(path)), "Deployment")

    assert grace == deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


def test_tokens_go_to_a_secret_never_to_a_config_map() -> None:
    """A created Secret holds the token; no ConfigMap contains it; the pod reads it via envFrom."""
    manifests = render(values_of(CHART / "ci" / "default-values.yaml"))
    (secret,) = of_kind(manifests, "Secret")
    (_pod, container) = next(containers(manifests))

    assert [] == [
        m["metadata"]["name"] for m in of_kind(manifests, "ConfigMap") if TOKEN in json.dumps(m)
    ]
    assert TOKEN == secret["stringData"]["CAPI_PIXELS__1000000000000001__ACCESS_TOKEN"]
    assert [{"secretRef": {"name": secret["metadata"]["name"]}}] == container["envFrom"]


def test_existing_secret_is_referenced_and_none_is_created() -> None:
    """With secrets.existingSecret the chart creates no Secret and references the given one."""
    manifests = render(values_of(CHART / "ci" / "production-values.yaml"))
    (_pod, container) = next(containers(manifests))

    assert [] == of_kind(manifests, "Secret")
    assert [{"secretRef": {"name": "capi-consumer-tokens"}}] == container["envFrom"]


@pytest.mark.parametrize("path", [None, *VALUES_FILES], ids=lambda p: p.stem if p else "defaults")
def test_rendered_config_is_a_valid_settings_file(
    path: Path | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap's config.yaml loads with the consumer's own settings model."""
    manifests = render(values_of(path))
    (config_map,) = [m for m in of_kind(manifests, "ConfigMap") if "config.yaml" in m["data"]]
    config = tmp_path / "config.yaml"
    config.write_text(config_map["data"]["config.yaml"])
    pixels = yaml.safe_load(config.read_text()).get("pixels") or {}
    for pixel in pixels:
        monkeypatch.setenv(f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN", "from-the-secret")

    assert sorted(pixels) == sorted(load_settings(config).pixels)


def test_autoscaling_is_capped_at_the_partition_count() -> None:
    """KEDA's maxReplicaCount is min(maxReplicas, partitions); idle consumers are not allowed."""
    manifests = render(values_of(CHART / "ci" / "production-values.yaml"))
    (scaled,) = of_kind(manifests, "ScaledObject")
    (deployment,) = of_kind(manifests, "Deployment")

    assert 9 == scaled["spec"]["maxReplicaCount"]
    assert {"orders", "leads"} == {t["metadata"]["topic"] for t in scaled["spec"]["triggers"]}
    assert {"false"} == {t["metadata"]["allowIdleConsumers"] for t in scaled["spec"]["triggers"]}
    assert "replicas" not in deployment["spec"]


def test_monitoring_resources_when_enabled() -> None:
    """ServiceMonitor scrapes the metrics port; PrometheusRule carries the alert groups."""
    manifests = render(values_of(CHART / "ci" / "production-values.yaml"))
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    (rule,) = of_kind(manifests, "PrometheusRule")
    expected_rules = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())

    assert [{"port": "metrics", "path": "/metrics", "interval": "15s"}] == monitor["spec"][
        "endpoints"
    ]
    assert expected_rules["groups"] == rule["spec"]["groups"]


def test_dlq_replay_job_runs_the_replay_command() -> None:
    """The Job runs `capi-consumer dlq replay --config ... --reason ...` and never restarts."""
    manifests = render(values_of(CHART / "ci" / "dlq-replay-values.yaml"))
    (job,) = of_kind(manifests, "Job")
    pod = job["spec"]["template"]["spec"]

    assert [
        "dlq",
        "replay",
        "--config",
        "/etc/capi-consumer/config.yaml",
        "--reason",
        "retries_exhausted",
        "--limit",
        "10000",
    ] == pod["containers"][0]["args"]
    assert "Never" == pod["restartPolicy"]


@pytest.mark.parametrize(
    "values",
    [
        {
            "config": {
                "kafka": {"bootstrap_servers": "k:9092", "group_id": "g", "topics": {"o": {}}},
                "pixels": {"1": {"access_token": "leak"}},
            }
        },
        {"securityContext": {"readOnlyRootFilesystem": False}},
        {"secrets": {"env": {"not_an_env_name": "x"}}},
    ],
    ids=["token-in-config", "writable-root", "bad-secret-key"],
)
def test_schema_refuses_unsafe_values(values: dict[str, Any]) -> None:
    """values.schema.json rejects tokens in the config, a writable root and odd secret keys."""
    chart = helm_python.Chart.load(CHART)

    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema(values)


def exported_names() -> set[str]:
    """Every sample name the consumer exports, from a registry with one of everything."""
    stats = RunStats()
    metrics = Metrics(stats)

    class View:
        in_flight, in_flight_bytes, paused, assigned = 0, 0, False, frozenset()

    metrics.watch(View(), KafkaStatus(), lambda: True)
    metrics.watch_readiness(frozenset, READINESS_REASONS, KafkaStatus())
    metrics.observe_batch("1", 0.1)
    metrics.observe_dedup("claim", 0.001)
    text = generate_latest(metrics.registry).decode()
    names = set(re.findall(r"^# TYPE (capi_\w+) (\w+)", text, re.M))
    return {name for name, _ in names} | {
        f"{name}{suffix}"
        for name, kind in names
        for suffix in {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(
            kind, []
        )
    }


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    """Every capi_* series named by the alert rules or the dashboard is one the consumer exports."""
    rules = (CHART / "files" / "prometheus-rules.yaml").read_text()
    dashboard = json.loads((CHART / "files" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set(re.findall(r"\bcapi_[a-z_]+", rules + "\n".join(exprs)))

    assert set() == used - exported_names()
    assert {"capi_consumer_lag", "capi_ready", "capi_request_errors_total"} <= used


def test_values_table_documents_every_top_level_key() -> None:
    """The chart README's values table names every top-level key of values.yaml."""
    readme = (CHART / "README.md").read_text()
    first_cells = re.findall(r"^\| ([^|]+)\|", readme, re.M)
    documented = {key for cell in first_cells for key in re.findall(r"`([A-Za-z]+)", cell)}

    assert set(values_of(CHART / "values.yaml")) == documented
