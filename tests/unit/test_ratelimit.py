from __future__ import annotations

from consumer.ratelimit import AdaptiveRateLimiter, AimdConfig
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


async def test_throttle_cuts_multiplicatively_once_per_cooldown_then_probes_up() -> None:
    clock = FakeClock()
    config = AimdConfig(decrease_factor=0.5, increase_per_second=2.0, cooldown_seconds=1.0)
    limiter = AdaptiveRateLimiter(clock, 100.0, config)
    limiter.on_throttle()
    limiter.on_throttle()  # inside the cooldown: one cut only
    assert limiter.rate == 50.0
    clock.now += 1.5
    limiter.on_success()
    for _ in range(10):
        clock.now += 1.0
        limiter.on_success()
    assert limiter.rate is not None
    assert limiter.rate == 72.0  # 11 successes, each crediting at most a second of +2/s


async def test_adaptive_rate_never_exceeds_the_ceiling() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(clock, 20.0, AimdConfig(cooldown_seconds=0))
    for _ in range(1000):
        clock.now += 1.0
        limiter.on_success()
    assert limiter.rate == 20.0


async def test_an_unlimited_worker_starts_pacing_from_its_observed_rate_when_throttled() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(clock, None, AimdConfig(decrease_factor=0.5))
    for _ in range(300):
        clock.now += 0.01  # 100 calls/s
        await limiter.acquire()
    limiter.on_throttle()
    assert limiter.rate is not None
    assert 40 <= limiter.rate <= 60
