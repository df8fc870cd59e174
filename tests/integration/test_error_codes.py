"""Error codes Cognito does not model, as a proxy, an endpoint or another AWS front answers them.

Throttling codes (botocore's own list) and an HTTP 429 are throttles and request timeouts are
transient: each is retried, then applied. Any other unmodeled 4xx is a bad request: dead-lettered
at once, its code in the reason's detail.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    drain,
    send_all,
)
from tests.integration.running import background, until
from tests.integration.worker_runner import UNPACED, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

RETRIED = (
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "SlowDown",
    "429",  # a bare HTTP 429 with a plain-text body, as a proxy or VPC endpoint answers
    "RequestTimeoutException",
)
UNKNOWN_4XX = "SomethingNewException"


async def test_throttling_and_timeout_codes_are_retried_and_unknown_4xx_dead_lettered(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
) -> None:
    stack = clean_faults
    users = [await developer_user(cognito, pool) for _ in range(len(RETRIED) + 1)]
    codes = [*RETRIED, UNKNOWN_4XX]
    for user, code in zip(users, codes, strict=True):
        stack.faults.fail_identities[user.identity_id] = code
    await send_all(sqs, queues.url, [developer_command(pool, u) for u in users])

    # Unpaced: a learned rate would slow to a crawl after these throttles, and pacing
    # is not what this asserts (test_pacing and the quota tests cover it).
    settings = settings_for(queues.url, cognito_max_attempts=1, fleet_rate_limit=UNPACED)
    async with background(settings) as worker:
        await until(lambda s: s.outcomes["retried"] >= len(RETRIED), worker)
        for user in users[:-1]:  # the cause is gone; the unknown code stays
            del stack.faults.fail_identities[user.identity_id]

    dead = await drain(sqs, queues.dlq_url)
    print("outcomes:", dict(worker.stats.outcomes))
    print(
        "dead letters:",
        [(d["attributes"]["unlink-reason"], d["attributes"]["unlink-detail"]) for d in dead],
    )
    assert worker.stats.outcomes["applied"] == len(RETRIED)
    [only] = dead
    assert json.loads(only["body"])["IdentityId"] == users[-1].identity_id
    assert only["attributes"]["unlink-reason"] == "InvalidParameterException"
    assert only["attributes"]["unlink-detail"].startswith(f"{UNKNOWN_4XX}:")
    assert only["attributes"]["unlink-attempts"] == "1"  # on first sight, no retries
    for user in users[:-1]:
        described = await cognito.describe_identity(IdentityId=user.identity_id)
        assert pool.provider not in described.get("Logins", [])
