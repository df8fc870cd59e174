"""The Prometheus alert rules and the Grafana dashboard in infra/, against the worker's metrics.

promtool (Debian's `prometheus` package) is required, not optional: `make test` installs it where
it can, `.ci/run` always does, and without it these tests fail rather than pass unchecked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from consumer.observe.metrics import PrometheusObserver

from .documents import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "infra" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO_ROOT / "infra" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO_ROOT / "infra" / "grafana" / "dashboard.json"
RUNBOOK = REPO_ROOT / "docs" / "operations.md"
# Series a histogram exposes beside its own name.
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool is not installed: `apt-get install prometheus` (make test does this)"
    return subprocess.run(  # noqa: PLW1510 - the return code is asserted by the caller
        [found, *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent
    )


def worker_metrics() -> set[str]:
    """Every series name the worker exports, as scraped."""
    names: set[str] = set()
    for family in PrometheusObserver().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in HISTOGRAM_SUFFIXES)
        else:
            names.add(family.name)
    return names


def queried(expression: str) -> set[str]:
    return set(re.findall(r"\bunlink_[a-z_]+\b", expression))


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", RULES.name)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {
        case["alertname"]
        for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in group["alert_rule_test"]
        if case["exp_alerts"]
    }

    assert fired == {rule["alert"] for rule in alerts()}


def test_the_runbook_has_a_section_for_every_alert() -> None:
    headings = set(re.findall(r"^#+ (\w+)$", RUNBOOK.read_text(), re.MULTILINE))

    for rule in alerts():
        assert rule["alert"] in headings, rule["alert"]
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_queried_is_one_the_worker_exports(source: str) -> None:
    if source == "alerts":
        expressions = [rule["expr"] for rule in alerts()]
    else:
        dashboard = json.loads(DASHBOARD.read_text())
        expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set().union(*(queried(e) for e in expressions))

    assert used, source
    assert used <= worker_metrics(), used - worker_metrics()


def test_the_dashboard_has_the_panels_an_operator_looks_at_first() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}

    assert {
        "Throughput by outcome",
        "Dead letters by reason",
        "Unlink rate against the quota estimate",
        "In flight",
        "Dependency health",
    } <= titles
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
