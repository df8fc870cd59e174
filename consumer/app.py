"""Composition root: builds the real collaborators from settings, once, and runs the worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.exceptions
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from consumer.aws.cognito import CognitoExecutor
from consumer.aws.idempotency import DynamoStore, MemoryStore
from consumer.aws.ratelimit import AdaptiveRateLimiter, AimdConfig
from consumer.aws.sqs import SqsQueue, resolve_dlq_url
from consumer.core.clock import Clock, SystemClock
from consumer.core.errors import ConfigurationError
from consumer.core.observer import Observer
from consumer.core.policy import Backoff, RetryPolicy
from consumer.core.ports import IdempotencyStore
from consumer.core.processor import Processor
from consumer.core.router import Router
from consumer.core.worker import Worker, WorkerConfig, WorkerStats
from consumer.observe.metrics import Health, PrometheusObserver, make_app, serve
from consumer.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("consumer.app")


def sqs_config(settings: Settings) -> AioConfig:
    return AioConfig(
        # The read timeout sits above the long poll so a dead connection cannot hang a receive.
        read_timeout=settings.wait_time_seconds + 10,
        connect_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=settings.concurrency + 10,
    )


def cognito_config(settings: Settings) -> AioConfig:
    return AioConfig(
        read_timeout=settings.call_timeout_seconds,
        connect_timeout=5,
        # `legacy` would not retry TooManyRequestsException (HTTP 400); `standard` does, but only
        # once: the rate limiter and delayed re-enqueue handle throttling without holding a slot.
        retries={"mode": "standard", "total_max_attempts": 2},
        max_pool_connections=settings.concurrency + 4,
    )


def dynamodb_config(settings: Settings) -> AioConfig:
    return AioConfig(
        read_timeout=5,
        connect_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=settings.concurrency + 4,
    )


@dataclass(slots=True)
class Clients:
    sqs: SQSClient
    cognito: CognitoIdentityClient
    dynamodb: DynamoDBClient | None


@contextlib.asynccontextmanager
async def open_clients(
    settings: Settings, session: AioSession | None = None
) -> AsyncIterator[Clients]:
    """One session and one long-lived client per service for the worker's lifetime."""
    session = session or get_session()
    region = settings.region or session.get_config_variable("region")
    if not region:
        raise ConfigurationError("AWS_REGION: no region configured (set AWS_REGION)")
    async with contextlib.AsyncExitStack() as stack:
        sqs = await stack.enter_async_context(
            session.create_client("sqs", region_name=region, config=sqs_config(settings))
        )
        cognito = await stack.enter_async_context(
            session.create_client(
                "cognito-identity", region_name=region, config=cognito_config(settings)
            )
        )
        dynamodb = None
        if settings.idempotency_table:
            dynamodb = await stack.enter_async_context(
                session.create_client(
                    "dynamodb", region_name=region, config=dynamodb_config(settings)
                )
            )
        yield Clients(sqs, cognito, dynamodb)


def build_limiter(settings: Settings, clock: Clock) -> AdaptiveRateLimiter:
    aimd = AimdConfig() if settings.adaptive_rate else None
    return AdaptiveRateLimiter(clock, settings.rate_limit, aimd)


def build_store(settings: Settings, clients: Clients, clock: Clock) -> IdempotencyStore:
    if settings.idempotency_table and clients.dynamodb is not None:
        return DynamoStore(
            clients.dynamodb, settings.idempotency_table, clock, settings.idempotency_ttl_seconds
        )
    return MemoryStore(clock, settings.idempotency_ttl_seconds)


