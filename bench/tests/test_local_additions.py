"""What the benchmark added to the local stack: request counts, `/seed`, the routing cache."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bench.aws import COGNITO, SQS, RawAws
from consumer.local.admin_client import AdminClient
from consumer.local.dispatch import route_key
from consumer.local.request_counts import RequestCounts, action_of, write_of
from consumer.local.seed import seed_in_process
from consumer.local.seeded import seeded_from_json, seeded_to_json
from consumer.local.stack import LocalStack

AUTH = "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/{}/aws4_request, Signature=0"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


def test_action_of_names_json_targets_and_query_actions() -> None:
    assert action_of({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}) == (
        "AmazonSQS.ReceiveMessage"
    )
    long_form = "com.amazonaws.cognito.identity.model.AWSCognitoIdentityService.UnlinkIdentity"
    assert action_of({"HTTP_X_AMZ_TARGET": long_form}) == "AWSCognitoIdentityService.UnlinkIdentity"
    assert action_of({"QUERY_STRING": "Action=CreateStack&Version=1"}) == "query.CreateStack"
    body = b"Action=DescribeStacks&Version=2010-05-15"
    form = {
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    assert action_of(form) == "query.DescribeStacks"
    stream = form["wsgi.input"]
    assert isinstance(stream, io.BytesIO)
    assert stream.read() == body  # put back for moto
    assert action_of({}) == "unknown"


def test_request_counts_snapshot_and_reset() -> None:
    counts = RequestCounts()
    for action in ("b", "a", "b"):
        counts.record(action)
    counts.record("DynamoDB_20120810.UpdateItem", "UpdateItem SET a = :a")
    assert counts.snapshot() == {
        "total": 4,
        "by_action": {"DynamoDB_20120810.UpdateItem": 1, "a": 1, "b": 2},
        "dynamodb_writes": {"UpdateItem SET a = :a": 1},
    }
    counts.reset()
    assert counts.snapshot() == {"total": 0, "by_action": {}, "dynamodb_writes": {}}


def _dynamodb(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    return {
        "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{action}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


@pytest.mark.parametrize(
    ("action", "expression", "write"),
    [
        ("UpdateItem", "SET #s = :busy, #o = :me", "UpdateItem SET #s = :busy"),
        ("UpdateItem", "SET lock = :lock", "UpdateItem SET lock = :lock"),
        ("UpdateItem", "SET #me = :me REMOVE #d0", "UpdateItem SET #me = :me"),
        ("UpdateItem", "REMOVE #me", "UpdateItem REMOVE #me"),
        ("PutItem", None, "PutItem"),
        ("GetItem", None, None),
    ],
)
def test_a_dynamodb_write_is_named_by_its_first_clause(
    action: str, expression: str | None, write: str | None
) -> None:
    payload = {"TableName": "t"} | ({"UpdateExpression": expression} if expression else {})
    environ = _dynamodb(action, payload)
    assert write_of(action_of(environ), environ) == write


async def test_the_stack_counts_every_request_by_action_and_resets_with_the_ledger(
    stack: LocalStack,
) -> None:
    admin = AdminClient(stack.endpoint_url)
    admin.reset_counters()
    async with RawAws(stack.endpoint_url) as aws:
        url = await aws.create_queue("counted")
        await aws.call(SQS, "SendMessage", {"QueueUrl": url, "MessageBody": "x"})
        await aws.receive(url)
        await aws.receive(url)
        assert aws.counts["AmazonSQS.ReceiveMessage"] == 2
    counted = admin.requests()
    assert counted["by_action"] == {
        "AmazonSQS.CreateQueue": 1,
        "AmazonSQS.ReceiveMessage": 2,
        "AmazonSQS.SendMessage": 1,
    }
    assert counted["total"] == 4
    assert stack.requests.snapshot() == counted
    admin.reset_counters()
    assert admin.requests()["total"] == 0


async def test_seed_over_the_admin_surface_gives_working_identities(stack: LocalStack) -> None:
    admin = AdminClient(stack.endpoint_url)
    admin.reset_counters()
    seeded = admin.seed(developer=3, federated=2)
    assert len(seeded.developer) == 3
    assert len(seeded.federated) == 2
    async with RawAws(stack.endpoint_url) as aws:
        request = seeded.developer[0].unlink_request()
        await aws.call(COGNITO, "UnlinkDeveloperIdentity", dict(request))
        await aws.call(COGNITO, "UnlinkIdentity", seeded.federated[0].unlink_request())
    assert admin.ledger(events=False)["applied_count"] == 2


@pytest.mark.parametrize("body", [{"developer": -1}, {"federated": "2"}, {"developer": True}])
def test_seed_refuses_what_is_not_a_count(stack: LocalStack, body: dict[str, object]) -> None:
    admin = AdminClient(stack.endpoint_url)
    with pytest.raises(Exception, match="HTTP 400"):
        admin._request("POST", "/seed", body)


def test_seeded_json_round_trips(stack: LocalStack) -> None:
    seeded = seed_in_process(stack, developer=2, federated=1)
    assert seeded_from_json(seeded_to_json(seeded)) == seeded


def test_route_key_only_for_signed_requests_of_the_stacks_json_services() -> None:
    sqs = {"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage", "HTTP_AUTHORIZATION": AUTH.format("sqs")}
    assert route_key(sqs) == ("sqs", "AmazonSQS")
    dynamo = {
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
        "HTTP_AUTHORIZATION": AUTH.format("dynamodb"),
    }
    assert route_key(dynamo) == ("dynamodb", "DynamoDB_20120810")
    assert route_key({**sqs, "HTTP_AUTHORIZATION": ""}) is None
    assert route_key({**sqs, "PATH_INFO": "/moto-api/reset"}) is None
    assert route_key({**sqs, "HTTP_AUTHORIZATION": AUTH.format("s3")}) is None
    assert route_key({**sqs, "HTTP_AUTHORIZATION": "Bearer x"}) is None
    assert route_key({"HTTP_AUTHORIZATION": AUTH.format("sqs")}) is None


def test_the_faster_sqs_answers_what_motos_own_answers(stack: LocalStack) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sqs.exceptions import InvalidAttributeName
    from moto.sqs.models import sqs_backends

    from consumer.local.moto_fixes import sqs_speed

    backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.create_queue("speed", MessageRetentionPeriod="60", DelaySeconds="0")
    for i in range(6):
        backend.send_message("speed", f"m{i}", delay_seconds=30 if i % 3 == 0 else 0)
    backend.receive_message("speed", 2, 0, 30)
    original = sqs_speed.ORIGINALS["get_queue_attributes"]
    for names in (
        ["All"],
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        ["ApproximateNumberOfMessagesDelayed", "MessageRetentionPeriod", "QueueArn"],
        [],
    ):
        assert backend.get_queue_attributes("speed", names) == original(backend, "speed", names)
    assert backend.get_queue_attributes("speed", ["ApproximateNumberOfMessages"]) == {
        "ApproximateNumberOfMessages": 2
    }
    for bad in (["Nonsense"], [""]):
        with pytest.raises(InvalidAttributeName):
            backend.get_queue_attributes("speed", bad)
    message: Any = backend.get_queue("speed")._messages[0]
    check = sqs_speed.ORIGINALS["is_message_valid_based_on_retention_period"]
    for sent in (message.sent_timestamp, message.sent_timestamp - 61_000):
        message.sent_timestamp = sent
        assert backend.is_message_valid_based_on_retention_period("speed", message) == check(
            backend, "speed", message
        )
    assert abs(sqs_speed.unix_time() - sqs_speed.ORIGINALS["unix_time"]()) < 0.5
