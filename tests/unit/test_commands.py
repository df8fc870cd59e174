from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core.commands import (
    UnlinkDeveloperIdentity,
    UnlinkDeveloperUser,
    UnlinkIdentity,
    command_to_body,
)
from consumer.core.envelopes import decode
from consumer.core.errors import MalformedCommand

POOL = "us-east-1:0b9d5f6c-1234-4abc-9def-000000000001"
IDENTITY = "us-east-1:6820d0d3-3c95-4d9f-8813-c4448fca995f"
SECRET = "eyJhbGciOiJSUzI1NiJ9.very-secret-token"


def developer(**overrides: Any) -> dict[str, Any]:
    body = {
        "action": "UnlinkDeveloperIdentity",
        "IdentityId": IDENTITY,
        "IdentityPoolId": POOL,
        "DeveloperProviderName": "login.example.com",
        "DeveloperUserIdentifier": "user-42",
    }
    return {**body, **overrides}


def federated(**overrides: Any) -> dict[str, Any]:
    body = {
        "action": "UnlinkIdentity",
        "IdentityId": IDENTITY,
        "Logins": {"accounts.google.com": SECRET},
        "LoginsToRemove": ["accounts.google.com"],
    }
    return {**body, **overrides}


def test_a_valid_developer_command_keeps_the_api_fields() -> None:
    command = decode(json.dumps(developer(command_id="c-1")))
    assert isinstance(command, UnlinkDeveloperIdentity)
    assert command.api_request() == {k: v for k, v in developer().items() if k != "action"}
    assert command.command_id == "c-1"


def test_a_valid_federated_command_hides_its_tokens() -> None:
    command = decode(json.dumps(federated()))
    assert isinstance(command, UnlinkIdentity)
    assert command.api_request()["Logins"] == {"accounts.google.com": SECRET}
    assert SECRET not in repr(command)
    assert SECRET not in str(command.model_dump())


def test_round_trip_through_the_body() -> None:
    command = decode(json.dumps(federated(command_id="abc")))
    assert decode(command_to_body(command)) == command


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (developer(IdentityId="no-colon"), "IdentityId"),
        (developer(IdentityId="us-east-1:XYZ"), "IdentityId"),  # hex only after the colon
        (developer(IdentityId="us-east-1:" + "a" * 50), "IdentityId"),  # over 55
        (developer(IdentityPoolId=""), "IdentityPoolId"),
        (developer(DeveloperProviderName="bad name"), "DeveloperProviderName"),
        (developer(DeveloperProviderName="a" * 129), "DeveloperProviderName"),
        (developer(DeveloperUserIdentifier=""), "DeveloperUserIdentifier"),
        (developer(DeveloperUserIdentifier="u" * 1025), "DeveloperUserIdentifier"),
        (developer(DeveloperUserIdentifier=42), "DeveloperUserIdentifier"),
        (developer(Extra="x"), "Extra"),
        ({k: v for k, v in developer().items() if k != "IdentityPoolId"}, "IdentityPoolId"),
        (federated(Logins={f"p{i}": "t" for i in range(11)}), "Logins"),
        (federated(Logins={"": "t"}), "Logins"),
        (federated(Logins={"a" * 129: "t"}), "Logins"),
        (federated(Logins={"p": ""}), "Logins"),
        (federated(Logins={"p": "t" * 50_001}), "Logins"),
        (federated(LoginsToRemove=["a" * 129]), "LoginsToRemove"),
        (federated(LoginsToRemove="accounts.google.com"), "LoginsToRemove"),
        ({k: v for k, v in federated().items() if k != "LoginsToRemove"}, "LoginsToRemove"),
        (developer(action="DeleteIdentity"), "action"),
        ({k: v for k, v in developer().items() if k != "action"}, "action"),
        (developer(command_id=""), "command_id"),
    ],
)
def test_each_constraint_is_enforced_and_named(body: dict[str, Any], names: str) -> None:
    with pytest.raises(MalformedCommand) as caught:
        decode(json.dumps(body))
    assert names in caught.value.detail


def test_tokens_never_appear_in_a_rejection() -> None:
    body = federated(Logins={"accounts.google.com": SECRET, "x" * 200: SECRET})
    with pytest.raises(MalformedCommand) as caught:
        decode(json.dumps(body))
    assert SECRET not in caught.value.detail
    assert "Logins" in caught.value.detail