async def build_worker(
    settings: Settings,
    clients: Clients,
    clock: Clock | None = None,
    observer: Observer | None = None,
) -> tuple[Worker, AdaptiveRateLimiter]:
    clock = clock or SystemClock()
    dlq_url = settings.dlq_url or await _dlq_from_redrive_policy(clients, settings)
    if not dlq_url:
        raise ConfigurationError(
            "UNLINK_DLQ_URL: not set and the queue has no RedrivePolicy naming a DLQ"
        )
    queue = SqsQueue(clients.sqs, settings.queue_url, dlq_url, settings.visibility_timeout_seconds)
    limiter = build_limiter(settings, clock)
    executor = CognitoExecutor(clients.cognito, limiter, settings.call_timeout_seconds)
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        max_throttle_attempts=settings.max_throttle_attempts,
        backoff=Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds),
    )
    store = build_store(settings, clients, clock)
    # A claim outlives the message's visibility a little so a live command keeps its lock.
    lock_seconds = settings.visibility_timeout_seconds + settings.call_timeout_seconds
    processor = Processor(executor, store, policy, lock_seconds, fifo=queue.is_fifo)
    visibility = settings.visibility_timeout_seconds

    def capacity() -> int:
        # Back-pressure: hold no more than can start within half the visibility timeout.
        rate = limiter.rate
        if rate is None:
            return settings.concurrency
        return max(1, min(settings.concurrency, int(rate * visibility / 2)))

    config = WorkerConfig(
        concurrency=settings.concurrency,
        wait_time_seconds=settings.wait_time_seconds,
        visibility_timeout_seconds=visibility,
        grace_period_seconds=settings.grace_period_seconds,
    )
    worker = Worker(queue, processor, Router(queue), config, clock, observer, capacity)
    return worker, limiter


async def _dlq_from_redrive_policy(clients: Clients, settings: Settings) -> str | None:
    """Reads the queue's RedrivePolicy; a missing queue or bad credentials is a one-line error."""
    for attempt in range(6):
        try:
            return await resolve_dlq_url(clients.sqs, settings.queue_url)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
                raise ConfigurationError(
                    f"UNLINK_QUEUE_URL: no such queue: {settings.queue_url}"
                ) from None
            if (
                attempt == 5
                or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) < 500
            ):
                raise ConfigurationError(
                    f"UNLINK_QUEUE_URL: cannot read the queue: {code}"
                ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            if isinstance(exc, botocore.exceptions.NoCredentialsError) or attempt == 5:
                raise ConfigurationError(
                    f"UNLINK_QUEUE_URL: cannot reach the queue: {type(exc).__name__}"
                ) from None
        log.warning("queue_unreachable_at_start", attempt=attempt + 1)
        await asyncio.sleep(2**attempt)
    return None


def install_signal_handlers(worker: Worker) -> None:
    """First SIGTERM/SIGINT: graceful stop. Second: exit at once."""
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal(signum: int) -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info("shutdown_requested", signal=signal.Signals(signum).name)
            worker.stop()
        else:
            log.warning("shutdown_forced", signal=signal.Signals(signum).name)
            os._exit(130)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def _health(worker: Worker, limiter: AdaptiveRateLimiter, settings: Settings) -> Health:
    # The loop ticks at least once per long poll; three missed polls means it is stuck.
    stale_after = max(60.0, settings.wait_time_seconds * 3.0)

    def alive() -> tuple[bool, str]:
        age = time.monotonic() - worker.loop_heartbeat_at
        return age < stale_after, f"loop ticked {age:.1f}s ago"

    def ready() -> tuple[bool, str]:
        if worker.last_receive_at is None:
            return False, "no receive has answered yet"
        age = time.monotonic() - worker.last_receive_at
        return age < stale_after, f"last receive answered {age:.1f}s ago"

    return Health(alive, ready, lambda: limiter.rate)


async def run(settings: Settings, *, until_idle: bool = False) -> WorkerStats:
    """The whole worker: clients, collaborators, metrics, signals, the loop."""
    observer = PrometheusObserver() if settings.metrics_port is not None else None
    async with open_clients(settings) as clients:
        if observer is not None:
            observer.instrument_cognito(clients.cognito)
        worker, limiter = await build_worker(settings, clients, observer=observer)
        runner = None
        if observer is not None and settings.metrics_port is not None:
            app = make_app(observer, _health(worker, limiter, settings))
            runner = await serve(app, settings.metrics_port)
        install_signal_handlers(worker)
        log.info("worker_started", settings=settings.model_dump(mode="json"), limiter=repr(limiter))
        try:
            stats = await worker.run(until_idle=until_idle)
        finally:
            if runner is not None:
                await runner.cleanup()
        log.info("worker_stopped", outcomes=dict(stats.outcomes), received=stats.received)
        return stats
