"""`fleet`: fleets of workers sharing one token-bucket quota through their idempotency table.

A matrix of fleet sizes by quotas (burst = one second of the quota), each cell a full run of
`python -m consumer run` processes against the local stack, then one join/leave run: a worker
that stops answering at the start (SIGSTOP) comes back mid-run (a join), and another is killed
with SIGKILL later (a leave without goodbye). Per cell: the applied rate over the steady part (the
middle 80% of commands) as a share of the quota, the throttled share of all unlink calls, valid
commands in the DLQ, DynamoDB requests per command (all of them, and the fleet's heartbeats
alone), CPU per command, and for the join/leave run the seconds until the fleet is back at 97%
of the quota after each event. Each fleet size first runs with no quota at all: what the local
stack carries for that many workers on this machine (its ceiling: the steady part while the
feeder still sends, as it does through a cell's). Where the ceiling is below the quota, the rate
is judged against the ceiling, and the table shows both.

    make bench ARGS="--scenario fleet"                                  # the full matrix
    make bench ARGS="--scenario fleet --fleets 1,3 --quotas 25 -n 400"  # a reduced one
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import Scenario
from bench.results import fed_sustained, figures, timeline
from bench.scenarios import run_load
from consumer.local.admin_client import AdminClient

FLEETS = (1, 3, 5, 10)
QUOTAS = (10.0, 25.0, 50.0)
SECONDS_OF_WORK = 60.0  # per cell unless -n says otherwise: n = quota x this
CEILING_COMMANDS = 1500  # per fleet size: what the local stack carries with no quota at all,
# judged while the feeder still sends (it stops an in-flight bound before the end)
RECONVERGED = 0.97
HEARTBEAT_SECONDS = 1.0  # UNLINK_FLEET_HEARTBEAT_SECONDS's default: one UpdateItem each


def cell(workers: int, quota: float | None, n: int | None) -> Scenario:
    if quota is None:  # the ceiling: the same fleet and stack with no quota
        return Scenario(
            f"fleet-{workers}-ceiling",
            n or CEILING_COMMANDS,
            latency_ms=20.0,
            workers=workers,
            store="dynamodb",
            timeout_seconds=600.0,
        )
    return Scenario(
        f"fleet-{workers}x{quota:g}",
        n or int(quota * SECONDS_OF_WORK),
        latency_ms=20.0,
        quota=quota,
        workers=workers,
        store="dynamodb",
        timeout_seconds=600.0,
    )


@dataclass(slots=True)
class JoinLeave:
    """The `Disruption` of the join/leave run: SIGSTOP one worker now, SIGCONT it at
    ``join_at`` s (it rejoins the fleet), SIGKILL another at ``leave_at`` s."""

    join_at: float
    leave_at: float
    events: list[tuple[str, float]] = field(default_factory=list)  # (what, wall time)

    def settings(self, stack_env: dict[str, str]) -> dict[str, str]:
        return {}

    async def run(self, admin: AdminClient, pids: list[int]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        joiner, leaver = pids[-1], pids[0]
        os.kill(joiner, signal.SIGSTOP)
        try:
            await asyncio.sleep(max(0.0, started + self.join_at - loop.time()))
            self._mark("join")
            os.kill(joiner, signal.SIGCONT)
            await asyncio.sleep(max(0.0, started + self.leave_at - loop.time()))
            self._mark("leave")
            os.kill(leaver, signal.SIGKILL)
            await asyncio.Event().wait()  # until the run ends
        finally:
            os.kill(joiner, signal.SIGCONT)  # never leave a stopped process behind

    def _mark(self, what: str) -> None:
        self.events.append((what, time.time()))  # wall time, as the stack's ledger keeps it


def reconvergence(
    applied: list[int], start_wall: float, event_wall: float, quota: float
) -> float | None:
    """Seconds from the event until a 5-second window applies >= 97% of the quota again."""
    first = max(0, int(event_wall - start_wall))
    for second in range(first, len(applied) - 4):
        if sum(applied[second : second + 5]) / 5.0 >= RECONVERGED * quota:
            return float(second - first)
    return None


def _row(result: dict[str, Any], quota: float, ceiling: float | None) -> dict[str, Any]:
    sustained = result["sustained_per_s"] or 0.0
    heartbeats = result.get("heartbeats", 0)
    # Where the local stack cannot carry the quota for this many workers (two cores shared by
    # the stack, the fleet and the feeder), the fleet is held to what it can carry.
    reachable = min(quota, ceiling) if ceiling else quota
    return {
        "cell": result["scenario"],
        "workers": result["workers"],
        "quota": quota,
        "n": result["n"],
        "ceiling_per_s": ceiling,
        "applied_per_s": sustained,
        "applied_pct_of_quota": round(100 * sustained / quota, 1),
        "applied_pct_of_reachable": round(100 * sustained / reachable, 1),
        "throttled_pct": round(100 * result["throttled_share"], 2),
        "valid_in_dlq": result["dlq_valid_dead_lettered"],
        "correct": result["correct"],
        "dynamodb_per_command": result["dynamodb_requests_per_command"],
        # Estimated: the fleet's UpdateItems look like the claims' to the stack's counters.
        "heartbeats_per_command": round(heartbeats / max(1, result["n"]), 3),
        "cpu_ms_per_command": result["cpu_ms_per_command"],
        "elapsed_s": result["elapsed_s"],
    }


async def _ceiling(workers: int, log_dir: Path) -> float | None:
    """Commands/s the local stack carries for this fleet with no quota (steady part, while
    the feeder sends: a cell's feeder sends through its whole steady part)."""
    sustained = fed_sustained(await run_load(cell(workers, None, None), log_dir))
    return float(sustained) if sustained else None


async def _one(
    scenario: Scenario, log_dir: Path, disruption: JoinLeave | None, ceiling: float | None
) -> dict[str, Any]:
    run = await run_load(scenario, log_dir, disruption)
    result = figures(run)
    lifetimes = sum(end.at - ready.at for end, ready in zip(run.end, run.ready, strict=True))
    result["heartbeats"] = lifetimes / HEARTBEAT_SECONDS
    row = _row(result, scenario.quota or 0.0, ceiling)
    seconds = timeline(run)
    row["timeline"] = seconds  # per second: applied, throttled (in the JSON line only)
    if disruption is not None:
        applied = seconds["applied"]
        for what, at in disruption.events:
            row[f"{what}_reconverged_s"] = reconvergence(
                applied, run.first_send, at, scenario.quota or 0.0
            )
    return row


async def run_fleet(
    log_dir: Path,
    fleets: Sequence[int] = FLEETS,
    quotas: Sequence[float] = QUOTAS,
    n: int | None = None,
    join_leave: bool = True,
) -> dict[str, Any]:
    ceilings = {workers: await _ceiling(workers, log_dir) for workers in fleets}
    rows = []
    for quota in quotas:
        for workers in fleets:
            rows.append(await _one(cell(workers, quota, n), log_dir, None, ceilings[workers]))
    if join_leave:
        quota = 25.0 if 25.0 in quotas else quotas[0]
        scenario = cell(4, quota, max(n or 0, int(quota * 90)))
        scenario = Scenario(**{**_fields(scenario), "name": f"fleet-join-leave-{quota:g}"})
        rows.append(await _one(scenario, log_dir, JoinLeave(join_at=25.0, leave_at=50.0), None))
    return {
        "scenario": "fleet",
        "correct": all(r["correct"] for r in rows),
        "cells": rows,
        "summary": render(rows),
        "own_targets": _targets(rows),
    }


def _fields(scenario: Scenario) -> dict[str, Any]:
    return {name: getattr(scenario, name) for name in scenario.__dataclass_fields__}


def _targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row["cell"]
        rate, throttled = row["applied_pct_of_reachable"], row["throttled_pct"]
        found[f"{name}_rate"] = {
            "goal": ">= 97% of the quota, or of the stack's ceiling below it (steady part)",
            "value": rate,
            "met": rate >= 97.0,
        }
        found[f"{name}_throttled"] = {
            "goal": "<= 1% of unlink calls throttled",
            "value": throttled,
            "met": throttled <= 1.0,
        }
        for what in ("join", "leave"):
            if f"{what}_reconverged_s" in row:
                seconds = row[f"{what}_reconverged_s"]
                found[f"{name}_{what}"] = {
                    "goal": f"back at >= 97% within 15 s of the {what}",
                    "value": seconds,
                    "met": seconds is not None and seconds <= 15.0,
                }
    return found


def render(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'fleet cell':<22}{'n':>6}{'ceiling/s':>10}{'applied %q':>11}{'% reach':>8}"
        f"{'throttled %':>12}{'valid DLQ':>10}"
        f"{'ddb/cmd':>9}{'beats/cmd':>10}{'cpu ms/cmd':>11}{'join/leave s':>14}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        shown = ""
        if "join_reconverged_s" in row:
            again = (row["join_reconverged_s"], row["leave_reconverged_s"])
            shown = "/".join("-" if s is None else f"{s:g}" for s in again)
        lines.append(
            f"{row['cell']:<22}{row['n']:>6}{row['ceiling_per_s'] or '-':>10}"
            f"{row['applied_pct_of_quota']:>11}{row['applied_pct_of_reachable']:>8}"
            f"{row['throttled_pct']:>12}{row['valid_in_dlq']:>10}"
            f"{row['dynamodb_per_command'] or 0:>9}{row['heartbeats_per_command']:>10}"
            f"{row['cpu_ms_per_command'] or 0:>11}{shown:>14}"
        )
    return "\n".join(lines)
