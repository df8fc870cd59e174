"""A command mix with known fates, a feeder that keeps the queue shallow, and the final audit."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from consumer.local.seed import seed_in_process
from consumer.local.stack import LocalStack
from tests.integration.conftest import drain

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

UNKNOWN = "us-east-1:00000000-0000-4000-8000-{:012x}"


@dataclass
class Mix:
    """Bodies to send (duplicates included) and what each distinct command must become."""

    bodies: list[str] = field(default_factory=list)
    valid: dict[str, tuple[str, str]] = field(default_factory=dict)  # body -> (identity, key)
    doomed: set[str] = field(default_factory=set)  # bodies that must end in the DLQ

    @property
    def distinct(self) -> int:
        return len(self.valid) + len(self.doomed)


def build_mix(
    stack: LocalStack, commands: int, *, duplicate_share: float, bad_share: float, seed: int = 1
) -> Mix:
    rng = random.Random(seed)
    bad = int(commands * bad_share)
    good = commands - bad
    seeded = seed_in_process(stack, developer=good - good // 4, federated=good // 4)
    mix = Mix()
    for dev in seeded.developer:
        body = json.dumps({"action": "UnlinkDeveloperIdentity", **dev.unlink_request()})
        mix.valid[body] = (dev.identity_id, dev.developer_user_identifier)
    for fed in seeded.federated:
        request = fed.unlink_request()
        body = json.dumps({"action": "UnlinkIdentity", **request})
        mix.valid[body] = (fed.identity_id, request["LoginsToRemove"][0])
    pool = seeded.pool
    for index in range(bad):
        if index % 2:
            body = json.dumps({"action": "Unlink", "n": index, "junk": uuid.uuid4().hex})
        else:
            body = json.dumps(
                {
                    "action": "UnlinkDeveloperIdentity",
                    "IdentityId": UNKNOWN.format(index),
                    "IdentityPoolId": pool.identity_pool_id,
                    "DeveloperProviderName": pool.developer_provider_name,
                    "DeveloperUserIdentifier": f"nobody-{index}",
                }
            )
        mix.doomed.add(body)
    distinct = list(mix.valid) + sorted(mix.doomed)
    mix.bodies = distinct + rng.sample(distinct, int(len(distinct) * duplicate_share))
    rng.shuffle(mix.bodies)
    return mix


async def depth(sqs: SQSClient, url: str) -> int:
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    values = attrs["Attributes"]
    return int(values["ApproximateNumberOfMessages"]) + int(
        values["ApproximateNumberOfMessagesNotVisible"]
    )


async def feed(sqs: SQSClient, url: str, bodies: list[str], max_depth: int = 200) -> None:
    """Sends in batches of ten while the queue holds fewer than ``max_depth`` messages."""
    sent = 0
    while sent < len(bodies):
        if await depth(sqs, url) >= max_depth:
            await asyncio.sleep(0.2)
            continue
        for _ in range(5):
            chunk = bodies[sent : sent + 10]
            if not chunk:
                break
            entries: Any = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
            response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not response.get("Failed")
            sent += len(chunk)


async def dlq_bodies(sqs: SQSClient, url: str) -> list[str]:
    """Every DLQ body, consumed."""
    return [message["body"] for message in await drain(sqs, url)]


def applied_of(stack: LocalStack, mix: Mix) -> int:
    """How many of this mix's valid commands the stack has applied (the ledger is shared)."""
    keys = set(mix.valid.values())
    return len({(e.identity_id, e.key) for e in stack.ledger.applied()} & keys)


async def wait_until_settled(
    sqs: SQSClient, queue_url: str, stack: LocalStack, mix: Mix, limit_seconds: float
) -> float:
    """Waits for every valid command to be applied and the queue to be empty."""
    keys = set(mix.valid.values())
    started = time.monotonic()
    while time.monotonic() - started < limit_seconds:
        applied = {(e.identity_id, e.key) for e in stack.ledger.applied()} & keys
        if len(applied) == len(keys) and await depth(sqs, queue_url) == 0:
            delayed = await sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )
            if int(delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"]) == 0:
                return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"not settled within {limit_seconds}s")


@dataclass
class Audit:
    commands: int
    sent: int
    applied_once: int
    applied_twice: int
    never_applied: int
    dlq: int
    dlq_copies: int
    valid_in_dlq: int
    doomed_missing: int

    def line(self) -> str:
        return (
            f"commands={self.commands} sent={self.sent} applied_once={self.applied_once} "
            f"applied_twice={self.applied_twice} duplicates_absorbed={self.sent - self.commands} "
            f"dlq={self.dlq} dlq_copies={self.dlq_copies} valid_in_dlq={self.valid_in_dlq} "
            f"lost={self.never_applied + self.doomed_missing}"
        )


def audit(stack: LocalStack, mix: Mix, dead: list[str]) -> Audit:
    applied = Counter((e.identity_id, e.key) for e in stack.ledger.applied())
    valid_keys = list(mix.valid.values())
    in_dlq = Counter(dead)
    return Audit(
        commands=mix.distinct,
        sent=len(mix.bodies),
        applied_once=sum(1 for k in valid_keys if applied[k] == 1),
        applied_twice=sum(1 for k in valid_keys if applied[k] > 1),
        never_applied=sum(1 for k in valid_keys if applied[k] == 0),
        dlq=len(set(dead) & mix.doomed),
        dlq_copies=sum(c - 1 for b, c in in_dlq.items() if b in mix.doomed),
        valid_in_dlq=sum(1 for b in dead if b in mix.valid),
        doomed_missing=len(mix.doomed - set(dead)),
    )
