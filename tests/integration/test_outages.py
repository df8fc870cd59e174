"""Endpoints unreachable for a while: the worker keeps running, backs off quietly, and resumes."""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from consumer.local.stack import LocalStack
from tests.conftest import make_table
from tests.integration.conftest import Queues, send_all
from tests.integration.running import eventually, started
from tests.integration.scenario import applied_of, audit, build_mix, dlq_bodies
from tests.integration.worker_runner import settings_for
from tests.support.proxy import OutageProxy

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.slow
# Long enough for receives to fail and back off (each spends seconds in botocore's retries) and
# for Cognito's breaker to trip; UNLINK_TEST_OUTAGE_SECONDS runs a longer one.
OUTAGE_SECONDS = float(os.environ.get("UNLINK_TEST_OUTAGE_SECONDS", "6"))


@pytest.mark.parametrize("down", ["all", "cognito"])
async def test_an_outage_is_survived_quietly_and_work_resumes_alone(
    down: str,
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    queues: Queues,
    stack: LocalStack,
    proxy: OutageProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = await make_table(dynamodb)
    # The worker reaches the services through the proxy; the test reaches them directly.
    names = ["COGNITO_IDENTITY"] if down == "cognito" else ["SQS", "DYNAMODB", "COGNITO_IDENTITY"]
    for name in names:
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{name}", proxy.url)
    mix = build_mix(stack, 60, duplicate_share=0.0, bad_share=0.0, seed=5)
    bodies = list(mix.valid)
    await send_all(sqs, queues.url, bodies[:30])
    settings = settings_for(
        queues.url,
        wait_time_seconds=2,
        idempotency_table=table,
        backoff_base_seconds=2,
        backoff_max_seconds=16,
        call_timeout_seconds=3,
        # Probes while paused at most 4 s apart: work resumes within seconds of Cognito's return.
        breaker_probe_max_seconds=4,
        # A long poll cut by the outage goes on at SQS and may take messages nobody receives:
        # they come back a visibility timeout later, 10 s instead of 30.
        visibility_timeout_seconds=10,
    )
    with capture_logs() as logs:
        async with started(settings) as (worker, running):
            await eventually(lambda: applied_of(stack, mix) >= 30, 30)

            proxy.down()
            calls_before, cpu_before, wall_before = (
                worker.stats.receive_calls,
                time.process_time(),
                time.monotonic(),
            )
            await send_all(sqs, queues.url, bodies[30:])  # producers are not affected
            await asyncio.sleep(OUTAGE_SECONDS)
            cpu = time.process_time() - cpu_before
            wall = time.monotonic() - wall_before
            receives = worker.stats.receive_calls - calls_before
            assert not running.done()  # still running
            proxy.up()

            await eventually(lambda: applied_of(stack, mix) >= 60, 120)
            worker.stop()
            await asyncio.wait_for(running, 30)

    dead = await dlq_bodies(sqs, queues.dlq_url)
    assert dead == []  # nothing dead-lettered for an outage
    result = audit(stack, mix, dead)
    assert result.applied_once == 60
    assert result.applied_twice == 0
    outage_lines = [e for e in logs if e["event"] == "receive_failed"]
    print(
        f"\noutage[{down}] {wall:.0f}s: cpu={cpu:.2f}s receives={receives} "
        f"receive_failed_logs={len(outage_lines)} {result.line()}"
    )
    if down == "all":
        # The process holds the local stack too, so this bounds both: no hot loop anywhere.
        assert cpu < 0.25 * wall, f"busy during the outage: {cpu:.1f}s CPU in {wall:.1f}s"
        assert 1 <= len(outage_lines) <= 2  # once per interval, not once per attempt
        assert receives <= 10  # exponential backoff, no hot loop
        assert any(e["event"] == "receive_recovered" for e in logs)
