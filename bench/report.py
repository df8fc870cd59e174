"""The targets of the issue, checked against a result, and the human table.

Targets are reported, never enforced: only correctness decides the exit code.
"""

from __future__ import annotations

import json
from typing import Any

RSS_SLACK_MB = 3.0  # first-use allocations after warm-up (pools, caches) are not growth
QUOTA_CPU_MS = 4.0  # per command at the quota, the fleet's start-up included
QUOTA_SQS = 0.4  # SQS requests per command at the quota


def _target(goal: str, value: Any, met: bool) -> dict[str, Any]:
    return {"goal": goal, "value": value, "met": bool(met)}


def _rss(result: dict[str, Any]) -> dict[str, Any]:
    start, end = result["rss_start_mb"], result["rss_end_mb"]
    growth = round(end - start, 1)
    limit = max(RSS_SLACK_MB, 0.05 * start)
    return _target(f"RSS end - start <= {limit:.1f} MB", growth, growth <= limit)


def targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets that apply to this scenario, each with its value and verdict."""
    name = result["scenario"]
    found: dict[str, dict[str, Any]] = {}
    if name == "idle":
        found["idle_cpu"] = _target("< 1% of a core", result["cpu_pct"], result["cpu_pct"] < 1.0)
        per = result["receives_per_period"]
        found["idle_receives"] = _target("<= 1 receive per wait period", per, per <= 1.0)
        return found
    found["correctness"] = _target(
        "every valid command applied once, every other dead-lettered once",
        result["correct"],
        result["correct"],
    )
    if "cells" in result or "runs" in result or name in ("hold", "memory-soak"):
        return found  # a matrix (bench.fleet), a pair (bench.fair), a wait: their own targets
    found["rss"] = _rss(result)
    rate = result["commands_per_s"] or 0.0
    if name == "latency":
        bound = result["workers"] * result["concurrency"] / (result["latency_ms"] / 1000)
        ceiling = (result.get("stack_ceiling") or {}).get("commands_per_s")
        allowed = min(bound, ceiling) if ceiling else bound
        found["throughput"] = _target(
            f">= 80% of min(bound {bound:.0f}/s, stack ceiling {ceiling or '-'}/s)",
            f"{rate:.1f}/s = {100 * rate / allowed:.0f}%",
            rate >= 0.8 * allowed,
        )
        sqs = result["sqs_requests_per_command"]
        found["sqs_requests"] = _target("<= 0.3 SQS requests per command", sqs, sqs <= 0.3)
    if name == "quota" and result["quota_rps"]:
        quota = result["quota_rps"]
        sustained = result["sustained_per_s"] or 0.0
        found["quota_rate"] = _target(
            f">= 95% of the quota ({0.95 * quota:.1f}/s) sustained",
            f"{sustained:.1f}/s = {100 * sustained / quota:.0f}%",
            sustained >= 0.95 * quota,
        )
        share = result["throttled_share"]
        found["throttled"] = _target("<= 2% of calls throttled", share, share <= 0.02)
        dead = result["dlq_valid_dead_lettered"]
        found["no_valid_dlq"] = _target("no valid command dead-lettered", dead, dead == 0)
        cpu = result["cpu_ms_per_command_with_startup"]
        found["quota_cpu"] = _target(
            f"<= {QUOTA_CPU_MS:g} ms CPU per command, start-up included", cpu, cpu <= QUOTA_CPU_MS
        )
        sqs = result["sqs_requests_per_command"]
        found["quota_sqs"] = _target(
            f"<= {QUOTA_SQS:g} SQS requests per command", sqs, sqs <= QUOTA_SQS
        )
    return found


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


COLUMNS = (
    ("scenario", 9, "scenario", ""),
    ("cmds/s", 8, "commands_per_s", ".1f"),
    ("p50 ms", 8, "p50_ms", ".0f"),
    ("p99 ms", 8, "p99_ms", ".0f"),
    ("cpu ms/cmd", 11, "cpu_ms_per_command", ".2f"),
    ("rss MB", 12, "rss", ""),
    ("sqs/cmd", 8, "sqs_requests_per_command", ".3f"),
    ("cognito/cmd", 12, "cognito_calls_per_command", ".3f"),
    ("throttled", 10, "throttled_share", ".2%"),
    ("once/twice/never", 17, "applied", ""),
    ("dlq ok/exp", 11, "dlq", ""),
    ("correct", 8, "correct", ""),
)


def _row(result: dict[str, Any]) -> str:
    cells = {
        **result,
        "rss": f"{result['rss_start_mb']}->{result['rss_end_mb']}",
        "applied": f"{result['applied_once']}/{result['applied_twice']}/{result['applied_never']}",
        "dlq": f"{result['dlq_ok']}/{result['dlq_expected']}",
        "correct": "yes" if result["correct"] else "NO",
    }
    return "".join(f"{_fmt(cells.get(key), spec):>{width}}" for _, width, key, spec in COLUMNS)


def _per(counts: dict[str, int], n: int) -> str:
    return ", ".join(f"{k} {v / n:.3f}" for k, v in sorted(counts.items())) or "none"


def costs(result: dict[str, Any]) -> str:
    """What one command cost a load scenario's fleet, and the requests that explain it."""
    n = max(1, result["n"])
    return (
        f"{result['scenario']} per command ({result['workers']} worker(s), n {result['n']}, "
        f"quota {result['quota_rps'] or '-'}/s, {result['store']} store):\n"
        f"  CPU {result['cpu_ms_per_command_with_startup']} ms with start-up, "
        f"{result['cpu_ms_per_command']} ms from the first receive "
        f"(start-up {result['startup_cpu_s_per_worker']} s CPU per worker); "
        f"wake-ups {result['wakeups_per_command']}; "
        f"RSS idle {result['rss_ready_mb']} MB, full speed {result['rss_end_mb']} MB\n"
        f"  SQS {result['sqs_requests_per_command']}: {_per(result['sqs_requests'], n)}\n"
        f"  DynamoDB {result['dynamodb_requests_per_command']} requests, "
        f"{result['dynamodb_write_units_per_command']} write units "
        f"(largest item {result['dynamodb_largest_item_bytes']} B): "
        f"{_per(result['dynamodb_requests'], n)}\n"
        f"  DynamoDB writes: {_per(result['dynamodb_writes'], n)}"
    )


