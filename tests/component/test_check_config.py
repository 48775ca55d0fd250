"""check-config never prints a credential, and run refuses a dedup window a restart would lose.

Secrets may reach the settings only from the environment; check-config masks them (and the
userinfo of every URL) whatever their source. In the config file they are refused with one line
naming the field and the environment variable the value belongs in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from consumer.cli import main

ROOT = Path(__file__).resolve().parents[2]
PIXEL = "1000000000000001"
# Every credential form of the issue, as the environment would carry it, with a unique value.
ENV_SECRETS = {
    f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN": "leak-pixel-token",
    f"CAPI_PIXELS__{PIXEL}__APP_SECRET": "leak-app-secret",
    "CAPI_KAFKA__SASL_PASSWORD": "leak-sasl-password",
    "CAPI_KAFKA__CLIENT__SASL_PASSWORD": "leak-client-sasl",
    "CAPI_KAFKA__CLIENT__SSL_KEY_PASSWORD": "leak-ssl-key",
    "CAPI_KAFKA__CONSUMER__SASL_OAUTHBEARER_CLIENT_SECRET": "leak-oauth-secret",
    "CAPI_KAFKA__PRODUCER__SSL_KEY_PEM": "leak-private-key-pem",
    "CAPI_SCHEMA_REGISTRY__BASIC_AUTH_PASSWORD": "leak-registry-password",
    "CAPI_DEDUP__REDIS_PASSWORD": "leak-redis-password",
    "CAPI_DEDUP__REDIS_URL": "redis://:leak-redis-url@redis:6379/0",
    "CAPI_SCHEMA_REGISTRY__URL": "http://capi:leak-registry-url@registry:8081",
    "CAPI_META__BASE_URL": "https://u:leak-meta-url@graph.example.com",
}
FILE_SECRETS = {
    "pixel-token": {"pixels": {PIXEL: {"access_token": "leak"}}},
    "client-sasl.password": {"kafka": {"client": {"sasl.password": "leak"}}},
    "ssl_key_password": {"kafka": {"client": {"ssl_key_password": "leak"}}},
    "oauth-secret": {"kafka": {"consumer": {"sasl.oauthbearer.client.secret": "leak"}}},
    "basic_auth_password": {"schema_registry": {"basic_auth_password": "leak"}},
    "redis_password": {"dedup": {"redis_password": "leak"}},
    "redis-url": {"dedup": {"redis_url": "redis://:leak@redis:6379/0"}},
    "registry-url": {"schema_registry": {"url": "http://user:leak@registry:8081"}},
}


def _write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"pixels": {PIXEL: {}}, **data}))
    return path


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        check=False,
        cwd=ROOT,
    )


class TestCheckConfig:
    def test_every_credential_from_the_environment_is_masked(self, tmp_path: Path) -> None:
        """Tokens, passwords, librdkafka secrets and URL userinfo: none reaches stdout/stderr."""
        result = _cli("check-config", str(_write(tmp_path, {})), env=ENV_SECRETS)
        printed = json.loads(result.stdout)
        secrets = {
            name: value.split("leak-")[1].split("@")[0] for name, value in ENV_SECRETS.items()
        }
        shown = [
            name for name, secret in secrets.items() if secret in result.stdout + result.stderr
        ]

        assert (0, "") == (result.returncode, result.stderr)
        assert [] == shown
        assert "leak" not in result.stdout + result.stderr
        assert "***" == printed["kafka"]["client"]["ssl_key_password"]
        assert "***" == printed["kafka"]["consumer"]["sasl_oauthbearer_client_secret"]
        assert "redis://***@redis:6379/0" == printed["dedup"]["redis_url"]
        assert "http://***@registry:8081" == printed["schema_registry"]["url"]

    @pytest.mark.parametrize("data", FILE_SECRETS.values(), ids=FILE_SECRETS.keys())
    def test_credential_in_the_file_is_refused_in_one_line(
        self, data: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit 2, one line naming the field and its CAPI_* variable, the value never shown."""
        code = main(["check-config", str(_write(tmp_path, data))])
        out, err = capsys.readouterr()

        assert (2, "") == (code, out)
        assert 1 == len(err.strip().splitlines())
        assert "leak" not in err
        assert "CAPI_" in err
        assert err.startswith("capi-consumer: error: ")

    def test_yaml_errors_do_not_quote_the_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A YAML error names line and column but never echoes the line (it may hold a secret)."""
        path = tmp_path / "config.yaml"
        path.write_text('kafka:\n  client: {sasl.password: "leak-unterminated\n')

        code = main(["check-config", str(path)])
        err = capsys.readouterr().err

        assert (2, False, 1) == (code, "leak" in err, len(err.strip().splitlines()))
        assert "line 2" in err


class TestMemoryBackend:
    def test_run_refuses_memory(self, tmp_path: Path) -> None:
        """`run` with dedup.backend memory exits 1 with a one-line reason and the way out."""
        config = _write(tmp_path, {"dedup": {"backend": "memory"}})

        result = _cli(
            "run", "--config", str(config), env={f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN": "t"}
        )

        assert 1 == result.returncode
        assert 1 == len(result.stderr.strip().splitlines())
        assert "dedup.backend: memory forgets the dedup window" in result.stderr
        assert "--allow-memory-dedup" in result.stderr

    def test_development_flag_allows_memory_with_a_warning(self, tmp_path: Path) -> None:
        """With --allow-memory-dedup it starts, and says first that the window is not kept."""
        config = _write(
            tmp_path,
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:1"},
                "dedup": {"backend": "memory"},
                "dlq": {"create_topics": False},
                "observability": {"port": 0, "log_format": "json"},
            },
        )
        env = {f"CAPI_PIXELS__{PIXEL}__ACCESS_TOKEN": "t", "PYTHONPATH": str(ROOT)}
        with subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consumer",
                "run",
                "--config",
                str(config),
                "--allow-memory-dedup",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **env},
        ) as process:
            try:
                assert process.stderr is not None
                first = json.loads(process.stderr.readline())
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

        assert ("warning", "dedup.memory_backend") == (first["level"], first["event"])
