"""The stack's DynamoDB under concurrent conditional writes: one item, one winner.

moto checks an UpdateItem's condition and applies its update in two steps, and the stack serves
each request on its own thread; `consumer.local.moto_fixes.dynamodb_serial` makes each operation
atomic, as DynamoDB's conditional writes are.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from tests.conftest import make_table

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

KEYS = 60
WRITERS = 8


async def _claim(dynamodb: DynamoDBClient, table: str, key: str, writer: int) -> bool:
    try:
        await dynamodb.update_item(
            TableName=table,
            Key={"id": {"S": key}},
            UpdateExpression="SET #owner = :me",
            ConditionExpression="attribute_not_exists(id)",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":me": {"S": str(writer)}},
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


async def test_concurrent_conditional_claims_of_one_item_have_one_winner(
    aws_env: dict[str, str],
) -> None:
    config = AioConfig(max_pool_connections=WRITERS + 2, retries={"max_attempts": 1})
    session = get_session()
    async with session.create_client("dynamodb", region_name="us-east-1", config=config) as db:
        table = await make_table(db)
        winners: dict[str, int] = {}
        for index in range(KEYS):
            key = f"key-{index}"
            won = await asyncio.gather(*(_claim(db, table, key, w) for w in range(WRITERS)))
            winners[key] = sum(won)
    assert {k: n for k, n in winners.items() if n != 1} == {}
