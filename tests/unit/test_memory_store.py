"""The in-memory idempotency store: the claim protocol, expiry, and its bound on memory."""

from __future__ import annotations

import time

from consumer.aws.idempotency import MemoryStore
from consumer.core.ports import DEAD_LETTERED, Claim, ClaimState, History
from tests.fakes import FakeClock

CLAIMED = Claim(ClaimState.CLAIMED)


async def test_a_claim_locks_until_completed_then_answers_duplicates() -> None:
    store = MemoryStore(FakeClock(), 3600)
    assert await store.claim("k", 60) == CLAIMED
    assert await store.claim("k", 60) == Claim(ClaimState.IN_PROGRESS)
    await store.complete("k", "applied")
    assert await store.claim("k", 60) == Claim(ClaimState.COMPLETED, "applied")


async def test_a_released_claim_can_be_claimed_again_but_a_completed_one_stays() -> None:
    store = MemoryStore(FakeClock(), 3600)
    await store.claim("k", 60)
    await store.release("k")
    assert await store.claim("k", 60) == CLAIMED
    await store.complete("k", "applied")
    await store.release("k")
    assert (await store.claim("k", 60)).state is ClaimState.COMPLETED


async def test_a_stale_lock_is_taken_over() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 3600)
    await store.claim("k", 60)
    clock.now += 61
    # Its worker died holding it: the call may have gone out when it claimed.
    assert await store.claim("k", 60) == Claim(
        ClaimState.CLAIMED,
        took_over_stale_lock=True,
        history=History(uncertain_since=clock.now - 61, first_seen=clock.now - 61),
    )


async def test_records_expire_after_their_ttl() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 100)
    await store.claim("done", 60)
    await store.complete("done", "applied")
    await store.claim("locked", 60)
    clock.now += 101
    assert await store.claim("done", 60) == CLAIMED
    # An expired lock is no lock at all, not a stale one to be careful about.
    assert await store.claim("locked", 60) == CLAIMED
    assert store.records == 2


async def test_only_an_applied_command_absorbs_later_copies() -> None:
    store = MemoryStore(FakeClock(), 3600)
    await store.claim("k", 60)
    await store.release("k", History(uncertain_since=5.0), DEAD_LETTERED)
    again = await store.claim("k", 60)  # a dead letter's next copy runs, with its evidence
    assert again == Claim(ClaimState.CLAIMED, history=History(uncertain_since=5.0))
    await store.complete("k", "applied")
    await store.release("k", History(failures=3))  # a late release never reopens it
    assert await store.claim("k", 60) == Claim(ClaimState.COMPLETED, "applied")


async def test_a_release_keeps_the_counts_and_a_renewal_keeps_the_lock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 3600)
    await store.claim("k", 60)
    await store.release("k", History(failures=2, throttles=1))
    claim = await store.claim("k", 60)
    assert claim.history == History(failures=2, throttles=1)
    clock.now += 50
    assert await store.renew("k", 60)
    clock.now += 50  # past the first lock period, within the renewed one
    assert await store.claim("k", 60) == Claim(ClaimState.IN_PROGRESS)
    await store.complete("k", "applied")
    assert not await store.renew("k", 60)


async def test_when_full_the_oldest_completed_records_go_first_and_never_a_lock() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 3600, max_records=4)
    await store.claim("lock-1", 60)
    await store.claim("lock-2", 60)
    for key in ("a", "b", "c"):
        clock.now += 1
        await store.claim(key, 60)
        await store.complete(key, "applied")
    assert store.records == 4
    assert await store.claim("a", 60) == CLAIMED  # "a", the oldest, was forgotten
    # Claiming "a" made room by forgetting "b"; the two locks are still held.
    assert await store.claim("lock-1", 60) == Claim(ClaimState.IN_PROGRESS)
    assert await store.claim("lock-2", 60) == Claim(ClaimState.IN_PROGRESS)
    assert await store.claim("b", 60) == CLAIMED
    assert store.records == 4  # now four locks: c went, no lock did
    await store.claim("e", 60)
    assert store.records == 5  # locks are never evicted, even beyond the bound


async def test_a_completed_record_renewed_moves_to_the_back_of_the_eviction_order() -> None:
    store = MemoryStore(FakeClock(), 3600, max_records=2)
    await store.complete("a", "applied")
    await store.complete("b", "applied")
    await store.complete("a", "duplicate")
    await store.complete("c", "applied")
    assert await store.claim("a", 60) == Claim(ClaimState.COMPLETED, "duplicate")
    assert await store.claim("b", 60) == CLAIMED


async def test_a_full_store_claims_as_fast_as_an_empty_one() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, 3600, max_records=5_000)

    async def run(count: int, offset: int) -> float:
        started = time.perf_counter()
        for i in range(offset, offset + count):
            clock.now += 0.001
            await store.claim(f"key-{i}", 60)
            await store.complete(f"key-{i}", "applied")
        return time.perf_counter() - started

    first = await run(2_000, 0)
    await run(20_000, 2_000)
    last = await run(2_000, 22_000)
    assert store.records == 5_000
    # Rebuilding the map on every claim (the old store) made this hundreds of times slower.
    assert last < 3 * first + 0.05
