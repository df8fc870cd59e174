"""What the fleet's heartbeats cost DynamoDB, from the real encoding of its entries and plan.

DynamoDB bills a write by the larger of the item before and after it, in 1 KB units, and an
item's size is the sum of its attribute names and values (a string's UTF-8 bytes; a number about
one byte per two digits, plus one). The goal: one heartbeat writes about a kilobyte at most,
whatever the fleet's size. Today every heartbeat rewrites one shared item that holds every
worker's entry, so its cost grows with the fleet: the test is expected to fail until the item
is split into one per worker plus a small plan item.
"""

from __future__ import annotations

import math

import pytest

from consumer.aws.fleet_table import FLEET_KEY, MEMBER_PREFIX, entry_value, plan_value
from consumer.rate.config import Mode
from consumer.rate.laws import UNBOUNDED, Plan
from consumer.rate.member import MemberEntry, PlanRecord

KB = 1024


def _size(value: dict[str, str]) -> int:
    kind, text = next(iter(value.items()))
    if kind == "N":
        digits = len(text.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    return len(text.encode())


def item_bytes(item: dict[str, dict[str, str]]) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


def fleet_item(workers: int) -> dict[str, dict[str, str]]:
    """The item as a steady fleet of ``workers`` leaves it (a day of counts, a cruising plan)."""
    now = 1_765_000_000.123
    item = {"id": {"S": FLEET_KEY}, "expires_at": {"N": str(int(now) + 86_400)}}
    for index in range(workers):
        member = f"{index:012x}"
        entry = MemberEntry(
            member=member,
            host=f"unlink-consumer-7d9f8b6c5-{index:05d}",
            started=now - 86_400.0,
            at=now,
            seq=86_400,
            successes=2_150_000,
            throttles=21_000,
            want=UNBOUNDED,
            share=round(25.0 / workers, 4),
            recent_successes=1_490,
            recent_throttles=15,
        )
        item[MEMBER_PREFIX + member] = entry_value(entry)
    plan = Plan(rate=24.5, estimate=25.0, mode=Mode.CRUISE, window=17_280, quiet_seconds=12.0)
    item["plan"] = plan_value(PlanRecord(plan, now, f"{0:012x}"))
    return item


@pytest.mark.xfail(
    strict=True, reason="one shared fleet item: a heartbeat rewrites every worker's entry"
)
@pytest.mark.parametrize("workers", [10, 100, 500])
def test_a_heartbeat_writes_about_a_kilobyte_whatever_the_fleet_s_size(workers: int) -> None:
    billed = math.ceil(item_bytes(fleet_item(workers)) / KB) * KB
    assert billed <= KB
    # Per window (5 s of one-second heartbeats), every worker's beats and the leader's plan.
    assert 5 * workers * billed + billed <= 5 * workers * KB + KB


def test_today_a_heartbeat_costs_the_whole_item() -> None:
    # The figure the goal above replaces: about 0.2 KB a worker on every heartbeat.
    per_worker = [item_bytes(fleet_item(n)) / n for n in (10, 100, 500)]
    assert all(150 <= size <= 250 for size in per_worker), per_worker
