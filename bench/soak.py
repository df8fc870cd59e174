"""`soak`: one worker, the default in-memory store, a long stream through a shallow queue.

A worker runs for days; what it does in its first minute it must still do after millions of
commands. The feeder keeps the queue shallow (so the local SQS is not what slows down), and the
figures compare the apply rate over the last tenth of the commands with the rate over the first
tenth after warm-up (the second tenth), and the worker's RSS at the end with its RSS at warm-up
(10% applied). Goals: the late rate >= 90% of the early one, RSS growth <= 20 MB.

    make bench ARGS="--scenario soak -n 20000"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import Scenario
from bench.results import figures
from bench.scenarios import Run, run_load

RATE_TARGET = 0.90
RSS_TARGET_MB = 20.0


def scenario(n: int | None) -> Scenario:
    count = n or 200_000
    # A generous timeout: a slowing worker must show its figures, not a timeout.
    return Scenario("soak", count, workers=1, store="memory", timeout_seconds=60 + count / 20)


def rates(applied_at: list[float]) -> tuple[float | None, float | None]:
    """Applied/s over the second tenth (after warm-up) and over the last tenth of the applies."""
    ordered = sorted(applied_at)
    tenth = len(ordered) // 10
    if tenth < 2:
        return None, None

    def rate(part: list[float]) -> float | None:
        span = part[-1] - part[0]
        return (len(part) - 1) / span if span > 0 else None

    return rate(ordered[tenth : 2 * tenth]), rate(ordered[-tenth:])


async def run_soak(log_dir: Path, n: int | None = None) -> dict[str, Any]:
    return soak_figures(await run_load(scenario(n), log_dir))


def soak_figures(run: Run) -> dict[str, Any]:
    result = figures(run)
    early, late = rates([e["at"] for e in (run.ledger["applied"] if run.ledger else [])])
    ratio = round(late / early, 3) if early and late else None
    growth = round(result["rss_end_mb"] - result["rss_start_mb"], 1)
    result.update(
        {
            "early_rate_per_s": None if early is None else round(early, 1),
            "late_rate_per_s": None if late is None else round(late, 1),
            "late_to_early": ratio,
            "rss_growth_mb": growth,
        }
    )
    result["own_targets"] = {
        "late_rate": {
            "goal": f"last 10% >= {RATE_TARGET:.0%} of the first 10% after warm-up",
            "value": ratio,
            "met": ratio is not None and ratio >= RATE_TARGET,
        },
        "rss_growth": {
            "goal": f"RSS growth after warm-up <= {RSS_TARGET_MB:.0f} MB",
            "value": growth,
            "met": growth <= RSS_TARGET_MB,
        },
    }
    result["summary"] = (
        f"soak {run.scenario.n} commands, 1 worker, memory store: apply rate "
        f"{result['early_rate_per_s']}/s (10-20%) -> {result['late_rate_per_s']}/s (last 10%) "
        f"= {ratio}, RSS {result['rss_start_mb']} -> {result['rss_end_mb']} MB "
        f"(+{growth}), {result['cpu_ms_per_command']} ms CPU per command"
    )
    return result
