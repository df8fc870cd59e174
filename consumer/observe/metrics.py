"""Prometheus metrics and health endpoints on one HTTP port.

`/healthz` answers whether the loop is alive (it ticks at least once per wait period), `/readyz`
whether the worker can work (clients built, a receive answered recently, no dependency down: a
paused worker says which one, for how long, and when it probes next).

Command metrics come through the worker's `Observer` hooks; Cognito call latency and throttles are
measured on the Cognito client itself (`instrument_cognito`), per API call and per HTTP attempt,
so botocore's own retries are counted too.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from consumer import __version__
from consumer.answers import is_throttle
from consumer.core.breaker import DEPENDENCIES, Change


class PrometheusObserver:
    """The worker's observer, backed by prometheus-client metrics in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # No `*_created` series: a gauge per counter that no dashboard reads, named off-convention.
        # (prometheus-client leaves the function unannotated)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        # The standard process_*, python_gc_* and python_info series, as every Python exporter has.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.build_info = Gauge(
            "unlink_build_info",
            "Always 1; the labels name the running worker's version and Python.",
            ["version", "python"],
            registry=self.registry,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.commands = Counter(
            "unlink_commands_total",
            "Commands finished, by action and outcome.",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "unlink_command_seconds",
            "Time from start to outcome of one command.",
            ["action"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.in_flight_gauge = Gauge(
            "unlink_in_flight", "Commands in flight.", registry=self.registry
        )
        self.rate = Gauge(
            "unlink_rate_limit",
            "Current Cognito calls/s of the limiter (0: unlimited).",
            registry=self.registry,
        )
        self.fleet_workers = Gauge(
            "unlink_fleet_workers",
            "Live workers sharing the quota, as this worker sees the fleet item (0: no table).",
            registry=self.registry,
        )
        self.fleet_quota = Gauge(
            "unlink_fleet_quota_estimate",
            "The fleet's learned or configured unlink quota, calls/s (0: not known yet).",
            registry=self.registry,
        )
        self.fleet_share = Gauge(
            "unlink_fleet_share",
            "This worker's share of the fleet's unlink rate, calls/s (0: none assigned).",
            registry=self.registry,
        )
        self.cognito_latency = Histogram(
            "unlink_cognito_call_seconds",
            "Time of one Cognito Identity API call (botocore's retries included), by operation.",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.throttles = Counter(
            "unlink_throttles_total",
            "Cognito Identity requests answered with a throttling error, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "unlink_dead_letters_total",
            "Messages sent to the DLQ, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "unlink_retries_total",
            "Messages re-enqueued with a delay (on FIFO queues: hidden), by error.",
            ["error"],
            registry=self.registry,
        )
        self.batch = Histogram(
            "unlink_receive_batch_size",
            "Messages per receive.",
            buckets=(0, 1, 2, 4, 6, 8, 10),
            registry=self.registry,
        )
        self.receive_errors = Counter(
            "unlink_receive_errors_total", "Failed receives.", registry=self.registry
        )
        self.dependency_up = Gauge(
            "unlink_dependency_up",
            "1 while the dependency answers; 0 while it is down and the worker is paused.",
            ["dependency"],
            registry=self.registry,
        )
        self.dependency_outages = Counter(
            "unlink_dependency_outages_total",
            "Times the dependency went down for every command and paused the worker.",
            ["dependency"],
            registry=self.registry,
        )
        for dependency in DEPENDENCIES:
            self.dependency_up.labels(dependency).set(1)
            self.dependency_outages.labels(dependency)

    def received(self, count: int) -> None:
        self.batch.observe(count)

    def finished(self, action: str, outcome: str, error: str | None, seconds: float) -> None:
        self.commands.labels(action, outcome).inc()
        self.latency.labels(action).observe(seconds)
        if outcome == "dead_lettered":
            self.dead_letters.labels(error or "unknown").inc()
        elif outcome == "retried":
            self.retries.labels(error or "unknown").inc()

    def in_flight(self, count: int) -> None:
        self.in_flight_gauge.set(count)

    def receive_failed(self) -> None:
        self.receive_errors.inc()

    def fleet_changed(self, workers: int, estimate: float | None, share: float | None) -> None:
        """A `FleetCoordinator` listener: what the last heartbeat showed."""
        self.fleet_workers.set(workers)
        self.fleet_quota.set(estimate or 0)
        self.fleet_share.set(share or 0)

    def dependency_changed(self, change: Change) -> None:
        """A `HealthGate` listener: a breaker opened or closed."""
        self.dependency_up.labels(change.dependency).set(0 if change.down else 1)
        if change.down:
            self.dependency_outages.labels(change.dependency).inc()

    # -- the Cognito client ----------------------------------------------------------------

    def instrument_cognito(self, client: Any) -> None:
        """Times every API call of ``client`` and counts throttled HTTP attempts.

        Uses botocore's event hooks: `before-call`/`after-call`/`after-call-error` bracket one API
        call (retries included), `response-received` fires once per HTTP attempt. No handler
        returns a value, so none changes how a call is made or retried.
        """
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"before-call.{service}", self._call_started)
        events.register(f"after-call.{service}", self._call_ended)
        events.register(f"after-call-error.{service}", self._call_ended)
        events.register(f"response-received.{service}", self._response_received)

    def _call_started(self, context: dict[str, Any], model: Any = None, **_: Any) -> None:
        context[_STARTED] = time.perf_counter()
        context[_OPERATION] = getattr(model, "name", "unknown")

    def _call_ended(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        if not context or _STARTED not in context:
            return
        started = context.pop(_STARTED)
        operation = str(context.get(_OPERATION, "unknown"))
        self.cognito_latency.labels(operation).observe(time.perf_counter() - started)

    def _response_received(
        self,
        parsed_response: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        if is_throttle(parsed_response):
            operation = str((context or {}).get(_OPERATION, "unknown"))
            self.throttles.labels(operation).inc()


_STARTED = "unlink_metrics_started"
_OPERATION = "unlink_metrics_operation"


@dataclass(slots=True)
class Health:
    """Callables the endpoints ask; each returns (ok, why)."""

    alive: Callable[[], tuple[bool, str]]
    ready: Callable[[], tuple[bool, str]]
    rate: Callable[[], float | None]


def make_app(observer: PrometheusObserver, health: Health) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        rate = health.rate()
        observer.rate.set(rate or 0)
        return web.Response(
            body=generate_latest(observer.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    def probe(check: Callable[[], tuple[bool, str]]) -> Callable[[web.Request], object]:
        async def handler(_: web.Request) -> web.Response:
            ok, why = check()
            return web.Response(status=200 if ok else 503, text=why + "\n")

        return handler

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", probe(health.alive))  # type: ignore[arg-type]
    app.router.add_get("/readyz", probe(health.ready))  # type: ignore[arg-type]
    return app


async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104 - probes come from outside the pod
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
