from __future__ import annotations

import json
import random

from consumer.aws.idempotency import MemoryStore
from consumer.core import errors
from consumer.core.attributes import ATTEMPTS, REDRIVEN
from consumer.core.messages import Message
from consumer.core.outcomes import Ack, DeadLetter, Retry
from consumer.core.policy import Backoff, RetryPolicy
from consumer.core.processor import Processor
from tests.fakes import FakeClock, ScriptedExecutor
from tests.unit.test_commands import developer


def message(body: str, receive_count: int = 1, attrs: dict[str, str] | None = None) -> Message:
    return Message("m-1", "rh-1", body, receive_count, 0, None, attrs or {})


def processor(executor: ScriptedExecutor, store: MemoryStore | None = None) -> Processor:
    store = store or MemoryStore(FakeClock(), 3600)
    return Processor(executor, store, RetryPolicy(backoff=Backoff(rng=random.Random(1))), 60)


BODY = json.dumps(developer())


async def test_success_then_duplicate_is_acknowledged_without_a_call() -> None:
    executor = ScriptedExecutor()
    p = processor(executor)
    first = await p.process(message(BODY))
    second = await p.process(message(BODY))
    assert first.outcome == Ack("applied")
    assert second.outcome == Ack("duplicate")
    assert executor.calls == 1


async def test_not_found_on_a_redelivery_is_verified_as_already_applied() -> None:
    executor = ScriptedExecutor([errors.ResourceNotFound("gone")], applied=True)
    result = await processor(executor).process(message(BODY, receive_count=2))
    assert result.outcome == Ack("already_applied")
    assert executor.checks == 1


async def test_not_found_on_first_sight_is_dead_lettered_without_a_check() -> None:
    executor = ScriptedExecutor([errors.ResourceNotFound("gone")], applied=True)
    result = await processor(executor).process(message(BODY))
    assert isinstance(result.outcome, DeadLetter)
    assert result.outcome.reason == "ResourceNotFoundException"
    assert executor.checks == 0


async def test_not_found_after_a_retry_that_did_not_apply_is_dead_lettered() -> None:
    executor = ScriptedExecutor([errors.ResourceNotFound("gone")], applied=False)
    result = await processor(executor).process(message(BODY, attrs={ATTEMPTS: "1"}))
    assert isinstance(result.outcome, DeadLetter)
    assert executor.checks == 1


async def test_a_failed_attempt_releases_its_claim_so_the_retry_runs() -> None:
    executor = ScriptedExecutor([errors.InternalError("boom")])
    p = processor(executor)
    first = await p.process(message(BODY))
    assert isinstance(first.outcome, Retry)
    second = await p.process(message(BODY, attrs={ATTEMPTS: "1"}))
    assert second.outcome == Ack("applied")
    assert executor.calls == 2


async def test_a_live_claim_elsewhere_defers_without_spending_the_budget() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 3600)
    await store.claim(developer_key(), 60)
    result = await processor(ScriptedExecutor(), store).process(message(BODY))
    assert isinstance(result.outcome, Retry)
    assert result.outcome.error == "in_progress_elsewhere"
    assert result.outcome.attempts.failures == 0


async def test_a_stale_claim_is_taken_over_and_counts_as_an_earlier_attempt() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 3600)
    await store.claim(developer_key(), 60)
    clock.now += 61
    executor = ScriptedExecutor([errors.ResourceNotFound("gone")], applied=True)
    result = await processor(executor, store).process(message(BODY))
    assert result.outcome == Ack("already_applied")


async def test_duplicates_of_a_dead_lettered_command_are_absorbed_but_a_redrive_runs() -> None:
    executor = ScriptedExecutor([errors.ResourceConflict("other")])
    p = processor(executor)
    dead = await p.process(message(BODY))
    assert isinstance(dead.outcome, DeadLetter)
    await p.settle(dead)
    assert (await p.process(message(BODY))).outcome == Ack("duplicate")
    redriven = await p.process(message(BODY, attrs={REDRIVEN: "true"}))
    assert redriven.outcome == Ack("applied")


async def test_malformed_bodies_dead_letter_once() -> None:
    p = processor(ScriptedExecutor())
    first = await p.process(message("{not json"))
    assert isinstance(first.outcome, DeadLetter)
    assert first.outcome.reason == "malformed"
    # Until the DLQ has it, a copy waits rather than being absorbed.
    waiting = await p.process(message("{not json"))
    assert isinstance(waiting.outcome, Retry)
    await p.settle(first)
    assert (await p.process(message("{not json"))).outcome == Ack("duplicate")


def developer_key() -> str:
    from consumer.core.envelopes import decode

    return decode(BODY).idempotency_key()


async def test_tokens_rejected_after_an_applied_federated_unlink_count_as_applied() -> None:
    from tests.unit.test_commands import federated

    body = json.dumps(federated())
    executor = ScriptedExecutor([errors.NotAuthorized("token")], applied=True)
    result = await processor(executor).process(message(body, receive_count=2))
    assert result.outcome == Ack("already_applied")


async def test_tokens_rejected_on_first_sight_are_dead_lettered() -> None:
    from tests.unit.test_commands import federated

    executor = ScriptedExecutor([errors.NotAuthorized("token")], applied=True)
    result = await processor(executor).process(message(json.dumps(federated())))
    assert isinstance(result.outcome, DeadLetter)
    assert executor.checks == 0
