"""`unlink-consumer dlq peek | redrive`: look at dead letters, and send them back once fixed.

Peek hides each message briefly while paging so every message is seen once, then makes them all
visible again. Redrive lives in `redrive.py`; the dead letters' attributes are read through the
attribute codec, never parsed here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from consumer.aws.clients import client
from consumer.aws.sqs import make_visible, receive, resolve_dlq_url
from consumer.core import attributes
from consumer.core.envelopes import inner_payload
from consumer.core.errors import ConfigurationError
from consumer.core.messages import Message
from consumer.settings import Settings, load_settings
from consumer.tools.redrive import RedriveReport, redrive

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

PEEK_HIDE_SECONDS = 30


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def add_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="inspect and redrive the dead-letter queue")
    dlq.add_argument("--queue-url", default=None, help="source queue; default UNLINK_QUEUE_URL")
    dlq.add_argument("--dlq-url", default=None, help="default UNLINK_DLQ_URL or the RedrivePolicy")
    dlq.add_argument("--region", default=None, help="default: AWS_REGION or the profile's")
    dlq.set_defaults(handler=handle)
    ops = dlq.add_subparsers(dest="dlq_command", required=True)
    peek = ops.add_parser("peek", help="list dead letters without consuming them")
    peek.add_argument("--max", type=_positive, default=100, help="at most this many (100)")
    peek.add_argument("--json", action="store_true", help="one JSON object per line")
    redrive = ops.add_parser("redrive", help="move dead letters back to the source queue")
    redrive.add_argument("--reason", default=None, help="only messages with this reason")
    redrive.add_argument("--max", type=_positive, default=None, help="at most this many")


def handle(args: argparse.Namespace) -> int:
    queue_url = args.queue_url
    if args.dlq_command == "peek" and args.dlq_url and not queue_url:
        # Peeking at a named DLQ needs no source queue; the setting is required for the rest.
        queue_url = args.dlq_url
    settings = load_settings(
        {"queue_url": queue_url, "dlq_url": args.dlq_url, "region": args.region}
    )
    return asyncio.run(_main(settings, args))


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    async with client("sqs", settings) as sqs:
        dlq_url = settings.dlq_url or await resolve_dlq_url(sqs, settings.queue_url)
        if not dlq_url:
            raise ConfigurationError("UNLINK_DLQ_URL: not set and the queue has no RedrivePolicy")
        if args.dlq_command == "peek":
            rows = await peek(sqs, dlq_url, args.max)
            print_rows(rows, as_json=args.json)
            return 0
        report = await redrive(sqs, dlq_url, settings.queue_url, args.reason, args.max)
        if report.error:
            print(f"unlink-consumer: redrive stopped: {report.error}", file=sys.stderr)
        print(
            f"redriven {report.moved}, not sent {report.not_sent}, "
            f"left in the DLQ (other reason) {report.skipped}",
            file=sys.stderr,
        )
        if report.not_deleted:
            print(
                f"{report.not_deleted} redriven message(s) could not be deleted from the DLQ "
                "and will show up there again (a second redrive is absorbed as a duplicate)",
                file=sys.stderr,
            )
        return 1 if report.not_sent or report.error else 0


def _action(body: str) -> str | None:
    payload = inner_payload(body)  # the command inside an SNS or EventBridge envelope too
    action = payload.get("action") if isinstance(payload, dict) else None
    return action if isinstance(action, str) else None


def _row(message: Message, now: float) -> dict[str, Any]:
    """One dead letter for people and scripts; a field the message lacks is None."""
    info = attributes.read_dead_letter(message)
    # Age since the command was first seen; a message the worker never wrote: since it was sent.
    since = info.first_seen.timestamp() if info.first_seen else message.sent_timestamp_ms / 1000
    return {
        "message_id": message.message_id,
        "reason": info.reason,
        "action": _action(message.body),
        "attempts": info.attempts,
        "age_seconds": max(0, round(now - since)),
        "source_id": info.source_id,
        "detail": info.detail,
    }


def human_age(seconds: int) -> str:
    """45s, 12m, 5h, 3d: the largest unit that keeps the number at least 2 (or seconds)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def peek(sqs: SQSClient, dlq_url: str, limit: int) -> list[dict[str, Any]]:
    seen: list[Message] = []
    try:
        while len(seen) < limit:
            batch = await receive(sqs, dlq_url, limit - len(seen), 1, PEEK_HIDE_SECONDS)
            if not batch:
                break
            seen.extend(batch)
    finally:
        await make_visible(sqs, dlq_url, seen)
    now = time.time()
    return [_row(m, now) for m in seen]


def _cells(row: dict[str, Any]) -> list[str]:
    values = [
        row["reason"],
        row["action"],
        row["attempts"],
        human_age(row["age_seconds"]),
        row["source_id"],
    ]
    return ["-" if value is None else str(value) for value in values]


def print_rows(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    """A table for people (age since the command was first seen), or JSON lines for scripts."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    header = ["REASON", "ACTION", "ATTEMPTS", "AGE", "SOURCE ID"]
    cells = [_cells(row) for row in rows]
    widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, name in enumerate(header)]
    for line in [header, *cells]:
        print(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )
    print(f"{len(rows)} message(s)")


__all__ = ["RedriveReport", "add_parser", "handle", "human_age", "peek", "print_rows", "redrive"]
