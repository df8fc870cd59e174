"""SQS as it delivers today, through the local stack: fair queues and 1 MiB messages.

A fair queue is a standard queue whose messages carry a `MessageGroupId` (the tenant): no
order, no throughput limit, and nothing in how the worker runs a command may change with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from structlog.testing import capture_logs

from consumer.core import attributes
from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    federated_command,
    federated_user,
    make_queues,
)
from tests.integration.worker_runner import run_until_idle, settings_for
from tests.ops.conftest import cli

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient


async def _send_grouped(sqs: SQSClient, url: str, bodies: list[tuple[str, Any]]) -> None:
    for start in range(0, len(bodies), 10):
        entries: Any = [
            {"Id": str(i), "MessageBody": json.dumps(body), "MessageGroupId": group}
            for i, (group, body) in enumerate(bodies[start : start + 10])
        ]
        response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed")


async def test_a_tenant_group_on_a_standard_queue_changes_nothing_in_how_commands_run(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool, stack: LocalStack
) -> None:
    users = [await developer_user(cognito, pool) for _ in range(12)]
    # One noisy tenant with most of the work, whose first command fails once (a 5xx), and two
    # quiet ones; a bad command of the noisy tenant goes to the DLQ with its group.
    bodies: list[tuple[str, Any]] = [("noisy", developer_command(pool, u)) for u in users[:8]]
    bodies += [("quiet-1", developer_command(pool, u)) for u in users[8:10]]
    bodies += [("quiet-2", developer_command(pool, u)) for u in users[10:]]
    bodies.append(("noisy", {"action": "UnlinkDeveloperIdentity", "IdentityId": "nope"}))
    stack.faults.fail_identities[users[0].identity_id] = "InternalErrorException"
    stack.requests.reset()
    await _send_grouped(sqs, queues.url, bodies)

    def heal(operation: str, outcome: str) -> None:
        original(operation, outcome)
        if outcome == "InternalErrorException":
            stack.faults.fail_identities.pop(users[0].identity_id, None)

    original = stack.ledger.record_call
    stack.ledger.record_call = heal  # type: ignore[method-assign]
    try:  # one try per call, so the 5xx reaches the worker (botocore would retry it)
        stats = await run_until_idle(settings_for(queues.url, cognito_max_attempts=1))
    finally:
        stack.ledger.record_call = original  # type: ignore[method-assign]
        stack.faults.fail_identities.pop(users[0].identity_id, None)

    assert stats.outcomes == {"applied": 12, "retried": 1, "dead_lettered": 1}
    ours = {u.identity_id for u in users}
    applied = [e.identity_id for e in stack.ledger.applied() if e.identity_id in ours]
    assert sorted(applied) == sorted(ours)  # each exactly once
    # Nothing was handed back behind the failing head: one receive per message, plus the retry.
    assert stats.received == len(bodies) + 1
    counts = stack.requests.snapshot()["by_action"]
    assert counts.get("AmazonSQS.ChangeMessageVisibilityBatch", 0) == 0
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["attributes"][attributes.REASON] == "malformed"
    assert dead["raw"]["Attributes"].get("MessageGroupId") == "noisy"  # the tenant stays


async def test_the_command_line_names_its_tenant(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool
) -> None:
    user = await developer_user(cognito, pool)
    await _send_grouped(sqs, queues.url, [("tenant-7", developer_command(pool, user))])
    with capture_logs() as logs:
        await run_until_idle(settings_for(queues.url))
    [command] = [line for line in logs if line.get("event") == "command"]
    assert command["group"] == "tenant-7"
    assert command["outcome"] == "applied"


async def _small_queues(sqs: SQSClient, limit: int) -> Queues:
    queues = await make_queues(sqs)
    for url in (queues.url, queues.dlq_url):
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(limit)})
    return queues


def _padded(command: dict[str, Any], size: int) -> str:
    """A command's body of exactly ``size`` bytes: JSON with whitespace inside it."""
    text = json.dumps(command)
    padded = text[:-1] + " " * (size - len(text.encode())) + "}"
    assert len(padded.encode()) == size
    return padded


async def test_a_retry_of_a_body_at_the_queues_size_limit_still_goes_out(
    sqs: SQSClient, cognito: CognitoIdentityClient, pool: Pool, stack: LocalStack
) -> None:
    limit = 20_000
    queues = await _small_queues(sqs, limit)
    user = await federated_user(cognito, pool)
    body = _padded(federated_command(user), limit)
    await sqs.send_message(QueueUrl=queues.url, MessageBody=body)
    stack.faults.fail_identities[user.identity_id] = "InternalErrorException"

    def heal(operation: str, outcome: str) -> None:
        original(operation, outcome)
        if outcome == "InternalErrorException":
            stack.faults.fail_identities.pop(user.identity_id, None)

    original = stack.ledger.record_call
    stack.ledger.record_call = heal  # type: ignore[method-assign]
    try:
        stats = await run_until_idle(
            settings_for(queues.url, cognito_max_attempts=1), limit_seconds=60
        )
    finally:
        stack.ledger.record_call = original  # type: ignore[method-assign]
        stack.faults.fail_identities.pop(user.identity_id, None)

    assert stats.outcomes == {"retried": 1, "applied": 1}
    assert stats.outcomes.get("unrouted", 0) == 0
    applied = [e.identity_id for e in stack.ledger.applied() if e.identity_id == user.identity_id]
    assert applied == [user.identity_id]
    assert await drain(sqs, queues.dlq_url) == []


async def test_a_dead_letter_of_a_body_at_the_size_limit_reaches_the_dlq_with_its_reason(
    sqs: SQSClient,
) -> None:
    limit = 20_000
    queues = await _small_queues(sqs, limit)
    bad = json.dumps({"action": "UnlinkIdentity", "IdentityId": "x" * (limit - 100)})
    body = bad + " " * (limit - len(bad.encode()) - 40)  # room for the reason, not the rest
    producer: Any = {"DataType": "String", "StringValue": "p"}
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=body, MessageAttributes={"producer": producer}
    )
    stats = await run_until_idle(settings_for(queues.url), limit_seconds=60)
    assert stats.outcomes == {"dead_lettered": 1}
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["body"] == body
    assert dead["attributes"] == {attributes.REASON: "malformed"}


async def test_send_batches_large_commands_within_sqs_s_1_mib(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    pool: Pool,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Four 250 KB commands go out in one SendMessageBatch, and the worker applies them; a
    line may name its own tenant."""
    queues = await make_queues(sqs)
    users = [await federated_user(cognito, pool) for _ in range(4)]
    path = tmp_path / "big.jsonl"
    bodies = [_padded(federated_command(u), 250_000) for u in users]
    lines = [*bodies[:3], json.dumps({"MessageBody": bodies[3], "MessageGroupId": "tenant-9"})]
    path.write_text("\n".join(lines))
    stack.requests.reset()

    result = await cli(
        "send",
        "--queue-url",
        queues.url,
        "--file",
        str(path),
        "--message-group-id",
        "t-1",
        env=aws_env,
    )

    assert result.returncode == 0, result.stderr
    assert stack.requests.snapshot()["by_action"].get("AmazonSQS.SendMessageBatch") == 1
    with capture_logs() as logs:
        stats = await run_until_idle(settings_for(queues.url), limit_seconds=60)
    assert stats.outcomes == {"applied": 4}
    groups = sorted(line["group"] for line in logs if line.get("event") == "command")
    assert groups == ["t-1", "t-1", "t-1", "tenant-9"]
