"""`unlink-consumer dlq peek | redrive` on dead letters the worker itself produced."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from aiobotocore.session import get_session

from consumer.local.stack import LocalStack
from consumer.tools import dlq
from tests.conftest import make_table
from tests.integration.conftest import (
    DeveloperUser,
    Pool,
    Queues,
    developer_command,
    developer_user,
    linked,
)
from tests.integration.worker_runner import run_until_idle, settings_for
from tests.ops.conftest import cli, look

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

COUNTERS = {"unlink-attempts", "unlink-throttles", "unlink-deferrals"}
DEAD_LETTER_ONLY = {"unlink-reason", "unlink-detail"}


@dataclass
class DeadLetters:
    users: list[DeveloperUser]
    bodies: dict[str, str]  # identity id -> message body
    source_ids: set[str]  # message ids of the original messages
    table: str  # the idempotency table the worker recorded them in


@pytest.fixture
async def dead_letters(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    dynamodb: DynamoDBClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> DeadLetters:
    """Three commands Cognito refused (injected NotAuthorizedException) and one malformed body,
    dead-lettered by the worker; the fault is gone afterwards, so the three are now fixable."""
    users = [await developer_user(cognito, pool) for _ in range(3)]
    for user in users:
        clean_faults.faults.fail_identities[user.identity_id] = "NotAuthorizedException"
    bodies = {u.identity_id: json.dumps(developer_command(pool, u)) for u in users}
    source_ids: set[str] = set()
    for body in [*bodies.values(), "account 7 was deleted"]:
        sent = await sqs.send_message(QueueUrl=queues.url, MessageBody=body)
        source_ids.add(sent["MessageId"])
    table = await make_table(dynamodb)

    stats = await run_until_idle(settings_for(queues.url, idempotency_table=table))

    assert stats.outcomes["dead_lettered"] == 4
    for user in users:
        del clean_faults.faults.fail_identities[user.identity_id]
    return DeadLetters(users, bodies, source_ids, table)


async def test_peek_prints_a_table_and_json_and_consumes_nothing(
    sqs: SQSClient, queues: Queues, dead_letters: DeadLetters, aws_env: dict[str, str]
) -> None:
    table = await cli("dlq", "--queue-url", queues.url, "peek", env=aws_env)

    assert table.returncode == 0, table.stderr
    header, *rows, footer = table.stdout.splitlines()
    assert header.split() == ["REASON", "ACTION", "ATTEMPTS", "AGE", "SOURCE", "ID"]
    assert footer == "4 message(s)"
    cells = [row.split() for row in rows]
    assert sorted((c[0], c[1], c[2]) for c in cells) == sorted(
        [("NotAuthorizedException", "UnlinkDeveloperIdentity", "1")] * 3 + [("malformed", "-", "1")]
    )
    assert all(re.fullmatch(r"\d+[sm]", c[3]) for c in cells)  # seconds or minutes ago
    assert {c[4] for c in cells} == dead_letters.source_ids

    as_json = await cli("dlq", "--queue-url", queues.url, "peek", "--json", env=aws_env)

    assert as_json.returncode == 0, as_json.stderr
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(records) == 4
    assert {r["source_id"] for r in records} == dead_letters.source_ids
    by_reason = sorted(r["reason"] for r in records)
    assert by_reason == ["NotAuthorizedException"] * 3 + ["malformed"]
    for record in records:
        assert record["attempts"] == 1
        assert 0 <= record["age_seconds"] < 600
        expected = None if record["reason"] == "malformed" else "UnlinkDeveloperIdentity"
        assert record["action"] == expected
        assert record["detail"]  # the reason's one-line explanation

    limited = await cli("dlq", "--queue-url", queues.url, "peek", "--max", "2", env=aws_env)
    assert limited.stdout.splitlines()[-1] == "2 message(s)"

    # Still all there, and visible at once: peeking consumed and hid nothing.
    still = await look(sqs, queues.dlq_url)
    assert {m["raw"]["MessageId"] for m in still} == {r["message_id"] for r in records}
    assert await look(sqs, queues.url) == []


async def test_redrive_by_reason_and_count_then_the_worker_applies_the_fixed_commands(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    dead_letters: DeadLetters,
    aws_env: dict[str, str],
) -> None:
    result = await cli(
        "dlq",
        "--queue-url",
        queues.url,
        "redrive",
        "--reason",
        "NotAuthorizedException",
        "--max",
        "2",
        env=aws_env,
    )

    assert result.returncode == 0, result.stderr
    assert "redriven 2," in result.stderr
    moved = await look(sqs, queues.url)
    assert len(moved) == 2
    for message in moved:
        attrs = message["attributes"]
        assert attrs["unlink-redriven"] == "true"
        assert not (COUNTERS | DEAD_LETTER_ONLY) & attrs.keys()  # counters reset
        assert attrs["unlink-source-message-id"] in dead_letters.source_ids
        assert attrs["unlink-first-seen"]
        assert message["body"] in dead_letters.bodies.values()
    left = await look(sqs, queues.dlq_url)
    assert sorted(m["attributes"]["unlink-reason"] for m in left) == [
        "NotAuthorizedException",
        "malformed",
    ]

    # Same idempotency table as the run that dead-lettered them: a redriven command is
    # run again, not acknowledged as a duplicate of its dead letter.
    stats = await run_until_idle(settings_for(queues.url, idempotency_table=dead_letters.table))

    assert stats.outcomes["applied"] == 2
    assert stats.outcomes["duplicate"] == 0
    moved_ids = {json.loads(m["body"])["IdentityId"] for m in moved}
    for user in dead_letters.users:
        logins = await linked(cognito, user.identity_id)
        assert (pool.provider in logins) == (user.identity_id not in moved_ids)
    assert len(await look(sqs, queues.dlq_url)) == 2
    assert await look(sqs, queues.url) == []


async def seed_dead_letters(sqs: SQSClient, dlq_url: str, count: int) -> set[str]:
    """Dead letters as the worker writes them (body plus the story in attributes)."""
    bodies: set[str] = set()
    for start in range(0, count, 10):
        entries: list[Any] = []
        for index in range(start, min(count, start + 10)):
            body = json.dumps({"action": "UnlinkIdentity", "n": index})
            bodies.add(body)
            entries.append(
                {
                    "Id": str(index),
                    "MessageBody": body,
                    "MessageAttributes": {
                        name: {"DataType": "String", "StringValue": value}
                        for name, value in {
                            "unlink-reason": "retries_exhausted",
                            "unlink-detail": "InternalErrorException",
                            "unlink-attempts": "8",
                            "unlink-source-message-id": str(uuid.uuid4()),
                            "unlink-first-seen": "2026-01-01T00:00:00.000Z",
                        }.items()
                    },
                }
            )
        response = await sqs.send_message_batch(QueueUrl=dlq_url, Entries=entries)
        assert not response.get("Failed")
    return bodies


@pytest.mark.parametrize(
    ("interrupted_at", "on_source", "in_dlq"),
    [
        (None, 12, 0),
        # Ctrl-C before the first copy is sent: everything is still in the DLQ.
        ("SendMessageBatch", 0, 12),
        # Ctrl-C after the first ten copies were accepted, before their dead letters were
        # deleted: duplicated (the idempotency store absorbs that), never lost.
        ("DeleteMessageBatch", 10, 12),
    ],
)
async def test_redrive_sends_each_copy_before_deleting_so_an_interruption_loses_nothing(
    sqs: SQSClient,
    queues: Queues,
    aws_env: dict[str, str],
    interrupted_at: str | None,
    on_source: int,
    in_dlq: int,
) -> None:
    bodies = await seed_dead_letters(sqs, queues.dlq_url, 12)
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)
        if model.name == interrupted_at:
            raise asyncio.CancelledError  # what asyncio.run delivers on Ctrl-C

    async with get_session().create_client("sqs", region_name="us-east-1") as redriver:
        redriver.meta.events.register("before-call.sqs", record)
        if interrupted_at is None:
            report = await dlq.redrive(redriver, queues.dlq_url, queues.url, None, None)
            assert (report.moved, report.not_sent, report.error) == (12, 0, None)
        else:
            with pytest.raises(asyncio.CancelledError):
                await dlq.redrive(redriver, queues.dlq_url, queues.url, None, None)

    writes = [c for c in calls if c in {"SendMessageBatch", "DeleteMessageBatch"}]
    if interrupted_at is None:
        assert writes == ["SendMessageBatch", "DeleteMessageBatch"] * 2
    source = await look(sqs, queues.url)
    dead = await look(sqs, queues.dlq_url)  # at once: what it held was made visible again
    assert (len(source), len(dead)) == (on_source, in_dlq)
    assert {m["body"] for m in source} | {m["body"] for m in dead} == bodies


async def test_redrive_to_a_queue_that_does_not_exist_leaves_every_dead_letter(
    sqs: SQSClient, queues: Queues, stack: LocalStack, aws_env: dict[str, str]
) -> None:
    bodies = await seed_dead_letters(sqs, queues.dlq_url, 12)
    missing = f"{stack.endpoint_url}/123456789012/no-such-queue-{uuid.uuid4().hex[:8]}"

    result = await cli(
        "dlq", "--queue-url", missing, "--dlq-url", queues.dlq_url, "redrive", env=aws_env
    )

    assert result.returncode == 1
    assert "redrive stopped" in result.stderr
    assert "Traceback" not in result.stderr
    assert "redriven 0," in result.stderr
    dead = await look(sqs, queues.dlq_url)
    assert {m["body"] for m in dead} == bodies
    assert all(m["attributes"]["unlink-reason"] == "retries_exhausted" for m in dead)


async def test_bad_max_is_a_usage_error(queues: Queues, aws_env: dict[str, str]) -> None:
    result = await cli("dlq", "--queue-url", queues.url, "redrive", "--max", "0", env=aws_env)

    assert result.returncode == 2
    assert "positive integer" in result.stderr


async def test_redrive_shows_a_progress_bar_on_a_terminal(
    sqs: SQSClient, queues: Queues, aws_env: dict[str, str]
) -> None:
    await seed_dead_letters(sqs, queues.dlq_url, 12)

    result = await cli("dlq", "--queue-url", queues.url, "redrive", env=aws_env, tty=True)

    assert result.returncode == 0, result.stderr
    assert f"redriving [{'#' * 30}] 12/12\n" in result.stderr
    assert "redriven 12," in result.stderr
    assert len(await look(sqs, queues.url)) == 12


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (119, "119s"), (120, "2m"), (7199, "119m"), (7200, "2h"), (172800, "2d")],
)
def test_peek_shows_ages_in_the_largest_readable_unit(seconds: int, shown: str) -> None:
    assert dlq.human_age(seconds) == shown


async def test_peek_names_the_action_inside_an_envelope(sqs: SQSClient, queues: Queues) -> None:
    event = {
        "id": "event-1",
        "detail-type": "Account Deleted",
        "source": "com.example.accounts",
        "detail": {"action": "UnlinkIdentity", "IdentityId": "not valid"},
    }
    notification = {
        "Type": "Notification",
        "MessageId": "notification-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:account-deleted",
        "Message": json.dumps({"action": "UnlinkDeveloperIdentity"}),
    }
    for body in (json.dumps(event), json.dumps(notification), "not json"):
        await sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=body)

    rows = await dlq.peek(sqs, queues.dlq_url, 10)

    actions = sorted(str(row["action"]) for row in rows)
    assert actions == ["None", "UnlinkDeveloperIdentity", "UnlinkIdentity"]
    assert len(await look(sqs, queues.dlq_url)) == 3
