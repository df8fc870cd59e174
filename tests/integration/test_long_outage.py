"""Cognito down for longer than the whole failure budget: the worker pauses, nothing is charged.

The budget is scaled down (3 attempts, backoff 1-2 s: spent within seconds) and Cognito is cut
for several times that. Before the breaker, every command in flight or arriving during the cut
was dead-lettered as `retries_exhausted`; now none is, the worker receives next to nothing while
paused, says so once, and resumes within seconds of Cognito answering again.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from consumer.local.stack import LocalStack
from tests.integration.conftest import Queues, send_all
from tests.integration.running import eventually, started
from tests.integration.scenario import applied_of, audit, build_mix, dlq_bodies
from tests.integration.worker_runner import settings_for
from tests.support.proxy import OutageProxy

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.slow
OUTAGE_SECONDS = float(os.environ.get("UNLINK_TEST_LONG_OUTAGE_SECONDS", "12"))


async def test_an_outage_longer_than_the_failure_budget_dead_letters_nothing(
    sqs: SQSClient,
    queues: Queues,
    stack: LocalStack,
    proxy: OutageProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY", proxy.url)
    mix = build_mix(stack, 60, duplicate_share=0.0, bad_share=0.0, seed=11)
    bodies = list(mix.valid)
    settings = settings_for(
        queues.url,
        wait_time_seconds=1,
        max_attempts=3,
        backoff_base_seconds=1,
        backoff_max_seconds=2,
        call_timeout_seconds=2,
        concurrency=8,
        breaker_failures=3,
        breaker_probe_min_seconds=1,
        breaker_probe_max_seconds=4,
    )
    with capture_logs() as logs:
        async with started(settings) as (worker, running):
            assert worker.gate is not None
            await send_all(sqs, queues.url, bodies[:20])
            await eventually(lambda: applied_of(stack, mix) >= 20, 30)

            proxy.down()
            await send_all(sqs, queues.url, bodies[20:])  # producers are not affected
            await eventually(lambda: worker.gate is not None and worker.gate.paused, 15)
            paused_at = time.monotonic()
            receives, cpu = worker.stats.receive_calls, time.process_time()
            await asyncio.sleep(OUTAGE_SECONDS)
            receives = worker.stats.receive_calls - receives
            cpu = time.process_time() - cpu
            outages = worker.gate.outages()
            assert [o.dependency for o in outages] == ["cognito"]
            paused_for = time.monotonic() - paused_at
            proxy.up()

            back = time.monotonic()
            await eventually(lambda: applied_of(stack, mix) >= 60, 60)
            recovery = time.monotonic() - back
            worker.stop()
            await asyncio.wait_for(running, 30)

    dead = await dlq_bodies(sqs, queues.dlq_url)
    result = audit(stack, mix, dead)
    down = [e for e in logs if e["event"] == "dependency_down"]
    recovered = [e for e in logs if e["event"] == "dependency_recovered"]
    print(
        f"\nlong outage {paused_for:.0f}s paused: receives={receives} cpu={cpu:.2f}s "
        f"recovery={recovery:.1f}s {result.line()}"
    )
    assert dead == []  # nothing dead-lettered for an outage, however long
    assert result.applied_once == 60
    assert result.applied_twice == 0
    assert [e["dependency"] for e in down] == ["cognito"]
    assert [e["dependency"] for e in recovered] == ["cognito"]
    assert recovered[0]["outage_seconds"] >= OUTAGE_SECONDS
    # Paused: one probe per backoff step (1, 2, 4, 4, ... s), not a receive per second or more.
    assert receives <= OUTAGE_SECONDS / 4 + 4
    # The process holds the local stack too, so this bounds both.
    assert cpu < 0.2 * paused_for
    # The probe waits at most 4 s and parked copies at most 4 s more.
    assert recovery < 15
