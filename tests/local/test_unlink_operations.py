"""UnlinkDeveloperIdentity and UnlinkIdentity: success, every error code, and what changed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from consumer.local.ledger import EffectKey
from consumer.local.seed import create_developer_identities, create_federated_identities
from consumer.local.seeded import SeededPool
from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

GOOGLE = "accounts.google.com"
FACEBOOK = "graph.facebook.com"
UNKNOWN_IDENTITY = "us-east-1:00000000-0000-4000-8000-000000000000"
UNKNOWN_POOL = "us-east-1:11111111-1111-4111-8111-111111111111"


async def test_unlink_developer_identity_removes_the_link_once(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    [dev] = await create_developer_identities(cognito, pool, 1)
    before = stack.ledger.applied_count()

    answer = await cognito.unlink_developer_identity(**dev.unlink_request())

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    described = await cognito.describe_identity(IdentityId=dev.identity_id)
    assert described.get("Logins", []) == []
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_developer_identity(**dev.unlink_request())  # already gone
    assert stack.ledger.applied_count() - before == 1
    effect = EffectKey("UnlinkDeveloperIdentity", dev.identity_id, dev.developer_user_identifier)
    assert stack.ledger.applied_counts_by_key()[effect] == 1

    # An unlinked user is a new identity the next time it is seen.
    again = await cognito.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool.identity_pool_id,
        Logins={pool.developer_provider_name: dev.developer_user_identifier},
    )
    assert again["IdentityId"] != dev.identity_id


async def test_unlink_developer_identity_errors(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    first, second = await create_developer_identities(cognito, pool, 2)
    request = first.unlink_request()
    before = stack.ledger.applied_count()

    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_developer_identity(**{**request, "IdentityPoolId": UNKNOWN_POOL})
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_developer_identity(**{**request, "IdentityId": UNKNOWN_IDENTITY})
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.unlink_developer_identity(
            **{**request, "DeveloperProviderName": "login.other.example"}
        )
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_developer_identity(
            **{**request, "DeveloperUserIdentifier": "never-linked"}
        )
    with pytest.raises(cognito.exceptions.ResourceConflictException) as conflict:
        await cognito.unlink_developer_identity(**{**request, "IdentityId": second.identity_id})

    assert conflict.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert stack.ledger.applied_count() == before
    for dev in (first, second):
        described = await cognito.describe_identity(IdentityId=dev.identity_id)
        assert described["Logins"] == [pool.developer_provider_name]


async def test_unlink_identity_removes_only_the_named_provider(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    [fed] = await create_federated_identities(cognito, pool, 1)
    before = stack.ledger.applied_count("UnlinkIdentity")

    await cognito.unlink_identity(**fed.unlink_request([GOOGLE]))

    described = await cognito.describe_identity(IdentityId=fed.identity_id)
    assert described["Logins"] == [FACEBOOK]
    assert stack.ledger.applied_count("UnlinkIdentity") - before == 1
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        # the Google token is no longer linked to the identity
        await cognito.unlink_identity(**fed.unlink_request([FACEBOOK]))
    await cognito.unlink_identity(
        IdentityId=fed.identity_id,
        Logins={FACEBOOK: fed.logins[FACEBOOK]},
        LoginsToRemove=[FACEBOOK],
    )
    assert (await cognito.describe_identity(IdentityId=fed.identity_id)).get("Logins") == []


async def test_unlink_identity_errors(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    [fed] = await create_federated_identities(cognito, pool, 1, providers=[GOOGLE])
    before = stack.ledger.applied_count()

    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_identity(**{**fed.unlink_request(), "IdentityId": UNKNOWN_IDENTITY})
    with pytest.raises(cognito.exceptions.NotAuthorizedException) as wrong_token:
        await cognito.unlink_identity(
            IdentityId=fed.identity_id, Logins={GOOGLE: "a-stale-token"}, LoginsToRemove=[GOOGLE]
        )
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.unlink_identity(IdentityId=fed.identity_id, Logins={}, LoginsToRemove=[])
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_identity(**fed.unlink_request([FACEBOOK]))  # never linked

    assert "a-stale-token" not in str(wrong_token.value)  # tokens are secrets
    assert "currently valid tokens" in str(wrong_token.value)
    assert stack.ledger.applied_count() == before
    assert (await cognito.describe_identity(IdentityId=fed.identity_id))["Logins"] == [GOOGLE]


async def test_expired_tokens_stop_working_and_new_ones_do(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    [fed] = await create_federated_identities(cognito, pool, 1, providers=[GOOGLE])

    fresh = stack.expire_tokens(fed.identity_id)

    assert fresh[GOOGLE] != fed.logins[GOOGLE]
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.unlink_identity(**fed.unlink_request())
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins=dict(fed.logins))
    again = await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins=fresh)
    assert again["IdentityId"] == fed.identity_id
    await cognito.unlink_identity(IdentityId=fed.identity_id, Logins=fresh, LoginsToRemove=[GOOGLE])


async def test_racing_unlinks_of_one_identifier_apply_exactly_once(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    [dev] = await create_developer_identities(cognito, pool, 1)

    async def unlink() -> str:
        try:
            await cognito.unlink_developer_identity(**dev.unlink_request())
        except cognito.exceptions.ResourceNotFoundException:
            return "gone"
        return "applied"

    results = await asyncio.gather(*(unlink() for _ in range(12)))

    assert sorted(results) == ["applied"] + ["gone"] * 11
    effect = EffectKey("UnlinkDeveloperIdentity", dev.identity_id, dev.developer_user_identifier)
    assert stack.ledger.applied_counts_by_key()[effect] == 1
