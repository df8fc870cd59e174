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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import botocore.exceptions
from aiobotocore.session import get_session

from consumer.app import sqs_config
from consumer.aws.sqs import resolve_dlq_url
from consumer.core.attributes import (
    ATTEMPTS,
    DEFERRALS,
    DETAIL,
    FIRST_SEEN,
    MAX_ATTRIBUTES,
    OWN_ATTRIBUTES,
    REASON,
    REDRIVEN,
    SOURCE_ID,
    THROTTLES,
)
from consumer.core.envelopes import inner_payload
from consumer.core.errors import ConfigurationError
from consumer.core.messages import Message
from consumer.settings import load_settings
from consumer.tools.progress import Progress
from consumer.tools.send import size_batches

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

PEEK_HIDE_SECONDS = 30
# Long enough for one batch to be sent back and deleted; an interrupted redrive's messages come
# back to the DLQ on their own after this.
REDRIVE_HIDE_SECONDS = 60


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
    dlq.add_argument("--region", default=None)
    dlq.set_defaults(handler=handle)
    ops = dlq.add_subparsers(dest="dlq_command", required=True)
    peek = ops.add_parser("peek", help="list dead letters without consuming them")
    peek.add_argument("--max", type=_positive, default=100, help="at most this many (100)")
    peek.add_argument("--json", action="store_true", help="one JSON object per line")
    redrive = ops.add_parser("redrive", help="move dead letters back to the source queue")
    redrive.add_argument("--reason", default=None, help="only messages with this reason")
    redrive.add_argument("--max", type=_positive, default=None, help="at most this many")


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


