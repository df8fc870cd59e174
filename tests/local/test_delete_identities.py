"""DeleteIdentities as the API reference describes it, and its unprocessed ids as a fault."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from consumer.local.admin_client import AdminClient
from consumer.local.seed import create_developer_identities, create_federated_identities
from consumer.local.seeded import SeededPool
from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

UNKNOWN_IDENTITY = "us-east-1:00000000-0000-4000-8000-000000000000"


async def test_deleted_identities_are_gone_with_their_links(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    dev, other = await create_developer_identities(cognito, pool, 2)
    [fed] = await create_federated_identities(cognito, pool, 1)
    before = stack.ledger.applied_count("DeleteIdentities")

    answer = await cognito.delete_identities(
        IdentityIdsToDelete=[dev.identity_id, fed.identity_id, dev.identity_id]
    )

    assert answer["UnprocessedIdentityIds"] == []
    assert stack.ledger.applied_count("DeleteIdentities") - before == 2
    for gone in (dev.identity_id, fed.identity_id):
        with pytest.raises(cognito.exceptions.ResourceNotFoundException):
            await cognito.describe_identity(IdentityId=gone)
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.lookup_developer_identity(
            IdentityPoolId=pool.identity_pool_id,
            DeveloperUserIdentifier=dev.developer_user_identifier,
        )
    # The user's next sign-in is a new identity; the other identity is untouched.
    again = await cognito.get_open_id_token_for_developer_identity(
        IdentityPoolId=pool.identity_pool_id,
        Logins={pool.developer_provider_name: dev.developer_user_identifier},
    )
    assert again["IdentityId"] != dev.identity_id
    assert (await cognito.describe_identity(IdentityId=other.identity_id))["IdentityId"]


async def test_an_identity_already_gone_is_no_error_and_no_effect(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    [dev] = await create_developer_identities(cognito, pool, 1)
    await cognito.delete_identities(IdentityIdsToDelete=[dev.identity_id])
    before = stack.ledger.applied_count("DeleteIdentities")

    answer = await cognito.delete_identities(
        IdentityIdsToDelete=[dev.identity_id, UNKNOWN_IDENTITY]
    )

    assert answer["UnprocessedIdentityIds"] == []
    assert stack.ledger.applied_count("DeleteIdentities") == before


async def test_unprocessed_ids_are_a_fault_set_through_the_admin_surface(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    kept, denied, deleted = await create_developer_identities(cognito, pool, 3)
    AdminClient(stack.endpoint_url).set_faults(
        unprocessed_identities={
            kept.identity_id: "InternalServerError",
            denied.identity_id: "AccessDenied",
        }
    )

    answer = await cognito.delete_identities(
        IdentityIdsToDelete=[kept.identity_id, denied.identity_id, deleted.identity_id]
    )

    assert sorted(answer["UnprocessedIdentityIds"], key=lambda u: u["ErrorCode"]) == [
        {"IdentityId": denied.identity_id, "ErrorCode": "AccessDenied"},
        {"IdentityId": kept.identity_id, "ErrorCode": "InternalServerError"},
    ]
    for still in (kept, denied):
        assert (await cognito.describe_identity(IdentityId=still.identity_id))["IdentityId"]
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.describe_identity(IdentityId=deleted.identity_id)


def test_unprocessed_codes_are_the_references_own(stack: LocalStack) -> None:
    with pytest.raises(ValueError, match="unprocessed_identities"):
        stack.faults.update({"unprocessed_identities": {UNKNOWN_IDENTITY: "Throttled"}})


async def test_delete_has_its_own_quota(
    cognito: CognitoIdentityClient, pool: SeededPool, stack: LocalStack
) -> None:
    stack.faults.delete_quota_rps = 1.0  # a bucket of one: the second call at once is refused
    await cognito.delete_identities(IdentityIdsToDelete=[UNKNOWN_IDENTITY])
    with pytest.raises(cognito.exceptions.TooManyRequestsException):
        await cognito.delete_identities(IdentityIdsToDelete=[UNKNOWN_IDENTITY])
    # The unlinks' quota is another one.
    await create_developer_identities(cognito, pool, 1)


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"IdentityIdsToDelete": []},
        {"IdentityIdsToDelete": [UNKNOWN_IDENTITY] * 61},
        {"IdentityIdsToDelete": ["not-an-id"]},
        {"IdentityIdsToDelete": UNKNOWN_IDENTITY},
    ],
    ids=["missing", "empty", "61 ids", "bad id", "not a list"],
)
async def test_delete_checks_its_request(
    raw_cognito: CognitoIdentityClient, request_: dict[str, Any]
) -> None:
    with pytest.raises(raw_cognito.exceptions.InvalidParameterException):
        await raw_cognito.delete_identities(**request_)


async def test_lookup_and_describe_pool_of_a_pool_that_does_not_exist(
    cognito: CognitoIdentityClient, raw_cognito: CognitoIdentityClient
) -> None:
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.lookup_developer_identity(
            IdentityPoolId=UNKNOWN_IDENTITY, DeveloperUserIdentifier="user"
        )
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.describe_identity_pool(IdentityPoolId=UNKNOWN_IDENTITY)
    with pytest.raises(raw_cognito.exceptions.InvalidParameterException):
        await raw_cognito.lookup_developer_identity(
            IdentityPoolId=UNKNOWN_IDENTITY, DeveloperUserIdentifier="user", MaxResults=0
        )
    with pytest.raises(raw_cognito.exceptions.InvalidParameterException):
        await raw_cognito.lookup_developer_identity(
            IdentityPoolId=UNKNOWN_IDENTITY, DeveloperUserIdentifier="x" * 1025
        )
