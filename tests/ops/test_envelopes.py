"""Commands wrapped by SNS (raw delivery off) or EventBridge, through the queue and the worker."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    linked,
    send_all,
)
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:account-deleted"


def sns_notification(message: str, message_id: str | None = None) -> dict[str, Any]:
    """What SNS delivers to an SQS subscription with raw message delivery off."""
    return {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Subject": "account deleted",
        "Message": message,
        "Timestamp": "2026-11-23T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def eventbridge_event(detail: dict[str, Any]) -> dict[str, Any]:
    """What an EventBridge rule with an SQS target delivers: the whole event."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Account Deleted",
        "source": "com.example.accounts",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


async def test_sns_and_eventbridge_envelopes_are_applied(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool
) -> None:
    via_sns = await developer_user(cognito, pool)
    via_eventbridge = await developer_user(cognito, pool)
    via_both = await developer_user(cognito, pool)  # rule -> topic -> queue
    sns = sns_notification(json.dumps(developer_command(pool, via_sns)))
    event = eventbridge_event(developer_command(pool, via_eventbridge))
    nested = sns_notification(json.dumps(eventbridge_event(developer_command(pool, via_both))))
    await send_all(sqs, queues.url, [sns, event, nested])

    stats = await run_until_idle(settings_for(queues.url))

    assert stats.outcomes["applied"] == 3
    for user in (via_sns, via_eventbridge, via_both):
        assert pool.provider not in await linked(cognito, user.identity_id)
    assert await drain(sqs, queues.dlq_url) == []
    assert await drain(sqs, queues.url) == []


async def test_a_redelivered_sns_notification_is_a_duplicate(
    sqs: SQSClient, cognito: CognitoIdentityClient, queues: Queues, pool: Pool
) -> None:
    user = await developer_user(cognito, pool)
    notification = sns_notification(json.dumps(developer_command(pool, user)))
    # SNS delivers at least once: its MessageId becomes the command id, so the second copy is
    # acknowledged without calling Cognito (one at a time, so it finds the first one completed).
    await send_all(sqs, queues.url, [notification, notification])

    stats = await run_until_idle(settings_for(queues.url, concurrency=1))

    assert (stats.outcomes["applied"], stats.outcomes["duplicate"]) == (1, 1)
    assert pool.provider not in await linked(cognito, user.identity_id)


async def test_an_sns_notification_whose_message_is_not_json_is_dead_lettered_as_malformed(
    sqs: SQSClient, queues: Queues
) -> None:
    body = json.dumps(sns_notification("account 42 was deleted"))
    await sqs.send_message(QueueUrl=queues.url, MessageBody=body)

    stats = await run_until_idle(settings_for(queues.url))

    assert stats.outcomes["dead_lettered"] == 1
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["body"] == body
    assert dead["attributes"]["unlink-reason"] == "malformed"
    assert "SNS Message is not JSON" in dead["attributes"]["unlink-detail"]
    assert await drain(sqs, queues.url) == []


async def test_an_eventbridge_event_whose_detail_is_not_a_command_is_dead_lettered(
    sqs: SQSClient, queues: Queues
) -> None:
    body = json.dumps(eventbridge_event({"accountId": "42"}))
    await sqs.send_message(QueueUrl=queues.url, MessageBody=body)

    stats = await run_until_idle(settings_for(queues.url))

    assert stats.outcomes["dead_lettered"] == 1
    [dead] = await drain(sqs, queues.dlq_url)
    assert dead["attributes"]["unlink-reason"] == "malformed"
