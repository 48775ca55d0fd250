"""docker-compose.yml and the Dockerfile stay valid and consistent with the settings model."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from consumer.cli import _parser
from consumer.devstack.emulator import EmulatorClient
from consumer.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
PIXEL = "1000000000000001"  # a pixel of config/example.yaml and of the compose pixels file
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


def compose() -> dict[str, Any]:
    """The compose file as data (anchors and merge keys resolved)."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def capi_env(environment: dict[str, Any] | list[str]) -> dict[str, str]:
    """The CAPI_* variables of a service's environment (mapping or list form)."""
    pairs = (
        environment.items()
        if isinstance(environment, dict)
        else (item.split("=", 1) for item in environment)
    )
    return {key: str(value) for key, value in pairs if key.startswith("CAPI_")}


def dockerfile_env() -> dict[str, str]:
    """The CAPI_* variables the Dockerfile sets with ENV."""
    return dict(re.findall(r"\b(CAPI_[A-Z0-9_]+)=(\S+)", DOCKERFILE.read_text()))


def is_setting(model: type[BaseModel], parts: list[str]) -> bool:
    """True when ``CAPI_A__B__C`` (as parts) names a field of ``model``, dict keys included."""
    field = model.model_fields.get(parts[0].lower())
    if field is None:
        return False
    rest, annotation = parts[1:], field.annotation
    if get_origin(annotation) is dict:
        value_type = get_args(annotation)[1]
        if isinstance(value_type, type) and issubclass(value_type, BaseModel):
            return len(rest) >= 2 and is_setting(value_type, rest[1:])
        return len(rest) == 1
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return bool(rest) and is_setting(annotation, rest)
    return not rest


def test_compose_file_is_valid() -> None:
    """`docker-compose config -q` accepts the file (no engine needed)."""
    binary = shutil.which("docker-compose")
    assert binary is not None, "docker-compose is missing: run scripts/bootstrap.sh"
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False
    )

    assert (0, "") == (result.returncode, result.stderr.strip())


def test_compose_runs_every_component() -> None:
    """Kafka (KRaft), a Schema Registry, Redis, the emulator and the consumer are all there."""
    services = compose()["services"]

    assert {"kafka", "schema-registry", "redis", "capi-emulator", "consumer"} <= set(services)
    assert "broker,controller" == services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert "emulator" == services["capi-emulator"]["command"][0]


@pytest.mark.parametrize("source", ["compose", "dockerfile"])
def test_every_capi_variable_is_a_real_setting(source: str) -> None:
    """Each CAPI_* variable set by compose or the Dockerfile names a Settings field."""
    if source == "compose":
        names = {
            name
            for service in compose()["services"].values()
            for name in capi_env(service.get("environment") or {})
        }
    else:
        names = set(dockerfile_env())
    unknown = [name for name in sorted(names) if not is_setting(Settings, name[5:].split("__"))]

    assert names
    assert [] == unknown


def test_the_helper_rejects_unknown_variables() -> None:
    """The field check itself can fail: misspelt or too-deep names are refused."""
    assert [False, False, False, True] == [
        is_setting(Settings, name.split("__"))
        for name in (
            "KAFKA__BOOTSTRAP",
            "PIXELS__1__TOKEN",
            "META__BASE_URL__X",
            "KAFKA__CONSUMER__X",
        )
    ]


def test_consumer_settings_load_from_compose(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The example config plus the consumer's compose environment is a valid, wired Settings."""
    for name, value in capi_env(compose()["services"]["consumer"]["environment"]).items():
        monkeypatch.setenv(name, value)
    settings = load_settings(ROOT / "config" / "example.yaml")

    assert "kafka:9092" == settings.kafka.bootstrap_servers
    assert "http://capi-emulator:8080" == settings.meta.base_url
    assert ("0.0.0.0", 9400) == (settings.observability.host, settings.observability.port)  # noqa: S104  # inside a container


def test_emulator_accepts_the_consumers_tokens() -> None:
    """Every configured pixel has a token in compose, and the emulator knows that same token."""
    env = capi_env(compose()["services"]["consumer"]["environment"])
    emulator = json.loads((ROOT / "deploy" / "compose" / "emulator-pixels.json").read_text())
    pixels = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())["pixels"]

    assert {p: env[f"CAPI_PIXELS__{p}__ACCESS_TOKEN"] for p in pixels} == {
        p: auth["access_token"] for p, auth in emulator.items()
    }


def test_dockerfile_is_small_non_root_and_pinned() -> None:
    """Pinned slim base, multi-stage, non-root user, schemas shipped, the console script first."""
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.M)

    assert base is not None and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1))
    assert 2 == len(re.findall(r"^FROM ", text, re.M))
    assert "10001:10001" == re.findall(r"^USER (\S+)", text, re.M)[-1]
    assert '["capi-consumer"]' == re.findall(r"^ENTRYPOINT (.+)$", text, re.M)[-1]
    assert "/app/schemas" == dockerfile_env()["CAPI_SCHEMA_REGISTRY__SCHEMAS_DIR"]
    assert "COPY schemas /app/schemas" in text


def our_image_commands() -> dict[str, list[str]]:
    """The ``command:`` of every compose service that runs our image, by service name."""
    return {
        name: service["command"]
        for name, service in compose()["services"].items()
        if service.get("image") == "capi-consumer:dev" or service.get("build")
    }


def dockerfile_exec(instruction: str) -> list[str]:
    """The Dockerfile's ENTRYPOINT or CMD (exec form) as a list."""
    (line,) = re.findall(rf"^{instruction} (.+)$", DOCKERFILE.read_text(), re.M)
    value: list[str] = json.loads(line)
    return value


@pytest.mark.parametrize(
    "source", ["consumer", "capi-emulator", "dockerfile-cmd"], ids=lambda s: str(s)
)
def test_every_command_line_parses_with_the_cli(source: str) -> None:
    """Each compose command of our image, and the image's default CMD, parse with the CLI."""
    argv = dockerfile_exec("CMD") if source == "dockerfile-cmd" else our_image_commands()[source]

    args = _parser().parse_args(argv)

    assert argv[0] == args.command
    assert ["capi-consumer"] == dockerfile_exec("ENTRYPOINT")
    assert {"consumer", "capi-emulator"} == set(our_image_commands())


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of ``process``, or an AssertionError after ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the emulator printed nothing"
    return process.stdout.readline()


def test_emulator_starts_with_the_compose_arguments() -> None:
    """`capi-consumer emulator` with the compose arguments serves and knows the compose pixels.

    Loopback instead of 0.0.0.0, the mounted pixels file at its repository path, and port 0 (the
    address it prints) instead of 8080, which another process on this machine may hold.
    """
    service = compose()["services"]["capi-emulator"]
    mounts = dict(volume.split(":")[1::-1] for volume in service["volumes"])
    argv = [str(ROOT / mounts[arg]) if arg in mounts else arg for arg in service["command"]]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = "0"
    env = capi_env(compose()["services"]["consumer"]["environment"])
    with subprocess.Popen(
        [sys.executable, "-m", "consumer", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as process:
        try:
            line = _read_line(process, timeout=30)
            url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            assert url is not None, line
            client = EmulatorClient(url.group(1))
            token = env[f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN"]
            known = client.post_events(PIXEL, {"data": []}, access_token=token)
            unknown = client.post_events(PIXEL, {"data": []}, access_token="not-the-compose-one")
            healthy = client.healthy()
        finally:
            process.terminate()
            process.wait(timeout=10)

    assert healthy
    assert 190 != known[1].get("error", {}).get("code")
    assert 190 == unknown[1]["error"]["code"]
