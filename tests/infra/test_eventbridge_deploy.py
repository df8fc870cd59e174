"""infra/eventbridge-user-deleted.yaml deployed into the local stack: an app's UserDeleted event,
put with PutEvents, reaches the queue as a command and the worker unlinks the user.

moto 5.2.5 creates the rule and its target (input transformer included) but has no
AWS::SQS::QueuePolicy: it skips it with a UserWarning and delivers to the queue without
checking a policy, so the policy's shape is checked here from the template itself.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from consumer.local.stack import LocalStack
from tests.infra.documents import load_template
from tests.infra.stack import REPO_ROOT, aws_client
from tests.integration.conftest import Queues, developer_user, drain, linked, make_pool, make_queues
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

TEMPLATE = REPO_ROOT / "infra" / "eventbridge-user-deleted.yaml"
SOURCE = "com.example.accounts"

pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS..SQS..QueuePolicy.* not supported by moto:UserWarning"
)


def deploy(endpoint_url: str, name: str, parameters: dict[str, str]) -> dict[str, str]:
    cloudformation = aws_client("cloudformation", endpoint_url)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    deadline = time.monotonic() + 30
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if stack["StackStatus"] == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        assert "FAIL" not in stack["StackStatus"], stack.get("StackStatusReason")
        assert "ROLLBACK" not in stack["StackStatus"], stack.get("StackStatusReason")
        assert time.monotonic() < deadline, stack["StackStatus"]
        time.sleep(0.1)


def put_user_deleted(endpoint_url: str, detail: dict[str, Any], source: str = SOURCE) -> None:
    events = aws_client("events", endpoint_url)
    answer = events.put_events(
        Entries=[{"Source": source, "DetailType": "UserDeleted", "Detail": json.dumps(detail)}]
    )
    assert answer["FailedEntryCount"] == 0


async def test_a_user_deleted_event_unlinks_the_user_through_the_queue(
    stack: LocalStack,
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
) -> None:
    pool = await make_pool(cognito)
    dev = await developer_user(cognito, pool)
    other = await developer_user(cognito, pool)
    queues: Queues = await make_queues(sqs)
    arn = (await sqs.get_queue_attributes(QueueUrl=queues.url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    outputs = deploy(
        stack.endpoint_url,
        f"user-deleted-{uuid.uuid4().hex[:8]}",
        {
            "QueueArn": arn,
            "QueueUrl": queues.url,
            "EventSource": SOURCE,
            "IdentityPoolId": pool.pool_id,
            "DeveloperProviderName": pool.provider,
        },
    )
    assert outputs["RuleArn"].startswith("arn:aws:events:")

    put_user_deleted(stack.endpoint_url, {"userId": dev.user, "reason": "account closed"})
    put_user_deleted(stack.endpoint_url, {"userId": other.user}, source="com.example.other")

    stats = await run_until_idle(settings_for(queues.url))

    print("outcomes:", dict(stats.outcomes))
    assert stats.outcomes["applied"] == 1
    assert pool.provider not in await linked(cognito, dev.identity_id)
    assert pool.provider in await linked(cognito, other.identity_id)  # another source: no rule
    assert await drain(sqs, queues.dlq_url) == []


def test_the_queue_policy_lets_only_this_rule_send() -> None:
    template = load_template(TEMPLATE.read_text(encoding="utf-8"))
    [statement] = template["Resources"]["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Ref": "QueueArn"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["UserDeletedRule", "Arn"]}}
    }
    [target] = template["Resources"]["UserDeletedRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "QueueArn"}
    command = json.loads(
        target["InputTransformer"]["InputTemplate"]["Fn::Sub"]
        .replace("${IdentityPoolId}", "us-east-1:0")
        .replace("${DeveloperProviderName}", "login.example")
        .replace("<user>", "user-1")
    )
    assert command == {
        "action": "UnlinkDeveloperIdentity",
        "IdentityPoolId": "us-east-1:0",
        "DeveloperProviderName": "login.example",
        "DeveloperUserIdentifier": "user-1",
    }
