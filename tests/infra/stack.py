"""Deploy infra/cloudformation.yaml into an AWS endpoint and read back what it created.

Tests point it at moto's server (`moto_server()`), over real HTTP. A test that runs the worker
against the stack's queues and table can reuse both:

    with moto_server() as endpoint_url:
        outputs = deploy_stack(endpoint_url)
        # outputs["QueueUrl"], outputs["DeadLetterQueueUrl"], outputs["IdempotencyTableName"]

The queue URLs in the outputs carry the real SQS host name (that is how moto's CloudFormation
renders them); a client built with `endpoint_url` sends its requests to the endpoint anyway,
as SQS clients address queues by the URL's path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.session
from moto.server import ThreadedMotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "infra" / "cloudformation.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
IDENTITY_POOL_ARN = (
    f"arn:aws:cognito-identity:{REGION}:{ACCOUNT_ID}:identitypool/"
    f"{REGION}:00000000-0000-4000-8000-000000000000"
)

# The one parameter without a default.
DEFAULT_PARAMETERS: Mapping[str, str] = {"IdentityPoolArn": IDENTITY_POOL_ARN}
# What DeployService=true needs besides; moto does not check that the network exists.
SERVICE_PARAMETERS: Mapping[str, str] = {
    "ContainerImage": "cognito-unlink-consumer:test",
    "Subnets": "subnet-0123456789abcdef0",
    "SecurityGroups": "sg-0123456789abcdef0",
}

_TERMINAL_FAILURES = ("CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE")


class StackError(RuntimeError):
    """The stack did not reach CREATE_COMPLETE."""


def aws_client(service: str, endpoint_url: str) -> Any:
    """A botocore client for `service` at `endpoint_url`, with fake credentials.

    Typed Any: the project pins type stubs only for the clients the worker uses (through
    aiobotocore), not for CloudFormation, IAM or ECS.
    """
    session = botocore.session.get_session()
    return session.create_client(
        service,
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto accepts any credentials
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server on a free loopback port; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def deploy_stack(
    endpoint_url: str,
    *,
    stack_name: str = "cognito-unlink",
    deploy_service: bool = False,
    parameters: Mapping[str, str] | None = None,
    timeout_seconds: float = 30.0,
) -> dict[str, str]:
    """Create the stack from infra/cloudformation.yaml and return its outputs by key.

    `deploy_service=False` leaves out the ECS cluster, service and scaling (the queues, the
    table, the roles and the alarms remain); `parameters` override or add template
    parameters.
    """
    values = dict(DEFAULT_PARAMETERS)
    values["DeployService"] = "true" if deploy_service else "false"
    if deploy_service:
        values.update(SERVICE_PARAMETERS)
    values.update(parameters or {})

    cloudformation = aws_client("cloudformation", endpoint_url)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=TEMPLATE_PATH.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    deadline = time.monotonic() + timeout_seconds
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = str(stack["StackStatus"])
        if status == "CREATE_COMPLETE":
            return {str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs", [])}
        if status in _TERMINAL_FAILURES or time.monotonic() > deadline:
            reason = stack.get("StackStatusReason", "")
            raise StackError(f"stack {stack_name} is {status}: {reason}")
        time.sleep(0.1)


def stack_resources(endpoint_url: str, stack_name: str) -> dict[str, tuple[str, str]]:
    """Logical id -> (resource type, physical id) of what the stack actually created."""
    cloudformation = aws_client("cloudformation", endpoint_url)
    summaries = cloudformation.list_stack_resources(StackName=stack_name)
    return {
        str(r["LogicalResourceId"]): (str(r["ResourceType"]), str(r["PhysicalResourceId"]))
        for r in summaries["StackResourceSummaries"]
        # moto lists resources it skipped (false condition, unsupported type) without ids.
        if r.get("LogicalResourceId")
    }
