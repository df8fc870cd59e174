"""The tenants of a fair-queue run: one noisy tenant and nine quiet ones (see bench.fair)."""

from __future__ import annotations

import random

NOISY_SHARE = 0.70
QUIET_TENANTS = 9


def tenants(n: int, seed: int = 7) -> list[str]:
    """One tenant per command: `tenant-0` for about 70%, nine others share the rest."""
    rng = random.Random(seed)
    return [
        "tenant-0" if rng.random() < NOISY_SHARE else f"tenant-{rng.randint(1, QUIET_TENANTS)}"
        for _ in range(n)
    ]
