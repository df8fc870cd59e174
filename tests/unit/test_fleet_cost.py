"""What the fleet's heartbeats cost DynamoDB, from the real encoding of its items.

DynamoDB bills a write by the larger of the item before and after it, in 1 KB units, and a
strongly consistent read of an item in 4 KB units; an item's size is the sum of its attribute
names and values (a string's UTF-8 bytes; a number about one byte per two digits, plus one). One
heartbeat writes the worker's own item and reads the plan item (the leader writes it instead):
neither grows with the fleet. Once per window the leader reads the roster and every worker's item.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from consumer.aws.fleet_wire import (
    FLEET_KEY,
    MEMBER_KEY,
    ROSTER_KEY,
    entry_value,
    plan_value,
)
from consumer.rate.config import Mode, RateConfig
from consumer.rate.laws import UNBOUNDED, Plan, Timeline
from consumer.rate.member import MemberEntry, PlanRecord

KB = 1024
NOW = 1_765_000_000.123
Item = dict[str, dict[str, str] | dict[str, list[str]]]


def _size(value: dict[str, str] | dict[str, list[str]]) -> int:
    kind, data = next(iter(value.items()))
    if kind == "N":
        assert isinstance(data, str)
        digits = len(data.lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "SS":
        return sum(len(text.encode()) for text in data)
    assert isinstance(data, str)
    return len(data.encode())


def item_bytes(item: Item) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


def _id(index: int) -> str:
    return f"{index:012x}"  # as `consumer.app` names a worker


def member_item(index: int, workers: int, starting: bool = False) -> Item:
    """A worker's item a day into a steady fleet (or with a full timeline while it starts)."""
    entry = MemberEntry(
        member=_id(index),
        host=f"unlink-consumer-7d9f8b6c5-{index:05d}",
        started=NOW - 86_400.0,
        at=NOW,
        seq=86_400,
        successes=2_150_000,
        throttles=21_000,
        want=UNBOUNDED,
        share=round(25.0 / workers, 4),
        recent_successes=1_490,
        recent_throttles=15,
    )
    if starting:
        entry = replace(entry, timeline=Timeline(17_650_000_001, (9,) * RateConfig().slot_sent))
    key = {"S": MEMBER_KEY + entry.member}
    return {"id": key, "entry": entry_value(entry), "expires_at": {"N": str(int(NOW) + 3600)}}


def plan_item(workers: int) -> Item:
    probed = tuple((130.0, 5.0) for _ in range(RateConfig().probe_history))  # its longest
    plan = Plan(rate=26.0, estimate=25.0, mode=Mode.PROBE, window=17_280, probed=probed)
    record = PlanRecord(plan, NOW, _id(0), 25.0 / workers, workers, 2 * workers)
    return {
        "id": {"S": FLEET_KEY},
        "plan": plan_value(record),
        "by": {"S": _id(0)},
        "pulse": {"N": "86400"},
        "joins": {"N": str(2 * workers)},
        "thr": {"N": "120000"},
        "expires_at": {"N": str(int(NOW) + 86_400)},
    }


def roster_item(workers: int) -> Item:
    ids = {"SS": [_id(i) for i in range(workers)]}
    return {"id": {"S": ROSTER_KEY}, "ids": ids, "expires_at": {"N": str(int(NOW) + 86_400)}}


def write_units(item: Item) -> int:
    return math.ceil(item_bytes(item) / KB)


def read_units(item: Item) -> int:
    return math.ceil(item_bytes(item) / (4 * KB))


@pytest.mark.parametrize("workers", [10, 100, 500])
def test_a_heartbeat_writes_about_a_kilobyte_whatever_the_fleet_s_size(workers: int) -> None:
    own = max(item_bytes(member_item(1, workers, s)) for s in (False, True))
    plan = item_bytes(plan_item(workers))
    # A worker writes its own item and reads the plan item; the leader writes both.
    assert own + plan <= KB
    assert write_units(member_item(1, workers, starting=True)) == 1
    assert (write_units(plan_item(workers)), read_units(plan_item(workers))) == (1, 1)
    # Per window (5 s of one-second heartbeats): every worker's beats, and the leader's read
    # of the roster and of every worker's item, once.
    window = RateConfig().window_seconds
    written = window * (workers * own + plan)
    read = window * (workers - 1) * plan + item_bytes(roster_item(workers)) + workers * own
    per_worker = (written + read) / window / workers
    print(
        f"\nworkers={workers}: heartbeat writes {own} B (leader {own + plan} B), reads {plan} B;"
        f" window writes {written / KB:.1f} KB, reads {read / KB:.1f} KB"
        f" (the leader's {(item_bytes(roster_item(workers)) + workers * own) / KB:.1f} KB);"
        f" {per_worker:.0f} B per worker per second"
    )
    assert per_worker <= KB  # flat: the leader's reads are one more entry per worker per window
    units = workers * read_units(member_item(1, workers)) + read_units(roster_item(workers))
    assert units <= workers + math.ceil(workers / 200)  # the leader's once per window
