"""The stack's SQS counts a message's size as SQS does: body bytes plus every attribute."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import botocore.exceptions
import pytest

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

LIMIT = 2_048


async def _queue(sqs: SQSClient) -> str:
    created = await sqs.create_queue(
        QueueName=f"size-{uuid.uuid4().hex[:12]}", Attributes={"MaximumMessageSize": str(LIMIT)}
    )
    return created["QueueUrl"]


def _attribute(value: str) -> dict[str, Any]:
    return {"a": {"DataType": "String", "StringValue": value}}


async def test_a_message_at_the_limit_with_its_attributes_is_accepted(sqs: SQSClient) -> None:
    url = await _queue(sqs)
    # 1 + 6 + 10 bytes of attribute ("a", "String", the value), the rest body.
    await sqs.send_message(
        QueueUrl=url, MessageBody="x" * (LIMIT - 17), MessageAttributes=_attribute("v" * 10)
    )


async def test_attributes_and_multibyte_characters_count_against_the_limit(
    sqs: SQSClient,
) -> None:
    url = await _queue(sqs)
    with pytest.raises(botocore.exceptions.ClientError, match="shorter than 2048"):
        await sqs.send_message(
            QueueUrl=url, MessageBody="x" * (LIMIT - 16), MessageAttributes=_attribute("v" * 10)
        )
    with pytest.raises(botocore.exceptions.ClientError, match="shorter than 2048"):
        await sqs.send_message(QueueUrl=url, MessageBody="é" * (LIMIT // 2 + 1))


async def test_a_batch_entry_too_long_fails_alone_and_a_batch_over_1_mib_fails_whole(
    sqs: SQSClient,
) -> None:
    url = await _queue(sqs)
    entries: Any = [
        {"Id": "ok", "MessageBody": "x"},
        {"Id": "long", "MessageBody": "x" * LIMIT, "MessageAttributes": _attribute("v")},
    ]
    response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert [s["Id"] for s in response["Successful"]] == ["ok"]
    [failed] = response["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "long",
        "InvalidParameterValue",
        True,
    )
    big = (await sqs.create_queue(QueueName=f"size-{uuid.uuid4().hex[:12]}"))["QueueUrl"]
    halves: Any = [{"Id": str(i), "MessageBody": "x" * 524_288} for i in range(2)]
    await sqs.send_message_batch(QueueUrl=big, Entries=halves)  # exactly 1 MiB: accepted
    halves[1]["MessageAttributes"] = _attribute("v")
    with pytest.raises(botocore.exceptions.ClientError, match="BatchRequestTooLong"):
        await sqs.send_message_batch(QueueUrl=big, Entries=halves)
