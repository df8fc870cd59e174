"""`outage` and `brownout`: Cognito fails for everyone for a long while, then recovers.

A fleet works through a backlog; once a fifth of it is applied, every Cognito call fails for
``--outage-seconds`` (15 minutes by default): in `outage` the connections drop (the workers reach
Cognito through a proxy that goes down), in `brownout` the stack answers most unlink calls with
`InternalErrorException` (95% by default). Then Cognito recovers. The run must end with every
valid command applied once, none in the DLQ and none lost, and the backlog must resume within
60 s of Cognito answering; the workers' CPU while Cognito is down says whether a paused worker
really rests (under 1% of a core is the goal).

    make bench ARGS="--scenario outage --outage-seconds 120"
    make bench ARGS="--scenario brownout --outage-seconds 120 --brownout-error-rate 0.95"
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from bench.config import Scenario
from bench.procs import cpu_share, usage
from bench.results import figures
from bench.scenarios import Run, run_load
from bench.workload import APPLIED
from consumer.local.admin_client import AdminClient
from tests.support.proxy import OutageProxy

Mode = Literal["outage", "brownout"]
RECOVERY_TARGET_SECONDS = 60.0
PAUSED_CPU_TARGET_PCT = 1.0
POLL_SECONDS = 0.25
TRIP_SECONDS = 15.0  # CPU is measured from this long after the cut: the breakers have tripped


def scenario(name: Mode, outage_seconds: float, n: int | None, workers: int | None) -> Scenario:
    """A fleet of three sharing a table, with the benchmark's short backoff (1 to 5 s): the
    whole failure budget is spent within half a minute, far inside the outage."""
    return Scenario(
        name,
        n or 1000,
        workers=workers or 3,
        store="dynamodb",
        timeout_seconds=outage_seconds + 900,
    )


@dataclass(slots=True)
class CognitoOutage:
    """The `Disruption` of both scenarios: cut after ``at_share`` applied, heal after a while."""

    mode: Mode
    seconds: float
    valid: int
    at_share: float = 0.2
    error_rate: float = 0.95
    proxy: OutageProxy | None = None
    cut_at: float | None = None  # time.time(), as the ledger's events are stamped
    up_at: float | None = None
    applied_at_cut: int = 0
    applied_at_up: int = 0
    cpu_pct: list[float] = field(default_factory=list)  # per worker, while Cognito is down

    def settings(self, stack_env: dict[str, str]) -> dict[str, str]:
        if self.mode != "outage":
            return {}
        target = urlparse(stack_env["AWS_ENDPOINT_URL_SQS"])
        self.proxy = OutageProxy(target.hostname or "127.0.0.1", target.port or 80).start()
        return {"AWS_ENDPOINT_URL_COGNITO_IDENTITY": self.proxy.url}

    async def run(self, admin: AdminClient, pids: list[int]) -> None:
        while True:  # the ledger lives in another process: poll it
            applied = await _applied(admin)
            if applied >= self.at_share * self.valid:
                break
            await asyncio.sleep(POLL_SECONDS)
        await asyncio.to_thread(self._cut, admin)
        self.cut_at, self.applied_at_cut = time.time(), applied
        settle = min(TRIP_SECONDS, self.seconds / 4)
        await asyncio.sleep(settle)
        before = [usage(pid) for pid in pids]
        await asyncio.sleep(self.seconds - settle)
        after = [usage(pid) for pid in pids]
        self.cpu_pct = [round(100 * cpu_share(a, b), 2) for a, b in zip(before, after, strict=True)]
        await asyncio.to_thread(self._heal, admin)
        self.up_at, self.applied_at_up = time.time(), await _applied(admin)

    def _cut(self, admin: AdminClient) -> None:
        if self.proxy is not None:
            self.proxy.down()
        else:
            admin.set_faults(internal_error_rate=self.error_rate)

    def _heal(self, admin: AdminClient) -> None:
        if self.proxy is not None:
            self.proxy.up()
        else:
            admin.set_faults(internal_error_rate=0.0)

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()


async def _applied(admin: AdminClient) -> int:
    ledger = await asyncio.to_thread(admin.ledger, events=False)
    return int(ledger["applied_count"])


async def run_outage(
    name: Mode,
    log_dir: Path,
    *,
    outage_seconds: float = 900.0,
    error_rate: float = 0.95,
    n: int | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    chosen = scenario(name, outage_seconds, n, workers)
    # Every command of the default mix is valid: each one must be applied, none dead-lettered.
    outage = CognitoOutage(name, outage_seconds, chosen.n, error_rate=error_rate)
    try:
        run = await run_load(chosen, log_dir, outage)
    finally:
        outage.close()
    return outage_figures(run, outage)


def outage_figures(run: Run, outage: CognitoOutage) -> dict[str, Any]:
    result = figures(run)
    applied = sorted(e["at"] for e in (run.ledger["applied"] if run.ledger else []))
    last = applied[-1] if applied else None
    up = outage.up_at
    after = [at for at in applied if up is not None and at >= up]
    recovery = round(last - up, 1) if last is not None and up is not None and after else None
    first_after = round(after[0] - up, 1) if after and up is not None else None
    paused_cpu = max(outage.cpu_pct, default=None)
    valid = sum(1 for c in run.commands if c.expect == APPLIED)
    result.update(
        {
            "outage_s": outage.seconds,
            "outage_mode": outage.mode,
            "brownout_error_rate": outage.error_rate if outage.mode == "brownout" else None,
            "applied_before_cut": outage.applied_at_cut,
            "applied_during_outage": outage.applied_at_up - outage.applied_at_cut,
            "recovery_to_first_apply_s": first_after,
            "recovery_to_last_apply_s": recovery,
            "cpu_pct_while_down": outage.cpu_pct,
        }
    )
    result["own_targets"] = {
        "no_valid_dlq": _zero("no valid command dead-lettered", result["dlq_valid_dead_lettered"]),
        "none_lost": _zero("no valid command lost", result["applied_never"]),
        "recovery": {
            "goal": f"backlog done <= {RECOVERY_TARGET_SECONDS:.0f} s after recovery",
            "value": recovery,
            "met": recovery is not None and recovery <= RECOVERY_TARGET_SECONDS,
        },
    }
    if outage.mode == "outage":
        result["own_targets"]["paused_cpu"] = {
            "goal": f"< {PAUSED_CPU_TARGET_PCT}% of a core per worker while paused",
            "value": paused_cpu,
            "met": paused_cpu is not None and paused_cpu < PAUSED_CPU_TARGET_PCT,
        }
    result["summary"] = (
        f"{outage.mode} {outage.seconds:.0f} s after {outage.applied_at_cut} applied: valid "
        f"applied once {result['applied_once']}/{valid}, in DLQ "
        f"{result['dlq_valid_dead_lettered']}, lost {result['applied_never']}, applied during "
        f"the outage {outage.applied_at_up - outage.applied_at_cut}, recovery -> first apply "
        f"{first_after} s, -> last apply {recovery} s, worker CPU while down {outage.cpu_pct}%"
    )
    return result


def _zero(goal: str, value: int) -> dict[str, Any]:
    return {"goal": goal, "value": value, "met": value == 0}
