"""Prometheus metrics and health endpoints on one HTTP port.

`/healthz` answers whether the loop is alive (it ticks at least once per wait period), `/readyz`
whether the worker can work (clients built, a receive answered recently).

Command metrics come through the worker's `Observer` hooks; Cognito call latency and throttles are
measured on the Cognito client itself (`instrument_cognito`), per API call and per HTTP attempt,
so botocore's own retries are counted too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from consumer.aws.pacing import THROTTLING_CODES, error_code


class PrometheusObserver:
    """The worker's observer, backed by prometheus-client metrics in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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
        if error_code(parsed_response) in THROTTLING_CODES:
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
