"""Pools, GetId, GetOpenIdTokenForDeveloperIdentity, LookupDeveloperIdentity, DescribeIdentity."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from consumer.local.seed import (
    create_developer_identities,
    create_federated_identities,
    create_pool,
)
from consumer.local.seeded import SeededPool

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

GOOGLE = "accounts.google.com"
FACEBOOK = "graph.facebook.com"
UNKNOWN_IDENTITY = "us-east-1:00000000-0000-4000-8000-000000000000"


async def test_pool_keeps_its_providers_and_can_be_deleted(
    cognito: CognitoIdentityClient,
) -> None:
    pool = await create_pool(cognito, developer_provider_name="login.example.com")

    described = await cognito.describe_identity_pool(IdentityPoolId=pool.identity_pool_id)
    assert described["DeveloperProviderName"] == "login.example.com"
    assert set(described["SupportedLoginProviders"]) == {GOOGLE, FACEBOOK}

    await cognito.delete_identity_pool(IdentityPoolId=pool.identity_pool_id)
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.describe_identity_pool(IdentityPoolId=pool.identity_pool_id)
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins={GOOGLE: "t"})


async def test_get_id_returns_the_same_identity_for_the_same_login(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    token = f"token-{uuid.uuid4().hex}"
    first = await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins={GOOGLE: token})
    again = await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins={GOOGLE: token})
    other = await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins={GOOGLE: "other"})

    assert first["IdentityId"] == again["IdentityId"] != other["IdentityId"]
    assert first["IdentityId"].startswith("us-east-1:")
    described = await cognito.describe_identity(IdentityId=first["IdentityId"])
    assert described["Logins"] == [GOOGLE]


async def test_get_id_links_a_second_provider_to_the_same_identity(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    [user] = await create_federated_identities(cognito, pool, 1, providers=[GOOGLE])
    linked = await cognito.get_id(
        IdentityPoolId=pool.identity_pool_id, Logins={**user.logins, FACEBOOK: "fb-token"}
    )
    assert linked["IdentityId"] == user.identity_id
    described = await cognito.describe_identity(IdentityId=user.identity_id)
    assert described["Logins"] == [GOOGLE, FACEBOOK]


async def test_get_id_refuses_unknown_providers_and_unauthenticated_access(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.get_id(IdentityPoolId=pool.identity_pool_id, Logins={"login.nope": "t"})
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.get_id(IdentityPoolId=pool.identity_pool_id)
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.get_id(IdentityPoolId=UNKNOWN_IDENTITY, Logins={GOOGLE: "t"})


async def test_developer_identity_is_created_once_and_returned_after(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    user = f"user-{uuid.uuid4().hex}"
    logins = {pool.developer_provider_name: user}
    first = await cognito.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool.identity_pool_id, Logins=logins
    )
    again = await cognito.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool.identity_pool_id, Logins=logins
    )
    assert first["IdentityId"] == again["IdentityId"]
    assert first["Token"]
    described = await cognito.describe_identity(IdentityId=first["IdentityId"])
    assert described["Logins"] == [pool.developer_provider_name]
    assert described["CreationDate"] <= described["LastModifiedDate"]


async def test_developer_identifier_links_to_a_given_identity_with_other_logins(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    [fed] = await create_federated_identities(cognito, pool, 1, providers=[GOOGLE])
    user = f"user-{uuid.uuid4().hex}"
    linked = await cognito.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool.identity_pool_id,
        IdentityId=fed.identity_id,
        Logins={pool.developer_provider_name: user, FACEBOOK: "fb-token"},
    )
    assert linked["IdentityId"] == fed.identity_id
    described = await cognito.describe_identity(IdentityId=fed.identity_id)
    assert described["Logins"] == [GOOGLE, FACEBOOK, pool.developer_provider_name]


async def test_developer_identifier_linked_elsewhere_is_a_conflict(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    first, second = await create_developer_identities(cognito, pool, 2)
    with pytest.raises(cognito.exceptions.ResourceConflictException):
        await cognito.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool.identity_pool_id,
            IdentityId=second.identity_id,
            Logins={pool.developer_provider_name: first.developer_user_identifier},
        )


async def test_developer_login_must_name_the_pools_developer_provider(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        await cognito.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool.identity_pool_id, Logins={"login.other.example": "user"}
        )
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool.identity_pool_id,
            IdentityId=UNKNOWN_IDENTITY,
            Logins={pool.developer_provider_name: "user"},
        )


async def test_lookup_by_identifier_or_identity_with_pages(
    cognito: CognitoIdentityClient, pool: SeededPool
) -> None:
    [dev] = await create_developer_identities(cognito, pool, 1)
    extra = [f"extra-{i}-{uuid.uuid4().hex[:8]}" for i in range(2)]
    for identifier in extra:
        await cognito.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool.identity_pool_id,
            IdentityId=dev.identity_id,
            Logins={pool.developer_provider_name: identifier},
        )
    everything = [dev.developer_user_identifier, *extra]

    by_user = await cognito.lookup_developer_identity(
        IdentityPoolId=pool.identity_pool_id, DeveloperUserIdentifier=dev.developer_user_identifier
    )
    assert by_user["IdentityId"] == dev.identity_id
    assert by_user["DeveloperUserIdentifierList"] == everything

    first = await cognito.lookup_developer_identity(
        IdentityPoolId=pool.identity_pool_id, IdentityId=dev.identity_id, MaxResults=2
    )
    assert first["DeveloperUserIdentifierList"] == everything[:2]
    rest = await cognito.lookup_developer_identity(
        IdentityPoolId=pool.identity_pool_id,
        IdentityId=dev.identity_id,
        MaxResults=2,
        NextToken=first["NextToken"],
    )
    assert rest["DeveloperUserIdentifierList"] == everything[2:]
    assert "NextToken" not in rest


async def test_lookup_errors(cognito: CognitoIdentityClient, pool: SeededPool) -> None:
    first, second = await create_developer_identities(cognito, pool, 2)
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.lookup_developer_identity(
            IdentityPoolId=pool.identity_pool_id, DeveloperUserIdentifier="nobody"
        )
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.lookup_developer_identity(
            IdentityPoolId=pool.identity_pool_id, IdentityId=UNKNOWN_IDENTITY
        )
    with pytest.raises(cognito.exceptions.ResourceConflictException):
        await cognito.lookup_developer_identity(
            IdentityPoolId=pool.identity_pool_id,
            IdentityId=second.identity_id,
            DeveloperUserIdentifier=first.developer_user_identifier,
        )
    with pytest.raises(cognito.exceptions.InvalidParameterException):
        await cognito.lookup_developer_identity(IdentityPoolId=pool.identity_pool_id)


async def test_describe_unknown_identity(cognito: CognitoIdentityClient) -> None:
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.describe_identity(IdentityId=UNKNOWN_IDENTITY)
