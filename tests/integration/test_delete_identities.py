"""DeleteIdentities commands: coalesced into calls of up to sixty ids, each message given the
outcome of its own ids, through the real worker and the local stack."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from consumer.local.stack import LocalStack
from tests.integration.conftest import Pool, Queues, developer_user, drain, send_all
from tests.integration.running import background, until
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

GONE = "us-east-1:00000000-0000-4000-8000-0000000d0000"


def deleted_since(stack: LocalStack, before: int) -> list[str]:
    """The identities DeleteIdentities removed since ``before`` of them had been."""
    events = [e for e in stack.ledger.applied() if e.operation == "DeleteIdentities"]
    return [e.identity_id for e in events[before:]]


def delete(*ids: str) -> dict[str, Any]:
    return {"action": "DeleteIdentities", "IdentityIdsToDelete": list(ids)}


async def identities(cognito: CognitoIdentityClient, pool: Pool, count: int) -> list[str]:
    return [(await developer_user(cognito, pool)).identity_id for _ in range(count)]


async def test_commands_in_flight_share_calls_and_each_identity_is_deleted_once(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    stack = clean_faults
    ids = await identities(cognito, pool, 40)
    # 30 commands: one id each, ten with a second id, two naming an identity already gone, and
    # one named twice (the same deletion, published twice).
    commands = [delete(i) for i in ids[:20]]
    commands += [delete(ids[20 + n], ids[30 + n]) for n in range(10)]
    commands += [delete(ids[0], GONE), delete(GONE), delete(ids[5])]
    await send_all(sqs, queues.url, commands)
    calls_before = stack.ledger.calls_by_operation()["DeleteIdentities"]
    applied_before = stack.ledger.applied_count("DeleteIdentities")

    # A slow gate: while one call waits for its slot, every command in flight joins it.
    stats = await run_until_idle(settings_for(queues.url, rate_limit=2, adaptive_rate=False))

    calls = stack.ledger.calls_by_operation()["DeleteIdentities"] - calls_before
    deleted = deleted_since(stack, applied_before)
    print("commands:", len(commands), "calls:", calls, "outcomes:", dict(stats.outcomes))
    assert sorted(deleted) == sorted(ids)  # each identity exactly once, GONE never
    assert calls <= len(commands) // 3
    assert stats.outcomes["applied"] + stats.outcomes["duplicate"] == len(commands)
    assert await drain(sqs, queues.dlq_url) == []
    for identity_id in ids[:3]:
        try:
            await cognito.describe_identity(IdentityId=identity_id)
        except cognito.exceptions.ResourceNotFoundException:
            continue
        raise AssertionError(f"{identity_id} still exists")


async def test_internal_server_error_ids_go_again_and_access_denied_is_dead_lettered(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    stack = clean_faults
    flaky, fine, denied, beside = await identities(cognito, pool, 4)
    stack.faults.unprocessed_identities[flaky] = "InternalServerError"
    stack.faults.unprocessed_identities[denied] = "AccessDenied"
    await send_all(sqs, queues.url, [delete(flaky, fine), delete(denied, beside)])
    applied_before = stack.ledger.applied_count("DeleteIdentities")

    async with background(settings_for(queues.url, adaptive_rate=False)) as worker:
        # The flaky id went out again alone, then its message was retried; now it heals.
        await until(lambda s: s.outcomes["retried"] >= 1, worker)
        stack.faults.unprocessed_identities.pop(flaky)

    deleted = deleted_since(stack, applied_before)
    print("outcomes:", dict(worker.stats.outcomes))
    assert sorted(deleted) == sorted([flaky, fine, beside])  # each once; denied is still there
    assert worker.stats.outcomes["applied"] == 1
    [dead] = await drain(sqs, queues.dlq_url)
    assert json.loads(dead["body"]) == delete(denied, beside)
    assert dead["attributes"]["unlink-reason"] == "AccessDenied"
    assert denied in dead["attributes"]["unlink-detail"]
    assert beside not in dead["attributes"]["unlink-detail"]
    assert (await cognito.describe_identity(IdentityId=denied))["IdentityId"] == denied
