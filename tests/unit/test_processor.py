from __future__ import annotations

import json
import random

from consumer.aws.idempotency import MemoryStore
from consumer.core import errors
from consumer.core.attributes import ATTEMPTS
from consumer.core.commands import Command
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


async def test_not_found_after_a_lost_answer_that_did_not_apply_is_dead_lettered() -> None:
    executor = ScriptedExecutor([errors.InternalError("500"), errors.ResourceNotFound("gone")])
    p = processor(executor)
    assert isinstance((await p.process(message(BODY))).outcome, Retry)
    result = await p.process(message(BODY))  # the state shows nothing applied
    assert isinstance(result.outcome, DeadLetter)
    assert executor.checks == 1


async def test_not_found_after_throttles_only_is_dead_lettered_without_a_check() -> None:
    executor = ScriptedExecutor([errors.Throttled("slow"), errors.ResourceNotFound("gone")])
    p = processor(executor)
    assert isinstance((await p.process(message(BODY))).outcome, Retry)
    executor.applied = True  # whatever the state says, a throttle is a definite "nothing"
    result = await p.process(message(BODY))
    assert isinstance(result.outcome, DeadLetter)
    assert executor.checks == 0


async def test_each_call_is_told_how_many_earlier_receives_a_throttle_answered() -> None:
    executor = ScriptedExecutor([errors.Throttled("slow"), errors.Throttled("slow")])
    p = processor(executor)
    for _ in range(3):
        await p.process(message(BODY, attrs={"unlink-throttles": "0"}))  # the record counts
    assert executor.throttled_before == [0, 1, 2]


async def test_a_not_sent_call_is_no_evidence_but_a_lost_answer_in_the_same_call_is() -> None:
    executor = ScriptedExecutor([errors.NotSent("refused"), errors.ResourceNotFound("gone")])
    p = processor(executor)
    assert isinstance((await p.process(message(BODY))).outcome, Retry)
    executor.applied = True
    assert isinstance((await p.process(message(BODY))).outcome, DeadLetter)
    lost = errors.ResourceNotFound("gone")
    lost.answer_lost = True  # botocore's own retry followed a 5xx within this call
    result = await processor(ScriptedExecutor([lost], applied=True)).process(message(BODY))
    assert result.outcome == Ack("already_applied")


async def test_a_producer_cannot_make_a_command_skip_its_retries() -> None:
    executor = ScriptedExecutor([errors.InternalError("500")])
    forged = message(BODY, attrs={ATTEMPTS: "999", "unlink-throttles": "999"})
    result = await processor(executor).process(forged)
    assert isinstance(result.outcome, Retry)
    assert (result.outcome.attempts.failures, result.outcome.attempts.throttles) == (1, 0)


async def test_a_throttled_verification_is_a_throttle_and_never_acknowledges() -> None:
    class ThrottledCheck(ScriptedExecutor):
        async def is_applied(self, command: Command, since: float) -> bool:
            self.checks += 1
            raise errors.Throttled("lookup")

    executor = ThrottledCheck([errors.ResourceNotFound("gone")])
    result = await processor(executor).process(message(BODY, receive_count=2))
    assert isinstance(result.outcome, Retry)
    assert result.outcome.error == "TooManyRequestsException"
    assert result.outcome.attempts.throttles == 1


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


async def test_a_dead_lettered_command_runs_again_whenever_it_comes_back() -> None:
    executor = ScriptedExecutor([errors.ResourceConflict("other")])
    p = processor(executor)
    dead = await p.process(message(BODY))
    assert isinstance(dead.outcome, DeadLetter)
    again = await p.process(message(BODY))  # no attribute needed: resent, or any redrive
    assert again.outcome == Ack("applied")
    assert (await p.process(message(BODY))).outcome == Ack("duplicate")


async def test_every_copy_of_a_malformed_body_is_dead_lettered() -> None:
    p = processor(ScriptedExecutor())
    for _ in range(2):
        result = await p.process(message("{not json"))
        assert isinstance(result.outcome, DeadLetter)
        assert result.outcome.reason == "malformed"


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


class LookupThrottledOnce(ScriptedExecutor):
    """The first look-up is throttled; later ones see the state (applied)."""

    async def is_applied(self, command: Command, since: float) -> bool:
        self.checks += 1
        if self.checks == 1:
            raise errors.Throttled("look-up throttled")
        return True


async def test_a_lost_answer_stays_evidence_when_its_look_up_is_throttled() -> None:
    """The unlink applied and its answer was lost (botocore tried again and met
    ResourceNotFound); the look-up that would prove it was throttled. The record keeps the
    evidence, so the next attempt proves it instead of dead-lettering an applied command."""
    lost = errors.ResourceNotFound("gone")
    lost.answer_lost = True
    executor = LookupThrottledOnce([lost, errors.ResourceNotFound("gone")])
    p = processor(executor)
    assert isinstance((await p.process(message(BODY))).outcome, Retry)
    result = await p.process(message(BODY))
    assert result.outcome == Ack("already_applied")


class LookupFails(ScriptedExecutor):
    async def is_applied(self, command: Command, since: float) -> bool:
        self.checks += 1
        raise errors.InternalError("look-up failed")


async def test_a_failed_look_up_is_charged_to_the_command_never_to_cognitos_health() -> None:
    from consumer.core.breaker import BreakerConfig, HealthGate

    clock = FakeClock()
    gate = HealthGate(clock, BreakerConfig(failures=2))
    # A 5xx (evidence of a lost answer), then ResourceNotFound whose proving look-up fails.
    script: list[errors.UnlinkError] = [errors.InternalError("500")]
    script += [errors.ResourceNotFound("gone") for _ in range(3)]
    executor = LookupFails(script)
    policy = RetryPolicy(max_attempts=3, backoff=Backoff(rng=random.Random(1)))
    p = Processor(executor, MemoryStore(clock, 3600), policy, 60, gate=gate, clock=clock)
    outcomes = []
    for _ in range(3):
        outcomes.append((await p.process(message(BODY))).outcome)
    assert gate.admits()  # never paused for everyone by this command's look-ups
    assert isinstance(outcomes[-1], DeadLetter)
    assert outcomes[-1].reason == "retries_exhausted"
    assert "verification_failed" in outcomes[-1].detail
