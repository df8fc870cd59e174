"""A paused worker's probes and metrics say which dependency is down, and when it is back."""

from __future__ import annotations

import asyncio

import aiohttp

from consumer import app
from consumer.core.breaker import COGNITO
from tests.integration.conftest import Queues
from tests.integration.worker_runner import settings_for
from tests.ops.conftest import Probes
from tests.ops.test_metrics import first_answer, get, parse, value, wait_for


async def test_readyz_and_the_metrics_name_the_dependency_that_is_down(
    queues: Queues, aws_env: dict[str, str], probes: Probes
) -> None:
    base, workers = probes.base, probes.workers
    settings = settings_for(
        queues.url,
        metrics_port=probes.port,
        wait_time_seconds=1,
        breaker_failures=2,
        breaker_probe_max_seconds=1,  # an outage is over once closed for a second
    )
    running = asyncio.create_task(app.run(settings))
    try:
        async with aiohttp.ClientSession() as http:
            await first_answer(http, f"{base}/readyz")
            [worker] = workers
            await wait_for(lambda: worker.last_receive_at is not None)
            assert (await get(http, f"{base}/readyz"))[0] == 200
            gate = worker.gate
            assert gate is not None
            for n in range(2):  # what the processor reports when Cognito drops connections
                gate.failed(f"command-{n}", COGNITO, "network_error")
            paused = await get(http, f"{base}/readyz")
            alive = await get(http, f"{base}/healthz")
            _, down_text = await get(http, f"{base}/metrics")
            gate.answered("command-9", COGNITO)
            back = await get(http, f"{base}/readyz")
            await asyncio.sleep(2.5)  # the loop turns (1 s polls) and finds the closing held
            _, up_text = await get(http, f"{base}/metrics")
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(running, 30)

    assert paused[0] == 503
    assert "paused: cognito down" in paused[1]
    assert "network_error" in paused[1]
    assert alive[0] == 200  # a paused worker is alive: nothing for a restart to fix
    assert back[0] == 200
    down, _ = parse(down_text)
    up, _ = parse(up_text)
    assert value(down, "unlink_dependency_up", dependency="cognito") == 0
    assert value(down, "unlink_dependency_up", dependency="idempotency_store") == 1
    assert value(up, "unlink_dependency_up", dependency="cognito") == 1
    assert value(up, "unlink_dependency_outages_total", dependency="cognito") == 1
