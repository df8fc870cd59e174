"""The fleet item in the idempotency table: one heartbeat is one UpdateItem that returns it all.

The item sits beside the claims under the table's own key (``id``), at ``fleet#unlink-quota``,
which no command key can take (those start ``id:``, ``effect:`` or ``body:``). It holds one
attribute per live worker (``m_<worker id>``, a compact JSON string), the leader's decision
(``plan``, the same) and its own TTL (``expires_at``, a day past the last heartbeat), so a
fleet that is gone leaves nothing behind while a restarted fleet finds the quota it learned.

Each worker's entry is a top-level attribute rather than a key of one map: `SET m_<id> = :entry`
needs no map to exist first, and `REMOVE` of a dead worker's entry touches nothing else. Writes
need no condition: a worker writes only its own entry and, as the leader, the plan; two workers
that both believe they lead for a heartbeat write plans derived from the same item.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from consumer.core.clock import Clock
from consumer.rate.config import Mode
from consumer.rate.laws import Plan, Timeline
from consumer.rate.member import FleetView, MemberEntry, PlanRecord

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
            ":me": entry_value(entry),
            ":exp": {"N": str(int(self._clock.time()) + ITEM_TTL_SECONDS)},
        }
        sets = ["#me = :me", "expires_at = :exp"]
        if plan is not None:
            names["#plan"] = "plan"
            values[":plan"] = plan_value(plan)
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


def _n(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else -1.0


def _string(fields: Mapping[str, Any]) -> dict[str, str]:
    return {"S": json.dumps(fields, separators=(",", ":"))}


def entry_value(entry: MemberEntry) -> dict[str, str]:
    """A worker's entry as one string attribute: a map attribute of ten numbers costs the
    table's every heartbeat (and the worker parsing the whole item it returns) several times
    as much, for the same bytes."""
    return _string(
        {
            "host": entry.host,
            "started": _n(entry.started),
            "at": _n(entry.at),
            "seq": entry.seq,
            "ok": entry.successes,
            "thr": entry.throttles,
            "want": _n(entry.want),  # -1: unbounded
            "share": entry.share,
            "ok1m": entry.recent_successes,
            "thr1m": entry.recent_throttles,
            # while the fleet starts: the first slot, then each slot's successes
            **({"tl": [t.first, *t.counts]} if (t := entry.timeline) is not None else {}),
        }
    )


def plan_value(record: PlanRecord) -> dict[str, str]:
    plan = record.plan
    return _string(
        {
            "rate": _n(plan.rate),
            "estimate": plan.estimate,
            "mode": plan.mode,
            "window": plan.window,
            "quiet": _n(plan.quiet_seconds),
            "step": _n(plan.step),
            "probing": plan.probing,
            "probed": [[_n(calls), _n(seconds)] for calls, seconds in plan.probed],
            "fresh": plan.fresh,
            "at": record.at,
            "by": record.by,
        }
    )


def _fields(value: Any) -> dict[str, Any]:
    fields = json.loads(value["S"])
    if not isinstance(fields, dict):
        raise TypeError("not an object")
    return fields


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_item(item: Mapping[str, Any]) -> FleetView:
    """The fleet item as a `FleetView`; an entry that does not parse is left out."""
    members: dict[str, MemberEntry] = {}
    for name, value in item.items():
        if not name.startswith(MEMBER_PREFIX):
            continue
        try:
            fields = _fields(value)
            want = float(fields["want"])
            member = name.removeprefix(MEMBER_PREFIX)
            members[member] = MemberEntry(
                member=member,
                host=str(fields["host"]),
                started=float(fields["started"]),
                at=float(fields["at"]),
                seq=int(fields["seq"]),
                successes=int(fields["ok"]),
                throttles=int(fields["thr"]),
                want=math.inf if want < 0 else want,
                share=_optional(fields["share"]),
                recent_successes=int(fields["ok1m"]),
                recent_throttles=int(fields["thr1m"]),
                timeline=_timeline(fields.get("tl")),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return FleetView(members, _parse_plan(item.get("plan")))


def _timeline(value: Any) -> Timeline | None:
    if value is None:
        return None
    first, *counts = value
    return Timeline(int(first), tuple(int(count) for count in counts))


def _parse_plan(value: Any) -> PlanRecord | None:
    try:
        fields = _fields(value)
        plan = Plan(
            rate=float(fields["rate"]),
            estimate=_optional(fields["estimate"]),
            mode=Mode(fields["mode"]),
            window=int(fields["window"]),
            quiet_seconds=float(fields["quiet"]),
            step=float(fields["step"]),
            probing=int(fields["probing"]),
            probed=tuple((float(calls), float(seconds)) for calls, seconds in fields["probed"]),
            fresh=bool(fields["fresh"]),
        )
        return PlanRecord(plan, float(fields["at"]), str(fields["by"]))
    except (KeyError, TypeError, ValueError):
        return None