@pytest.mark.parametrize(
    ("logins", "what"),
    [
        ({SECRET * 20: "accounts.google.com"}, "a provider name"),  # over 128: a swapped token
        ({SECRET: ""}, "a token"),
        ({SECRET: 42}, "a token"),
    ],
)
def test_a_rejected_logins_entry_is_named_by_its_field_never_its_key(
    logins: dict[str, Any], what: str
) -> None:
    with pytest.raises(MalformedCommand) as caught:
        decode(json.dumps(federated(Logins=logins)))
    assert SECRET not in caught.value.detail
    assert caught.value.detail.startswith(f"UnlinkIdentity.Logins: {what}: ")


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", "null", "42", '"a string"', "{"])
def test_bodies_that_are_not_objects_are_malformed(text: str) -> None:
    with pytest.raises(MalformedCommand):
        decode(text)


def test_sns_and_eventbridge_envelopes_unwrap_to_the_command() -> None:
    sns = {
        "Type": "Notification",
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:deletions",
        "Message": json.dumps(developer()),
    }
    event = {
        "version": "0",
        "id": "evt-1",
        "detail-type": "AccountDeleted",
        "source": "accounts",
        "detail": federated(),
    }
    from_sns = decode(json.dumps(sns))
    from_event = decode(json.dumps(event))
    assert isinstance(from_sns, UnlinkDeveloperIdentity)
    assert isinstance(from_event, UnlinkIdentity)
    # The envelope's id does not name the command: a second publish of one event gets another id.
    assert from_sns.command_id is None
    assert from_event.command_id is None
    assert from_sns.idempotency_key() == decode(json.dumps(developer())).idempotency_key()


def test_idempotency_key_ignores_tokens_and_order() -> None:
    one = decode(json.dumps(federated(Logins={"a": "t1"}, LoginsToRemove=["a", "b"])))
    two = decode(json.dumps(federated(Logins={"a": "t2"}, LoginsToRemove=["b", "a"])))
    other = decode(json.dumps(federated(LoginsToRemove=["c"])))
    assert one.idempotency_key() == two.idempotency_key() != other.idempotency_key()
    named = decode(json.dumps(federated(command_id="job-7")))
    assert named.idempotency_key() == f"id:job-7:{named.effect_hash()}"
    # A reused command_id never merges two different unlinks.
    reused = decode(json.dumps(federated(command_id="job-7", LoginsToRemove=["c"])))
    assert reused.idempotency_key() != named.idempotency_key()


ids = st.from_regex(r"\A[A-Za-z0-9_-]{1,20}:[0-9a-f-]{1,30}\Z")


@given(
    identity=ids,
    pool=ids,
    provider=st.from_regex(r"\A[A-Za-z0-9_.-]{1,128}\Z"),
    user=st.text(min_size=1, max_size=1024),
)
def test_every_value_within_the_constraints_is_accepted(
    identity: str, pool: str, provider: str, user: str
) -> None:
    command = decode(
        json.dumps(
            developer(
                IdentityId=identity,
                IdentityPoolId=pool,
                DeveloperProviderName=provider,
                DeveloperUserIdentifier=user,
            )
        )
    )
    assert isinstance(command, UnlinkDeveloperIdentity)
    assert command.DeveloperUserIdentifier == user


@given(value=st.text(max_size=80))
def test_identity_ids_outside_the_pattern_are_rejected(value: str) -> None:
    import re

    valid = re.fullmatch(r"[A-Za-z0-9_-]+:[0-9a-f-]+", value) is not None and len(value) <= 55
    if valid:
        command = decode(json.dumps(developer(IdentityId=value)))
        assert isinstance(command, UnlinkDeveloperIdentity)
        assert command.IdentityId == value
    else:
        with pytest.raises(MalformedCommand, match="IdentityId"):
            decode(json.dumps(developer(IdentityId=value)))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_arbitrary_json_never_escapes_as_anything_but_malformed(payload: object) -> None:
    with pytest.raises(MalformedCommand) as caught:
        decode(json.dumps(payload))
    assert caught.value.detail


def by_user(**overrides: Any) -> dict[str, Any]:
    body = developer(**overrides)
    body.pop("IdentityId")
    return body


def test_an_unlink_without_identity_id_names_the_user() -> None:
    command = decode(json.dumps(by_user()))
    assert isinstance(command, UnlinkDeveloperUser)
    assert command.api_request() == {
        "IdentityPoolId": POOL,
        "DeveloperProviderName": "login.example.com",
        "DeveloperUserIdentifier": "user-42",
    }
    assert decode(command_to_body(command)) == command


def test_the_key_of_a_command_naming_the_user_is_its_effect() -> None:
    one = decode(json.dumps(by_user()))
    assert decode(json.dumps(by_user())).idempotency_key() == one.idempotency_key()
    for other in (
        by_user(DeveloperUserIdentifier="user-43"),
        by_user(IdentityPoolId="us-east-1:0000"),
        by_user(DeveloperProviderName="login.other.example"),
        developer(),
    ):
        assert decode(json.dumps(other)).idempotency_key() != one.idempotency_key()


def test_errors_of_a_command_naming_the_user_name_the_action_and_field() -> None:
    with pytest.raises(MalformedCommand) as caught:
        decode(json.dumps(by_user(DeveloperUserIdentifier="")))
    assert str(caught.value).startswith("UnlinkDeveloperIdentity.DeveloperUserIdentifier:")
    with pytest.raises(MalformedCommand, match="IdentityId"):
        decode(json.dumps(developer(IdentityId=None)))
    with pytest.raises(MalformedCommand, match="Logins"):
        decode(json.dumps(by_user(Logins={"a": "b"})))


def test_delete_identities_takes_one_to_sixty_ids_keyed_by_the_set() -> None:
    ids = [f"us-east-1:{n:04x}" for n in range(61)]
    one = decode(json.dumps({"action": "DeleteIdentities", "IdentityIdsToDelete": ids[:3]}))
    again = {"action": "DeleteIdentities", "IdentityIdsToDelete": [ids[2], ids[0], ids[1], ids[0]]}
    assert decode(json.dumps(again)).idempotency_key() == one.idempotency_key()
    assert decode(command_to_body(one)) == one
    for bad in ([], ids, ["not-an-id"]):
        with pytest.raises(MalformedCommand, match="IdentityIdsToDelete"):
            decode(json.dumps({"action": "DeleteIdentities", "IdentityIdsToDelete": bad}))
