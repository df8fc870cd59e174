"""The stack itself: one loopback endpoint for four services, loud failures, separate stacks."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from consumer.local import patch
from consumer.local.seed import (
    create_developer_identities,
    create_federated_identities,
    create_pool,
    seed_in_process,
)
from consumer.local.stack import LocalStack
from tests.local.conftest import client_kwargs

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient


def test_binds_loopback_only(stack: LocalStack) -> None:
    host, port = stack.address
    assert host == "127.0.0.1"
    assert stack.endpoint_url == f"http://127.0.0.1:{port}"
    if sys.platform == "linux":  # all of 127/8 is local there; only 127.0.0.1 may answer
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.2", port)):
            pass


def test_env_points_every_client_at_the_stack(stack: LocalStack) -> None:
    env = stack.env()
    for service in ("SQS", "DYNAMODB", "COGNITO_IDENTITY", "CLOUDFORMATION"):
        assert env[f"AWS_ENDPOINT_URL_{service}"] == stack.endpoint_url
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"


async def test_sqs_dynamodb_and_cloudformation_share_the_endpoint(stack: LocalStack) -> None:
    session = get_session()
    name = f"t{uuid.uuid4().hex[:12]}"
    async with (
        session.create_client("sqs", **client_kwargs(stack)) as sqs,
        session.create_client("dynamodb", **client_kwargs(stack)) as dynamodb,
        session.create_client("cloudformation", **client_kwargs(stack)) as cloudformation,
    ):
        queue = await sqs.create_queue(QueueName=name)
        assert queue["QueueUrl"].endswith(name)
        await dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert name in (await dynamodb.list_tables())["TableNames"]
        template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
        await cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
        described = await cloudformation.describe_stacks(StackName=name)
        assert described["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


async def test_an_operation_without_an_implementation_fails_at_once(stack: LocalStack) -> None:
    retrying = AioConfig(retries={"mode": "standard", "total_max_attempts": 3})
    kwargs = client_kwargs(stack, retrying)
    started = time.perf_counter()
    async with get_session().create_client("cognito-identity", **kwargs) as client:
        with pytest.raises(ClientError) as error:
            await client.merge_developer_identities(
                SourceUserIdentifier="a",
                DestinationUserIdentifier="b",
                DeveloperProviderName="login.example.com",
                IdentityPoolId="us-east-1:11111111-1111-4111-8111-111111111111",
            )
    response = error.value.response
    assert response["Error"]["Code"] == "UnknownOperationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert time.perf_counter() - started < 2


def test_an_unknown_target_is_a_json_400(stack: LocalStack) -> None:
    request = urllib.request.Request(
        stack.endpoint_url + "/",
        data=b"{}",
        method="POST",
        headers={"X-Amz-Target": "AWSCognitoIdentityService.Teleport"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 400
    assert json.loads(error.value.read())["__type"] == "UnknownOperationException"


async def test_two_stacks_share_identities_but_not_faults_or_ledgers(
    stack: LocalStack, cognito: CognitoIdentityClient
) -> None:
    seeded = seed_in_process(stack, developer=2)
    with LocalStack() as other:
        other.faults.internal_error_rate = 1.0
        before = stack.ledger.applied_count()
        kwargs = client_kwargs(other)
        async with get_session().create_client("cognito-identity", **kwargs) as through_other:
            with pytest.raises(through_other.exceptions.InternalErrorException):
                await through_other.unlink_developer_identity(
                    **seeded.developer[0].unlink_request()
                )
            other.faults.internal_error_rate = 0.0
            await through_other.unlink_developer_identity(**seeded.developer[1].unlink_request())
        await cognito.unlink_developer_identity(**seeded.developer[0].unlink_request())
        assert other.ledger.applied_count() == 1
        assert stack.ledger.applied_count() - before == 1


def test_a_taken_port_raises_instead_of_hanging(stack: LocalStack) -> None:
    with pytest.raises(OSError, match="in use"):
        LocalStack(port=stack.port).start()


def test_start_and_stop_are_idempotent() -> None:
    local = LocalStack()
    with pytest.raises(RuntimeError, match="not running"):
        _ = local.endpoint_url
    assert local.start() is local.start()
    local.stop()
    local.stop()
    assert "stopped" in repr(local)


def test_patching_is_idempotent_and_checks_moto() -> None:
    patch.install()
    patch.install()
    served = patch.served_operations()
    assert {"UnlinkIdentity", "UnlinkDeveloperIdentity", "DescribeIdentity", "GetId"} <= served
    assert "MergeDeveloperIdentities" not in served
    # The methods we add are now present, exactly what a moto upgrade adding them looks like.
    with pytest.raises(patch.MotoChangedError, match="now implements"):
        patch.check_moto()
    with pytest.raises(patch.MotoChangedError, match="no longer has"):
        patch.check_moto(type("OlderMoto", (), {}))


async def test_pools_of_another_region_work_the_same(stack: LocalStack) -> None:
    kwargs = {**client_kwargs(stack), "region_name": "eu-west-1"}
    async with get_session().create_client("cognito-identity", **kwargs) as client:
        pool = await create_pool(client)
        [dev] = await create_developer_identities(client, pool, 1)
        [fed] = await create_federated_identities(client, pool, 1)
        assert pool.identity_pool_id.startswith("eu-west-1:")
        assert dev.identity_id.startswith("eu-west-1:")
        await client.unlink_developer_identity(**dev.unlink_request())
        await client.unlink_identity(**fed.unlink_request())
