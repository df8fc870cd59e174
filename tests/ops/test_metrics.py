"""Prometheus metrics, /healthz and /readyz of a worker run in-process against the local stack."""

from __future__ import annotations

import asyncio
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import botocore.exceptions
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import consumer
from consumer import app
from consumer.local.stack import LocalStack
from consumer.observe import metrics
from tests.integration.conftest import Pool, Queues, developer_command, developer_user, send_all
from tests.integration.worker_runner import settings_for
from tests.ops.conftest import Probes

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, set[str]]:
    """Samples by (name, labels), and the metric families present."""
    samples: Samples = {}
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, families


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def first_answer(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """The first answer of a server that is starting."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return await get(http, url)
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def test_metrics_and_probes_of_a_running_worker(
    sqs: SQSClient,
    cognito: CognitoIdentityClient,
    queues: Queues,
    pool: Pool,
    clean_faults: LocalStack,
    probes: Probes,
) -> None:
    base, workers = probes.base, probes.workers
    settings = settings_for(
        queues.url,
        metrics_port=probes.port,
        wait_time_seconds=3,
        rate_limit=100,
        # The throttled copy comes back 1.5-3 s later, well after the fault is lifted: its
        # attempts then all succeed, so every throttle counted belongs to the first receive.
        backoff_base_seconds=3,
        backoff_max_seconds=3,
    )
    users = [await developer_user(cognito, pool) for _ in range(4)]
    throttled = users[3]
    clean_faults.faults.fail_identities[throttled.identity_id] = "TooManyRequestsException"

    running = asyncio.create_task(app.run(settings))
    try:
        async with aiohttp.ClientSession() as http:
            # Up, but its first long poll (on an empty queue) has not answered yet.
            ready_before = await first_answer(http, f"{base}/readyz")
            alive = await get(http, f"{base}/healthz")
            await send_all(
                sqs,
                queues.url,
                [*(developer_command(pool, u) for u in users), "account 9 was deleted"],
            )
            [worker] = workers
            await wait_for(lambda: worker.stats.outcomes["retried"] >= 1)
            del clean_faults.faults.fail_identities[throttled.identity_id]
            await wait_for(lambda: worker.stats.outcomes["applied"] == 4)
            await wait_for(lambda: worker.in_flight == 0)
            ready_after = await get(http, f"{base}/readyz")
            status, text = await get(http, f"{base}/metrics")
            # A loop that has not ticked for minutes is not alive.
            worker.loop_heartbeat_at -= 3600
            stuck = await get(http, f"{base}/healthz")
            worker.loop_heartbeat_at += 3600
    finally:
        for worker in workers:
            worker.stop()
        stats = await asyncio.wait_for(running, 30)

    assert ready_before[0] == 503
    assert "no receive" in ready_before[1]
    assert alive[0] == 200
    assert ready_after[0] == 200
    assert stuck[0] == 503
    assert status == 200
    samples, families = parse(text)

    applied = value(
        samples, "unlink_commands_total", action="UnlinkDeveloperIdentity", outcome="applied"
    )
    assert applied == stats.outcomes["applied"] == 4
    assert value(samples, "unlink_commands_total", action="unknown", outcome="dead_lettered") == 1
    assert value(samples, "unlink_dead_letters_total", reason="malformed") == 1
    retried = value(samples, "unlink_retries_total", error="TooManyRequestsException")
    assert retried == stats.outcomes["retried"] >= 1
    # Every throttled HTTP attempt, botocore's own retry included (two attempts per call).
    throttles = value(samples, "unlink_throttles_total", operation="UnlinkDeveloperIdentity")
    assert throttles == 2 * retried
    calls = value(samples, "unlink_cognito_call_seconds_count", operation="UnlinkDeveloperIdentity")
    assert calls == 4 + retried
    assert (
        value(samples, "unlink_cognito_call_seconds_sum", operation="UnlinkDeveloperIdentity") > 0
    )
    assert (
        value(samples, "unlink_command_seconds_count", action="UnlinkDeveloperIdentity")
        == 4 + retried
    )
    # Five messages plus the re-enqueued copy, over however many receives it took.
    assert value(samples, "unlink_receive_batch_size_sum") == 5 + retried
    assert value(samples, "unlink_receive_batch_size_count") >= 2
    assert ("unlink_in_flight", frozenset()) in samples
    assert value(samples, "unlink_in_flight") == 0
    assert 0 < value(samples, "unlink_rate_limit") <= 100  # set at scrape time
    assert {
        "unlink_commands",
        "unlink_command_seconds",
        "unlink_cognito_call_seconds",
        "unlink_in_flight",
        "unlink_rate_limit",
        "unlink_throttles",
        "unlink_dead_letters",
        "unlink_retries",
        "unlink_receive_batch_size",
        "unlink_receive_errors",
    } <= families


async def test_throttles_count_each_throttled_request_of_an_instrumented_client(
    cognito: CognitoIdentityClient, pool: Pool, clean_faults: LocalStack, aws_env: dict[str, str]
) -> None:
    user = await developer_user(cognito, pool)
    clean_faults.faults.fail_identities[user.identity_id] = "TooManyRequestsException"
    observer = metrics.PrometheusObserver()
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 3})
    request: Any = developer_command(pool, user)
    del request["action"]

    async with get_session().create_client(
        "cognito-identity", region_name="us-east-1", config=config
    ) as client:
        observer.instrument_cognito(client)
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            await client.unlink_developer_identity(**request)
        del clean_faults.faults.fail_identities[user.identity_id]
        await client.unlink_developer_identity(**request)

    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    labels = {"operation": "UnlinkDeveloperIdentity"}
    assert observer.registry.get_sample_value("unlink_throttles_total", labels) == 3
    histogram = observer.registry.get_sample_value("unlink_cognito_call_seconds_count", labels)
    assert histogram == 2  # two API calls, each timed once however many attempts it took


METRICS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def exposed(registry: CollectorRegistry) -> dict[str, str]:
    """Each metric as scraped (counters with `_total`) and its type."""
    names: dict[str, str] = {}
    for family in registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        names[family.name + suffix] = family.type
    return names


def test_standard_collectors_and_build_info() -> None:
    observer = metrics.PrometheusObserver()

    samples, families = parse(generate_latest(observer.registry).decode())

    assert {
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_gc_collections",
        "python_info",
    } <= families
    build = value(
        samples, "unlink_build_info", version=consumer.__version__, python=platform.python_version()
    )
    assert build == 1


def test_names_follow_prometheus_conventions() -> None:
    registry = metrics.PrometheusObserver().registry
    text = generate_latest(registry).decode()

    for name, kind in exposed(registry).items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert name.endswith("_total") == (kind == "counter"), name
        if "seconds" in name or "duration" in name or "latency" in name:
            assert name.endswith(("_seconds", "_seconds_total")), name
    assert "_created" not in text


def test_the_docs_table_lists_exactly_the_workers_metrics() -> None:
    rows = re.findall(r"^\| `(unlink_\w+)` \| (\w+) \|", METRICS_PAGE.read_text(), re.MULTILINE)
    ours = exposed(metrics.PrometheusObserver().registry)

    assert dict(rows) == {n: t for n, t in ours.items() if n.startswith("unlink_")}
