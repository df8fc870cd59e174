"""A backlog is received by two long polls at once; an idle queue by one.

One worker that waited for each receive before the next started at most ten commands per
receive's round trip, whatever its quota allowed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from consumer.local.stack import LocalStack
from tests.integration.conftest import Queues, send_all
from tests.integration.running import eventually, started
from tests.integration.scenario import applied_of, build_mix
from tests.integration.worker_runner import settings_for
from tests.support.proxy import OutageProxy

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

RECEIVE = "AmazonSQS.ReceiveMessage"


async def test_a_backlog_is_received_by_two_long_polls_at_once_and_an_idle_queue_by_one(
    sqs: SQSClient,
    queues: Queues,
    stack: LocalStack,
    proxy: OutageProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)  # the worker's SQS requests, counted
    mix = build_mix(stack, 155, duplicate_share=0.0, bad_share=0.0, seed=11)
    bodies = list(mix.valid)
    await send_all(sqs, queues.url, bodies[:150])
    async with started(settings_for(queues.url, wait_time_seconds=2)) as (worker, running):
        await eventually(lambda: applied_of(stack, mix) >= 150, 60)
        with_backlog = proxy.most_open[RECEIVE]
        await asyncio.sleep(3)  # the last batches' polls come back empty
        proxy.most_open.clear()
        await asyncio.sleep(5)
        idle = proxy.most_open[RECEIVE]
        await send_all(sqs, queues.url, bodies[150:])  # and the worker still receives
        await eventually(lambda: applied_of(stack, mix) >= 155, 20)
        worker.stop()
        await asyncio.wait_for(running, 30)
    assert with_backlog == 2
    assert idle == 1
