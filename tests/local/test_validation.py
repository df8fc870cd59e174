"""The seed pages' field constraints, checked by the server: InvalidParameterException (400)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

ID = "us-east-1:00000000-0000-4000-8000-000000000000"
POOL = "us-east-1:11111111-1111-4111-8111-111111111111"
DEVELOPER = {
    "IdentityId": ID,
    "IdentityPoolId": POOL,
    "DeveloperProviderName": "login.example.com",
    "DeveloperUserIdentifier": "user-1",
}
FEDERATED: dict[str, Any] = {
    "IdentityId": ID,
    "Logins": {"accounts.google.com": "token"},
    "LoginsToRemove": ["accounts.google.com"],
}
SECRET = "secret-token-value"


def without(request: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k != field}


DEVELOPER_CASES = {
    "identity id pattern": {**DEVELOPER, "IdentityId": "not-an-identity-id"},
    "identity id upper-case hex": {**DEVELOPER, "IdentityId": "us-east-1:ABCDEF"},
    "identity id too long": {**DEVELOPER, "IdentityId": "us-east-1:" + "a" * 46},
    "identity id empty": {**DEVELOPER, "IdentityId": ""},
    "identity id not a string": {**DEVELOPER, "IdentityId": 5},
    "pool id pattern": {**DEVELOPER, "IdentityPoolId": "pool"},
    "provider pattern": {**DEVELOPER, "DeveloperProviderName": "login example"},
    "provider too long": {**DEVELOPER, "DeveloperProviderName": "p" * 129},
    "identifier too long": {**DEVELOPER, "DeveloperUserIdentifier": "u" * 1025},
    "identifier empty": {**DEVELOPER, "DeveloperUserIdentifier": ""},
    **{f"missing {field}": without(DEVELOPER, field) for field in DEVELOPER},
}
FEDERATED_CASES = {
    "identity id pattern": {**FEDERATED, "IdentityId": "us-east-1/abc"},
    "eleven logins": {**FEDERATED, "Logins": {f"p{i}.example": "t" for i in range(11)}},
    "login key too long": {**FEDERATED, "Logins": {"k" * 129: "t"}},
    "login value too long": {**FEDERATED, "Logins": {"accounts.google.com": "t" * 50_001}},
    "login value empty": {**FEDERATED, "Logins": {"accounts.google.com": ""}},
    "provider to remove empty": {**FEDERATED, "LoginsToRemove": [""]},
    "provider to remove too long": {**FEDERATED, "LoginsToRemove": ["p" * 129]},
    **{f"missing {field}": without(FEDERATED, field) for field in FEDERATED},
}


@pytest.mark.parametrize("request_", DEVELOPER_CASES.values(), ids=DEVELOPER_CASES.keys())
async def test_unlink_developer_identity_fields(
    raw_cognito: CognitoIdentityClient, request_: dict[str, Any]
) -> None:
    with pytest.raises(raw_cognito.exceptions.InvalidParameterException) as error:
        await raw_cognito.unlink_developer_identity(**request_)
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("request_", FEDERATED_CASES.values(), ids=FEDERATED_CASES.keys())
async def test_unlink_identity_fields(
    raw_cognito: CognitoIdentityClient, request_: dict[str, Any]
) -> None:
    with pytest.raises(raw_cognito.exceptions.InvalidParameterException):
        await raw_cognito.unlink_identity(**request_)


async def test_the_other_operations_check_their_fields(raw_cognito: CognitoIdentityClient) -> None:
    c = raw_cognito
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.get_id(IdentityPoolId="bad")
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.get_id(IdentityPoolId=POOL, AccountId="not-digits")
    missing_logins: dict[str, Any] = {"IdentityPoolId": POOL}
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.get_open_id_token_for_developer_identity(**missing_logins)
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.get_open_id_token_for_developer_identity(
            IdentityPoolId=POOL, Logins={"dev": "u"}, TokenDuration=0
        )
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.lookup_developer_identity(IdentityPoolId=POOL, IdentityId=ID, MaxResults=61)
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.describe_identity(IdentityId="x" * 56)
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.describe_identity_pool(IdentityPoolId="bad")
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.delete_identity_pool(IdentityPoolId="bad")
    with pytest.raises(c.exceptions.InvalidParameterException):
        await c.create_identity_pool(
            IdentityPoolName="p", AllowUnauthenticatedIdentities=False, DeveloperProviderName="a b"
        )


async def test_errors_never_echo_a_token(raw_cognito: CognitoIdentityClient) -> None:
    with pytest.raises(raw_cognito.exceptions.InvalidParameterException) as error:
        await raw_cognito.unlink_identity(
            IdentityId=ID, Logins={"k" * 129: SECRET}, LoginsToRemove=[]
        )
    assert SECRET not in json.dumps(error.value.response, default=str)


def post(stack: LocalStack, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        stack.endpoint_url + "/",
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_body_that_is_not_a_json_object_is_an_invalid_parameter(stack: LocalStack) -> None:
    wrong_types = [
        {**FEDERATED, "Logins": ["accounts.google.com"]},
        {**FEDERATED, "LoginsToRemove": "accounts.google.com"},
        {**FEDERATED, "LoginsToRemove": [7]},
    ]
    for body in (b"not json", b"[1, 2]", *(json.dumps(w).encode() for w in wrong_types)):
        status, answer = post(stack, "AWSCognitoIdentityService.UnlinkIdentity", body)
        assert status == 400
        assert answer["__type"] == "InvalidParameterException"


def test_the_long_target_of_the_reference_sample_is_served(stack: LocalStack) -> None:
    target = "com.amazonaws.cognito.identity.model.AWSCognitoIdentityService.UnlinkIdentity"
    status, answer = post(stack, target, json.dumps(FEDERATED).encode())
    assert status == 400
    assert answer == {"__type": "ResourceNotFoundException", "message": answer["message"]}
