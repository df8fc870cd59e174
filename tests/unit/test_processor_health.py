"""The processor and the health gate: outages charge nothing, a paused worker tries nothing."""

from __future__ import annotations

import datetime as dt
import json
import random

from consumer.aws.idempotency import MemoryStore
from consumer.core import errors
from consumer.core.attributes import FIRST_SEEN, format_time
from consumer.core.breaker import STORE, BreakerConfig, HealthGate
from consumer.core.messages import Message
from consumer.core.outcomes import Ack, Attempts, DeadLetter, Retry
from consumer.core.policy import Backoff, RetryPolicy
from consumer.core.ports import Claim
from consumer.core.processor import Processor
from tests.fakes import FakeClock, ScriptedExecutor
from tests.unit.test_commands import developer

POLICY = RetryPolicy(max_attempts=3, backoff=Backoff(rng=random.Random(1)), max_age_seconds=3600)


def body(n: int) -> str:
    return json.dumps(developer(DeveloperUserIdentifier=f"user-{n}"))


def message(text: str, attrs: dict[str, str] | None = None) -> Message:
    return Message("m-1", "rh-1", text, 1, 0, None, attrs or {})


class FailingStore(MemoryStore):
    down = False

    async def claim(self, key: str, lock_seconds: float) -> Claim:
        if self.down:
            raise errors.StoreUnavailable("ConnectionRefused")
        return await super().claim(key, lock_seconds)


def setup(
    executor: ScriptedExecutor, store: MemoryStore | None = None
) -> tuple[Processor, HealthGate, FakeClock]:
    clock = FakeClock()
    gate = HealthGate(clock, BreakerConfig(failures=3))
    store = store or MemoryStore(clock, 3600)
    return Processor(executor, store, POLICY, 60, gate=gate, clock=clock), gate, clock


async def test_an_outage_charges_at_most_its_first_failure_then_pauses_without_calls() -> None:
    executor = ScriptedExecutor()
    p, gate, _ = setup(executor)
    for n in range(5):
        assert (await p.process(message(body(n)))).outcome == Ack("applied")
    executor.script = [errors.NetworkFault("ConnectTimeout")] * 10
    outcomes = [(await p.process(message(body(100 + n)))).outcome for n in range(3)]
    assert all(isinstance(o, Retry) for o in outcomes)
    charged = [o.attempts.failures for o in outcomes if isinstance(o, Retry)]
    assert charged == [1, 0, 0]
    assert gate.paused
    calls = executor.calls
    turned_away = (await p.process(message(body(200)))).outcome
    assert turned_away == Retry(POLICY.outage_delay_seconds, "network_error", Attempts())
    assert executor.calls == calls  # not tried


async def test_a_probe_that_answers_closes_the_gate() -> None:
    executor = ScriptedExecutor([errors.InternalError("500")] * 3)
    p, gate, clock = setup(executor)
    for n in range(3):
        await p.process(message(body(n)))
    assert gate.paused
    clock.now += gate.probe_in()
    assert (await p.process(message(body(10)))).outcome == Ack("applied")
    assert not gate.paused


async def test_a_throttle_or_a_refusal_is_an_answer() -> None:
    executor = ScriptedExecutor(
        [errors.NetworkFault(), errors.NetworkFault(), errors.Throttled(), errors.NetworkFault()]
    )
    p, gate, _ = setup(executor)
    for n in range(4):
        await p.process(message(body(n)))
    assert not gate.paused


async def test_a_store_outage_pauses_too_and_spends_nothing() -> None:
    clock = FakeClock()
    store = FailingStore(clock, 3600)
    p, gate, _ = setup(ScriptedExecutor(), store)
    store.down = True
    outcomes = [(await p.process(message(body(n)))).outcome for n in range(4)]
    assert all(isinstance(o, Retry) and o.attempts.failures == 0 for o in outcomes)
    assert [o.dependency for o in gate.outages()] == [STORE]


async def test_a_bad_command_among_good_ones_spends_its_budget() -> None:
    executor = ScriptedExecutor()
    p, gate, _ = setup(executor)
    bad = body(0)
    attempts = Attempts()
    outcome = None
    for round_ in range(3):
        for n in range(3):
            await p.process(message(body(10 * round_ + n + 1)))
        executor.script = [errors.InternalError("corrupt identity")]
        attrs = {"unlink-attempts": str(attempts.failures)}
        outcome = (await p.process(message(bad, attrs))).outcome
        if isinstance(outcome, Retry):
            attempts = outcome.attempts
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "retries_exhausted"
    assert not gate.paused


async def test_a_command_past_its_max_age_is_dead_lettered_with_its_last_error() -> None:
    executor = ScriptedExecutor([errors.WorkerFault("AccessDeniedException")] * 2)
    clock = FakeClock()
    p, _, clock = setup(executor, MemoryStore(clock, 3 * 3600))
    # The age is the claim record's: a producer's first-seen attribute neither ages it...
    seen = format_time(dt.datetime.fromtimestamp(clock.now - 4000, tz=dt.UTC))
    first = await p.process(message(body(1), {FIRST_SEEN: seen}))
    assert isinstance(first.outcome, Retry)
    clock.now += 4000  # ...nor keeps it young: its first claim was 4000 s ago
    result = await p.process(message(body(1), {FIRST_SEEN: format_time(dt.datetime.now(dt.UTC))}))
    assert isinstance(result.outcome, DeadLetter)
    assert result.outcome.reason == "max_age_exceeded"
    assert "AccessDeniedException" in result.outcome.detail
