"""Provider tokens never reach a log line or a dead letter, whatever fails and however a producer
gets the body wrong."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.integration.conftest import Queues
from tests.integration.processes import start_worker, stop_all, worker_env
from tests.ops.conftest import cli, look

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

RUN = 8  # the longest run of a token's characters a line may share with it


def a_token() -> str:
    """A provider token as long as a real ID token, of characters no log line shares by chance."""
    return "eyJ" + secrets.token_urlsafe(1200)


def runs_of(token: str) -> set[str]:
    return {token[i : i + RUN] for i in range(len(token) - RUN + 1)}


def leaked(token: str, text: str) -> list[str]:
    """The lines of ``text`` sharing a run of RUN characters with ``token``."""
    runs = runs_of(token)
    return [
        line
        for line in text.splitlines()
        if any(line[i : i + RUN] in runs for i in range(len(line) - RUN + 1))
    ]


def _parse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _lines(log: Path) -> list[dict[str, Any]]:
    return _parse(log.read_text())


async def _wait_for(log: Path, event: str, seconds: float) -> list[dict[str, Any]]:
    """Every line of the log once one is ``event`` (a worker that keeps failing never idles)."""
    for _ in range(int(seconds * 10)):
        lines = _lines(log)
        if any(line.get("event") == event for line in lines):
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {event} line in {seconds} s: {_lines(log)[-5:]}")


async def test_a_failed_dead_letter_logs_its_traceback_without_the_body(
    sqs: SQSClient, queues: Queues, aws_env: dict[str, str], tmp_path: Path
) -> None:
    token = a_token()
    # Malformed (the identity id), so it is dead-lettered on first sight; the DLQ is missing, so
    # SendMessageBatch fails inside `SqsQueue.dead_letter`, whose frame holds the body. `Logins`
    # comes first, as any producer may write it: a rendering cut short still reaches the token.
    body = {
        "Logins": {"accounts.google.com": token},
        "action": "UnlinkIdentity",
        "IdentityId": "not-an-identity",
        "LoginsToRemove": ["accounts.google.com"],
    }
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(body))
    missing_dlq = queues.dlq_url + "-missing"
    env = worker_env(aws_env, queues.url, dlq_url=missing_dlq, log_level="debug")
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        lines = await _wait_for(log, "message_failed", 30)
    finally:
        stop_all([worker])

    [failed] = [line for line in lines if line["event"] == "message_failed"]
    [exception] = failed["exception"]
    print("message_failed:", exception["exc_type"], [f["name"] for f in exception["frames"]])
    assert exception["frames"], failed  # the traceback is there, its frames named
    assert not [frame for frame in exception["frames"] if "locals" in frame]
    text = log.read_text()
    found = leaked(token, text)
    events = [json.loads(line)["event"] for line in found]
    print(f"{len(text.splitlines())} lines; with a run of {RUN} of the token: {events}")
    assert found == []


async def test_a_token_swapped_with_its_provider_name_never_reaches_the_dlq_attributes_or_a_log(
    sqs: SQSClient, queues: Queues, aws_env: dict[str, str]
) -> None:
    token = a_token()
    swapped = {
        "action": "UnlinkIdentity",
        "IdentityId": "us-east-1:0f2c6b3e-8d4a-4a7e-9a51-3c1f9e2b7d10",
        "Logins": {token: "accounts.google.com"},  # the token where its provider belongs
        "LoginsToRemove": ["accounts.google.com"],
    }
    await sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(swapped))

    result = await cli(
        "run", "--until-idle", env=worker_env(aws_env, queues.url, log_level="debug")
    )

    assert result.returncode == 0, result.stderr[-2000:]
    [dead] = await look(sqs, queues.dlq_url)
    attributes = dead["attributes"]
    print("unlink-detail:", attributes["unlink-detail"])
    assert attributes["unlink-reason"] == "malformed"
    assert "UnlinkIdentity.Logins" in attributes["unlink-detail"]  # still names the field
    print("DLQ attributes sharing a run:", bool(leaked(token, json.dumps(attributes))))
    assert leaked(token, json.dumps(attributes)) == []
    found = leaked(token, result.stdout + result.stderr)
    print(f"log lines with a run of {RUN} of the token: {[line[:100] for line in found]}")
    assert found == []
    [command] = [line for line in _parse(result.stderr) if line["event"] == "command"]
    assert "UnlinkIdentity.Logins" in command["detail"]
