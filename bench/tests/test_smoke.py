"""`python -m bench` end to end with a tiny N: it runs, its JSON parses, nothing is lost.

Timing figures are not asserted (they depend on the machine); correctness and shape are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow
N = 30
FLAGS = ["-n", str(N), "--idle-wait", "1", "--ceiling-n", "60", "--timeout", "40"]
FLAGS += ["--hold-seconds", "1"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, dict[str, Any]]]:
    log_dir = tmp_path_factory.mktemp("bench")
    finished = subprocess.run(
        [sys.executable, "-m", "bench", *FLAGS, "--log-dir", str(log_dir)],
        capture_output=True,
        text=True,
        timeout=240,  # a loaded machine: the run itself takes 35-90 s
        check=False,
    )
    lines = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    return finished.returncode, finished.stdout + finished.stderr, {r["scenario"]: r for r in lines}


@pytest.mark.timeout(260)
def test_every_scenario_prints_one_json_line_and_exits_0(
    bench: tuple[int, str, dict[str, dict[str, Any]]],
) -> None:
    code, output, results = bench
    assert code == 0, output
    assert list(results) == ["latency", "quota", "mixed", "idle", "hold"]
    assert "targets:" in output
    assert "local stack ceiling" in output


@pytest.mark.timeout(260)
@pytest.mark.parametrize("scenario", ["latency", "quota", "mixed"])
def test_every_valid_command_is_applied_once_and_every_other_dead_lettered_once(
    bench: tuple[int, str, dict[str, dict[str, Any]]], scenario: str
) -> None:
    result = bench[2][scenario]
    assert result["correct"] is True
    assert result["n"] == N
    valid = N - result["dlq_expected"]
    assert result["applied_once"] == valid
    assert result["applied_twice"] == result["applied_never"] == result["applied_unexpected"] == 0
    assert result["dlq_ok"] == result["dlq_expected"]
    assert result["worker_exit_codes"] == [0] * result["workers"]
    for field in ("commands_per_s", "p50_ms", "cpu_ms_per_command", "sqs_requests_per_command"):
        assert isinstance(result[field], int | float), field
    assert result["cognito_calls_per_command"] > 0


@pytest.mark.timeout(260)
def test_mixed_dead_letters_each_kind_with_its_reason(
    bench: tuple[int, str, dict[str, dict[str, Any]]],
) -> None:
    reasons = bench[2]["mixed"]["dlq_reasons"]
    assert set(reasons) == {"ResourceNotFoundException", "ResourceConflictException", "malformed"}


@pytest.mark.timeout(260)
def test_idle_and_ceiling_are_measured(bench: tuple[int, str, dict[str, dict[str, Any]]]) -> None:
    idle = bench[2]["idle"]
    assert idle["correct"] is True
    assert idle["receives"] >= 1
    ceiling = bench[2]["latency"]["stack_ceiling"]
    assert ceiling["commands"] == 60
    assert ceiling["commands_per_s"] > 0


def test_logs_land_in_the_log_dir(
    bench: tuple[int, str, dict[str, dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    output = bench[1]
    assert "bench: logs and profiles in" in output
    log_dir = Path(output.split("bench: logs and profiles in ", 1)[1].split()[0])
    assert (log_dir / "worker-latency-0.log").exists()
    assert (log_dir / "stack-quota.log").exists()
