from __future__ import annotations

from consumer.rate.aimd import AdaptiveRateLimiter, AimdConfig
from tests.fakes import FakeClock


async def test_fixed_rate_paces_calls_evenly() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(clock, 10.0, None)
    start = clock.now
    for _ in range(21):
        await limiter.acquire()
    assert abs((clock.now - start) - 2.0) < 1e-6  # 20 intervals of 100 ms


async def test_unlimited_never_waits() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(clock, None, AimdConfig())
    for _ in range(100):
        await limiter.acquire()
    assert clock.slept == []
    assert limiter.rate is None


async def _paced_calls(limiter: AdaptiveRateLimiter, clock: FakeClock, seconds: float) -> None:
    """Calls as fast as the limiter lets them go (demand above the rate), all successful."""
    end = clock.now + seconds
    while clock.now < end:
        await limiter.acquire()
        limiter.on_success()


async def _steady_calls(
    limiter: AdaptiveRateLimiter, clock: FakeClock, per_s: float, s: float
) -> None:
    """Calls at ``per_s`` (below the rate: the limiter never makes them wait), all successful."""
    for _ in range(int(per_s * s)):
        clock.now += 1.0 / per_s
        await limiter.acquire()
        limiter.on_success()


async def test_a_throttle_cuts_to_a_share_of_the_goodput_once_per_cooldown() -> None:
    clock = FakeClock()
    config = AimdConfig(decrease_factor=0.5, cooldown_seconds=1.0)
    limiter = AdaptiveRateLimiter(clock, 100.0, config)
    await _steady_calls(limiter, clock, 40.0, 2.0)  # the quota lets 40/s through
    limiter.on_throttle()
    assert limiter.rate == 20.0  # half the goodput (40/s), not half the rate (100/s)
    limiter.on_throttle()  # inside the cooldown: one cut only
    assert limiter.rate == 20.0
    assert limiter.throttles == 2


async def test_the_rate_probes_up_only_while_it_holds_calls_back() -> None:
    clock = FakeClock()
    config = AimdConfig(increase_per_second=2.0, cooldown_seconds=1.0, initial_rate=10.0)
    limiter = AdaptiveRateLimiter(clock, None, config)
    await _paced_calls(limiter, clock, 10.0)
    assert limiter.rate is not None
    assert 29.0 <= limiter.rate <= 30.5  # +2/s for 10 s
    await _steady_calls(limiter, clock, 5.0, 2.0)  # demand drops well below the rate
    before = limiter.rate
    await _steady_calls(limiter, clock, 5.0, 10.0)
    assert limiter.rate == before  # nothing learned, nothing raised


async def test_adaptive_rate_never_exceeds_the_ceiling() -> None:
    clock = FakeClock()
    config = AimdConfig(increase_per_second=5.0, cooldown_seconds=0, initial_rate=10.0)
    limiter = AdaptiveRateLimiter(clock, 20.0, config)
    await _paced_calls(limiter, clock, 10.0)
    assert limiter.rate == 20.0


async def test_an_unlimited_worker_starts_pacing_from_its_goodput_when_throttled() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(clock, None, AimdConfig(decrease_factor=0.5))
    await _steady_calls(limiter, clock, 100.0, 3.0)
    unlimited = limiter.rate is None
    assert unlimited
    limiter.on_throttle()
    assert limiter.rate is not None
    assert 49.0 <= limiter.rate <= 51.0  # half of the last second's 100 successes


async def test_goodput_counts_the_last_second_only() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(clock, None, AimdConfig())
    await _steady_calls(limiter, clock, 30.0, 2.0)
    assert 29.0 <= limiter.goodput() <= 31.0
    clock.now += 5.0
    assert limiter.goodput() == 0.0


async def test_a_throttle_of_a_call_sent_before_the_last_cut_is_not_cut_for() -> None:
    clock = FakeClock()
    config = AimdConfig(decrease_factor=0.5, cooldown_seconds=1.0)
    limiter = AdaptiveRateLimiter(clock, 100.0, config)
    await _steady_calls(limiter, clock, 40.0, 2.0)
    sent = clock.now
    limiter.on_throttle(sent_at=sent)
    assert limiter.rate == 20.0
    clock.now += 5.0  # well past the cooldown, but the call left before the cut
    limiter.on_throttle(sent_at=sent)
    assert limiter.rate == 20.0
    assert limiter.throttles == 2


async def test_a_cut_measures_the_goodput_since_the_last_cut() -> None:
    clock = FakeClock()
    config = AimdConfig(decrease_factor=0.9, cooldown_seconds=1.0)
    limiter = AdaptiveRateLimiter(clock, None, config)
    await _steady_calls(limiter, clock, 60.0, 1.0)  # a burst against a full bucket
    limiter.on_throttle()
    assert limiter.rate is not None
    assert 53.0 <= limiter.rate <= 55.0
    await _steady_calls(limiter, clock, 20.0, 1.5)  # the bucket is empty: 20/s get through
    limiter.on_throttle()
    assert 17.5 <= limiter.rate <= 18.5  # 0.9 x 20/s, the burst forgotten


async def test_a_worker_with_no_success_of_its_own_slow_starts_after_its_first_cut() -> None:
    clock = FakeClock()
    config = AimdConfig(min_rate=1.0, cooldown_seconds=1.0, increase_per_second=0.1)
    limiter = AdaptiveRateLimiter(clock, None, config)
    limiter.on_throttle()  # joined a fleet that already uses the whole quota
    assert limiter.rate == 1.0
    clock.now += 1.0
    await _paced_calls(limiter, clock, 5.0)
    assert limiter.rate is not None
    assert limiter.rate >= 16.0  # doubling each second, not +0.1/s from the minimum
    await _steady_calls(limiter, clock, 5.0, 1.5)
    limiter.on_throttle()  # the next cut ends the slow start
    after_cut = limiter.rate
    assert after_cut is not None
    clock.now += 1.5
    await _paced_calls(limiter, clock, 5.0)
    assert limiter.rate is not None
    assert limiter.rate <= after_cut + 0.6