def _action(body: str) -> str | None:
    payload = inner_payload(body)  # the command inside an SNS or EventBridge envelope too
    action = payload.get("action") if isinstance(payload, dict) else None
    return action if isinstance(action, str) else None


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _row(message: Message, now: float) -> dict[str, Any]:
    """One dead letter for people and scripts; a field the message lacks is None."""
    attrs = message.attributes
    first_seen = attrs.get(FIRST_SEEN)
    age = now - message.sent_timestamp_ms / 1000
    if first_seen:
        with contextlib.suppress(ValueError):
            age = now - dt.datetime.fromisoformat(first_seen.replace("Z", "+00:00")).timestamp()
    return {
        "message_id": message.message_id,
        "reason": attrs.get(REASON),
        "action": _action(message.body),
        "attempts": _count(attrs.get(ATTEMPTS)),
        "age_seconds": max(0, round(age)),
        "source_id": attrs.get(SOURCE_ID),
        "detail": attrs.get(DETAIL, ""),
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
            batch = await _receive(sqs, dlq_url, limit - len(seen), PEEK_HIDE_SECONDS)
            if not batch:
                break
            seen.extend(batch)
    finally:
        await _show_again(sqs, dlq_url, seen)
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


@dataclass(slots=True)
class RedriveReport:
    """What a redrive did: copies accepted by the source queue, and dead letters left behind."""

    moved: int = 0
    not_sent: int = 0
    not_deleted: int = 0
    skipped: int = 0
    error: str | None = None  # why it stopped early; what was not moved is still in the DLQ


async def redrive(
    sqs: SQSClient, dlq_url: str, queue_url: str, reason: str | None, limit: int | None
) -> RedriveReport:
    """Moves dead letters (all, or those with ``reason``; at most ``limit``) to ``queue_url``.

    Each copy is sent and accepted before its dead letter is deleted. Messages this call holds
    hidden (not chosen, not sent, or in hand when it is interrupted) are made visible again on the
    way out; if even that fails they reappear on their own after the receive's visibility timeout.
    """
    depth = await sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    total = int(depth.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    progress = Progress(min(total, limit) if limit and reason is None else total, "redriving")
    report = RedriveReport()
    kept: list[Message] = []  # hidden by us and staying in the DLQ: shown again at the end
    in_hand: list[Message] = []
    try:
        while limit is None or report.moved < limit:
            want = 10 if limit is None else min(10, limit - report.moved)
            in_hand = await _receive(sqs, dlq_url, want, REDRIVE_HIDE_SECONDS)
            if not in_hand:
                break
            room = len(in_hand) if limit is None else limit - report.moved
            chosen = [m for m in in_hand if reason is None or m.attributes.get(REASON) == reason]
            chosen, over = chosen[:room], chosen[room:]
            skipped = [m for m in in_hand if m not in chosen]
            report.skipped += len(skipped) - len(over)
            kept.extend(skipped)
            if chosen:
                try:
                    failed, undeleted = await _move(
                        sqs, queue_url, dlq_url, chosen, progress.message
                    )
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    report.error = str(exc)
                    break
                kept.extend(failed)
                report.not_sent += len(failed)
                report.not_deleted += undeleted
                report.moved += len(chosen) - len(failed)
            in_hand = []
            progress.advance(len(chosen) if reason is None else len(chosen) + len(skipped))
    finally:
        progress.close()
        # Best effort: whatever is not shown again now reappears after its visibility timeout.
        with contextlib.suppress(Exception):
            await _show_again(sqs, dlq_url, kept + in_hand)
    return report


def _redriven_attributes(message: Message) -> dict[str, str]:
    """Counters and the dead-letter reason dropped; the story and the producer's own kept."""
    ours = {REDRIVEN: "true"}
    for kept in (FIRST_SEEN, SOURCE_ID):
        if kept in message.attributes:
            ours[kept] = message.attributes[kept]
    theirs = [(k, v) for k, v in message.attributes.items() if k not in OWN_ATTRIBUTES]
    return {**dict(theirs[: MAX_ATTRIBUTES - len(ours)]), **ours}


def _entry_size(message: Message, attributes: dict[str, str]) -> int:
    return len(message.body.encode()) + sum(
        len(k) + len(v.encode()) + 6 for k, v in attributes.items()
    )


async def _move(
    sqs: SQSClient,
    queue_url: str,
    dlq_url: str,
    messages: list[Message],
    note: Callable[[str], None],
) -> tuple[list[Message], int]:
    """Sends copies, then deletes the dead letters whose copy was accepted.

    Returns the messages not sent (still in the DLQ) and how many copies were sent but whose
    dead letter could not be deleted (a later redrive would duplicate them; idempotency absorbs
    that).
    """
    entries: list[tuple[Message, dict[str, Any], int]] = []
    for index, message in enumerate(messages):
        attrs = _redriven_attributes(message)
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": message.body,
            "MessageAttributes": {
                k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()
            },
        }
        if queue_url.endswith(".fifo"):
            entry["MessageGroupId"] = message.group_id or "default"
            entry["MessageDeduplicationId"] = f"{message.message_id}-redrive"
        entries.append((message, entry, _entry_size(message, attrs)))
    sent: list[Message] = []
    failed: list[Message] = []
    for chunk in size_batches(entries, lambda item: item[2]):
        response = await sqs.send_message_batch(
            QueueUrl=queue_url, Entries=cast(Any, [entry for _, entry, _ in chunk])
        )
        by_id = {entry["Id"]: message for message, entry, _ in chunk}
        accepted = {str(s["Id"]) for s in response.get("Successful", [])}
        for entry_id, message in by_id.items():
            (sent if entry_id in accepted else failed).append(message)
        for failure in response.get("Failed", []):
            note(
                f"not sent back, left in the DLQ: {by_id[failure['Id']].message_id}: "
                f"{failure.get('Code')}"
            )
    undeleted = 0
    for start in range(0, len(sent), 10):
        deletes: Any = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle}
            for i, m in enumerate(sent[start : start + 10])
        ]
        response_d = await sqs.delete_message_batch(QueueUrl=dlq_url, Entries=deletes)
        undeleted += len(response_d.get("Failed", []))
    return failed, undeleted


__all__ = ["ATTEMPTS", "DEFERRALS", "THROTTLES", "RedriveReport", "peek", "redrive"]
