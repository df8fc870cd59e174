"""`python -m bench.deletions`: DeleteIdentities calls per command, coalesced or one id per call.

    .venv/bin/python -m bench.deletions                  # 600 deletions at 25 calls/s
    .venv/bin/python -m bench.deletions -n 300 --quota 10

Deletion commands of one id each go through the real worker, whose DeleteIdentities gate runs at
``--quota`` calls/s, and the local stack enforces the same quota on DeleteIdentities; the figure
is the stack's count of DeleteIdentities calls over the commands. Beside it, the same number of
deletions sent one id per call through the same gate. Prints a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass

from aiobotocore.session import get_session

from consumer.app import build_worker
from consumer.aws.clients import open_clients
from consumer.core.clock import SystemClock
from consumer.local.seed import seed_in_process
from consumer.local.stack import LocalStack
from consumer.observe import logs
from consumer.rate.limiter import QuotaLimiter
from consumer.settings import Settings

REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Run:
    mode: str
    deletions: int
    calls: int
    seconds: float
    unprocessed: int = 0

    def row(self, quota: float) -> str:
        per = self.calls / self.deletions
        return (
            f"{self.mode:<24} {self.deletions:>9} {quota:>7g}/s {self.calls:>6} "
            f"{per:>14.3f} {self.seconds:>8.1f}"
        )


def _calls(stack: LocalStack) -> int:
    return stack.ledger.calls_by_operation()["DeleteIdentities"]


async def _queue(stack: LocalStack, bodies: list[str]) -> str:
    async with get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=stack.endpoint_url
    ) as sqs:
        name = f"deletions-{uuid.uuid4().hex[:8]}"
        dlq = (await sqs.create_queue(QueueName=f"{name}-dlq"))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "10"})
        url = (await sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive}))[
            "QueueUrl"
        ]
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + 10])
            ]
            await sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
        return str(url)


async def coalesced(stack: LocalStack, count: int, quota: float) -> Run:
    """One command per identity, through the worker."""
    ids = [d.identity_id for d in seed_in_process(stack, developer=count).developer]
    bodies = [json.dumps({"action": "DeleteIdentities", "IdentityIdsToDelete": [i]}) for i in ids]
    url = await _queue(stack, bodies)
    settings = Settings(
        queue_url=url, region=REGION, rate_limit=quota, adaptive_rate=False, wait_time_seconds=1
    )
    before, started = _calls(stack), time.perf_counter()
    async with open_clients(settings) as clients:
        worker, _ = await build_worker(settings, clients)
        stats = await worker.run(until_idle=True)
    seconds = time.perf_counter() - started
    if stats.outcomes["applied"] != count:
        raise SystemExit(f"not every deletion applied: {dict(stats.outcomes)}")
    return Run("coalesced (worker)", count, _calls(stack) - before, seconds)


async def one_per_call(stack: LocalStack, count: int, quota: float) -> Run:
    """The same deletions, one id per call, through a gate at the same rate."""
    ids = [d.identity_id for d in seed_in_process(stack, developer=count).developer]
    gate = QuotaLimiter(SystemClock(), ceiling=quota)  # a known rate, as the worker's gate
    before, started = _calls(stack), time.perf_counter()
    async with get_session().create_client(
        "cognito-identity", region_name=REGION, endpoint_url=stack.endpoint_url
    ) as cognito:

        async def delete(identity_id: str) -> int:
            await gate.acquire()
            answer = await cognito.delete_identities(IdentityIdsToDelete=[identity_id])
            return len(answer.get("UnprocessedIdentityIds", []))

        left = sum(await asyncio.gather(*(delete(i) for i in ids)))
    seconds = time.perf_counter() - started
    return Run("one id per call", count, _calls(stack) - before, seconds, left)


async def main(count: int, quota: float) -> None:
    logs.configure("json", "warning")  # one line per command would bury the table
    with LocalStack() as stack:
        os.environ.update(stack.env())  # the worker's settings find the stack here
        stack.faults.delete_quota_rps = quota
        runs = [await coalesced(stack, count, quota), await one_per_call(stack, count, quota)]
    print(
        f"{'mode':<24} {'deletions':>9} {'quota':>9} {'calls':>6} {'calls/command':>14} "
        f"{'seconds':>8}"
    )
    for run in runs:
        print(run.row(quota))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--deletions", type=int, default=600)
    parser.add_argument("--quota", type=float, default=25.0, help="DeleteIdentities calls/s")
    args = parser.parse_args()
    asyncio.run(main(args.deletions, args.quota))
