"""`fair`: the same mix on a standard queue with and without tenant groups (a fair queue).

A `MessageGroupId` on a standard queue names a tenant; SQS keeps a noisy tenant from delaying
the others, and nothing in how the worker runs a command may change with it. Three workers share
one DynamoDB table; 1,000 commands with 5% transient Cognito errors and 10% invalid commands;
with groups, one tenant sends 70% of them and nine others the rest. Goals: commands/s with
groups within 10% of without, and both runs correct (every valid command applied once, nothing
in the DLQ but the invalid ones, each with its reason).

    make bench ARGS="--scenario fair -n 1000"
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.config import Scenario
from bench.results import figures
from bench.scenarios import run_load
from bench.workload import Mix

SPEED_TARGET = 0.10  # the grouped run's commands/s within this share of the ungrouped run's


def scenario(n: int | None) -> Scenario:
    return Scenario(
        "standard",
        n or 1000,
        latency_ms=20.0,
        workers=3,
        store="dynamodb",
        mix=Mix(not_found=0.05, malformed=0.05),
        internal_error_rate=0.05,
    )


async def run_fair(log_dir: Path, n: int | None = None) -> dict[str, Any]:
    plain = figures(await run_load(scenario(n), log_dir))
    grouped_scenario = replace(scenario(n), name="fair", tenants=True)
    grouped = figures(await run_load(grouped_scenario, log_dir))
    return fair_figures(plain, grouped)


def fair_figures(plain: dict[str, Any], grouped: dict[str, Any]) -> dict[str, Any]:
    ratio = grouped["commands_per_s"] / plain["commands_per_s"] if plain["commands_per_s"] else 0
    result: dict[str, Any] = {
        "scenario": "fair",
        "runs": [plain, grouped],
        "grouped_to_plain": round(ratio, 3),
        "correct": bool(plain["correct"] and grouped["correct"]),
    }
    result["own_targets"] = {
        "fair_speed": {
            "value": round(ratio, 3),
            "goal": f">= {1 - SPEED_TARGET:.2f} of the run without groups",
            "met": ratio >= 1 - SPEED_TARGET,
        }
    }
    result["summary"] = (
        f"fair queue (3 workers, shared table, {plain.get('n')} commands, 5% 5xx, 10% invalid): "
        f"without groups {plain['commands_per_s']} commands/s, with 10 tenant groups (70% one "
        f"tenant) {grouped['commands_per_s']} commands/s ({ratio:.0%}); "
        f"SQS requests/command {plain.get('sqs_requests_per_command')} vs "
        f"{grouped.get('sqs_requests_per_command')}; DLQ {plain.get('dlq_reasons')} vs "
        f"{grouped.get('dlq_reasons')}; correct: {plain['correct']} / {grouped['correct']}"
    )
    return result
