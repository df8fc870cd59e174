"""An `UNLINK_*` variable the settings do not read is named, with the closest one they do."""

from __future__ import annotations

from consumer.settings import Settings, known_variables, unknown_variables


def test_a_misspelled_variable_is_named_with_the_closest_known_one() -> None:
    environ = {
        "UNLINK_CONCURENCY": "64",
        "UNLINK_MAX_ATEMPTS": "3",
        "unlink_visibility_timeout": "30",
        "UNLINK_QUEUE_URL": "https://sqs.example/q",
        "UNLINK_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "PATH": "/usr/bin",
    }

    assert unknown_variables(environ) == {
        "UNLINK_CONCURENCY": "UNLINK_CONCURRENCY",
        "UNLINK_MAX_ATEMPTS": "UNLINK_MAX_ATTEMPTS",
        "unlink_visibility_timeout": "UNLINK_VISIBILITY_TIMEOUT_SECONDS",
    }


def test_a_variable_like_no_setting_is_named_without_a_suggestion() -> None:
    assert unknown_variables({"UNLINK_XYZZY": "1"}) == {"UNLINK_XYZZY": None}


def test_a_name_without_its_unit_is_matched_to_the_setting_it_stops_short_of() -> None:
    assert unknown_variables({"UNLINK_IDEMPOTENCY_TTL": "60", "UNLINK_CALL_TIMEOUT": "5"}) == {
        "UNLINK_CALL_TIMEOUT": "UNLINK_CALL_TIMEOUT_SECONDS",
        "UNLINK_IDEMPOTENCY_TTL": "UNLINK_IDEMPOTENCY_TTL_SECONDS",
    }


def test_every_variable_the_model_reads_is_known_in_any_case() -> None:
    environ = dict.fromkeys(known_variables(), "x")
    lower = {name.lower(): "x" for name in known_variables()}

    assert unknown_variables(environ) == {}
    assert unknown_variables(lower) == {}
    assert len(known_variables()) == len(Settings.model_fields)
    assert "UNLINK_REGION" in known_variables()
