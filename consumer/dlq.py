"""`unlink-consumer dlq peek | redrive`: look at dead letters, and send them back once fixed.

Peek hides each message briefly while paging so every message is seen once, then makes them all
visible again. Redrive sends a copy to the source queue before deleting the dead letter, so an
interruption can duplicate a command (which idempotency absorbs) but never lose one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session

from consumer.app import sqs_config
from consumer.errors import ConfigurationError
from consumer.progress import Progress
from consumer.settings import load_settings
from consumer.sqs import (
    ATTEMPTS,
    DEFERRALS,
    FIRST_SEEN,
    OWN_ATTRIBUTES,
    REASON,
    REDRIVEN,
    SOURCE_ID,
    THROTTLES,
    Message,
    resolve_dlq_url,
)

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

PEEK_HIDE_SECONDS = 30


def add_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="inspect and redrive the dead-letter queue")
    dlq.add_argument("--queue-url", default=None, help="source queue; default UNLINK_QUEUE_URL")
    dlq.add_argument("--dlq-url", default=None, help="default UNLINK_DLQ_URL or the RedrivePolicy")
    dlq.add_argument("--region", default=None)
    dlq.set_defaults(handler=handle)
    ops = dlq.add_subparsers(dest="dlq_command", required=True)
    peek = ops.add_parser("peek", help="list dead letters without consuming them")
    peek.add_argument("--max", type=int, default=100)
    peek.add_argument("--json", action="store_true", help="one JSON object per line")
    redrive = ops.add_parser("redrive", help="move dead letters back to the source queue")
    redrive.add_argument("--reason", default=None, help="only messages with this reason")
    redrive.add_argument("--max", type=int, default=None)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings(
        {"queue_url": args.queue_url, "dlq_url": args.dlq_url, "region": args.region}
    )
    return asyncio.run(_main(settings, args))


async def _main(settings: Any, args: argparse.Namespace) -> int:
    session = get_session()
    region = settings.region or session.get_config_variable("region")
    if not region:
        raise ConfigurationError("AWS_REGION: no region configured (set AWS_REGION)")
    async with session.create_client("sqs", region_name=region, config=sqs_config(settings)) as sqs:
        dlq_url = settings.dlq_url or await resolve_dlq_url(sqs, settings.queue_url)
        if not dlq_url:
            raise ConfigurationError("UNLINK_DLQ_URL: not set and the queue has no RedrivePolicy")
        if args.dlq_command == "peek":
            rows = await peek(sqs, dlq_url, args.max)
            print_rows(rows, as_json=args.json)
            return 0
        moved = await redrive(sqs, dlq_url, settings.queue_url, args.reason, args.max)
        print(f"redriven {moved}", file=sys.stderr)
        return 0


async def _receive(sqs: SQSClient, url: str, count: int, hide: int) -> list[Message]:
    response = await sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, count)),
        WaitTimeSeconds=1,
        VisibilityTimeout=hide,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return [Message.from_sqs(raw) for raw in response.get("Messages", [])]


async def _show_again(sqs: SQSClient, url: str, messages: list[Message]) -> None:
    for start in range(0, len(messages), 10):
        entries: Any = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        await sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def _action(body: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return "-"
    action = payload.get("action") if isinstance(payload, dict) else None
    return action if isinstance(action, str) else "-"


def _row(message: Message, now: float) -> dict[str, Any]:
    attrs = message.attributes
    first_seen = attrs.get(FIRST_SEEN)
    age = now - message.sent_timestamp_ms / 1000
    if first_seen:
        with contextlib.suppress(ValueError):
            age = now - dt.datetime.fromisoformat(first_seen.replace("Z", "+00:00")).timestamp()
    return {
        "message_id": message.message_id,
        "reason": attrs.get(REASON, "-"),
        "action": _action(message.body),
        "attempts": attrs.get(ATTEMPTS, "-"),
        "age_seconds": round(age),
        "source_id": attrs.get(SOURCE_ID, "-"),
        "detail": attrs.get("unlink-detail", ""),
    }


async def peek(sqs: SQSClient, dlq_url: str, limit: int) -> list[dict[str, Any]]:
    seen: list[Message] = []
    try:
        while len(seen) < limit:
            batch = await _receive(sqs, dlq_url, limit - len(seen), PEEK_HIDE_SECONDS)
            if not batch:
                break
            seen.extend(batch)
    finally:
        await _show_again(sqs, dlq_url, seen)
    now = time.time()
    return [_row(m, now) for m in seen]


def print_rows(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    columns = ["reason", "action", "attempts", "age_seconds", "source_id"]
    widths = {c: max([len(c), *(len(str(r[c])) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
    print(f"{len(rows)} message(s)")


async def redrive(
    sqs: SQSClient, dlq_url: str, queue_url: str, reason: str | None, limit: int | None
) -> int:
    depth = await sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    total = int(depth.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    progress = Progress(min(total, limit) if limit else total, "redriving")
    moved = 0
    skipped: list[Message] = []
    try:
        while limit is None or moved < limit:
            want = 10 if limit is None else min(10, limit - moved)
            batch = await _receive(sqs, dlq_url, want, 60)
            if not batch:
                break
            chosen = [m for m in batch if reason is None or m.attributes.get(REASON) == reason]
            skipped.extend(m for m in batch if m not in chosen)
            if chosen:
                await _move(sqs, queue_url, dlq_url, chosen)
                moved += len(chosen)
                progress.advance(len(chosen))
    finally:
        await _show_again(sqs, dlq_url, skipped)
        progress.close()
    return moved


async def _move(sqs: SQSClient, queue_url: str, dlq_url: str, messages: list[Message]) -> None:
    entries: list[Any] = []
    for index, message in enumerate(messages):
        # Counters reset; the producer's own attributes and the first-seen time stay.
        attrs = {k: v for k, v in message.attributes.items() if k not in OWN_ATTRIBUTES}
        attrs[REDRIVEN] = "true"
        for kept in (FIRST_SEEN, SOURCE_ID):
            if kept in message.attributes:
                attrs[kept] = message.attributes[kept]
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": message.body,
            "MessageAttributes": {
                k: {"DataType": "String", "StringValue": v} for k, v in list(attrs.items())[:10]
            },
        }
        if queue_url.endswith(".fifo"):
            entry["MessageGroupId"] = message.group_id or "default"
            entry["MessageDeduplicationId"] = f"{message.message_id}-redrive"
        entries.append(entry)
    sent = await sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    ok = {messages[int(s["Id"])] for s in sent.get("Successful", [])}
    failed = sent.get("Failed", [])
    if failed:
        print(f"{len(failed)} message(s) not sent back; left in the DLQ", file=sys.stderr)
    deletes: Any = [
        {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages) if m in ok
    ]
    if deletes:
        await sqs.delete_message_batch(QueueUrl=dlq_url, Entries=deletes)


__all__ = ["ATTEMPTS", "DEFERRALS", "THROTTLES", "peek", "redrive"]
