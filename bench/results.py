"""Figures and verdicts from what a run observed: one JSON-ready dict per scenario.

Correctness comes from the stack's ledger (what Cognito actually applied) and the DLQ's contents,
never from the worker's own account. Timing figures never decide the exit code.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from typing import Any

from bench.procs import Usage
from bench.scenarios import Run
from bench.workload import APPLIED, Effect
from bench.write_units import kinds, write_units

UNLINKS = ("UnlinkDeveloperIdentity", "UnlinkIdentity")
THROTTLED = "TooManyRequestsException"


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _mb(kb: float) -> float:
    return round(kb / 1024, 1)


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def correctness(run: Run) -> dict[str, Any]:
    ledger = run.ledger
    applied_events = ledger["applied"] if ledger else []
    applied = Counter((e["operation"], e["identity_id"], e["key"]) for e in applied_events)
    expected: set[Effect] = {c.effect for c in run.commands if c.effect is not None}
    index = {c.body: i for i, c in enumerate(run.commands)}
    seen: Counter[int] = Counter()
    dlq_wrong = wrong_reason = 0
    right: set[int] = set()
    reasons: Counter[str] = Counter()
    for body, reason in run.dlq:
        reasons[reason] += 1
        i = index.get(body)
        if i is None:
            continue
        seen[i] += 1
        command = run.commands[i]
        if command.expect == APPLIED:
            dlq_wrong += 1
        elif reason != command.expect:
            wrong_reason += 1
        else:
            right.add(i)
    dlq_expected = [i for i, c in enumerate(run.commands) if c.expect != APPLIED]
    result = {
        "applied_once": sum(1 for e in expected if applied[e] == 1),
        "applied_twice": sum(1 for e in expected if applied[e] > 1),
        "applied_never": sum(1 for e in expected if applied[e] == 0),
        "applied_unexpected": sum(n for e, n in applied.items() if e not in expected),
        "dlq_expected": len(dlq_expected),
        "dlq_ok": sum(1 for i in dlq_expected if seen[i] == 1 and i in right),
        "dlq_missing": sum(1 for i in dlq_expected if seen[i] == 0),
        "dlq_duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "dlq_valid_dead_lettered": dlq_wrong,
        "dlq_wrong_reason": wrong_reason,
        "dlq_unknown_bodies": sum(1 for body, _ in run.dlq if body not in index),
        "dlq_reasons": dict(sorted(reasons.items())),
        "timed_out": run.timed_out,
    }
    problems = (
        "applied_twice",
        "applied_never",
        "applied_unexpected",
        "dlq_missing",
        "dlq_duplicates",
        "dlq_valid_dead_lettered",
        "dlq_wrong_reason",
        "dlq_unknown_bodies",
        "timed_out",
    )
    result["correct"] = not any(result[k] for k in problems)
    return result


def _apply_times(run: Run) -> list[tuple[float, float]]:
    """(sent, applied) per valid command applied, first application only."""
    sent = {c.effect: run.sent_at[i] for i, c in enumerate(run.commands) if c.effect is not None}
    first: dict[Effect, float] = {}
    for event in run.ledger["applied"] if run.ledger else []:
        effect = (event["operation"], event["identity_id"], event["key"])
        if effect in sent and effect not in first:
            first[effect] = event["at"]
    return [(sent[e], at) for e, at in first.items()]


def _sustained(applied_at: list[float], fed_until: float | None = None) -> float | None:
    """Applied/s over the middle 80% of the applied commands: the fleet at work on a backlog.

    The first 10% (workers starting, the limiter finding the quota) and the last 10% (the drain:
    a few workers finishing the last messages they hold) are left out; `commands_per_s` keeps
    the whole run. With ``fed_until`` (the feeder's last send), the part after it is left out
    too: the feeder shares the machine's two cores, and a short run's last seconds without it
    are quicker than any second of a long run with it.
    """
    if len(applied_at) < 10:
        return None
    ordered = sorted(applied_at)
    first, last = len(ordered) // 10, len(ordered) - 1 - len(ordered) // 10
    if fed_until is not None:
        last = min(last, bisect.bisect_right(ordered, fed_until) - 1)
    if last <= first:
        return None
    span = ordered[last] - ordered[first]
    return (last - first) / span if span > 0 else None


def fed_sustained(run: Run) -> float | None:
    """`sustained_per_s` while the feeder still sent: a stack's ceiling, comparable with the
    steady part of a longer run (whose feeder sends throughout it)."""
    applied = [at for _, at in _apply_times(run)]
    return _r(_sustained(applied, max(run.sent_at, default=None)))


def timeline(run: Run) -> dict[str, list[int]]:
    """Per second since the first send: unlinks applied, and unlink calls throttled."""
    start = int(run.first_send)
    applied: Counter[int] = Counter()
    for event in run.ledger["applied"] if run.ledger else []:
        applied[int(event["at"]) - start] += 1
    throttled: Counter[int] = Counter()
    per_second = run.ledger["calls_per_second"] if run.ledger else {}
    for second, outcomes in per_second.items():
        throttled[int(second) - start] += outcomes.get(THROTTLED, 0)
    last = max([*applied, *throttled, 0])
    return {
        "applied": [applied[s] for s in range(last + 1)],
        "throttled": [throttled[s] for s in range(last + 1)],
    }


def _usage(run: Run) -> dict[str, Any]:
    n = max(1, len(run.commands))
    cpu = sum(e.cpu_s - r.cpu_s for e, r in zip(run.end, run.ready, strict=True))
    span = max((e.at - r.at for e, r in zip(run.end, run.ready, strict=True)), default=0.0)
    warm: list[Usage] = run.warm or run.ready
    stack = None
    if run.stack_start and run.stack_end:
        spent = run.stack_end.cpu_s - run.stack_start.cpu_s
        stack = 100 * spent / max(1e-9, run.stack_end.at - run.stack_start.at)
    # Each process's whole life up to the end of the run: its start-up included.
    lives = sum(e.cpu_s for e in run.end)
    wakeups = sum(e.wakeups - r.wakeups for e, r in zip(run.end, run.ready, strict=True))
    return {
        "cpu_ms_per_command": _r(1000 * cpu / n, 2),
        "cpu_ms_per_command_with_startup": _r(1000 * lives / n, 2),
        "startup_cpu_s_per_worker": _r(sum(r.cpu_s for r in run.ready) / max(1, len(run.ready)), 2),
        "wakeups_per_command": _r(wakeups / n, 2),
        "worker_cpu_pct": _r(100 * cpu / max(1e-9, span) / max(1, len(run.end))),
        "stack_cpu_pct": _r(stack),
        "rss_ready_mb": _mb(max((u.rss_kb for u in run.ready), default=0)),
        "rss_start_mb": _mb(max((u.rss_kb for u in warm), default=0)),
        "rss_end_mb": _mb(max((u.rss_kb for u in run.end), default=0)),
    }


def figures(run: Run) -> dict[str, Any]:
    scenario = run.scenario
    n = max(1, len(run.commands))
    times = _apply_times(run)
    waits = [1000 * (at - sent) for sent, at in times]
    last = max((at for _, at in times), default=run.done_at)
    expects_dlq = any(c.expect != APPLIED for c in run.commands)
    finished = max(last, run.done_at) if expects_dlq else last
    elapsed = max(1e-9, finished - run.first_send)
    ledger = run.ledger
    calls = ledger["calls"] if ledger else {}
    cognito_calls = sum(sum(outcomes.values()) for outcomes in calls.values())
    unlink_calls = sum(sum(calls.get(op, {}).values()) for op in UNLINKS)
    throttled = sum(calls.get(op, {}).get(THROTTLED, 0) for op in UNLINKS)
    sqs = {
        k.split(".", 1)[1]: v for k, v in run.worker_requests.items() if k.startswith("AmazonSQS.")
    }
    dynamodb = {
        k.split(".", 1)[1]: v for k, v in run.worker_requests.items() if k.startswith("DynamoDB")
    }
    units = write_units(run.dynamodb_writes, run.largest_item)
    result: dict[str, Any] = {
        "scenario": scenario.name,
        **scenario.knobs(),
        "commands_per_s": _r(len(run.commands) / elapsed),
        "elapsed_s": _r(elapsed, 2),
        "p50_ms": _r(percentile(waits, 0.50)),
        "p99_ms": _r(percentile(waits, 0.99)),
        "max_ms": _r(max(waits, default=None)),
        **_usage(run),
        "sqs_requests_per_command": _r(sum(sqs.values()) / n, 3),
        "sqs_requests": sqs,
        "dynamodb_requests_per_command": _r(sum(dynamodb.values()) / n, 3),
        "dynamodb_requests": dynamodb,
        "dynamodb_writes": kinds(run.dynamodb_writes),
        "dynamodb_write_units_per_command": _r(units / n, 3),
        "dynamodb_largest_item_bytes": run.largest_item,
        "cognito_calls_per_command": _r(cognito_calls / n, 3),
        "cognito_calls": calls,
        "throttled_share": _r(throttled / unlink_calls, 4) if unlink_calls else 0.0,
        "sustained_per_s": _r(_sustained([at for _, at in times])),
        "max_queue_depth": run.max_depth,
        "worker_exit_codes": run.exit_codes,
        "worker_errors_logged": run.worker_errors,
    }
    result["timeline_per_s"] = timeline(run)
    if run.ceiling is not None:
        result["stack_ceiling"] = run.ceiling.to_json()
    if run.samplers:
        result["profiles"] = [str(s.prefix.with_suffix(".txt")) for s in run.samplers]
    result.update(correctness(run))
    return result
