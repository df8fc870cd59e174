"""One log stream: structlog's and the standard library's lines in one format, the keys a log
pipeline expects, exceptions as fields, the producer's trace id, and no secret even at debug."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from consumer.observe import logs
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    federated_command,
    federated_user,
)
from tests.integration.processes import worker_env
from tests.ops.conftest import cli

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_TRACE_ID = "5759e988bd862e3fe1be46a994272793"
PIPELINE_KEYS = {"timestamp", "level", "logger", "service", "event"}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """What `logs.configure` writes, with the root logger put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in logs.SDK_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.captureWarnings(False)


def lines_of(text: str) -> list[dict[str, Any]]:
    """Every line, each of which must be a JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_standard_library_lines_are_json_with_the_same_keys(stream: io.StringIO) -> None:
    logs.configure("json", "INFO", stream=stream)

    structlog.get_logger("consumer.app").info("worker_started", concurrency=3)
    logging.getLogger("aiohttp.access").warning("a plain %s line", "library")
    logging.getLogger("botocore.credentials").warning("credentials expire soon")
    logging.getLogger("botocore.endpoint").info("not shown at info: the SDK is quiet")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
        structlog.get_logger("consumer.core.worker").exception("message_failed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)

    lines = lines_of(stream.getvalue())
    assert [line["logger"] for line in lines] == [
        "consumer.app",
        "aiohttp.access",
        "botocore.credentials",
        "asyncio",
        "consumer.core.worker",
        "py.warnings",
    ]
    for line in lines:
        assert set(line) >= PIPELINE_KEYS, line
        assert line["service"] == "cognito-unlink-consumer"
        assert line["timestamp"].endswith("Z")
    assert lines[0]["level"] == "info"
    assert lines[0]["concurrency"] == 3
    assert lines[1]["event"] == "a plain library line"
    assert lines[1]["level"] == "warning"
    for failed in (lines[3], lines[4]):
        [exception] = failed["exception"]
        assert exception["exc_type"] == "ValueError"
        assert exception["exc_value"] == "boom"
        assert (
            exception["frames"][-1]["name"]
            == "test_standard_library_lines_are_json_with_the_same_keys"
        )


def test_level_is_any_case_and_critical_is_a_level(stream: io.StringIO) -> None:
    logs.configure("json", "CRITICAL", stream=stream)

    structlog.get_logger("consumer.app").error("hidden")
    structlog.get_logger("consumer.app").critical("shown")

    assert [line["event"] for line in lines_of(stream.getvalue())] == ["shown"]


def test_secrets_in_a_structured_field_are_scrubbed(stream: io.StringIO) -> None:
    logs.configure("json", "info", stream=stream)

    structlog.get_logger("x").info(
        "request", params={"Logins": {"accounts.google.com": "tok-1"}, "IdentityId": "id"}
    )

    [line] = lines_of(stream.getvalue())
    assert line["params"] == {"Logins": {"accounts.google.com": "***"}, "IdentityId": "id"}


async def test_a_debug_run_logs_botocore_as_json_and_never_the_token_or_the_user(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    aws_env: dict[str, str],
) -> None:
    federated = await federated_user(cognito, pool)
    developer = await developer_user(cognito, pool)
    await sqs.send_message(
        QueueUrl=queues.url,
        MessageBody=json.dumps(federated_command(federated, command_id="erase-7")),
        MessageAttributes={"traceparent": {"DataType": "String", "StringValue": TRACEPARENT}},
    )
    await sqs.send_message(
        QueueUrl=queues.url,
        MessageBody=json.dumps(developer_command(pool, developer)),
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": XRAY_HEADER}
        },
    )
    env = worker_env(aws_env, queues.url, log_level="debug")

    result = await cli("run", "--until-idle", env=env)

    assert result.returncode == 0, result.stderr[-2000:]
    everything = result.stdout + result.stderr
    assert federated.token not in everything
    assert developer.user not in everything
    lines = lines_of(result.stderr)  # every line is JSON, botocore's included
    loggers = {line["logger"] for line in lines}
    assert {"botocore.endpoint", "botocore.parsers", "consumer.app"} <= loggers
    requests = [line["event"] for line in lines if "Making request" in line["event"]]
    assert any(
        "UnlinkIdentity" in r and '"Logins": {"accounts.google.com": "***"}' in r for r in requests
    )
    commands = {line["action"]: line for line in lines if line["event"] == "command"}
    unlink = commands["UnlinkIdentity"]
    assert unlink["trace_id"] == TRACE_ID
    assert unlink["command_id"] == "erase-7"
    assert unlink["outcome"] == "applied"
    assert unlink["attempt"] == 1
    assert isinstance(unlink["duration_ms"], float)
    assert unlink["message_id"]
    assert set(unlink) >= PIPELINE_KEYS
    assert commands["UnlinkDeveloperIdentity"]["trace_id"] == XRAY_TRACE_ID
    assert "command_id" not in commands["UnlinkDeveloperIdentity"]
    # botocore's lines logged while a command ran carry its context too.
    during = [line for line in lines if line["logger"].startswith("botocore")]
    assert any(line.get("trace_id") == TRACE_ID for line in during)


async def test_attempt_counts_the_commands_attempts_not_the_receives_of_its_copy(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    aws_env: dict[str, str],
) -> None:
    user = await developer_user(cognito, pool)
    await sqs.send_message(
        QueueUrl=queues.url, MessageBody=json.dumps(developer_command(pool, user))
    )
    # Received once already and made visible again: its receive count is 2, its attempt 1.
    seen = await sqs.receive_message(QueueUrl=queues.url, VisibilityTimeout=0, WaitTimeSeconds=1)
    assert seen.get("Messages")

    result = await cli("run", "--until-idle", env=worker_env(aws_env, queues.url))

    [command] = [line for line in lines_of(result.stderr) if line["event"] == "command"]
    assert command["outcome"] in {"applied", "already_applied"}
    assert command["attempt"] == 1
