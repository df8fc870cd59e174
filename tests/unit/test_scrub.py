"""Secrets out of log text as botocore writes it: JSON bodies, Python reprs, escaped bodies."""

from __future__ import annotations

from consumer.observe.scrub import scrub, scrub_text


def test_a_request_body_keeps_the_providers_and_loses_the_tokens() -> None:
    body = (
        '\'body\': b\'{"IdentityId": "us-east-1:1", "Logins": {"accounts.google.com": '
        '"eyJ.tok.1", "graph.facebook.com": "tok2"}, "LoginsToRemove": '
        '["accounts.google.com"]}\''
    )
    scrubbed = scrub_text(body)
    assert "eyJ.tok.1" not in scrubbed
    assert "tok2" not in scrubbed
    assert '"accounts.google.com": "***"' in scrubbed
    assert '"LoginsToRemove": ["accounts.google.com"]' in scrubbed
    assert '"IdentityId": "us-east-1:1"' in scrubbed


def test_a_message_body_escaped_inside_a_response_body() -> None:
    text = (
        r'"Body": "{\"action\": \"UnlinkDeveloperIdentity\", \"DeveloperUserIdentifier\": '
        r'\"alice@example.com\", \"Logins\": {\"p\": \"secret-token\"}}"'
    )
    scrubbed = scrub_text(text)
    assert "alice@example.com" not in scrubbed
    assert "secret-token" not in scrubbed
    assert r"\"action\": \"UnlinkDeveloperIdentity\"" in scrubbed


def test_headers_and_credentials() -> None:
    text = (
        "{'X-Amz-Security-Token': b'FwoGZXIvYXdzEXAMPLE', 'Authorization': "
        "b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261201/us-east-1/sqs/aws4_request'}"
        ' {"Credentials": {"SecretKey": "wJalr", "SessionToken": "FQoG"}}'
    )
    scrubbed = scrub_text(text)
    for secret in ("FwoGZXIvYXdzEXAMPLE", "AKIAEXAMPLE", "wJalr", "FQoG"):
        assert secret not in scrubbed


def test_structured_values() -> None:
    value = {
        "Logins": {"accounts.google.com": "tok"},
        "DeveloperUserIdentifierList": ["alice", "bob"],
        "nested": [{"Token": "t"}, "'DeveloperUserIdentifier': 'carol'"],
        "IdentityId": "kept",
    }
    assert scrub(value) == {
        "Logins": {"accounts.google.com": "***"},
        "DeveloperUserIdentifierList": "***",
        "nested": [{"Token": "***"}, "'DeveloperUserIdentifier': '***'"],
        "IdentityId": "kept",
    }


def test_a_logins_key_too_long_for_a_provider_name_is_redacted_too() -> None:
    token = "eyJ" + "t" * 200  # swapped with its provider name by the producer
    text = r'"Body": "{\"Logins\": {\"' + token + r'\": \"accounts.google.com\"}}"'
    assert token[:20] not in scrub_text(text)
    assert scrub({"Logins": {token: "accounts.google.com", "a.com": "t"}}) == {
        "Logins": {"***": "***", "a.com": "***"}
    }
