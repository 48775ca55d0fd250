"""The Helm chart: lint, render with several values files, validate against Kubernetes schemas."""

from __future__ import annotations

import datetime
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

from consumer.credentials import SENSITIVE_KEY_PATTERN, URL_CREDENTIALS_PATTERN
from consumer.emq_poller import MetaEmqBook
from consumer.errors import ConfigError
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
WORKLOADS = {"StatefulSet", "Deployment"}
KAFKA = {"bootstrap_servers": "k:9092", "group_id": "g", "topics": {"o": {"event_type": "order"}}}
REDIS = {
    "config": {"kafka": KAFKA, "dedup": {"backend": "redis"}},
    "redis": {"existingSecret": "capi-redis", "urlKey": "url", "passwordKey": "password"},
    "replicaCount": 3,
}


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


def workload(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The consumer's StatefulSet (backend embedded) or Deployment (backend redis)."""
    (found,) = [m for m in manifests if m["kind"] in WORKLOADS]
    return found


def containers(manifests: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every StatefulSet, Deployment and Job."""
    for manifest in manifests:
        if manifest["kind"] in {*WORKLOADS, "Job"}:
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

    assert {"ConfigMap", "Service"} <= set(checked)
    assert 1 == len(WORKLOADS & set(checked))


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
    (container,) = workload(manifests)["spec"]["template"]["spec"]["containers"]
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
    pod = workload(render(values_of(path)))["spec"]["template"]["spec"]

    assert grace == pod["terminationGracePeriodSeconds"]


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
    data = yaml.safe_load(config_map["data"]["config.yaml"])
    pixels = data.get("pixels") or {}
    for pixel, fields in pixels.items():
        if fields.get("access_token_file"):  # the mounted Secret, here a local file
            fields["access_token_file"] = str(tmp_path / f"token-{pixel}")
            Path(fields["access_token_file"]).write_text("from-the-mounted-secret")
        else:
            monkeypatch.setenv(f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN", "from-the-secret")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    for _pod, container in containers(manifests):
        for env in container["env"]:
            if "valueFrom" in env:
                monkeypatch.setenv(env["name"], "redis://from-the-secret:6379/0")

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
        {
            "config": {
                "kafka": {"bootstrap_servers": "k:9092", "group_id": "g", "topics": {"o": {}}},
                "dataset_quality": {"access_token": "leak"},
            }
        },
        {"securityContext": {"readOnlyRootFilesystem": False}},
        {"secrets": {"env": {"not_an_env_name": "x"}}},
    ],
    ids=["token-in-config", "quality-token-in-config", "writable-root", "bad-secret-key"],
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
        in_flight, in_flight_bytes, uncommitted, paused, assigned = 0, 0, 0, False, frozenset()

    metrics.watch(View(), KafkaStatus(), lambda: True)
    metrics.watch_versions({"1": "v25.0"}, dict, lambda: datetime.date(2026, 12, 1))
    metrics.watch_meta_emq(MetaEmqBook(), ["1"])
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


def render_error(values: dict[str, Any]) -> str:
    """The message with which rendering ``values`` fails (schema or template)."""
    chart = helm_python.Chart.load(CHART)
    with pytest.raises((helm_python.HelmValuesError, helm_python.HelmRenderError)) as info:
        chart.render(values, name="capi", namespace="conversions")
    return str(info.value)


class TestPersistence:
    def test_defaults_keep_the_window_on_a_claim(self) -> None:
        """Defaults: a one-replica StatefulSet whose dedup path is on a 1Gi claim, never memory."""
        manifests = render({})
        statefulset = workload(manifests)
        (claim,) = statefulset["spec"]["volumeClaimTemplates"]
        pod = statefulset["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        (config_map,) = of_kind(manifests, "ConfigMap")

        assert ("StatefulSet", 1) == (statefulset["kind"], statefulset["spec"]["replicas"])
        assert ("state", ["ReadWriteOnce"], "1Gi") == (
            claim["metadata"]["name"],
            claim["spec"]["accessModes"],
            claim["spec"]["resources"]["requests"]["storage"],
        )
        assert "storageClassName" not in claim["spec"]
        assert "state" not in {v["name"] for v in pod["volumes"]}  # the claim, not an emptyDir
        assert "/var/lib/capi-consumer" == mounts["state"]
        assert env["CAPI_DEDUP__PATH"].startswith(mounts["state"] + "/")
        assert "embedded" == yaml.safe_load(config_map["data"]["config.yaml"])["dedup"]["backend"]
        assert [] == of_kind(manifests, "Deployment")

    def test_size_and_storage_class_come_from_values(self) -> None:
        """persistence.size and .storageClass reach the claim template ("-" means no class)."""
        classes = []
        for storage_class in ("fast-ssd", "-"):
            values = {"persistence": {"size": "5Gi", "storageClass": storage_class}}
            (claim,) = workload(render(values))["spec"]["volumeClaimTemplates"]
            classes.append(
                (claim["spec"]["storageClassName"], claim["spec"]["resources"]["requests"])
            )

        assert [("fast-ssd", {"storage": "5Gi"}), ("", {"storage": "5Gi"})] == classes

    def test_memory_backend_is_refused(self) -> None:
        """The schema refuses dedup.backend memory: a restart would forget the window."""
        message = render_error({"config": {"kafka": KAFKA, "dedup": {"backend": "memory"}}})

        assert "/config/dedup/backend" in message
        assert "'embedded', 'redis'" in message

    @pytest.mark.parametrize(
        ("values", "named"),
        [
            ({"replicaCount": 2}, "replicaCount 2 needs config.dedup.backend: redis"),
            ({"autoscaling": {"enabled": True}}, "autoscaling.enabled needs config.dedup.backend"),
        ],
        ids=["replicas", "autoscaling"],
    )
    def test_several_replicas_without_redis_fail_naming_the_fix(
        self, values: dict[str, Any], named: str
    ) -> None:
        """replicaCount 2 or autoscaling with the embedded store: the render fails and says why."""
        message = render_error(values)

        assert named in message
        assert "Set config.dedup.backend=redis and redis.existingSecret" in message
        assert "would send repeats to Meta again" in message

    def test_redis_without_an_address_fails(self) -> None:
        """Backend redis needs redis.existingSecret (or a credential-free config URL)."""
        message = render_error({"config": {"kafka": KAFKA, "dedup": {"backend": "redis"}}})

        assert "config.dedup.backend redis needs the Redis address" in message

    def test_redis_reads_url_and_password_from_an_existing_secret(self) -> None:
        """Backend redis: a Deployment of N replicas, Redis URL and password by secretKeyRef."""
        manifests = render(REDIS)
        deployment = workload(manifests)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
        }
        for manifest in manifests:
            if manifest["kind"] not in CRD_KINDS:
                kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)

        assert ("Deployment", 3) == (deployment["kind"], deployment["spec"]["replicas"])
        assert {
            "CAPI_DEDUP__REDIS_URL": {"name": "capi-redis", "key": "url"},
            "CAPI_DEDUP__REDIS_PASSWORD": {"name": "capi-redis", "key": "password"},
        } == refs
        assert [] == of_kind(manifests, "StatefulSet")
        assert "volumeClaimTemplates" not in deployment["spec"]

    def test_config_url_takes_only_the_password_from_the_secret(self) -> None:
        """A credential-free config.dedup.redis_url stays; the Secret adds only the password."""
        values = {
            **REDIS,
            "config": {
                "kafka": KAFKA,
                "dedup": {"backend": "redis", "redis_url": "redis://r:6379"},
            },
        }
        (container,) = workload(render(values))["spec"]["template"]["spec"]["containers"]

        assert ["CAPI_DEDUP__REDIS_PASSWORD"] == [
            e["name"] for e in container["env"] if "valueFrom" in e
        ]

    def test_config_change_rolls_the_pods(self) -> None:
        """The pod template's config checksum changes with the config (pods roll)."""
        sums = [
            workload(render({"config": {"kafka": {**KAFKA, "group_id": group}}}))["spec"][
                "template"
            ]["metadata"]["annotations"]["checksum/config"]
            for group in ("a", "a", "b")
        ]

        assert (True, False) == (sums[0] == sums[1], sums[1] == sums[2])


# Every secret form of the issue, in the chart's `config`; each fails the render and the loader.
SECRET_CONFIGS = {
    "pixel-token": {"pixels": {"1": {"access_token": "s3cr3t-value"}}},
    "app-secret": {"pixels": {"1": {"app_secret": "s3cr3t-value"}}},
    "sasl-password": {"kafka": {**KAFKA, "sasl_password": "s3cr3t-value"}},
    "client-sasl.password": {"kafka": {**KAFKA, "client": {"sasl.password": "s3cr3t-value"}}},
    "client-sasl_password": {"kafka": {**KAFKA, "client": {"sasl_password": "s3cr3t-value"}}},
    "ssl_key_password": {"kafka": {**KAFKA, "client": {"ssl_key_password": "s3cr3t-value"}}},
    "ssl.key.password": {"kafka": {**KAFKA, "producer": {"ssl.key.password": "s3cr3t-value"}}},
    "ssl.key.pem": {"kafka": {**KAFKA, "client": {"ssl.key.pem": "s3cr3t-value"}}},
    "oauth-client-secret": {
        "kafka": {**KAFKA, "consumer": {"sasl.oauthbearer.client.secret": "s3cr3t-value"}}
    },
    "basic_auth_password": {"schema_registry": {"basic_auth_password": "s3cr3t-value"}},
    "redis_password": {"dedup": {"redis_password": "s3cr3t-value"}},
    "redis-url-userinfo": {"dedup": {"redis_url": "redis://:s3cr3t-value@redis:6379/0"}},
    "registry-url-userinfo": {"schema_registry": {"url": "http://capi:s3cr3t-value@sr:8081"}},
    "meta-url-userinfo": {"meta": {"base_url": "https://u:s3cr3t-value@graph.example"}},
}


class TestSecretsStaySecrets:
    @pytest.mark.parametrize("config", SECRET_CONFIGS.values(), ids=SECRET_CONFIGS.keys())
    def test_secret_in_config_fails_the_render_and_the_loader(
        self, config: dict[str, Any], tmp_path: Path
    ) -> None:
        """The schema and the consumer both refuse it, name the field, and never echo it."""
        chart_config = {"kafka": KAFKA, **config}
        message = render_error({"config": chart_config})
        config_file = tmp_path / "config.yaml"
        config_file.write_text(yaml.safe_dump(chart_config))
        with pytest.raises(ConfigError) as info:
            load_settings(config_file)
        leaf = next(iter(_leaves(config)))

        assert "/config/" + "/".join(leaf) in message
        assert "s3cr3t" not in message + str(info.value)
        assert str(info.value).startswith(".".join(leaf) + ":")
        assert "CAPI_" in str(info.value)

    def test_null_secret_keys_and_file_fields_render(self) -> None:
        """A secret key left empty and the *_file fields that point at mounted secrets are fine."""
        config = {
            "kafka": {**KAFKA, "sasl_password": None},
            "pixels": {"1": {"access_token_file": "/etc/capi-consumer/secrets/t"}},
        }

        assert workload(render({"config": config}))

    def test_schema_and_consumer_share_one_pattern(self) -> None:
        """values.schema.json carries the consumer's own two patterns, verbatim."""
        schema = json.loads((CHART / "values.schema.json").read_text())
        node = schema["definitions"]["configNode"]
        env_item = schema["properties"]["extraEnv"]["items"]

        assert [SENSITIVE_KEY_PATTERN] == list(node["patternProperties"])
        assert URL_CREDENTIALS_PATTERN == node["if"]["pattern"]
        assert SENSITIVE_KEY_PATTERN == env_item["if"]["properties"]["name"]["pattern"]

    def test_plain_secret_env_value_is_refused(self) -> None:
        """extraEnv cannot carry a secret as a plain value; valueFrom a Secret is fine."""
        leak = [{"name": "CAPI_KAFKA__SASL_PASSWORD", "value": "s3cr3t-value"}]
        ref = [
            {
                "name": "CAPI_KAFKA__SASL_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "kafka", "key": "password"}},
            }
        ]

        assert "/extraEnv/0/value" in render_error({"extraEnv": leak})
        assert workload(render({"extraEnv": ref}))

    def test_token_files_are_a_whole_secret_volume(self) -> None:
        """secretFiles mounts the Secret read-only as a volume (no subPath: rotations arrive)."""
        manifests = render(values_of(CHART / "ci" / "token-files-values.yaml"))
        pod = workload(manifests)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "secret-files"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secret-files"]

        assert "capi-consumer-token-files" == volume["secret"]["secretName"]
        assert {"name": "secret-files", "mountPath": "/etc/capi-consumer/secrets"} == {
            key: value for key, value in mount.items() if key != "readOnly"
        }
        assert True is mount["readOnly"]

    def test_notes_print_no_secret(self) -> None:
        """NOTES.txt names Secrets, never their values."""
        chart = helm_python.Chart.load(CHART)
        values = {**REDIS, "secrets": {"create": True, "env": {"CAPI_X__TOKEN": TOKEN}}}
        notes = chart.render(values, name="capi", namespace="conversions")
        text = next(t for path, t in notes.items() if path.endswith("NOTES.txt"))

        assert TOKEN not in text
        assert 'Secret "capi-redis"' in text


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths to the leaves of ``node`` that are not the shared kafka basics."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (*path, key) not in {("kafka", k) for k in KAFKA}:
                yield from _leaves(value, (*path, key))
    else:
        yield path
