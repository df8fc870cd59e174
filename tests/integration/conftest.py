"""The local stack over real HTTP, queues with random names, and a worker run in drain mode."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from consumer.local.stack import LocalStack
from tests.support.proxy import OutageProxy

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient


@dataclass
class Queues:
    url: str
    dlq_url: str


async def make_queues(sqs: SQSClient, *, fifo: bool = False, max_receive: int = 10) -> Queues:
    suffix = ".fifo" if fifo else ""
    extra: dict[Any, str] = {"FifoQueue": "true"} if fifo else {}
    name = f"unlink-{uuid.uuid4().hex[:12]}"
    dlq = await sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=extra)
    dlq_arn = (
        await sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
    )["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)})
    queue = await sqs.create_queue(
        QueueName=f"{name}{suffix}",
        Attributes={**extra, "RedrivePolicy": redrive, "VisibilityTimeout": "30"},
    )
    return Queues(queue["QueueUrl"], dlq["QueueUrl"])


@pytest.fixture
async def queues(sqs: SQSClient) -> Queues:
    return await make_queues(sqs)


@dataclass
class Pool:
    pool_id: str
    provider: str


@dataclass
class DeveloperUser:
    identity_id: str
    user: str


@dataclass
class FederatedUser:
    identity_id: str
    provider: str
    token: str


async def make_pool(
    cognito: CognitoIdentityClient,
    *,
    name: str = "pool",
    provider: str = "login",
    supported: dict[str, str] | None = None,
) -> Pool:
    """An identity pool with random names; Google and Facebook logins unless ``supported``."""
    developer_provider = f"{provider}.{uuid.uuid4().hex[:8]}.example"
    logins = supported or {"accounts.google.com": "client-id", "graph.facebook.com": "app"}
    created = await cognito.create_identity_pool(
        IdentityPoolName=f"{name}{uuid.uuid4().hex[:8]}",
        AllowUnauthenticatedIdentities=False,
        DeveloperProviderName=developer_provider,
        SupportedLoginProviders=logins,
    )
    return Pool(created["IdentityPoolId"], developer_provider)


@pytest.fixture
async def pool(cognito: CognitoIdentityClient) -> Pool:
    return await make_pool(cognito)


async def linked(cognito: CognitoIdentityClient, identity_id: str) -> list[str]:
    """The login providers an identity is linked to now."""
    return list((await cognito.describe_identity(IdentityId=identity_id)).get("Logins", []))


@pytest.fixture
def proxy(stack: LocalStack) -> Iterator[OutageProxy]:
    """A proxy in front of the stack that the test can take down and bring back."""
    target = urlparse(stack.endpoint_url)
    running = OutageProxy(target.hostname or "127.0.0.1", target.port or 80).start()
    yield running
    running.stop()


async def developer_user(cognito: CognitoIdentityClient, pool: Pool) -> DeveloperUser:
    user = f"user-{uuid.uuid4().hex}"
    linked = await cognito.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool.pool_id, Logins={pool.provider: user}
    )
    return DeveloperUser(linked["IdentityId"], user)


async def federated_user(cognito: CognitoIdentityClient, pool: Pool) -> FederatedUser:
    token = f"token-{uuid.uuid4().hex}"
    got = await cognito.get_id(IdentityPoolId=pool.pool_id, Logins={"accounts.google.com": token})
    return FederatedUser(got["IdentityId"], "accounts.google.com", token)


def developer_command(pool: Pool, user: DeveloperUser, **extra: Any) -> dict[str, Any]:
    return {
        "action": "UnlinkDeveloperIdentity",
        "IdentityId": user.identity_id,
        "IdentityPoolId": pool.pool_id,
        "DeveloperProviderName": pool.provider,
        "DeveloperUserIdentifier": user.user,
        **extra,
    }


def federated_command(user: FederatedUser, **extra: Any) -> dict[str, Any]:
    return {
        "action": "UnlinkIdentity",
        "IdentityId": user.identity_id,
        "Logins": {user.provider: user.token},
        "LoginsToRemove": [user.provider],
        **extra,
    }


async def send_all(sqs: SQSClient, url: str, bodies: list[Any]) -> None:
    for start in range(0, len(bodies), 10):
        entries: Any = [
            {"Id": str(i), "MessageBody": b if isinstance(b, str) else json.dumps(b)}
            for i, b in enumerate(bodies[start : start + 10])
        ]
        response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed")


async def drain(sqs: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every message on a queue (consumed), with its string attributes flattened."""
    found: list[dict[str, Any]] = []
    while True:
        response = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attrs = {
                k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()
            }
            found.append({"body": message["Body"], "attributes": attrs, "raw": message})
        entries: Any = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        await sqs.delete_message_batch(QueueUrl=url, Entries=entries)
