"""Composition root: builds the real collaborators from settings, once, and runs the worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid

import botocore.exceptions
import structlog

from consumer.aws.clients import Clients, open_clients
from consumer.aws.cognito import CognitoExecutor
from consumer.aws.dynamo_store import DynamoStore
from consumer.aws.fleet_table import DynamoFleetTable
from consumer.aws.idempotency import MemoryStore
from consumer.aws.sqs import SqsQueue, redrive_max_receives, resolve_dlq_url
from consumer.core.breaker import BreakerConfig, HealthGate
from consumer.core.clock import Clock, SystemClock
from consumer.core.errors import ConfigurationError
from consumer.core.observer import Observer, Pseudonyms
from consumer.core.policy import Backoff, RetryPolicy
from consumer.core.ports import IdempotencyStore, RateLimiter
from consumer.core.processor import Processor
from consumer.core.receive_budget import ReceiveBudget
from consumer.core.router import Router
from consumer.core.tracecontext import NO_TRACER, CommandTracer
from consumer.core.visibility import lock_seconds
from consumer.core.worker import Worker, WorkerConfig, WorkerStats
from consumer.observe.metrics import Health, PrometheusObserver, make_app, serve
from consumer.rate.config import RateConfig
from consumer.rate.coordinator import FleetCoordinator
from consumer.rate.laws import LocalLaw
from consumer.rate.limiter import QuotaLimiter
from consumer.rate.member import FleetMember
from consumer.settings import Settings, unknown_variables

log = structlog.get_logger("consumer.app")


def build_rate_limiter(settings: Settings, clock: Clock) -> QuotaLimiter:
    """The gate every unlink call passes: a known quota (shared by the fleet, all of it alone
    or before the first heartbeat), else a quota learned from throttles; under the per-worker
    ceiling either way."""
    config = RateConfig(heartbeat_seconds=settings.fleet_heartbeat_seconds)
    if settings.fleet_rate_limit is not None:
        ceiling = min(settings.fleet_rate_limit, settings.rate_limit or settings.fleet_rate_limit)
        return QuotaLimiter(clock, ceiling=ceiling, config=config)
    return QuotaLimiter(clock, ceiling=settings.rate_limit, local=LocalLaw(config))


def build_fleet(
    settings: Settings, clients: Clients, limiter: QuotaLimiter, clock: Clock
) -> FleetCoordinator | None:
    """Coordination through the idempotency table, when there is one to share."""
    if clients.dynamodb is None or not settings.idempotency_table:
        return None
    member = FleetMember(
        uuid.uuid4().hex[:12],
        socket.gethostname(),
        limiter,
        clock,
        fixed_rate=settings.fleet_rate_limit,
    )
    table = DynamoFleetTable(clients.dynamodb, settings.idempotency_table, clock)
    return FleetCoordinator(table, member, clock)


def build_queue(settings: Settings, clients: Clients, dlq_url: str) -> SqsQueue:
    return SqsQueue(
        clients.sqs,
        settings.queue_url,
        dlq_url,
        settings.visibility_timeout_seconds,
        linger=settings.sqs_linger_seconds,
    )


def build_store(settings: Settings, clients: Clients, clock: Clock) -> IdempotencyStore:
    if settings.idempotency_table and clients.dynamodb is not None:
        return DynamoStore(
            clients.dynamodb, settings.idempotency_table, clock, settings.idempotency_ttl_seconds
        )
    return MemoryStore(clock, settings.idempotency_ttl_seconds, settings.memory_store_max_records)


def build_gate(settings: Settings, clock: Clock) -> HealthGate:
    config = BreakerConfig(
        failures=settings.breaker_failures,
        probe_min_seconds=settings.breaker_probe_min_seconds,
        probe_max_seconds=settings.breaker_probe_max_seconds,
    )
    return HealthGate(clock, config)


def build_pseudonyms(settings: Settings) -> Pseudonyms:
    """Keyed by UNLINK_PSEUDONYM_KEY; without it a random key (`run` warns at start-up)."""
    if settings.pseudonym_key is None:
        return Pseudonyms.random()
    return Pseudonyms(settings.pseudonym_key.get_secret_value().encode())


def build_tracer(settings: Settings, clients: Clients) -> CommandTracer:
    """Spans through OpenTelemetry when asked for; its packages are imported only then."""
    if not settings.otel_tracing:
        return NO_TRACER
    try:
        from consumer.observe.tracing import OtelTracer  # noqa: PLC0415 - the [otel] extra
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"UNLINK_OTEL_TRACING: needs the [otel] extra ({exc.name} is not installed): "
            "pip install 'cognito-unlink-consumer[otel]'"
        ) from None
    tracer = OtelTracer(settings.queue_url)
    for client in (clients.cognito, clients.dynamodb):
        if client is not None:
            tracer.instrument(client)
    return tracer


async def build_worker(
    settings: Settings,
    clients: Clients,
    clock: Clock | None = None,
    observer: Observer | None = None,
) -> tuple[Worker, QuotaLimiter]:
    clock = clock or SystemClock()
    dlq_url = settings.dlq_url or await _dlq_from_redrive_policy(clients, settings)
    if not dlq_url:
        raise ConfigurationError(
            "UNLINK_DLQ_URL: not set and the queue has no RedrivePolicy naming a DLQ"
        )
    queue = build_queue(settings, clients, dlq_url)
    limiter = build_rate_limiter(settings, clock)
    # DeleteIdentities has a quota of its own: a gate of its own, built and learned alike.
    delete_limiter = build_rate_limiter(settings, clock)
    executor = CognitoExecutor(
        clients.cognito, limiter, settings.call_timeout_seconds, delete_limiter
    )
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        max_throttle_attempts=settings.max_throttle_attempts,
        backoff=Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds),
        max_age_seconds=settings.max_command_age_seconds,
        # Uncharged copies come back within the longest probe wait: resuming is never held up.
        outage_delay_seconds=max(1, int(min(5.0, settings.breaker_probe_max_seconds))),
    )
    store = build_store(settings, clients, clock)
    gate = build_gate(settings, clock)
    processor = Processor(
        executor,
        store,
        policy,
        lock_seconds(settings.visibility_timeout_seconds),
        fifo=queue.is_fifo,
        gate=gate,
        clock=clock,
        tracer=build_tracer(settings, clients),
    )
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
    worker = Worker(
        queue,
        processor,
        Router(queue, await _fifo_receives(settings, clients, queue), clock),
        config,
        clock,
        observer,
        capacity,
        pseudonym=build_pseudonyms(settings),
        gate=gate,
    )
    return worker, limiter


async def _fifo_receives(
    settings: Settings, clients: Clients, queue: SqsQueue
) -> ReceiveBudget | None:
    """On a FIFO queue, the receives a message has before SQS's redrive takes it."""
    if not queue.is_fifo:
        return None
    most = await redrive_max_receives(clients.sqs, settings.queue_url)
    return ReceiveBudget(most, settings.max_command_age_seconds) if most else None


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
        except botocore.exceptions.NoCredentialsError:
            raise  # not the queue's fault: the CLI says what botocore says and how to fix it
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            if attempt == 5:
                raise ConfigurationError(
                    f"UNLINK_QUEUE_URL: cannot reach the queue: {exc}"
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


def _health(worker: Worker, limiter: RateLimiter, settings: Settings) -> Health:
    # The loop ticks at least once per long poll; three missed polls means it is stuck.
    stale_after = max(60.0, settings.wait_time_seconds * 3.0)
    # Liveness is the poll loop's own tick: every turn, and every few seconds of a wait (slots,
    # backoff, a pause). Its longest silence is one receive: the read timeout of each of
    # sqs_config's three attempts on a dead connection. Past that the loop is wedged.
    wedged_after = max(stale_after, 3 * (settings.wait_time_seconds + 10.0) + 10.0)

    def alive() -> tuple[bool, str]:
        age = time.monotonic() - worker.loop_heartbeat_at
        return age < wedged_after, f"loop ticked {age:.1f}s ago"

    def ready() -> tuple[bool, str]:
        if worker.gate is not None and (outages := worker.gate.outages()):
            down = "; ".join(
                f"{o.dependency} down for {o.seconds:.0f}s ({o.error}), next probe in "
                f"{o.probe_in:.0f}s"
                for o in outages
            )
            return False, f"paused: {down}"
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
        if observer is not None and worker.gate is not None:
            worker.gate.listen(observer.dependency_changed)
        if observer is not None and settings.metrics_port is not None:
            app = make_app(observer, _health(worker, limiter, settings))
            runner = await serve(app, settings.metrics_port)
        install_signal_handlers(worker)
        log.info("worker_started", settings=settings.model_dump(mode="json"), limiter=repr(limiter))
        if settings.pseudonym_key is None:
            log.warning(
                "pseudonym_key_missing",
                detail="UNLINK_PSEUDONYM_KEY is not set: user pseudonyms in the logs use a "
                "random key and correlate within this process only",
            )
        if unknown := unknown_variables():
            # A misspelled variable would otherwise leave its setting at the default unseen.
            log.warning("unknown_settings", variables=unknown)
        fleet = build_fleet(settings, clients, limiter, SystemClock())
        try:
            async with contextlib.AsyncExitStack() as background:
                if fleet is not None:
                    if observer is not None:
                        fleet.listen(observer.fleet_changed)
                    await fleet.beat()  # the first share before the first call
                    await background.enter_async_context(fleet.running())
                stats = await worker.run(until_idle=until_idle)
        finally:
            if runner is not None:
                await runner.cleanup()
        log.info("worker_stopped", outcomes=dict(stats.outcomes), received=stats.received)
        return stats
