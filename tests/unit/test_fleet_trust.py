"""Nothing read from the fleet's items is trusted: a value that is not what a worker writes is
left out (and logged once), never stops a heartbeat; no host's clock decides anything for another.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from structlog.testing import capture_logs

from consumer.aws.fleet_table import DynamoFleetTable
from consumer.aws.fleet_wire import FLEET_KEY, MEMBER_KEY, entry_value, parse_board, parse_entry
from consumer.rate.config import Mode
from consumer.rate.laws import UNBOUNDED, LocalLaw, Plan
from consumer.rate.limiter import QuotaLimiter
from consumer.rate.member import Board, FleetMember, MemberEntry, Outbox, PlanRecord
from tests.fakes import FakeClock
from tests.support.fleet_sim import Spec, run

GOOD: dict[str, Any] = {
    "host": "h",
    "started": 1.7e9,
    "at": 1.7e9 + 5,
    "seq": 5,
    "ok": 100,
    "thr": 1,
    "want": -1,
    "share": 12.5,
    "ok1m": 100,
    "thr1m": 1,
}
# Each a value some writer could leave in the item: JSON's Infinity and NaN, the wrong types,
# numbers past any bound, a timeline longer than any worker sends.
FORGED: dict[str, dict[str, Any]] = {
    "seq_infinite": {"seq": float("inf")},
    "want_nan": {"want": float("nan")},
    "share_negative": {"share": -3.0},
    "ok_a_string": {"ok": "100"},
    "thr_a_bool": {"thr": True},
    "seq_fractional": {"seq": 5.5},
    "at_huge": {"at": 1e300},
    "timeline_long": {"tl": [1, *([1] * 1000)]},
    "host_missing": {"host": None},
}


def _item(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    # Python's json writes Infinity and NaN as a careless writer would.
    return {"id": {"S": MEMBER_KEY + name}, "entry": {"S": json.dumps({**GOOD, **fields})}}


def test_every_forged_value_leaves_its_entry_out_and_the_good_ones_in() -> None:
    ignored: list[tuple[str, str]] = []
    items = [_item("good", {})] + [_item(name, fields) for name, fields in FORGED.items()]
    items += [{"id": {"S": MEMBER_KEY + "a b"}, "entry": items[0]["entry"]}]  # not an id
    entries = [parse_entry(i, lambda name, why: ignored.append((name, why))) for i in items]
    assert [e.member for e in entries if e is not None] == ["good"]
    assert {name for name, _ in ignored} == {MEMBER_KEY + name for name in FORGED} | {"id"}
    assert all(str(float("nan")) not in why for _, why in ignored)  # the field, not the value


@pytest.mark.parametrize(
    "plan",
    [
        {"rate": float("nan")},
        {"estimate": float("inf")},
        {"mode": "warp"},
        {"window": -1},
        {"probed": [[1.0, 2.0]] * 100},
        {"fresh": "yes"},
    ],
)
def test_a_forged_plan_is_left_out(plan: dict[str, Any]) -> None:
    by = {"by": {"S": "a"}}
    assert parse_board({"plan": {"S": json.dumps(PLAN)}, **by}).plan is not None
    assert parse_board({"plan": {"S": json.dumps({**PLAN, **plan})}, **by}).plan is None


PLAN: dict[str, Any] = {
    "rate": 20.0,
    "estimate": 21.0,
    "mode": "cruise",
    "window": 3,
    "quiet": 0.0,
    "step": 0.0,
    "probing": 0,
    "probed": [],
    "fresh": False,
    "at": 1.7e9,
    "level": 10.0,
    "workers": 2,
    "counted": 2,
}


@pytest.mark.parametrize(
    "forged",
    [
        {"by": {"S": "a" * 300}},
        {"by": {"N": "1"}},
        {"pulse": {"N": "1e400"}},
        {"joins": {"N": "-3"}},
        {"thr": {"S": "many"}},
    ],
)
def test_a_forged_author_or_count_is_left_out(forged: dict[str, Any]) -> None:
    good = {"plan": {"S": json.dumps(PLAN)}, "by": {"S": "a"}, "pulse": {"N": "4"}}
    board = parse_board({**good, **forged})
    assert (board.plan is None) == ("by" in forged)
    assert [board.pulse, board.joins, board.throttles] == [
        0 if name in forged else default
        for name, default in (("pulse", 4), ("joins", 0), ("thr", 0))
    ]


class ForgedDynamo:
    """Answers with the items someone else left: one worker's entry and the plan's pulse forged."""

    def __init__(self, members: list[dict[str, Any]]) -> None:
        self.members = members
        self.plan = {"id": {"S": FLEET_KEY}, "pulse": {"N": "Infinity"}, "by": {"S": "me"}}

    async def update_item(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": self.plan}

    async def get_item(self, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        if Key["id"]["S"] == FLEET_KEY:
            return {"Item": self.plan}
        ids = [m["id"]["S"].removeprefix(MEMBER_KEY) for m in self.members]
        return {"Item": {"ids": {"SS": ids}}}

    async def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": dict.fromkeys(RequestItems, self.members)}


async def test_a_forged_entry_never_stops_a_heartbeat_and_is_logged_once() -> None:
    clock = FakeClock()
    own = MemberEntry("me", "h", clock.time(), clock.time(), 1, 0, 0, UNBOUNDED, None)
    mine = {"id": {"S": MEMBER_KEY + "me"}, "entry": entry_value(own)}
    dynamo = ForgedDynamo([_item("bad", {"seq": float("inf")}), mine])
    table = DynamoFleetTable(dynamo, "t", clock)  # type: ignore[arg-type]
    with capture_logs() as logs:
        for _ in range(5):
            assert (await table.beat(own, Outbox())).pulse == 0
            assert set((await table.read()).members) == {"me"}
    ignored = [
        (log["attribute"], log["why"]) for log in logs if log["event"] == "fleet_entry_ignored"
    ]
    assert ignored == [("pulse", "not a count"), (MEMBER_KEY + "bad", "seq: int_type")]


def test_counts_grown_past_anything_the_fleet_could_send_are_ignored_and_logged_once() -> None:
    # A `thr` bumped by thousands every beat would make every window a throttled one and walk
    # the estimate down to the floor.
    clock = FakeClock()
    leader = FleetMember("a", "h", QuotaLimiter(clock, local=LocalLaw()), clock)
    plan = PlanRecord(Plan(rate=24.5, estimate=25.0, mode=Mode.CRUISE, window=4), 0.0, "a", 12.25)
    forged = MemberEntry("z", "h", clock.time(), clock.time(), 1, 100, 0, UNBOUNDED, 12.0)
    mine = MemberEntry("a", "h", clock.time(), clock.time(), 1, 100, 0, UNBOUNDED, 12.0)
    estimates = []
    with capture_logs() as logs:
        for beat in range(1, 40):
            clock.now += 1.0
            forged = replace(forged, seq=beat + 1, at=clock.time(), throttles=beat * 5000)
            mine = replace(mine, seq=beat + 1, at=clock.time(), successes=100 + beat * 12)
            leader.limiter.waited()
            leader.absorb(Board(plan, pulse=beat), Outbox())
            leader.lead({"a": mine, "z": forged})
            plan = leader.plan or plan
            estimates.append(plan.plan.estimate)
    assert min(e or 0.0 for e in estimates) >= 25.0  # never cut for the forged throttles
    assert [log["worker"] for log in logs if log["event"] == "fleet_counts_ignored"] == ["z"]


@pytest.mark.parametrize("quota", [10.0, 25.0])
def test_workers_whose_clocks_are_thirty_seconds_off_are_counted_and_get_their_share(
    quota: float,
) -> None:
    # Three workers: one on time, one 30 s behind, one 30 s ahead; the one ahead starts first
    # by its own clock, which gives it nothing.
    spec = Spec(3, quota, int(quota * 120), skews=(0.0, -30.0, 30.0))
    result = run(spec)
    rate, throttled = result.steady()
    assert rate >= 0.97 * quota
    assert throttled <= 0.01
    shares = [result.done_by.get(index, 0) / len(result.done_at) for index in range(3)]
    assert all(abs(share - 1 / 3) <= 0.05 for share in shares), shares
