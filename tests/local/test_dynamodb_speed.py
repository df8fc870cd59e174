"""The stack's UpdateItem answers as moto's own does, with its parser and traversal sped up.

Each request runs twice against the stack, once with `consumer.local.moto_fixes.dynamodb_speed`
and once with moto's originals put back, on tables of their own: the items and the errors must
be the same, and a parsed expression used again must not carry anything from its last use.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from consumer.local.moto_fixes import dynamodb_speed
from consumer.local.stack import LocalStack
from tests.local.conftest import client_kwargs

NAMES = {"#s": "status", "#o": "owner"}
REQUESTS: list[dict[str, Any]] = [
    # The store's claim and completion, each twice in a row (a parsed tree used again).
    {
        "UpdateExpression": "SET #s = :p, #o = :me, claimed_at = :n, expires_at = :e",
        "ConditionExpression": "attribute_not_exists(k) OR (#s = :p AND claimed_at < :n)",
        "ExpressionAttributeNames": NAMES,
        "ExpressionAttributeValues": {
            ":p": {"S": "p"},
            ":me": {"S": "w"},
            ":n": {"N": "5"},
            ":e": {"N": "9"},
        },
    },
    {
        "UpdateExpression": "SET #s = :c, outcome = :x REMOVE claimed_at, failures",
        "ConditionExpression": "#o = :me AND #s = :p",
        "ExpressionAttributeNames": NAMES,
        "ExpressionAttributeValues": {
            ":c": {"S": "c"},
            ":p": {"S": "p"},
            ":me": {"S": "w"},
            ":x": {"S": "ok"},
        },
    },
    {
        "UpdateExpression": "SET n = if_not_exists(n, :z) + :one",
        "ExpressionAttributeValues": {":z": {"N": "0"}, ":one": {"N": "1"}},
    },
    {
        "UpdateExpression": "SET n = if_not_exists(n, :z) + :one",
        "ExpressionAttributeValues": {":z": {"N": "0"}, ":one": {"N": "1"}},
    },
    {"UpdateExpression": "ADD tags :t", "ExpressionAttributeValues": {":t": {"SS": ["a"]}}},
    {"UpdateExpression": "ADD tags :t", "ExpressionAttributeValues": {":t": {"SS": ["b"]}}},
    # Errors: malformed, overlapping paths, two SET clauses, a key attribute, a missing value.
    {"UpdateExpression": "SET = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}},
    {"UpdateExpression": "SET a = :v, a = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}},
    {"UpdateExpression": "SET a = :v SET b = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}},
    {"UpdateExpression": "SET k = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}},
    {"UpdateExpression": "SET a = :missing", "ExpressionAttributeValues": {":v": {"S": "v"}}},
    {"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"S": "v"}}},
]


@contextlib.contextmanager
def _moto_s_own() -> Iterator[None]:
    patched = {(owner, name): owner.__dict__[name] for owner, name in dynamodb_speed.ORIGINALS}
    for (owner, name), original in dynamodb_speed.ORIGINALS.items():
        setattr(owner, name, original)
    try:
        yield
    finally:
        for (owner, name), replacement in patched.items():
            setattr(owner, name, replacement)


async def _answers(stack: LocalStack) -> list[Any]:
    table = f"speed-{uuid.uuid4().hex[:8]}"
    answers: list[Any] = []
    async with get_session().create_client("dynamodb", **client_kwargs(stack)) as ddb:
        await ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for request in REQUESTS:
            try:
                got = await ddb.update_item(
                    TableName=table, Key={"k": {"S": "one"}}, ReturnValues="ALL_NEW", **request
                )
                answers.append(got["Attributes"])
            except ClientError as error:
                answers.append(error.response["Error"])
    return answers


async def test_update_item_answers_as_moto_s_own_does(module_stack: LocalStack) -> None:
    assert getattr(dynamodb_speed.PARSER, "_consumer_local_dynamodb_speed", False)
    fast = await _answers(module_stack)
    with _moto_s_own():
        own = await _answers(module_stack)
    assert fast == own
    assert fast[3]["n"] == {"N": "2"}  # the same parsed expression, applied twice
    assert fast[5]["tags"] == {"SS": ["a", "b"]}
    assert [a.get("Code") for a in fast[6:11]] == ["ValidationException"] * 5


def test_an_expression_that_does_not_parse_fails_every_time() -> None:
    dynamodb_speed.install()
    for _ in range(2):
        with pytest.raises(Exception, match="Invalid UpdateExpression"):
            dynamodb_speed.PARSER.make("SET = :v")
