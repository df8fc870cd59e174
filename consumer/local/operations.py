"""The Cognito Identity operations served by the local stack on top of moto.

moto lacks DescribeIdentity, LookupDeveloperIdentity, DeleteIdentities and both unlinks, and
its GetId and GetOpenIdTokenForDeveloperIdentity store nothing (a new random identity on every
call); these replace them with stateful versions over `identities.STORE`. Pool operations stay
moto's, behind the same field checks.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from consumer.local import validation as v
from consumer.local.cognito_call import Call, operation
from consumer.local.errors import INVALID_PARAMETER, NOT_AUTHORIZED, CognitoError
from consumer.local.identities import STORE

DIGITS: Final = re.compile(r"\d+")
DEFAULT_PAGE: Final = 60
MAX_IDS_TO_DELETE: Final = 60


@operation
def get_id(call: Call) -> dict[str, Any]:
    """GetId: creates or returns the identity of these logins, keeping their tokens."""
    pool_id = v.identity_id(call.params, "IdentityPoolId")
    v.optional_str(call.params, "AccountId", 15, DIGITS)
    logins = v.logins(call.params, required=False)
    return {"IdentityId": STORE.get_id(call.pool(pool_id), logins)}


@operation
def get_open_id_token_for_developer_identity(call: Call) -> dict[str, Any]:
    """GetOpenIdTokenForDeveloperIdentity: links a developer user identifier to an identity."""
    pool_id = v.identity_id(call.params, "IdentityPoolId")
    identity_id = v.optional_str(call.params, "IdentityId", 55, v.ID_PATTERN)
    logins = v.logins(call.params, required=True)
    v.optional_int(call.params, "TokenDuration", 1, 86_400)
    pool = call.pool(pool_id)
    developer = pool.developer_provider_name
    if not developer or developer not in logins:
        raise CognitoError(
            NOT_AUTHORIZED, "Logins must map the pool's developer provider to a user identifier."
        )
    identifier = logins.pop(developer)
    if len(identifier) > 1024:
        raise CognitoError(INVALID_PARAMETER, "A developer user identifier is 1-1024 characters.")
    linked = STORE.link_developer(pool, identity_id, identifier, logins)
    return {"IdentityId": linked, "Token": f"local-openid-{uuid.uuid4().hex}"}


@operation
def lookup_developer_identity(call: Call) -> dict[str, Any]:
    """LookupDeveloperIdentity: an identity and its developer user identifiers, paginated.

    Where the reference is silent: an identifier linked to no identity of the pool, and an
    identity with no developer identifier, answer ResourceNotFoundException (as the service
    does for an identity it cannot find); a missing `MaxResults` pages by 60, the most it
    allows; `NextToken` is the offset into the list, opaque to callers.
    """
    pool_id = v.identity_id(call.params, "IdentityPoolId")
    identity_id = v.optional_str(call.params, "IdentityId", 55, v.ID_PATTERN)
    identifier = v.optional_str(call.params, "DeveloperUserIdentifier", 1024)
    page = v.optional_int(call.params, "MaxResults", 1, 60) or DEFAULT_PAGE
    next_token = v.optional_str(call.params, "NextToken", 65_535, v.NEXT_TOKEN_PATTERN)
    if identity_id is None and identifier is None:
        raise CognitoError(
            INVALID_PARAMETER, "Either IdentityId or DeveloperUserIdentifier is required."
        )
    start = 0
    if next_token is not None:
        if not next_token.isdigit():
            raise CognitoError(INVALID_PARAMETER, "The NextToken is not valid.")
        start = int(next_token)
    found, identifiers = STORE.lookup_developer(call.pool(pool_id), identity_id, identifier)
    result: dict[str, Any] = {
        "IdentityId": found,
        "DeveloperUserIdentifierList": identifiers[start : start + page],
    }
    if start + page < len(identifiers):
        result["NextToken"] = str(start + page)
    return result


@operation
def delete_identities(call: Call) -> dict[str, Any]:
    """DeleteIdentities: 1-60 identities gone; the ones left, with why, in UnprocessedIdentityIds.

    The reference is silent on an identity that does not exist: the stack deletes nothing for it
    and reports nothing (its error list has no ResourceNotFoundException, and a repeated delete
    must be harmless). Ids are not tied to a pool, as in the request syntax.
    """
    ids = v.id_list(call.params, "IdentityIdsToDelete", MAX_IDS_TO_DELETE)
    left = STORE.delete(ids, call.faults.unprocessed_identities, call.ledger)
    return {
        "UnprocessedIdentityIds": [
            {"IdentityId": identity_id, "ErrorCode": code} for identity_id, code in left
        ]
    }


@operation
def describe_identity(call: Call) -> dict[str, Any]:
    """DescribeIdentity: the linked provider names, the developer provider included."""
    described = STORE.describe(v.identity_id(call.params))
    return {
        "IdentityId": described.identity_id,
        "Logins": list(described.logins),
        "CreationDate": described.created,
        "LastModifiedDate": described.modified,
    }


@operation
def unlink_developer_identity(call: Call) -> None:
    """UnlinkDeveloperIdentity: HTTP 200 with an empty body once the link is gone."""
    identity_id = v.identity_id(call.params)
    pool_id = v.identity_id(call.params, "IdentityPoolId")
    provider = v.provider_name(call.params)
    identifier = v.required_str(call.params, "DeveloperUserIdentifier", 1024)
    STORE.unlink_developer(call.pool(pool_id), identity_id, provider, identifier, call.ledger)


@operation
def unlink_identity(call: Call) -> None:
    """UnlinkIdentity: HTTP 200 with an empty body once the providers are unlinked."""
    identity_id = v.identity_id(call.params)
    logins = v.logins(call.params, required=True)
    to_remove = v.name_list(call.params, "LoginsToRemove")
    STORE.unlink_logins(identity_id, logins, to_remove, call.ledger)


# -- checks in front of moto's own pool operations --------------------------------------------


def check_create_identity_pool(call: Call) -> None:
    if call.params.get("DeveloperProviderName") is not None:
        v.provider_name(call.params)
    v.logins(call.params, "SupportedLoginProviders", required=False)


def check_pool_id(call: Call) -> None:
    v.identity_id(call.params, "IdentityPoolId")


def forget_pool(call: Call) -> None:
    STORE.drop_pool(str(call.params["IdentityPoolId"]))
