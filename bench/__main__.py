"""`python -m bench` (`make bench`): the worker against the local stack, per scenario.

    make bench                                   # latency, quota, mixed, idle and hold
    make bench ARGS="--scenario latency -n 500"  # one scenario, fewer commands
    make bench ARGS="--scenario outage --outage-seconds 120"   # long runs: only by name
    make bench ARGS="--scenario brownout --scenario soak -n 20000"
    make bench ARGS="--scenario fleet --fleets 1,3 --quotas 25 -n 400"   # fleets x quotas
    make bench ARGS="--scenario fair -n 1000"    # the same mix with and without tenant groups
    make bench ARGS="--scenario memory-soak -n 200000"   # the loop's memory, in-process
    make bench ARGS="--scenario latency --profile"   # + the worker's CPU by function (py-spy)

Prints a table, then one JSON line per scenario, on stdout; progress goes to stderr. Exits 1 when a
command was lost, applied twice or wrongly dead-lettered (or a scenario could not run), never for
a missed performance target.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.config import DEFAULTS, LONG, ORDER, PAIRED, Scenario, override
from bench.fair import run_fair
from bench.fleet import FLEETS, QUOTAS, run_fleet
from bench.hold import run_hold
from bench.idle import run_idle
from bench.memory_soak import STORE_MAX, run_memory_soak
from bench.outage import run_outage
from bench.report import json_line, table, targets
from bench.results import figures
from bench.scenarios import run_load
from bench.soak import run_soak


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--scenario",
        action="append",
        choices=[*ORDER, *PAIRED, *LONG, "all"],
        help="repeatable; default all (fair and the long outage, brownout, soak and fleet runs "
        "only by name)",
    )
    add("-n", "--n", type=int, help="commands per load scenario")
    add("--workers", type=int, help="worker processes")
    add("--concurrency", type=int, help="UNLINK_CONCURRENCY: commands in flight per worker")
    add("--latency-ms", type=float, help="added to every Cognito call")
    add("--quota", type=float, help="unlink calls/s across the fleet, enforced by the stack")
    add("--internal-error-rate", type=float, help="share of unlink calls failing with a 500")
    add("--not-found", type=float, help="share of commands naming an unknown identity")
    add("--conflicts", type=float, help="share naming another identity's identifier")
    add("--malformed", type=float, help="share of malformed bodies")
    add("--store", choices=["memory", "dynamodb"], help="idempotency store")
    add("--depth", type=int, help="queue depth the feeder keeps (default: in-flight bound + 30)")
    add("--wait-time", type=int, dest="wait_time_seconds", help="UNLINK_WAIT_TIME_SECONDS")
    add("--rate-limit", type=float, help="UNLINK_RATE_LIMIT, per worker")
    add("--sqs-linger", type=float, help="UNLINK_SQS_LINGER_SECONDS: a batched call's wait")
    add("--cognito-attempts", type=int, help="UNLINK_COGNITO_MAX_ATTEMPTS per Cognito call")
    add("--ceiling-n", type=int, help="commands for the stack-ceiling run (latency; 0: skip)")
    add("--timeout", type=float, dest="timeout_seconds", help="per scenario, seconds")
    add("--idle-wait", type=int, default=20, help="long-poll wait of the idle check, seconds")
    add("--idle-periods", type=int, default=2, help="wait periods the idle check watches")
    add("--hold-seconds", type=float, default=20.0, help="hold: the window CPU is measured over")
    add("--memory-store-max", type=int, default=STORE_MAX, help="memory-soak: the store's bound")
    add("--profile", action="store_true", help="load-scenario workers under a CPU-time profiler")
    add("--outage-seconds", type=float, default=900.0, help="outage/brownout: Cognito down")
    add("--brownout-error-rate", type=float, default=0.95, help="brownout: failing share")
    add("--fleets", type=_ints, default=None, help="fleet: worker counts, e.g. 1,3 (1,3,5,10)")
    add("--quotas", type=_floats, default=None, help="fleet: quotas/s, e.g. 25 (10,25,50)")
    add("--no-join-leave", action="store_true", help="fleet: skip the join/leave run")
    add("--log-dir", type=Path, help="worker and stack logs, profiles (default: a temp dir)")
    return parser


def _scenarios(args: argparse.Namespace) -> list[str]:
    chosen = args.scenario or ["all"]
    short = list(ORDER) if "all" in chosen else [s for s in ORDER if s in chosen]
    return short + [s for s in (*PAIRED, *LONG) if s in chosen]


def _configure(name: str, args: argparse.Namespace) -> Scenario:
    scenario = override(
        DEFAULTS[name],
        n=args.n,
        workers=args.workers,
        concurrency=args.concurrency,
        latency_ms=args.latency_ms,
        quota=args.quota,
        internal_error_rate=args.internal_error_rate,
        store=args.store,
        depth=args.depth,
        wait_time_seconds=args.wait_time_seconds,
        rate_limit=args.rate_limit,
        sqs_linger=args.sqs_linger,
        cognito_attempts=args.cognito_attempts,
        timeout_seconds=args.timeout_seconds,
        profile=args.profile or None,
    )
    if name == "latency" and args.ceiling_n is not None:
        scenario = replace(scenario, ceiling_n=args.ceiling_n)
    shares = {"not_found": args.not_found, "conflicts": args.conflicts}
    shares["malformed"] = args.malformed
    if any(v is not None for v in shares.values()):
        changes = {k: v for k, v in shares.items() if v is not None}
        scenario = replace(scenario, mix=replace(scenario.mix, **changes))
    return scenario


async def _run_one(name: str, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    own: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "idle": lambda: run_idle(args.idle_wait, args.idle_periods, log_dir),
        "hold": lambda: run_hold(args.hold_seconds, log_dir),
        "memory-soak": lambda: run_memory_soak(args.n, args.memory_store_max),
        "soak": lambda: run_soak(log_dir, args.n),
        "fair": lambda: run_fair(log_dir, args.n),
    }
    if name in own:
        return await own[name]()
    if name in ("outage", "brownout"):
        return await run_outage(
            "outage" if name == "outage" else "brownout",
            log_dir,
            outage_seconds=args.outage_seconds,
            error_rate=args.brownout_error_rate,
            n=args.n,
            workers=args.workers,
        )
    if name == "fleet":
        return await run_fleet(
            log_dir,
            args.fleets or FLEETS,
            args.quotas or QUOTAS,
            args.n,
            join_leave=not args.no_join_leave,
        )
    return figures(await run_load(_configure(name, args), log_dir))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="unlink-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"bench: logs and profiles in {log_dir}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    for name in _scenarios(args):
        started = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            result = asyncio.run(_run_one(name, args, log_dir))
        except Exception as exc:  # one scenario failing to run must not hide the others
            result = {"scenario": name, "error": f"{type(exc).__name__}: {exc}", "correct": False}
        else:
            result["targets"] = {**targets(result), **result.pop("own_targets", {})}
        print(f"bench: {name} took {time.monotonic() - started:.0f}s", file=sys.stderr)
        results.append(result)
    print(table(results))
    print()
    for result in results:
        print(json_line(result))
    return 0 if all(r.get("correct") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
