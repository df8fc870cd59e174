"""Seeding through the API and in process; what comes back builds valid unlink requests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from consumer.local.seed import seed, seed_in_process
from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient


async def test_seed_through_the_api(cognito: CognitoIdentityClient, stack: LocalStack) -> None:
    seeded = await seed(cognito, developer=3, federated=2)

    assert len({d.identity_id for d in seeded.developer}) == 3
    assert len({f.identity_id for f in seeded.federated}) == 2
    pool = await cognito.describe_identity_pool(IdentityPoolId=seeded.pool.identity_pool_id)
    assert pool["DeveloperProviderName"] == seeded.pool.developer_provider_name
    before = stack.ledger.applied_count()
    for dev in seeded.developer:
        await cognito.unlink_developer_identity(**dev.unlink_request())
    for fed in seeded.federated:
        await cognito.unlink_identity(**fed.unlink_request(list(fed.logins)))
    assert stack.ledger.applied_count() - before == 3 + 2 * len(seeded.pool.login_providers)


async def test_seed_in_process_is_fast_and_served_over_http(
    cognito: CognitoIdentityClient, stack: LocalStack
) -> None:
    started = time.perf_counter()
    seeded = seed_in_process(stack, developer=5000, federated=500)
    assert time.perf_counter() - started < 5

    assert len(seeded.developer) == 5000
    assert len(seeded.federated) == 500
    last = seeded.developer[-1]
    looked_up = await cognito.lookup_developer_identity(
        IdentityPoolId=last.identity_pool_id, DeveloperUserIdentifier=last.developer_user_identifier
    )
    assert looked_up["IdentityId"] == last.identity_id
    await cognito.unlink_developer_identity(**last.unlink_request())
    await cognito.unlink_identity(**seeded.federated[0].unlink_request())