def table(results: list[dict[str, Any]]) -> str:
    lines = ["".join(f"{title:>{width}}" for title, width, _, _ in COLUMNS)]
    lines.append("-" * len(lines[0]))
    loads = [r for r in results if "commands_per_s" in r]
    loads += [run for r in results for run in r.get("runs", [])]  # a pair's runs (bench.fair)
    lines += [_row(r) for r in loads]
    lines += [f"\n{costs(r)}" for r in loads if "dynamodb_writes" in r]
    for result in results:
        if "error" in result:
            lines.append(f"{result['scenario']:>9}  FAILED TO RUN: {result['error']}")
        ceiling = result.get("stack_ceiling")
        if ceiling:
            lines.append(
                f"\nlocal stack ceiling (no worker logic, {ceiling['in_flight']} in flight, "
                f"same faults): {ceiling['commands_per_s']} commands/s, "
                f"{ceiling['requests_per_s']} requests/s, stack CPU {ceiling['stack_cpu_pct']}%"
            )
        if "summary" in result:  # the long runs' own figures (bench.outage, bench.soak)
            lines.append(f"\n{result['summary']}")
        if result["scenario"] == "idle" and "cpu_pct" in result:
            lines.append(
                f"\nidle ({result['periods']} x {result['wait_s']} s wait): worker CPU "
                f"{result['cpu_pct']}% of a core, {result['receives']} receives "
                f"({result['receives_per_period']} per wait period)"
            )
    lines.append("\ntargets:")
    for result in results:
        for name, target in result.get("targets", {}).items():
            verdict = "met" if target["met"] else "MISSED"
            lines.append(
                f"  {result['scenario']:<8} {name:<14} {verdict:<7} "
                f"{target['value']}  (goal: {target['goal']})"
            )
    return "\n".join(lines)


def json_line(result: dict[str, Any]) -> str:
    return json.dumps(result, sort_keys=False, separators=(",", ":"))
