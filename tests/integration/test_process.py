"""The worker as a process: drain mode, logs, configuration errors, SIGTERM and a second signal."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from consumer.core.observer import Pseudonyms
from consumer.local.stack import LocalStack
from tests.integration.conftest import (
    Pool,
    Queues,
    developer_command,
    developer_user,
    federated_command,
    federated_user,
    send_all,
)
from tests.integration.processes import start_worker, worker_env

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient


async def visible(sqs: SQSClient, url: str) -> int:
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


async def wait_exit(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.05)
    return None


async def test_drain_mode_exits_zero_with_one_log_line_per_outcome(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    dev = await developer_user(cognito, pool)
    fed = await federated_user(cognito, pool)
    await send_all(sqs, queues.url, [developer_command(pool, dev), federated_command(fed), "{"])
    log = tmp_path / "worker.log"
    env = worker_env(aws_env, queues.url, pseudonym_key="deployment-secret")
    process = start_worker(env, log, "--until-idle")
    assert await wait_exit(process, 60) == 0

    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    outcomes = [line for line in lines if line.get("event") == "command"]
    assert sorted(o["outcome"] for o in outcomes) == ["applied", "applied", "dead_lettered"]
    for line in outcomes:
        assert {"message_id", "outcome", "attempt", "duration_ms", "error"} <= set(line)
    assert {o.get("action") for o in outcomes} >= {"UnlinkDeveloperIdentity", "UnlinkIdentity"}
    assert dev.user not in text  # personal data: hashed only
    assert Pseudonyms(b"deployment-secret")(dev.user) in text  # keyed: a deployment correlates
    assert "deployment-secret" not in text
    assert fed.token not in text  # secrets: never
    started = next(line for line in lines if line.get("event") == "worker_started")
    assert started["settings"]["queue_url"] == queues.url


def test_a_missing_setting_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "run"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "unlink-consumer: UNLINK_QUEUE_URL: Field required"


def test_a_wrong_setting_names_the_variable(monkeypatch: object) -> None:
    env = {"UNLINK_QUEUE_URL": "https://example/q", "UNLINK_CONCURRENCY": "lots", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "run"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "UNLINK_CONCURRENCY" in result.stderr


async def test_sigterm_hands_back_unstarted_messages_at_once_and_finishes_the_rest(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    users = [await developer_user(cognito, pool) for _ in range(10)]
    await send_all(sqs, queues.url, [developer_command(pool, u) for u in users])
    before = stack.ledger.applied_count()
    stack.faults.latency_s = 1.5
    env = worker_env(
        aws_env,
        queues.url,
        fleet_rate_limit="2",
        concurrency="10",
        grace_period_seconds="10",
    )
    process = start_worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while await visible(sqs, queues.url) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # all ten received; two calls a second start
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        handed_back = 0
        while time.monotonic() - signalled < 1.0:
            handed_back = await visible(sqs, queues.url)
            if handed_back:
                break
            await asyncio.sleep(0.05)
        code = await wait_exit(process, 12)
    finally:
        stack.faults.latency_s = 0.0
        if process.poll() is None:
            process.kill()
    assert code == 0
    assert time.monotonic() - signalled < 10  # within the grace period
    applied = stack.ledger.applied_count() - before
    assert handed_back >= 3  # messages it had not started came back within a second
    assert applied >= 1
    await asyncio.sleep(0.5)
    assert applied + await visible(sqs, queues.url) == 10  # nothing lost, nothing hidden


async def test_a_second_signal_exits_at_once(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    stack: LocalStack,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    user = await developer_user(cognito, pool)
    await send_all(sqs, queues.url, [developer_command(pool, user)])
    stack.faults.latency_s = 8.0
    process = start_worker(
        worker_env(aws_env, queues.url, grace_period_seconds="30"), tmp_path / "w.log"
    )
    try:
        deadline = time.monotonic() + 20
        while await visible(sqs, queues.url) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert await wait_exit(process, 1.0) is None  # the first one waits for the call
        process.send_signal(signal.SIGTERM)
        code = await wait_exit(process, 2.0)
    finally:
        stack.faults.latency_s = 0.0
        if process.poll() is None:
            process.kill()
    assert code is not None
    assert code != 0
