"""infra/cloudformation.yaml deployed into the local stack's CloudFormation, then the worker run
against the queues and the table the stack created."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING

import pytest

from consumer.local.stack import LocalStack
from tests.infra.stack import deploy_stack
from tests.integration.conftest import (
    Pool,
    developer_command,
    developer_user,
    federated_command,
    federated_user,
    send_all,
)
from tests.integration.worker_runner import run_until_idle, settings_for
from tests.ops.conftest import look

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient


# moto has no CloudFormation support for alarms and says so; the template's alarms are checked in
# tests/infra instead.
@pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS.+CloudWatch.+not supported by moto:UserWarning"
)
async def test_worker_runs_against_the_deployed_queues_and_table(
    stack: LocalStack,
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    cognito: CognitoIdentityClient,
    pool: Pool,
) -> None:
    outputs = await asyncio.to_thread(
        deploy_stack,
        stack.endpoint_url,
        stack_name=f"cognito-unlink-{uuid.uuid4().hex[:8]}",
        deploy_service=False,
    )
    # The URLs carry the real SQS host, as CloudFormation renders them; used as they are, since
    # the clients send to the stack's endpoint and address a queue by the URL's path.
    queue_url = outputs["QueueUrl"]
    dlq_url = outputs["DeadLetterQueueUrl"]
    table = outputs["IdempotencyTableName"]
    developers = [await developer_user(cognito, pool) for _ in range(3)]
    federated = await federated_user(cognito, pool)
    named = developer_command(pool, developers[0], command_id="deletion-1")
    bodies = [
        named,
        named,  # the producer sent it twice: one effect
        developer_command(pool, developers[1]),
        developer_command(pool, developers[2]),
        federated_command(federated),
    ]
    await send_all(sqs, queue_url, bodies)

    # No UNLINK_DLQ_URL: the DLQ comes from the RedrivePolicy the template set.
    stats = await run_until_idle(settings_for(queue_url, idempotency_table=table, concurrency=1))

    assert stats.outcomes["applied"] == 4
    assert stats.outcomes["duplicate"] == 1
    for user in developers:
        described = await cognito.describe_identity(IdentityId=user.identity_id)
        assert pool.provider not in described.get("Logins", [])
    described = await cognito.describe_identity(IdentityId=federated.identity_id)
    assert federated.provider not in described.get("Logins", [])
    assert await look(sqs, queue_url) == []
    assert await look(sqs, dlq_url) == []

    items = (await dynamodb.scan(TableName=table))["Items"]
    records = {item["id"]["S"]: item for item in items}
    assert len(records) == 4
    assert any(key.startswith("id:deletion-1:") for key in records)  # command_id and effect
    assert all(item["status"]["S"] == "COMPLETED" for item in items)
    assert all(item["outcome"]["S"] == "applied" for item in items)
    assert all(int(item["expires_at"]["N"]) > 0 for item in items)  # the template's TTL attribute
    redrive = json.loads(
        (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]))[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"] == outputs["DeadLetterQueueArn"]
