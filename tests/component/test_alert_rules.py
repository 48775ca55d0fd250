"""The Prometheus alert rules: valid for promtool, and each alert unit-tested with promtool.

promtool comes from Debian's prometheus package (scripts/bootstrap.sh installs it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "capi-consumer" / "files" / "prometheus-rules.yaml"
RULE_TESTS = Path(__file__).resolve().parent / "alerts" / "prometheus-rules-test.yaml"


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run promtool; fail with the way out when it is not installed."""
    binary = shutil.which("promtool")
    assert binary is not None, "promtool is missing: run scripts/bootstrap.sh"
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def alert_names() -> set[str]:
    """Every alert the rule file defines."""
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return {rule["alert"] for group in rules["groups"] for rule in group["rules"]}


def test_promtool_check_rules() -> None:
    """`promtool check rules` accepts the file and finds every rule it defines."""
    result = promtool("check", "rules", str(RULES))

    assert (0, True) == (
        result.returncode,
        f"SUCCESS: {len(alert_names())} rules found" in result.stdout,
    ), result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    """`promtool test rules`: every expected firing (labels, annotations) and quiet period holds."""
    result = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)

    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_and_stays_quiet_in_a_unit_test() -> None:
    """Each alert has a unit test expecting it to fire and one expecting silence."""
    tests: dict[str, Any] = yaml.safe_load(RULE_TESTS.read_text())
    checks = [check for test in tests["tests"] for check in test["alert_rule_test"]]
    fires = {check["alertname"] for check in checks if check["exp_alerts"]}
    quiet = {check["alertname"] for check in checks if not check["exp_alerts"]}

    assert (alert_names(), alert_names()) == (fires, quiet)
