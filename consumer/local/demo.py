"""`make run`: the whole product on the embedded local stack, end to end, with a summary.

Starts the stack, creates the queue and its DLQ (with a redrive policy), seeds identities, enqueues
a mix of commands that reaches every outcome, runs the worker until the queue drains, and prints
what happened to each command next to what the local Cognito Identity actually applied. The stack
enforces a small Cognito quota, so the worker meets throttles and re-enqueues those commands on
their own budget; one unlink's answer is lost after it applied, and is verified from Cognito's
state.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session

from consumer.app import run
from consumer.local.demo_deletions import Deletions, deletion_commands
from consumer.local.stack import LocalStack
from consumer.observe import logs
from consumer.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

UNKNOWN_IDENTITY = "us-east-1:00000000-0000-4000-8000-000000000000"
GOOGLE = "accounts.google.com"
# Unlinks/s the local Cognito Identity lets through (burst: one second of it): below what a cold
# worker sends once its rate has doubled twice, so its first calls meet throttles.
DEMO_QUOTA_RPS = 5.0


async def _queues(sqs: SQSClient) -> tuple[str, str]:
    dlq = (await sqs.create_queue(QueueName="unlink-commands-dlq"))["QueueUrl"]
    attrs = await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": attrs["Attributes"]["QueueArn"], "maxReceiveCount": "10"}
    queue = await sqs.create_queue(
        QueueName="unlink-commands",
        Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "30"},
    )
    return queue["QueueUrl"], dlq


async def _commands(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> tuple[list[tuple[str, Any]], int, Deletions]:
    """(expected outcome, body) pairs, how many unlinks should be applied, and the deletions."""
    provider = "login.example.com"
    pool = (
        await cognito.create_identity_pool(
            IdentityPoolName="demo",
            AllowUnauthenticatedIdentities=False,
            DeveloperProviderName=provider,
            SupportedLoginProviders={GOOGLE: "demo-client"},
        )
    )["IdentityPoolId"]

    async def developer() -> dict[str, Any]:
        user = f"user-{uuid.uuid4().hex[:12]}"
        made = await cognito.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool, Logins={provider: user}
        )
        return {
            "action": "UnlinkDeveloperIdentity",
            "IdentityId": made["IdentityId"],
            "IdentityPoolId": pool,
            "DeveloperProviderName": provider,
            "DeveloperUserIdentifier": user,
        }

    async def federated() -> dict[str, Any]:
        token = f"google-token-{uuid.uuid4().hex}"
        made = await cognito.get_id(IdentityPoolId=pool, Logins={GOOGLE: token})
        return {
            "action": "UnlinkIdentity",
            "IdentityId": made["IdentityId"],
            "Logins": {GOOGLE: token},
            "LoginsToRemove": [GOOGLE],
        }

    mix: list[tuple[str, Any]] = []
    valid = [await developer() for _ in range(30)] + [await federated() for _ in range(15)]
    mix += [("applied", c) for c in valid]
    mix += [("duplicate", dict(c)) for c in valid[:6]]
    mix += [("ResourceNotFoundException", {**(await developer()), "IdentityId": UNKNOWN_IDENTITY})]
    first, second = await developer(), await developer()
    mix += [("ResourceConflictException", {**second, "IdentityId": first["IdentityId"]})]
    mix += [("NotAuthorizedException", {**(await developer()), "DeveloperProviderName": "other"})]
    stale = await federated()
    mix += [("NotAuthorizedException", {**stale, "Logins": {GOOGLE: "expired-token"}})]
    doomed = await developer()
    stack.faults.fail_identities[doomed["IdentityId"]] = "InternalErrorException"
    mix += [("retries_exhausted", doomed)]
    rejected = await developer()
    stack.faults.fail_identities[rejected["IdentityId"]] = "InvalidParameterException"
    mix += [("InvalidParameterException", rejected)]
    # Applied, but answered with a 5xx: the retry meets ResourceNotFound, proven from Cognito.
    lost = await developer()
    stack.faults.fail_after_apply[lost["IdentityId"]] = "InternalErrorException"
    mix += [("already_applied", lost)]
    mix += [
        ("malformed", "this is not JSON"),
        ("malformed", {"action": "DeleteEverything"}),
        ("malformed", {**(await developer()), "IdentityId": "not-an-identity-id"}),
        ("malformed", {**(await federated()), "Logins": {f"p{i}": "t" for i in range(11)}}),
    ]
    deletions = await deletion_commands(cognito, pool, provider)
    mix += deletions.mix
    random.Random(7).shuffle(mix)
    return mix, len(valid) + 1 + deletions.unlinks, deletions


async def _send(sqs: SQSClient, url: str, bodies: list[Any]) -> None:
    for start in range(0, len(bodies), 10):
        entries: Any = [
            {"Id": str(i), "MessageBody": b if isinstance(b, str) else json.dumps(b)}
            for i, b in enumerate(bodies[start : start + 10])
        ]
        await sqs.send_message_batch(QueueUrl=url, Entries=entries)


async def _dlq_reasons(sqs: SQSClient, url: str) -> Counter[str]:
    reasons: Counter[str] = Counter()
    while True:
        got = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        messages = got.get("Messages", [])
        if not messages:
            return reasons
        for message in messages:
            reason = message.get("MessageAttributes", {}).get("unlink-reason")
            reasons[reason.get("StringValue", "?") if reason else "?"] += 1
        entries: Any = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        await sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def _table(rows: list[tuple[str, int | None, int]]) -> str:
    lines = [f"{'outcome':<30}{'expected':>10}{'observed':>10}", "-" * 50]
    for name, want, got in rows:
        flag = "" if want is None or want == got else "   <-- differs"
        lines.append(f"{name:<30}{'-' if want is None else want:>10}{got:>10}{flag}")
    return "\n".join(lines)


async def main() -> int:
    with LocalStack() as stack:
        os.environ.update(stack.env())
        session = get_session()
        async with (
            session.create_client("sqs", region_name="us-east-1") as sqs,
            session.create_client("cognito-identity", region_name="us-east-1") as cognito,
        ):
            queue_url, dlq_url = await _queues(sqs)
            mix, valid, deletions = await _commands(cognito, stack)
            await _send(sqs, queue_url, [body for _, body in mix])
            print(f"enqueued {len(mix)} commands on {queue_url}", file=sys.stderr)
            # Some transient trouble on the way: these are retried and then applied.
            stack.faults.internal_error_rate = 0.1
            stack.faults.quota_rps = DEMO_QUOTA_RPS
            settings = Settings(
                queue_url=queue_url,
                wait_time_seconds=1,
                backoff_base_seconds=1,
                backoff_max_seconds=2,
                max_attempts=4,
                # No retry inside botocore: each throttle the stack answers is one re-enqueue.
                cognito_max_attempts=1,
                concurrency=16,
                log_format="json",
                log_level="warning",
            )
            stats = await run(settings, until_idle=True)
            reasons = await _dlq_reasons(sqs, dlq_url)
        throttled = stack.ledger.throttled()
        deleted = stack.ledger.applied_count("DeleteIdentities")
        applied = stack.ledger.applied_count() - deleted
        delete_calls = stack.ledger.calls_by_operation()["DeleteIdentities"]
    expected = Counter(kind for kind, _ in mix)
    rows: list[tuple[str, int | None, int]] = [
        ("applied", expected["applied"], stats.outcomes["applied"]),
        ("duplicate (absorbed)", expected["duplicate"], stats.outcomes["duplicate"]),
        (
            "already_applied (verified)",
            expected["already_applied"],
            stats.outcomes["already_applied"],
        ),
    ]
    rows.append(("not_linked (user named)", expected["not_linked"], stats.outcomes["not_linked"]))
    for reason in sorted(set(expected) - {"applied", "duplicate", "already_applied", "not_linked"}):
        rows.append((f"DLQ: {reason}", expected[reason], reasons[reason]))
    # Every throttle the stack answered is a command re-enqueued on its throttle budget.
    rows.append(("re-enqueued: throttled", throttled, stats.retries["TooManyRequestsException"]))
    others = stats.outcomes["retried"] - stats.retries["TooManyRequestsException"]
    rows.append(("re-enqueued: other errors", None, others))
    rows.append(("unlinks applied by Cognito", valid, applied))
    rows.append(("identities deleted by Cognito", deletions.identities, deleted))
    rows.append((f"DeleteIdentities calls ({deletions.delete_commands} cmds)", None, delete_calls))
    print(_table(rows))
    ok = all(want is None or want == got for _, want, got in rows)
    if not throttled:
        ok = False
        print("\nno call met the quota, so no throttle was shown", file=sys.stderr)
    print("\nevery command ended where it should" if ok else "\nMISMATCH: see the table above")
    return 0 if ok else 1


if __name__ == "__main__":
    logs.configure("console", "warning")
    sys.exit(asyncio.run(main()))
