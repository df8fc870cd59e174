"""The worker's clients skip botocore's parameter validation; the operator tools' keep it.

Every request the worker makes is built from a command its pydantic model validated, or from what
SQS and the settings gave it: botocore's second check finds nothing and costs CPU on every call.
What a malformed command still gets (the DLQ, a reason naming the field) is asserted through the
local stack in tests/integration/test_hostile_bodies.py.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from consumer.aws import clients
from consumer.settings import Settings

SETTINGS = Settings(
    queue_url="http://localhost/000000000000/commands",
    region="us-east-1",
    idempotency_table="claims",
)


class Answered:
    """A `before-call` handler's answer: botocore returns it instead of calling the service
    (after validating and serialising the request), so nothing here needs a network."""

    status_code = 200


def answer_locally(client: Any) -> None:
    client.meta.events.register("before-call.*.*", lambda **_: (Answered(), {}))


async def sends_unchecked(client: Any) -> bool:
    """Whether a request botocore's validator refuses (a required member missing) goes out."""
    answer_locally(client)
    try:
        await client.unlink_developer_identity(IdentityId="us-east-1:1")
    except botocore.exceptions.ParamValidationError:
        return False
    return True


async def test_the_worker_s_clients_leave_validation_to_the_command_model() -> None:
    async with clients.open_clients(SETTINGS) as made:
        assert await sends_unchecked(made.cognito)
        # The rest of the service's configuration is untouched.
        config: Any = made.cognito.meta.config  # botocore declares its options dynamically
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}


async def test_an_operator_tool_s_client_still_validates() -> None:
    async with clients.client("cognito-identity", SETTINGS) as tool:
        assert not await sends_unchecked(tool)
