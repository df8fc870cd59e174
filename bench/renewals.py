"""`python -m bench.renewals`: what keeping long commands alive costs, per in-flight command.

    .venv/bin/python -m bench.renewals                      # 10 commands, defaults, 180 s
    .venv/bin/python -m bench.renewals -n 1 --seconds 120   # a lone command: no batching

The real worker loop, processor, SQS queue and DynamoDB store against the local stack, with an
executor whose commands run until the window closes: every request counted inside the window
keeps a claimed command alive (visibility changes and claim renewals). Prints SQS and DynamoDB
requests per second per in-flight command, and the visibility and lock lengths they buy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from consumer.app import build_queue, build_store
from consumer.aws.clients import open_clients
from consumer.core.clock import SystemClock
from consumer.core.commands import Command
from consumer.core.policy import RetryPolicy
from consumer.core.processor import Processor
from consumer.core.router import Router
from consumer.core.worker import Worker, WorkerConfig
from consumer.local.stack import LocalStack
from consumer.settings import Settings

VISIBILITY = (".ChangeMessageVisibility", ".ChangeMessageVisibilityBatch")  # JSON or query
RENEWAL = ".UpdateItem"


class _Held:
    """An executor whose commands run until ``done`` is set; ``running`` once ``expected`` do."""

    def __init__(self, expected: int) -> None:
        self.done = asyncio.Event()
        self.running = asyncio.Event()
        self._expected = expected
        self._started = 0

    async def execute(
        self,
        command: Command,
        on_started: Callable[[], None] | None = None,
        *,
        throttled_before: int = 0,
    ) -> None:
        if on_started is not None:
            on_started()
        self._started += 1
        if self._started >= self._expected:
            self.running.set()
        await self.done.wait()

    async def is_applied(self, command: Command, since: float) -> bool:
        return False


def _lock_seconds(settings: Settings) -> float:
    """The composition root's claim lock for these settings."""
    try:
        from consumer.core.visibility import lock_seconds  # noqa: PLC0415
    except ImportError:  # a tree from before the keeper renewed locks
        return settings.visibility_timeout_seconds + settings.call_timeout_seconds
    return lock_seconds(settings.visibility_timeout_seconds)


def _body(index: int) -> str:
    user = f"renewals-{index}"
    return (
        '{"action": "UnlinkDeveloperIdentity", "IdentityId": "us-east-1:'
        f'{uuid.uuid4()}", "IdentityPoolId": "us-east-1:{uuid.uuid4()}",'
        f' "DeveloperProviderName": "login.renewals", "DeveloperUserIdentifier": "{user}"}}'
    )


async def measure(stack: LocalStack, commands: int, seconds: float) -> dict[str, Any]:
    settings = Settings(queue_url="https://placeholder", region=stack.region, idempotency_table="t")
    async with open_clients(settings) as clients:
        assert clients.dynamodb is not None
        dlq = (await clients.sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}"))["QueueUrl"]
        url = (await clients.sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}"))["QueueUrl"]
        table = f"renewals-{uuid.uuid4().hex[:8]}"
        await clients.dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        settings = settings.model_copy(update={"queue_url": url, "idempotency_table": table})
        for index in range(commands):
            await clients.sqs.send_message(QueueUrl=url, MessageBody=_body(index))
        clock = SystemClock()
        queue = build_queue(settings, clients, dlq)
        executor = _Held(commands)
        lock = _lock_seconds(settings)
        processor = Processor(executor, build_store(settings, clients, clock), RetryPolicy(), lock)
        visibility = settings.visibility_timeout_seconds
        config = WorkerConfig(
            concurrency=max(commands, 1), wait_time_seconds=1, visibility_timeout_seconds=visibility
        )
        worker = Worker(queue, processor, Router(queue), config, clock)
        run = asyncio.create_task(worker.run(until_idle=True))
        await executor.running.wait()
        before = stack.requests.snapshot()["by_action"]
        began = time.monotonic()
        await asyncio.sleep(seconds)
        after = stack.requests.snapshot()["by_action"]
        window = time.monotonic() - began
        executor.done.set()
        with contextlib.suppress(asyncio.CancelledError):
            await run

    def rate(operations: tuple[str, ...]) -> float:
        spent = sum(
            n - before.get(action, 0) for action, n in after.items() if action.endswith(operations)
        )
        return spent / (commands * window)

    return {
        "commands": commands,
        "window_s": round(window, 1),
        "visibility_s": visibility,
        "lock_s": lock,
        "sqs_per_command_s": round(rate(VISIBILITY), 4),
        "dynamodb_per_command_s": round(rate((RENEWAL,)), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.renewals", description=__doc__)
    parser.add_argument("-n", "--commands", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args(argv)
    with LocalStack() as stack:
        os.environ.update(stack.env())  # the clients' settings find the stack here
        figures = asyncio.run(measure(stack, args.commands, args.seconds))
    print(
        f"renewals: {figures['commands']} commands in flight for {figures['window_s']} s,"
        f" visibility {figures['visibility_s']} s, lock {figures['lock_s']} s:"
        f" SQS {figures['sqs_per_command_s']} and DynamoDB {figures['dynamodb_per_command_s']}"
        " requests per second per in-flight command"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
