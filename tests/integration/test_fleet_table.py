"""The fleet's items through the real protocol (DynamoDB over HTTP): an item per worker, the
roster, and the plan item whose conditioned writes decide who leads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from consumer.aws.fleet_table import DynamoFleetTable
from consumer.aws.fleet_wire import FLEET_KEY, MEMBER_KEY, ROSTER_KEY
from consumer.rate.config import Mode
from consumer.rate.coordinator import FleetCoordinator
from consumer.rate.laws import LocalLaw, Plan
from consumer.rate.limiter import QuotaLimiter
from consumer.rate.member import FleetMember, MemberEntry, Outbox, PlanRecord
from tests.conftest import make_table
from tests.fakes import FakeClock

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def _entry(member: str, clock: FakeClock, seq: int = 1) -> MemberEntry:
    return MemberEntry(member, "h", clock.time(), clock.time(), seq, 10, 0, 4.0, 2.0)


async def test_the_lead_is_one_conditioned_write_and_the_leader_reads_every_worker(
    dynamodb: DynamoDBClient,
) -> None:
    clock = FakeClock(now=1_700_000_000.0)
    table = DynamoFleetTable(dynamodb, await make_table(dynamodb), clock)
    plan = Plan(rate=20.0, estimate=21.0, mode=Mode.CRUISE)
    boards = {}
    for member in "abc":  # each claims a cold fleet's lead: only the first write lands
        claim = Outbox(PlanRecord(plan, clock.time(), member, 7.0), claim=0, join=True)
        boards[member] = await table.beat(_entry(member, clock), claim)
    assert {m: (b.plan and b.plan.by) for m, b in boards.items()} == dict.fromkeys("abc", "a")
    assert [b.joins for b in boards.values()] == [1, 2, 3]  # each one's join numbered
    assert boards["c"].pulse == 1
    # Only the author's writes land; a worker met in a probe's throttle counts them.
    stolen = Outbox(PlanRecord(Plan(rate=99.0), clock.time(), "b"), throttles=2)
    board = await table.beat(_entry("b", clock, 2), stolen)
    assert board.plan is not None
    assert (board.plan.by, board.plan.plan.rate, board.pulse, board.throttles) == ("a", 20, 1, 2)
    view = await table.read()
    assert set(view.members) == {"a", "b", "c"}
    assert view.members["b"].seq == 2
    # The leader drops a dead worker from the roster; one that stops cleanly leaves it.
    assert boards["a"].plan is not None
    await table.beat(_entry("a", clock, 2), Outbox(boards["a"].plan, remove=("c",)))
    await table.leave("b")
    assert set((await table.read()).members) == {"a"}
    final = await table.beat(_entry("a", clock, 3), Outbox())
    assert (final.joins, final.pulse) == (4, 2)  # b's leave counted; a's writes pulsed
    # A worker taken for dead that lives after all is told so, and joins again.
    assert (await table.beat(_entry("c", clock, 2), Outbox())).dropped
    assert not (await table.beat(_entry("c", clock, 3), Outbox(join=True))).dropped
    assert set((await table.read()).members) == {"a", "c"}
    # Every item expires by itself: a worker's within the hour, the fleet's within a day.
    for key, most in ((MEMBER_KEY + "b", 3600), (ROSTER_KEY, 86_400), (FLEET_KEY, 86_400)):
        item = (await dynamodb.get_item(TableName=table._table, Key={"id": {"S": key}}))["Item"]
        assert 0 < int(item["expires_at"]["N"]) - clock.time() <= most


@pytest.mark.parametrize("workers", [3])
async def test_workers_share_the_plan_and_a_dead_leader_is_replaced(
    dynamodb: DynamoDBClient, workers: int
) -> None:
    clock = FakeClock(now=1_700_000_000.0)
    name = await make_table(dynamodb)
    coordinators = []
    for index in range(workers):
        limiter = QuotaLimiter(clock, local=LocalLaw())
        member = FleetMember(f"w{index}", "h", limiter, clock, fixed_rate=30.0)
        coordinators.append(
            FleetCoordinator(DynamoFleetTable(dynamodb, name, clock), member, clock)
        )
    for _ in range(3):
        for coordinator in coordinators:
            coordinator.member.limiter.waited()  # its calls wait: it wants all it can get
            assert await coordinator.beat()
        clock.now += 1.0
    assert [c.member.limiter.rate for c in coordinators] == [10.0] * workers
    assert [c.member.workers for c in coordinators] == [workers] * workers
    # The leader dies: its plan stops pulsing; a survivor takes the lead and drops it.
    survivors = coordinators[1:]
    for _ in range(14):
        for coordinator in survivors:
            coordinator.member.limiter.waited()
            assert await coordinator.beat()
        clock.now += 1.0
    assert [c.member.limiter.rate for c in survivors] == [15.0, 15.0]
    leader = next(c.member for c in survivors if c.member.leading)
    assert set(leader.live) == {"w1", "w2"}
    assert set((await DynamoFleetTable(dynamodb, name, clock).read()).members) == {"w1", "w2"}
    # The leader stops cleanly: it gives the lead up, and the other takes it at once.
    left = next(c for c in survivors if c.member.leading)
    await left.leave()
    last = next(c for c in survivors if c is not left)
    for _ in range(3):
        last.member.limiter.waited()
        assert await last.beat()
        clock.now += 1.0
    assert last.member.leading
    assert last.member.limiter.rate == 30.0
