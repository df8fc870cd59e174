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
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from consumer.core.clock import Clock
from consumer.rate.config import Mode, RateConfig
from consumer.rate.laws import Plan, Timeline
from consumer.rate.member import FleetView, MemberEntry, PlanRecord

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

FLEET_KEY: Final = "fleet#unlink-quota"
MEMBER_PREFIX: Final = "m_"
ITEM_TTL_SECONDS: Final = 24 * 3600
_SLOTS: Final = RateConfig().slot_history  # the most slots an entry's timeline may carry
_PROBED: Final = RateConfig().probe_history  # the most windows a plan's probe may carry

log = structlog.get_logger("consumer.aws.fleet")
W = TypeVar("W", bound=BaseModel)


class DynamoFleetTable:
    """`FleetTable` over the idempotency table (GetItem and UpdateItem only, as the claims)."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Clock) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._ignored: set[str] = set()  # attributes already logged as ignored

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
        return parse_item(response.get("Attributes") or {}, self._ignore)

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
        return parse_item(response.get("Item") or {}, self._ignore)

    def _ignore(self, name: str, why: str) -> None:
        """Logs an attribute that does not parse once, not at every heartbeat."""
        if name not in self._ignored:
            self._ignored.add(name)
            log.warning("fleet_entry_ignored", attribute=name, why=why)


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


# What a value read from the item may be: written by any worker of any version, or by anyone
# with access to the table, so nothing in it is trusted (a NaN want, an infinite seq, a string
# where a number goes). Bounds far past any real fleet's, that keep every sum finite.
Count = Annotated[int, Field(ge=0, le=2**53)]  # exact as a JSON number
Rate = Annotated[float, Field(ge=0.0, le=1e6)]  # calls/s: far above any Cognito quota
Seconds = Annotated[float, Field(ge=0.0, le=1e11)]  # epoch seconds or spans: till year 5138
Want = Annotated[float, Field(ge=-1.0, le=1e6)]  # -1: unbounded
_WIRE = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True)


class _EntryWire(BaseModel):
    model_config = _WIRE

    host: str = Field(max_length=255)
    started: Seconds
    at: Seconds
    seq: Count
    ok: Count
    thr: Count
    want: Want
    share: Rate | None
    ok1m: Count
    thr1m: Count
    tl: list[Count] | None = Field(default=None, min_length=1, max_length=1 + _SLOTS)


class _PlanWire(BaseModel):
    model_config = _WIRE

    rate: Rate
    estimate: Rate | None
    mode: Mode
    window: Count
    quiet: Seconds
    step: Rate
    probing: Count
    probed: list[tuple[Count | Rate, Seconds]] = Field(max_length=_PROBED)
    fresh: bool
    at: Seconds
    by: str = Field(max_length=255)


def parse_item(
    item: Mapping[str, Any], ignored: Callable[[str, str], None] | None = None
) -> FleetView:
    """The fleet item as a `FleetView`. An attribute that is not what a worker writes is left
    out, and ``ignored`` told its name and why (the field at fault, never the value)."""
    members: dict[str, MemberEntry] = {}
    for name, value in item.items():
        if not name.startswith(MEMBER_PREFIX):
            continue
        wire = _read(_EntryWire, name, value, ignored)
        if wire is None:
            continue
        member = name.removeprefix(MEMBER_PREFIX)
        members[member] = MemberEntry(
            member=member,
            host=wire.host,
            started=wire.started,
            at=wire.at,
            seq=wire.seq,
            successes=wire.ok,
            throttles=wire.thr,
            want=math.inf if wire.want < 0 else wire.want,
            share=wire.share,
            recent_successes=wire.ok1m,
            recent_throttles=wire.thr1m,
            timeline=None if wire.tl is None else Timeline(wire.tl[0], tuple(wire.tl[1:])),
        )
    plan = None
    wire_plan = _read(_PlanWire, "plan", item["plan"], ignored) if "plan" in item else None
    if wire_plan is not None:
        plan = PlanRecord(
            Plan(
                rate=wire_plan.rate,
                estimate=wire_plan.estimate,
                mode=wire_plan.mode,
                window=wire_plan.window,
                quiet_seconds=wire_plan.quiet,
                step=wire_plan.step,
                probing=wire_plan.probing,
                probed=tuple((float(calls), seconds) for calls, seconds in wire_plan.probed),
                fresh=wire_plan.fresh,
            ),
            wire_plan.at,
            wire_plan.by,
        )
    return FleetView(members, plan)


def _read(
    model: type[W], name: str, value: Any, ignored: Callable[[str, str], None] | None
) -> W | None:
    text = value.get("S") if isinstance(value, dict) else None
    try:
        if not isinstance(text, str):
            raise TypeError("not a string attribute")
        return model.model_validate_json(text)
    except (ValidationError, TypeError) as exc:
        if ignored is not None:
            ignored(name, _why(exc))
        return None


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(str(part) for part in first['loc']) or 'value'}: {first['type']}"
    return str(exc)
