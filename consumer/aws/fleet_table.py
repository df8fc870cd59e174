"""The fleet item in the idempotency table: one heartbeat is one UpdateItem that returns it all.

The item sits beside the claims under the table's own key (``id``), at ``fleet#unlink-quota``,
which no command key can take (those start ``id:``, ``effect:`` or ``body:``). It holds one map
attribute per live worker (``m_<worker id>``), the leader's decision (``plan``) and its own TTL
(``expires_at``, a day past the last heartbeat), so a fleet that is gone leaves nothing behind
while a restarted fleet finds the quota it learned.

Each worker's entry is a top-level attribute rather than a key of one map: `SET m_<id> = :entry`
needs no map to exist first, and `REMOVE` of a dead worker's entry touches nothing else. Writes
need no condition: a worker writes only its own entry and, as the leader, the plan; two workers
that both believe they lead for a heartbeat write plans derived from the same item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from consumer.aws.fleet import FleetView, MemberEntry, PlanRecord
from consumer.aws.fleetrate import Plan
from consumer.core.clock import Clock

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

FLEET_KEY: Final = "fleet#unlink-quota"
MEMBER_PREFIX: Final = "m_"
ITEM_TTL_SECONDS: Final = 24 * 3600


class DynamoFleetTable:
    """`FleetTable` over the idempotency table (GetItem and UpdateItem only, as the claims)."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Clock) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def __repr__(self) -> str:
        return f"DynamoFleetTable(table={self._table!r}, key={FLEET_KEY!r})"

    async def beat(
        self, entry: MemberEntry, plan: PlanRecord | None, remove: Sequence[str]
    ) -> FleetView:
        names = {"#me": MEMBER_PREFIX + entry.member}
        values: dict[str, Any] = {
            ":me": {"M": entry_attributes(entry)},
            ":exp": {"N": str(int(self._clock.time()) + ITEM_TTL_SECONDS)},
        }
        sets = ["#me = :me", "expires_at = :exp"]
        if plan is not None:
            names["#plan"] = "plan"
            values[":plan"] = {"M": plan_attributes(plan)}
            sets.append("#plan = :plan")
        expression = "SET " + ", ".join(sets)
        dead = [m for m in remove if m != entry.member]
        if dead:
            for index, member in enumerate(dead):
                names[f"#d{index}"] = MEMBER_PREFIX + member
            expression += " REMOVE " + ", ".join(f"#d{i}" for i in range(len(dead)))
        response = await self._client.update_item(
            TableName=self._table,
            Key={"id": {"S": FLEET_KEY}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return parse_item(response.get("Attributes") or {})

    async def leave(self, member: str) -> None:
        await self._client.update_item(
            TableName=self._table,
            Key={"id": {"S": FLEET_KEY}},
            UpdateExpression="REMOVE #me",
            ExpressionAttributeNames={"#me": MEMBER_PREFIX + member},
        )

    async def read(self) -> FleetView:
        response = await self._client.get_item(
            TableName=self._table, Key={"id": {"S": FLEET_KEY}}, ConsistentRead=True
        )
        return parse_item(response.get("Item") or {})


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 4)) if math.isfinite(value) else "-1"}


def entry_attributes(entry: MemberEntry) -> dict[str, Any]:
    return {
        "host": {"S": entry.host},
        "started": _n(entry.started),
        "at": _n(entry.at),
        "seq": _n(entry.seq),
        "ok": _n(entry.successes),
        "thr": _n(entry.throttles),
        "want": _n(entry.want),  # -1: unbounded
        "share": _n(entry.share if entry.share is not None else -1),
        "ok1m": _n(entry.recent_successes),
        "thr1m": _n(entry.recent_throttles),
    }


def plan_attributes(record: PlanRecord) -> dict[str, Any]:
    plan = record.plan
    return {
        "rate": _n(plan.rate),
        "estimate": _n(plan.estimate if plan.estimate is not None else -1),
        "mode": {"S": plan.mode},
        "window": _n(plan.window),
        "quiet": _n(plan.quiet_seconds),
        "step": _n(plan.step),
        "probing": _n(plan.probing),
        "probed": {"L": [{"L": [_n(calls), _n(seconds)]} for calls, seconds in plan.probed]},
        "fresh": {"BOOL": plan.fresh},
        "at": _n(record.at),
        "by": {"S": record.by},
    }


def _num(attrs: Mapping[str, Any], name: str) -> float:
    return float(attrs[name]["N"])


def parse_item(item: Mapping[str, Any]) -> FleetView:
    """The fleet item as a `FleetView`; an entry that does not parse is left out."""
    members: dict[str, MemberEntry] = {}
    for name, value in item.items():
        if not name.startswith(MEMBER_PREFIX):
            continue
        try:
            attrs = value["M"]
            want, share = _num(attrs, "want"), _num(attrs, "share")
            member = name.removeprefix(MEMBER_PREFIX)
            members[member] = MemberEntry(
                member=member,
                host=str(attrs["host"]["S"]),
                started=_num(attrs, "started"),
                at=_num(attrs, "at"),
                seq=int(_num(attrs, "seq")),
                successes=int(_num(attrs, "ok")),
                throttles=int(_num(attrs, "thr")),
                want=math.inf if want < 0 else want,
                share=None if share < 0 else share,
                recent_successes=int(_num(attrs, "ok1m")),
                recent_throttles=int(_num(attrs, "thr1m")),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return FleetView(members, _parse_plan(item.get("plan")))


def _probed(value: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(w["L"][0]["N"]), float(w["L"][1]["N"])) for w in value["L"])


def _parse_plan(value: Any) -> PlanRecord | None:
    try:
        attrs = value["M"]
        estimate = _num(attrs, "estimate")
        plan = Plan(
            rate=_num(attrs, "rate"),
            estimate=None if estimate < 0 else estimate,
            mode=str(attrs["mode"]["S"]),
            window=int(_num(attrs, "window")),
            quiet_seconds=_num(attrs, "quiet"),
            step=_num(attrs, "step"),
            probing=int(_num(attrs, "probing")),
            probed=_probed(attrs.get("probed", {"L": []})),
            fresh=bool(attrs.get("fresh", {}).get("BOOL", False)),
        )
        return PlanRecord(plan, _num(attrs, "at"), str(attrs["by"]["S"]))
    except (KeyError, TypeError, ValueError):
        return None
