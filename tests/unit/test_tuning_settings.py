"""The tuning settings (SQS linger, Cognito attempts) reach what the composition root builds.

Their defaults are the constants they replaced, so a deployment that sets none behaves as before.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, cast

import pytest
from aiobotocore.config import AioConfig

from consumer import app
from consumer.aws import clients
from consumer.aws.sqs import SqsQueue
from consumer.core.messages import Message
from consumer.settings import Settings

QUEUE = "http://localhost/000000000000/commands"


class RecordingSqs:
    """Answers every batch call with success and records when it came."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    async def change_message_visibility_batch(
        self, QueueUrl: str, Entries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self.batches.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def retries(config: AioConfig) -> Any:
    return cast(Any, config).retries  # botocore's Config declares its options dynamically


def test_defaults_are_the_constants_they_replaced() -> None:
    settings = Settings(queue_url=QUEUE)
    assert retries(clients.cognito_config(settings)) == {
        "mode": "standard",
        "total_max_attempts": 2,
    }
    linger = inspect.signature(SqsQueue).parameters["linger"].default
    assert settings.sqs_linger_seconds == linger


def test_cognito_attempts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLINK_COGNITO_MAX_ATTEMPTS", "1")
    config = clients.cognito_config(Settings(queue_url=QUEUE))
    assert retries(config) == {"mode": "standard", "total_max_attempts": 1}


async def test_the_sqs_linger_setting_holds_a_batch_back_that_long() -> None:
    sqs = RecordingSqs()
    made = clients.Clients(cast(Any, sqs), cast(Any, None), None)
    queue = app.build_queue(Settings(queue_url=QUEUE, sqs_linger_seconds=1.0), made, QUEUE)
    message = Message.from_sqs({"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}"})
    change = asyncio.create_task(queue.change_visibility(message, 0))
    await asyncio.sleep(0.3)
    assert sqs.batches == []  # the default 0.02 s would have sent it by now
    await asyncio.wait_for(change, 3)
    assert [e["ReceiptHandle"] for e in sqs.batches[0]] == ["r-1"]


def test_no_record_a_live_command_needs_expires_before_the_command() -> None:
    from consumer.core.errors import ConfigurationError
    from consumer.settings import Settings, load_settings

    defaults = Settings(queue_url="https://sqs/q")
    assert defaults.idempotency_ttl_seconds >= defaults.max_command_age_seconds
    with pytest.raises(ConfigurationError, match=r"UNLINK_MAX_COMMAND_AGE_SECONDS: .*TTL"):
        load_settings({"queue_url": "https://sqs/q", "idempotency_ttl_seconds": 86_400})
