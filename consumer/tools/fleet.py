"""`unlink-consumer fleet [--json]`: the fleet as its shared table sees it.

One consistent read of the fleet's items: every worker's entry (id, host, when it started, its
share, what it got through and how often it was throttled over the last minute) and the
leader's decision (the fleet's rate, the learned or configured quota, the mode). A worker whose
heartbeat is older than ``--stale-seconds`` is shown as stale: it is dead or cut off, and the
others take its share.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import sys
import time
from typing import Any

from consumer.aws.clients import client
from consumer.aws.fleet_table import DynamoFleetTable
from consumer.aws.fleet_wire import FLEET_KEY
from consumer.core.clock import SystemClock
from consumer.core.errors import ConfigurationError
from consumer.rate.config import Mode
from consumer.rate.member import FleetView, MemberEntry
from consumer.settings import Settings, load_settings

STALE_SECONDS = 15.0


def add_parser(sub: Any) -> None:
    fleet = sub.add_parser("fleet", help="show the workers sharing the Cognito quota")
    fleet.add_argument("--table", default=None, help="default UNLINK_IDEMPOTENCY_TABLE")
    fleet.add_argument("--region", default=None, help="default: AWS_REGION or the profile's")
    fleet.add_argument("--json", action="store_true", help="one JSON object")
    fleet.add_argument(
        "--stale-seconds", type=float, default=STALE_SECONDS, help="heartbeat age of a dead worker"
    )
    fleet.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # The queue is not needed to read the table; the setting is required for the worker only.
    settings = load_settings(
        {"queue_url": "-", "idempotency_table": args.table, "region": args.region}
    )
    if not settings.idempotency_table:
        raise ConfigurationError(
            "UNLINK_IDEMPOTENCY_TABLE: not set; without a shared table each worker steers alone"
        )
    view = asyncio.run(_read(settings))
    summary = summarize(view, time.time(), args.stale_seconds)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        sys.stdout.write(render(summary))
    return 0


async def _read(settings: Settings) -> FleetView:
    async with client("dynamodb", settings) as dynamodb:
        table = DynamoFleetTable(dynamodb, str(settings.idempotency_table), SystemClock())
        return await table.read()


def _member(entry: MemberEntry, now: float, stale: float) -> dict[str, Any]:
    return {
        "id": entry.member,
        "host": entry.host,
        "started": _iso(entry.started),
        "heartbeat_age_s": round(max(0.0, now - entry.at), 1),
        "live": now - entry.at < stale,
        "share": None if entry.share is None else round(entry.share, 2),
        "wants_more": math.isinf(entry.want),
        "goodput_last_minute": entry.recent_successes,
        "throttles_last_minute": entry.recent_throttles,
    }


def summarize(view: FleetView, now: float, stale: float = STALE_SECONDS) -> dict[str, Any]:
    """The operator's view of one read of the fleet's items, as plain JSON-ready data."""
    members = [_member(e, now, stale) for e in sorted(view.members.values(), key=_started)]
    live = [m for m in members if m["live"]]
    plan = view.plan.plan if view.plan is not None else None
    goodput = sum(m["goodput_last_minute"] for m in live)
    throttles = sum(m["throttles_last_minute"] for m in live)
    return {
        "key": FLEET_KEY,
        "workers": len(live),
        "stale_workers": len(members) - len(live),
        "fleet_rate_per_s": round(goodput / 60.0, 2),
        "throttled_share_last_minute": round(throttles / max(1, goodput + throttles), 4),
        "planned_rate_per_s": None if plan is None else round(plan.rate, 2),
        "quota_estimate_per_s": (
            None if plan is None or plan.estimate is None else round(plan.estimate, 2)
        ),
        "quota": "configured" if plan is not None and plan.mode is Mode.FIXED else "learned",
        "mode": None if plan is None else plan.mode,
        "decided_by": None if view.plan is None else view.plan.by,
        "decided_at": None if view.plan is None else _iso(view.plan.at),
        "members": members,
    }


def _started(entry: MemberEntry) -> float:
    return entry.started


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="seconds")


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"fleet {summary['key']}: {summary['workers']} live worker(s)"
        + (f", {summary['stale_workers']} stale" if summary["stale_workers"] else ""),
        f"  mode {summary['mode'] or '-'}; quota {summary['quota']}: "
        f"{_num(summary['quota_estimate_per_s'])} calls/s; planned "
        f"{_num(summary['planned_rate_per_s'])} calls/s; got {summary['fleet_rate_per_s']} "
        f"calls/s, {100 * summary['throttled_share_last_minute']:.2f}% throttled (last minute)",
        f"  decided by {summary['decided_by'] or '-'} at {summary['decided_at'] or '-'}",
        "",
        f"  {'worker':<13}{'host':<20}{'started':<27}{'share/s':>9}{'ok/min':>8}"
        f"{'thr/min':>8}  state",
    ]
    for m in summary["members"]:
        state = "live" if m["live"] else f"stale ({m['heartbeat_age_s']:.0f}s)"
        if m["live"] and m["wants_more"]:
            state += ", rate-bound"
        lines.append(
            f"  {m['id']:<13}{m['host'][:19]:<20}{m['started']:<27}{_num(m['share']):>9}"
            f"{m['goodput_last_minute']:>8}{m['throttles_last_minute']:>8}  {state}"
        )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
