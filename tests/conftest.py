"""Shared fixtures: no test sees the developer's AWS settings; one local stack serves them all."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

# Tests see each injected error directly rather than through botocore's retries.
NO_RETRIES = AioConfig(retries={"mode": "standard", "total_max_attempts": 1})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a `slow` test run first (stable order otherwise).

    `make pytest` hands whole files to parallel workers in collection order: started first, the
    long files overlap with the short ones instead of one running alone at the end.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(autouse=True)
def _clean_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips AWS_* and UNLINK_* variables so a real account can never be reached by accident."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "UNLINK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults: a level set by another test would hide logs."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


@pytest.fixture
def aws_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points every client of this process (and a child's environment) at the stack."""
    env = stack.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def clean_faults(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack, with its fault settings put back however the test ends."""
    saved = stack.faults.to_json()
    try:
        yield stack
    finally:
        stack.faults.update(saved)


@pytest.fixture
async def sqs(aws_env: dict[str, str]) -> AsyncIterator[SQSClient]:
    async with get_session().create_client("sqs", region_name="us-east-1") as client:
        yield client


@pytest.fixture
async def cognito(aws_env: dict[str, str]) -> AsyncIterator[CognitoIdentityClient]:
    async with get_session().create_client(
        "cognito-identity", region_name="us-east-1", config=NO_RETRIES
    ) as client:
        yield client


@pytest.fixture
async def dynamodb(aws_env: dict[str, str]) -> AsyncIterator[DynamoDBClient]:
    async with get_session().create_client("dynamodb", region_name="us-east-1") as client:
        yield client


async def make_table(dynamodb: DynamoDBClient) -> str:
    """An idempotency table shaped like the CloudFormation one (key `id`)."""
    name = f"unlink-idempotency-{uuid.uuid4().hex[:8]}"
    await dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
